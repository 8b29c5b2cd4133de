using System.Text.Json;
using MGit.Cli;
using MGit.Tests.TestSupport;
using static MGit.Tests.Remotes.Models;

namespace MGit.Tests.Remotes;

/// <summary>Tags travel with push, pull and clone: moved on one side they fast-forward, moved on both they are a conflict.</summary>
public sealed class TagSyncTests
{
    [Fact] public void File_tags_and_their_history_travel_and_fast_forward() => Tags_travel("file");
    [S3Fact] public void S3_tags_and_their_history_travel_and_fast_forward() => Tags_travel("s3");
    [Fact] public void File_a_tag_moved_on_both_sides_is_a_conflict_pull_reports_and_force_settles() => Conflict("file");
    [S3Fact] public void S3_a_tag_moved_on_both_sides_is_a_conflict_pull_reports_and_force_settles() => Conflict("s3");

    /// <summary>mgit in memory as <paramref name="user"/>, with the S3 test credentials.</summary>
    private static CliResult Run(string dir, string user, params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = MGitCli.Run(args, new CliContext(output, error, dir, name => name == "MGIT_USER" ? user : RemoteCli.Environment(name), ErrorIsTerminal: false));
        return new CliResult(code, output.ToString(), error.ToString());
    }

    private static CliResult Ok(string dir, string user, params string[] args)
    {
        var result = Run(dir, user, args);
        Assert.True(result.ExitCode == 0, $"mgit {string.Join(' ', args)} failed ({result.ExitCode}): {result.Error}");
        return result;
    }

    private static Dictionary<string, string> Tags(string repo) =>
        JsonDocument.Parse(Ok(repo, "x", "tag", "--json").Out).RootElement.EnumerateArray()
            .ToDictionary(t => t.GetProperty("tag").GetString()!, t => t.GetProperty("target").GetString()!);

    private static List<(string? Kind, string? Target, string? By)> History(string repo, string tag) =>
        JsonDocument.Parse(Ok(repo, "x", "tag", "--history", tag, "--json").Out).RootElement.EnumerateArray()
            .Select(m => (m.GetProperty("kind").GetString(), m.GetProperty("target").GetString(), m.GetProperty("moved_by").GetString()))
            .ToList();

    /// <summary>Repository a with base@1..3 pushed to a new remote, and b cloned from it.</summary>
    private static (string A, string B, string Base1, string Base2, string Base3) Pair(TempDirectory dir, TestRemote remote)
    {
        string a = NewRepository(dir, "a");
        string base1 = Base(dir, "base1.safetensors", 1);
        string base2 = FineTune(dir, base1, "base2.safetensors", 2);
        string base3 = FineTune(dir, base2, "base3.safetensors", 3);
        Ok(a, "alice", "add", base1, "--name", "base");
        Ok(a, "alice", "add", base2, "--version-of", "base");
        Ok(a, "alice", "add", base3, "--version-of", "base");
        Ok(a, "alice", "tag", "base@1", "production");
        Ok(a, "alice", ["remote", "add", "origin", remote.Url, .. remote.EndpointArgs]);
        Ok(a, "alice", "push");
        string b = dir.File("b");
        Ok(dir.Path, "bob", ["clone", remote.Url, b, .. remote.EndpointArgs]);
        return (a, b, base1, base2, base3);
    }

    private static void Tags_travel(string kind)
    {
        using var dir = new TempDirectory();
        var remote = TestRemote.Create(kind, dir);
        var (a, b, base1, base2, base3) = Pair(dir, remote);

        // The clone has the tag, and it resolves there.
        Assert.Equal(new Dictionary<string, string> { ["base@production"] = "base@1" }, Tags(b));
        AssertChecksOut(b, "base@production", base1);

        // Moved in a only: b's pull fast-forwards it, and the history says who moved it.
        Ok(a, "alice", "tag", "base@2", "production", "--force");
        Ok(a, "alice", "tag", "base@3", "staging");
        Ok(a, "alice", "push");
        Ok(b, "bob", "tag", "base@3", "v1.0");
        var refused = Run(b, "bob", "push");
        Assert.Equal(MGitCli.ExitFailure, refused.ExitCode);
        Assert.Contains("has tag changes this repository has not merged (base@production, base@staging); pull first ('mgit pull origin')", refused.Error, StringComparison.Ordinal);
        var pulled = Ok(b, "bob", "pull");
        Assert.Contains("tag base@production updated from the remote", pulled.Error, StringComparison.Ordinal);
        Assert.Equal(new Dictionary<string, string> { ["base@production"] = "base@2", ["base@staging"] = "base@3", ["base@v1.0"] = "base@3" }, Tags(b));
        AssertChecksOut(b, "base@production", base2);
        Assert.Equal([("created", "base@1", "alice"), ("moved", "base@2", "alice")], History(b, "base@production"));

        // Moved in b (and a tag deleted there): a's pull takes both.
        Ok(b, "bob", "tag", "base@3", "production", "--force");
        Ok(b, "bob", "tag", "-d", "base@staging");
        Ok(b, "bob", "push");
        Assert.Contains("up to date", Ok(b, "bob", "push").Out, StringComparison.Ordinal);
        Ok(a, "alice", "pull");
        Assert.Equal(new Dictionary<string, string> { ["base@production"] = "base@3", ["base@v1.0"] = "base@3" }, Tags(a));
        AssertChecksOut(a, "base@production", base3);
        Assert.Equal([("created", "base@1", "alice"), ("moved", "base@2", "alice"), ("moved", "base@3", "bob")], History(a, "base@production"));
        Assert.Equal([("created", "base@3", "alice"), ("deleted", null, "bob")], History(a, "base@staging"));

        // A third clone gets the same tags and history.
        string c = dir.File("c");
        Ok(dir.Path, "carol", ["clone", remote.Url, c, .. remote.EndpointArgs]);
        Assert.Equal(Tags(a), Tags(c));
        Assert.Equal(History(a, "base@production"), History(c, "base@production"));
        AssertIntact(c);
    }

    private static void Conflict(string kind)
    {
        using var dir = new TempDirectory();
        var remote = TestRemote.Create(kind, dir);
        var (a, b, _, base2, base3) = Pair(dir, remote);

        Ok(a, "alice", "tag", "base@2", "production", "--force");
        Ok(a, "alice", "push");
        Ok(b, "bob", "tag", "base@3", "production", "--force");

        // The pull reports it in one line, fails, and overwrites nothing.
        var pull = Run(b, "bob", "pull");
        Assert.Equal(MGitCli.ExitFailure, pull.ExitCode);
        string[] lines = pull.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        string conflict = Assert.Single(lines, l => l.Contains("conflict", StringComparison.OrdinalIgnoreCase) || l.Contains("moved both", StringComparison.Ordinal));
        Assert.Contains("tag base@production was moved both here (base@3) and on the remote (base@2, by alice", conflict, StringComparison.Ordinal);
        Assert.Contains("mgit tag REF production --force", conflict, StringComparison.Ordinal);
        Assert.Equal("base@3", Tags(b)["base@production"]);
        AssertChecksOut(b, "base@production", base3);

        // Pulling again changes nothing, and b cannot push over it either.
        Assert.Equal(MGitCli.ExitFailure, Run(b, "bob", "pull").ExitCode);
        var push = Run(b, "bob", "push");
        Assert.Equal(MGitCli.ExitFailure, push.ExitCode);
        Assert.Contains("tag base@production was moved both here (base@3) and on", push.Error, StringComparison.Ordinal);
        Assert.Equal("base@2", Tags(a)["base@production"]);

        // Settled in b by setting it with --force (here to a's choice): pull and push go through, a follows.
        Assert.Equal("moved base@production from base@3 to base@2", Ok(b, "bob", "tag", "base@2", "production", "--force").Out.Trim());
        Ok(b, "bob", "pull");
        Ok(b, "bob", "push");
        Ok(a, "alice", "pull");
        Assert.Equal("base@2", Tags(a)["base@production"]);
        AssertChecksOut(a, "base@production", base2);
        var history = History(a, "base@production");
        Assert.Equal(("moved", "base@2", "bob"), history[^1]);
        Assert.Contains(("moved", "base@3", "bob"), history);
        Assert.Equal(history, History(b, "base@production"));
    }

    [Fact]
    public void A_conflict_is_settled_keeping_this_sides_version_by_setting_it_again_with_force()
    {
        using var dir = new TempDirectory();
        var remote = TestRemote.Create("file", dir);
        var (a, b, _, _, base3) = Pair(dir, remote);
        Ok(a, "alice", "tag", "base@2", "production", "--force");
        Ok(a, "alice", "push");
        Ok(b, "bob", "tag", "base@3", "production", "--force");
        Assert.Equal(MGitCli.ExitFailure, Run(b, "bob", "pull").ExitCode);

        // Without --force the tag already points there: nothing is recorded, the conflict stays.
        Assert.Equal("base@production already points at base@3", Ok(b, "bob", "tag", "base@3", "production").Out.Trim());
        Assert.Equal(MGitCli.ExitFailure, Run(b, "bob", "pull").ExitCode);
        Assert.Equal("base@production points at base@3 (conflict settled)", Ok(b, "bob", "tag", "base@3", "production", "--force").Out.Trim());
        Ok(b, "bob", "pull");
        Ok(b, "bob", "push");
        Ok(a, "alice", "pull");
        Assert.Equal("base@3", Tags(a)["base@production"]);
        AssertChecksOut(a, "base@production", base3);
    }

    [Fact]
    public void Lineage_files_are_written_with_the_lowest_snapshot_schema_that_holds_them()
    {
        using var dir = new TempDirectory();
        var remote = TestRemote.Create("file", dir);
        string a = NewRepository(dir, "a");
        Ok(a, "alice", "add", Base(dir, "base1.safetensors", 1), "--name", "base");
        Ok(a, "alice", "remote", "add", "origin", remote.Url);
        Ok(a, "alice", "push");
        Assert.Equal(2, SnapshotSchema(dir.File("remote")));

        Ok(a, "alice", "tag", "base@1", "production");
        Ok(a, "alice", "push");
        Assert.Equal(3, SnapshotSchema(dir.File("remote")));
    }

    private static int SnapshotSchema(string remote)
    {
        // The newest lineage file: the last segment, or the checkpoint when there is none.
        var head = MGit.Remotes.LineageLogHead.Parse(File.ReadAllBytes(Path.Combine(remote, "refs", "lineage")), "test");
        string id = head.Segments.Count > 0 ? head.Segments[^1] : head.Checkpoint;
        using var json = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(remote, "lineage", id)));
        return json.RootElement.GetProperty("schema").GetInt32();
    }
}
