using System.Text.Json;
using MGit.Cli;
using MGit.Tests.Remotes;
using MGit.Tests.TestSupport;
using static MGit.Tests.TestSupport.RawSafetensors;

namespace MGit.Tests.Cli;

/// <summary>mgit reparent end to end: fixing an edge, refusals, JSON, show/log/history, and the change travelling with push and pull.</summary>
public sealed class ReparentCliTests
{
    /// <summary>mgit in memory, as <paramref name="user"/> (MGIT_USER).</summary>
    private static CliResult Run(string dir, string user, params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        // The remote tests' environment (no fsync, the S3 test server's credentials), as this user.
        var context = new CliContext(output, error, dir, name => name == "MGIT_USER" ? user : RemoteCli.Environment(name), ErrorIsTerminal: false);
        int code = MGitCli.Run(args, context);
        return new CliResult(code, output.ToString(), error.ToString());
    }

    private static CliResult Ok(string dir, string user, params string[] args)
    {
        var result = Run(dir, user, args);
        Assert.True(result.ExitCode == 0, $"mgit {string.Join(' ', args)} exited {result.ExitCode}: {result.Error}");
        return result;
    }

    /// <summary>Fails with exit <paramref name="exitCode"/> and one line on stderr containing <paramref name="expected"/>, and the lineage is as it was.</summary>
    private static void Fails(string dir, int exitCode, string expected, params string[] args)
    {
        string before = Lineage(dir);
        var result = Run(dir, "alice", args);
        Assert.True(result.ExitCode == exitCode, $"mgit {string.Join(' ', args)} exited {result.ExitCode}, not {exitCode}: {result.Out} {result.Error}");
        Assert.Contains(expected, result.Error, StringComparison.Ordinal);
        Assert.Single(result.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.DoesNotContain("   at ", result.Error, StringComparison.Ordinal);
        Assert.Equal(before, Lineage(dir));
    }

    /// <summary>Every version with its parents (kind, how, reason), as `ls --json` lists them.</summary>
    private static string Lineage(string dir) => Ok(dir, "x", "ls", "--json").Out;

    /// <summary>The adapted parents of a version, as `show --json` lists them.</summary>
    private static List<string> Parents(string dir, string reference)
    {
        using var show = JsonDocument.Parse(Ok(dir, "x", "show", reference, "--json").Out);
        return show.RootElement.GetProperty("parents").EnumerateArray()
            .Where(p => p.GetProperty("kind").GetString() == "adapted")
            .Select(p => p.GetProperty("ref").GetString()!)
            .Order(StringComparer.Ordinal)
            .ToList();
    }

    /// <summary>base@1, other@1 (unrelated), tuned@1 under other (the wrong edge), tuned-small@1 under tuned.</summary>
    private static string Family(TempDirectory dir, string name = "repo")
    {
        string repo = dir.File(name);
        Directory.CreateDirectory(repo);
        Ok(repo, "alice", "init");
        string Model(string file, int seed) => Write(dir.File(file), [Random("enc", "F32", [16, 16], seed), Random("head", "F32", [3, 16], seed + 1)]);
        Ok(repo, "alice", "add", Model("base.safetensors", 1), "--name", "base");
        Ok(repo, "alice", "add", Model("other.safetensors", 3), "--name", "other");
        Ok(repo, "alice", "add", Model("tuned.safetensors", 5), "--name", "tuned", "--parent", "other", "--how", "finetune");
        Ok(repo, "alice", "add", Model("small.safetensors", 7), "--name", "tuned-small", "--parent", "tuned", "--how", "distill");
        return repo;
    }

    [Fact]
    public void Reparent_fixes_the_edge_and_show_log_and_history_follow_it()
    {
        using var dir = new TempDirectory();
        string repo = Family(dir);

        var result = Ok(repo, "carol", "reparent", "tuned", "--parent", "base", "--how", "finetune", "-m", "shares base's encoder");
        Assert.Equal("tuned@1 now derives from base@1 (finetune) (was: other@1)", result.Out.Trim());
        Assert.Equal(["base@1"], Parents(repo, "tuned"));

        string show = Ok(repo, "x", "show", "tuned").Out;
        Assert.Matches(@"parent:   base@1 \(finetune; reparent by carol \d{4}-\d\d-\d\dT\d\d:\d\dZ: shares base's encoder\)", show);

        // log draws tuned (and its child) under base now, and nothing under other.
        using (var log = JsonDocument.Parse(Ok(repo, "x", "log", "--json").Out))
        {
            var edges = log.RootElement.GetProperty("edges").EnumerateArray()
                .Select(e => $"{e.GetProperty("parent").GetString()}>{e.GetProperty("child").GetString()}")
                .Order(StringComparer.Ordinal);
            Assert.Equal(["base@1>tuned@1", "tuned@1>tuned-small@1"], edges);
        }

        using (var history = JsonDocument.Parse(Ok(repo, "x", "reparent", "tuned", "--history", "--json").Out))
        {
            var entry = Assert.Single(history.RootElement.EnumerateArray().ToList());
            Assert.Equal("carol", entry.GetProperty("changed_by").GetString());
            Assert.Equal(["other@1"], entry.GetProperty("previous_parents").EnumerateArray().Select(p => p.GetString()));
        }

        Assert.Contains("carol", Ok(repo, "x", "reparent", "tuned", "--history").Out, StringComparison.Ordinal);
        Assert.Equal(0, Run(repo, "x", "fsck").ExitCode);
    }

    [Fact]
    public void Json_has_the_documented_shape()
    {
        using var dir = new TempDirectory();
        string repo = Family(dir);

        using var json = JsonDocument.Parse(Ok(repo, "dave", "reparent", "tuned@1", "--parent", "base", "--parent", "other", "--how", "merge", "--json").Out);
        var root = json.RootElement;
        Assert.Equal(["ref", "parents", "previous_parents", "how", "message", "changed_by", "changed_at"], root.EnumerateObject().Select(p => p.Name));
        Assert.Equal("tuned@1", root.GetProperty("ref").GetString());
        Assert.Equal(["base@1", "other@1"], root.GetProperty("parents").EnumerateArray().Select(p => p.GetString()));
        Assert.Equal(["other@1"], root.GetProperty("previous_parents").EnumerateArray().Select(p => p.GetString()));
        Assert.Equal("merge", root.GetProperty("how").GetString());
        Assert.Equal("dave", root.GetProperty("changed_by").GetString());
        var at = root.GetProperty("changed_at").GetDateTimeOffset();
        Assert.Equal(TimeSpan.Zero, at.Offset);
        Assert.InRange(DateTimeOffset.UtcNow - at, TimeSpan.Zero, TimeSpan.FromMinutes(10));
        Assert.Equal(["base@1", "other@1"], Parents(repo, "tuned"));

        using var rooted = JsonDocument.Parse(Ok(repo, "dave", "reparent", "tuned", "--root", "--json").Out);
        Assert.Empty(rooted.RootElement.GetProperty("parents").EnumerateArray());
        Assert.Equal(JsonValueKind.Null, rooted.RootElement.GetProperty("how").ValueKind);
        Assert.Empty(Parents(repo, "tuned"));
    }

    [Fact]
    public void Remove_parent_takes_one_edge_and_root_all_of_them()
    {
        using var dir = new TempDirectory();
        string repo = Family(dir);
        Ok(repo, "alice", "reparent", "tuned", "--parent", "base", "--parent", "other", "--how", "merge");

        Assert.Equal("tuned@1 now derives from base@1 (was: base@1, other@1)", Ok(repo, "alice", "reparent", "tuned", "--remove-parent", "other").Out.Trim());
        Assert.Equal(["base@1"], Parents(repo, "tuned"));
        Assert.Equal("tuned@1 is now a root (was under base@1)", Ok(repo, "alice", "reparent", "tuned", "--root").Out.Trim());
        Assert.Empty(Parents(repo, "tuned"));
        Assert.Equal(["tuned@1"], Parents(repo, "tuned-small")); // its children keep their edge
    }

    [Fact]
    public void Refusals_are_one_line_with_a_non_zero_exit_and_change_nothing()
    {
        using var dir = new TempDirectory();
        string repo = Family(dir);

        // Usage errors: exit 2, as for every command-line mistake.
        Fails(repo, MGitCli.ExitUsage, "give the new parents (--parent P), --root or --remove-parent P", "reparent", "tuned");
        Fails(repo, MGitCli.ExitUsage, "give only one of --parent, --root and --remove-parent", "reparent", "tuned", "--root", "--parent", "base");
        Fails(repo, MGitCli.ExitUsage, "--history only shows the changes", "reparent", "tuned", "--history", "--root");
        Fails(repo, MGitCli.ExitUsage, "'--parnet'", "reparent", "tuned", "--parnet", "base");
        Fails(repo, MGitCli.ExitUsage, "Required argument missing", "reparent");

        // Bad input: exit 1.
        Fails(repo, MGitCli.ExitFailure, "tuned@1 cannot be its own parent", "reparent", "tuned", "--parent", "tuned@1");
        Fails(repo, MGitCli.ExitFailure, "the edge would make a cycle (tuned@1 -> tuned-small@1 -> tuned@1)", "reparent", "tuned", "--parent", "tuned-small");
        Fails(repo, MGitCli.ExitFailure, "(other@1 -> tuned@1 -> tuned-small@1 -> other@1)", "reparent", "other", "--parent", "tuned-small");
        Fails(repo, MGitCli.ExitFailure, "no model named 'nope'", "reparent", "tuned", "--parent", "nope");
        Fails(repo, MGitCli.ExitFailure, "no model named 'nope'", "reparent", "nope", "--root");
        Fails(repo, MGitCli.ExitFailure, "model 'base' has no version 9", "reparent", "tuned", "--parent", "base@9");
        Fails(repo, MGitCli.ExitFailure, "base@1 is not an adapted parent of tuned@1", "reparent", "tuned", "--remove-parent", "base");
        Fails(repo, MGitCli.ExitFailure, "--how must be one of", "reparent", "tuned", "--parent", "base", "--how", "magic");
        Fails(repo, MGitCli.ExitFailure, "--how describes a derivation", "reparent", "tuned", "--root", "--how", "prune");
    }

    [Fact]
    public void File_a_reparent_travels_with_push_and_pull_into_a_clone_that_has_the_old_edge() => Travels("file");

    [S3Fact]
    public void S3_a_reparent_travels_with_push_and_pull_into_a_clone_that_has_the_old_edge() => Travels("s3");

    private static void Travels(string kind)
    {
        using var dir = new TempDirectory();
        var remote = TestRemote.Create(kind, dir);
        string a = Family(dir, "a");
        Ok(a, "alice", ["remote", "add", "origin", remote.Url, .. remote.EndpointArgs]);
        Ok(a, "alice", "push");
        string b = dir.File("b");
        Ok(dir.Path, "bob", ["clone", remote.Url, b, .. remote.EndpointArgs]);
        Assert.Equal(["other@1"], Parents(b, "tuned"));

        // a fixes the edge and pushes: the remote's old edge goes (not both parents), and b's pull takes the new one.
        Ok(a, "alice", "reparent", "tuned", "--parent", "base", "-m", "fixed");
        Ok(a, "alice", "push");
        var pulled = Ok(b, "bob", "pull");
        Assert.Contains("parents of tuned@1 updated from the remote", pulled.Error, StringComparison.Ordinal);
        Assert.Equal(["base@1"], Parents(b, "tuned"));
        Assert.Equal("alice", Assert.Single(JsonDocument.Parse(Ok(b, "x", "reparent", "tuned", "--history", "--json").Out).RootElement.EnumerateArray().ToList()).GetProperty("changed_by").GetString());

        // A fresh clone has it too, and pulling again changes nothing.
        string c = dir.File("c");
        Ok(dir.Path, "carol", ["clone", remote.Url, c, .. remote.EndpointArgs]);
        Assert.Equal(["base@1"], Parents(c, "tuned"));
        Ok(b, "bob", "pull");
        Assert.Equal(["base@1"], Parents(b, "tuned"));

        // Back the other way: b makes it a root, pushes; a's pull follows, and a's earlier change does not bring base back.
        Ok(b, "bob", "reparent", "tuned", "--root");
        Ok(b, "bob", "push");
        Ok(a, "alice", "pull");
        Assert.Empty(Parents(a, "tuned"));
        Assert.Equal(2, JsonDocument.Parse(Ok(a, "x", "reparent", "tuned", "--history", "--json").Out).RootElement.GetArrayLength());

        // A clone that has not pulled the change may not push over it.
        var refused = Run(c, "carol", "push");
        Assert.Equal(MGitCli.ExitFailure, refused.ExitCode);
        Assert.Contains("changes of parents this repository has not merged (the parents of tuned@1); pull first", refused.Error, StringComparison.Ordinal);
        Assert.Equal(0, Run(a, "x", "fsck").ExitCode);
    }

    [Fact]
    public void File_parents_changed_differently_on_both_sides_are_a_conflict_pull_reports_and_a_reparent_settles() => Conflict("file");

    private static void Conflict(string kind)
    {
        using var dir = new TempDirectory();
        var remote = TestRemote.Create(kind, dir);
        string a = Family(dir, "a");
        Ok(a, "alice", ["remote", "add", "origin", remote.Url, .. remote.EndpointArgs]);
        Ok(a, "alice", "push");
        string b = dir.File("b");
        Ok(dir.Path, "bob", ["clone", remote.Url, b, .. remote.EndpointArgs]);

        Ok(a, "alice", "reparent", "tuned", "--parent", "base");
        Ok(a, "alice", "push");
        Ok(b, "bob", "reparent", "tuned", "--root");

        // b's pull keeps b's edges, names the conflict in one line and fails; again on a second pull.
        for (int i = 0; i < 2; i++)
        {
            var pulled = Run(b, "bob", "pull");
            Assert.Equal(MGitCli.ExitFailure, pulled.ExitCode);
            Assert.Contains("mgit: the parents of tuned@1 were changed both here (none) and on the remote (base@1, by alice at ", pulled.Error, StringComparison.Ordinal);
            Assert.Contains("'mgit reparent tuned@1 --parent P' (or --root), then push", pulled.Error, StringComparison.Ordinal);
            Assert.Empty(Parents(b, "tuned"));
        }

        var refused = Run(b, "bob", "push");
        Assert.Equal(MGitCli.ExitFailure, refused.ExitCode);
        Assert.Contains("the parents of tuned@1 were changed both here (none) and on", refused.Error, StringComparison.Ordinal);
        Assert.Contains("nothing was pushed", refused.Error, StringComparison.Ordinal);

        // Settled by a new reparent in b (it supersedes both sides' changes): b pushes, a follows.
        Ok(b, "bob", "reparent", "tuned", "--parent", "other", "--parent", "base", "--how", "merge");
        Ok(b, "bob", "pull");
        Ok(b, "bob", "push");
        Ok(a, "alice", "pull");
        Assert.Equal(["base@1", "other@1"], Parents(a, "tuned"));
        Assert.Equal(3, JsonDocument.Parse(Ok(a, "x", "reparent", "tuned", "--history", "--json").Out).RootElement.GetArrayLength());
    }
}
