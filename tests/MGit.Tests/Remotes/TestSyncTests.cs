using System.Text.Json;
using MGit.Cli;
using MGit.Tests.TestSupport;
using static MGit.Tests.Remotes.Models;

namespace MGit.Tests.Remotes;

/// <summary>Registered tests travel with push, pull and clone, merged like the lineage; with --with-results their results too.</summary>
public sealed class TestSyncTests
{
    [Fact] public void File_tests_travel_and_results_only_with_the_flag() => Tests_travel("file");
    [S3Fact] public void S3_tests_travel_and_results_only_with_the_flag() => Tests_travel("s3");

    private static CliResult Ok(string dir, params string[] args) => RemoteCli.Ok(dir, args);

    private static List<(string? Name, string? Cmd)> Tests(string repo) =>
        JsonDocument.Parse(Ok(repo, "test", "ls", "--json").Out).RootElement.EnumerateArray()
            .Select(t => (t.GetProperty("name").GetString(), t.GetProperty("cmd").GetString()))
            .ToList();

    private static List<(string? Ref, string? Test, bool Passed)> Results(string repo) =>
        JsonDocument.Parse(Ok(repo, "test", "show", "--json").Out).RootElement.EnumerateArray()
            .Select(r => (r.GetProperty("ref").GetString(), r.GetProperty("test").GetString(), r.GetProperty("passed").GetBoolean()))
            .OrderBy(r => r.Item1, StringComparer.Ordinal)
            .ToList();

    /// <summary>a with base@1, base@2 and test 'readable', pushed; b cloned from it.</summary>
    private static (string A, string B) Pair(TempDirectory dir, TestRemote remote)
    {
        string a = NewRepository(dir, "a");
        string base1 = Base(dir, "base1.safetensors", 1);
        Ok(a, "add", base1, "--name", "base");
        Ok(a, "add", FineTune(dir, base1, "base2.safetensors", 2), "--version-of", "base");
        Ok(a, "test", "add", "readable", "--cmd", "test -s {model}");
        Ok(a, ["remote", "add", "origin", remote.Url, .. remote.EndpointArgs]);
        Ok(a, "push");
        string b = dir.File("b");
        Ok(dir.Path, ["clone", remote.Url, b, .. remote.EndpointArgs]);
        return (a, b);
    }

    private static void Tests_travel(string kind)
    {
        using var dir = new TempDirectory();
        var remote = TestRemote.Create(kind, dir);
        var (a, b) = Pair(dir, remote);
        Assert.Equal([("readable", "test -s {model}")], Tests(b));
        Assert.Empty(Results(b));

        // Results stay home unless asked for, on both ends.
        Ok(a, "test", "run", "--all");
        Ok(a, "push");
        Ok(b, "pull", "--with-results");
        Assert.Empty(Results(b));
        Ok(a, "push", "--with-results");
        Ok(b, "pull");
        Assert.Empty(Results(b));
        var pulled = Ok(b, "pull", "--with-results", "--json");
        Assert.Equal(2, JsonDocument.Parse(pulled.Out).RootElement.GetProperty("test_results_received").GetInt32());
        Assert.Equal([("base@1", "readable", true), ("base@2", "readable", true)], Results(b));
        Assert.Equal(0, JsonDocument.Parse(Ok(b, "pull", "--with-results", "--json").Out).RootElement.GetProperty("test_results_received").GetInt32());

        // A clone takes them with the flag; a push without it keeps the remote's.
        string c = dir.File("c");
        Ok(dir.Path, ["clone", remote.Url, c, "--with-results", .. remote.EndpointArgs]);
        Assert.Equal(Results(b), Results(c));
        Ok(c, "test", "add", "nonempty", "--cmd", "test -e {model}");
        Ok(c, "push");
        Ok(b, "pull", "--with-results");
        Assert.Equal([("nonempty", "test -e {model}"), ("readable", "test -s {model}")], Tests(b));
        string d = dir.File("d");
        Ok(dir.Path, ["clone", remote.Url, d, "--with-results", .. remote.EndpointArgs]);
        Assert.Equal(2, Results(d).Count);

        // A test replaced on one side only reaches the other as a replacement (no conflict).
        Ok(a, "pull");
        Ok(a, "test", "add", "readable", "--cmd", "test -r {model}", "--replace");
        Ok(a, "push");
        var replaced = Ok(b, "pull");
        Assert.Contains("test 'readable' registered from the remote", replaced.Error, StringComparison.Ordinal);
        Assert.Contains(("readable", "test -r {model}"), Tests(b));
    }

    [Fact]
    public void A_test_defined_differently_on_both_sides_is_a_conflict_pull_reports_and_replace_settles()
    {
        using var dir = new TempDirectory();
        var remote = TestRemote.Create("file", dir);
        var (a, b) = Pair(dir, remote);
        Ok(a, "test", "add", "acc", "--cmd", "python3 eval.py {model}");
        Ok(a, "push");
        Ok(b, "test", "add", "acc", "--cmd", "python3 eval2.py {model}");

        var pull = RemoteCli.Run(b, "pull");
        Assert.Equal(MGitCli.ExitFailure, pull.ExitCode);
        string conflict = Assert.Single(pull.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => l.Contains("defined differently", StringComparison.Ordinal));
        Assert.Equal("mgit: test 'acc' is defined differently here ('python3 eval2.py {model}') and on the remote ('python3 eval.py {model}'); nothing was overwritten: settle it with 'mgit test add acc --cmd ... --replace' (that definition then supersedes both), then push", conflict);
        Assert.Contains(("acc", "python3 eval2.py {model}"), Tests(b));
        var push = RemoteCli.Run(b, "push");
        Assert.Equal(MGitCli.ExitFailure, push.ExitCode);
        Assert.Contains("test 'acc' is defined differently here", push.Error, StringComparison.Ordinal);

        // Settled in b: its replacement supersedes both definitions, so it travels to a.
        Ok(b, "test", "add", "acc", "--cmd", "python3 eval3.py {model}", "--replace");
        Ok(b, "pull");
        Ok(b, "push");
        Ok(a, "pull");
        Assert.Contains(("acc", "python3 eval3.py {model}"), Tests(a));
        Assert.Equal(Tests(a), Tests(b));
    }
}
