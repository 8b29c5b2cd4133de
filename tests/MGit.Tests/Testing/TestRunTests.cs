using System.Text.Json;
using MGit.Errors;
using MGit.Ingest;
using MGit.Testing;
using MGit.Tests.TestSupport;

namespace MGit.Tests.Testing;

/// <summary>Registering tests, running them across the graph on cached checkouts, and recording what they report.</summary>
public sealed class TestRunTests
{
    private static string AddText(RepoFixture fixture, string fileName, string content, AddOptions options)
    {
        string path = fixture.Model(fileName);
        File.WriteAllText(path, content);
        return fixture.Repository.Add(path, options).Version.Ref;
    }

    /// <summary>A test that prints {"lines": N, "marker": 0|1} for the model file and exits 0.</summary>
    private static string MetricsScript(RepoFixture fixture) => Scripts.Write(fixture.Scratch("metrics.sh"), """
        lines=$(wc -l < "$1")
        if grep -q bug "$1"; then marker=1; else marker=0; fi
        echo "some chatter first"
        echo "{\"lines\": $lines, \"marker\": $marker, \"ref\": \"$2\"}"
        """);

    [Fact]
    public void Metrics_on_the_last_line_decide_with_pass_and_results_are_recorded()
    {
        using var fixture = new RepoFixture();
        AddText(fixture, "a.txt", "one\ntwo\n", new AddOptions { Name = "a", Type = "text" });
        AddText(fixture, "b.txt", "one\nbug\nthree\n", new AddOptions { Name = "b", Parents = ["a"], Type = "text" });
        string script = MetricsScript(fixture);
        fixture.Repository.RegisterTest(new TestDefinition("clean", $"{Scripts.Command(script)} {{model}} {{ref}}", TestScope.All, "marker == 0 and lines >= 2", 60));

        var results = fixture.Repository.RunTests(fixture.Repository.Graph().Versions, new TestRunOptions());

        Assert.True(results[0].Passed, results[0].Reason + results[0].LogTail);
        Assert.Equal([("a@1", true), ("b@1", false)], results.Select(r => (r.Ref, r.Passed)));
        Assert.Equal(3, results[1].Metrics["lines"].GetInt32());
        Assert.Equal("b@1", results[1].Metrics["ref"].GetString());
        Assert.Equal("marker = 1, not == 0", results[1].Reason);
        Assert.Contains("some chatter first", results[1].LogTail, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(fixture.RepositoryPath, results[1].LogPath!)));

        var recorded = fixture.Repository.Tests.Latest(fixture.Repository.Graph());
        Assert.Equal(results.Select(r => (r.Ref, r.Test, r.Passed)), recorded.Select(r => (r.Ref, r.Test, r.Passed)));
    }

    [Fact]
    public void A_test_registered_for_a_type_applies_to_models_of_that_type_added_later()
    {
        using var fixture = new RepoFixture();
        AddText(fixture, "a.txt", "a\n", new AddOptions { Name = "a", Type = "vision" });
        fixture.Repository.RegisterTest(new TestDefinition("vision-only", "true", TestScope.Parse("type:vision"), null, 60));
        fixture.Repository.RegisterTest(new TestDefinition("for-c", "true", TestScope.Parse("model:c"), null, 60));
        AddText(fixture, "b.txt", "b\n", new AddOptions { Name = "b", Type = "text" });
        AddText(fixture, "c.txt", "c\n", new AddOptions { Name = "c", Parents = ["a"], Type = "vision" });

        var graph = fixture.Repository.Graph();
        Assert.Equal(["vision-only"], fixture.Repository.TestsFor(graph.Resolve("a")).Select(t => t.Name));
        Assert.Empty(fixture.Repository.TestsFor(graph.Resolve("b")));
        Assert.Equal(["for-c", "vision-only"], fixture.Repository.TestsFor(graph.Resolve("c")).Select(t => t.Name).Order());

        var results = fixture.Repository.RunTests(graph.Versions, new TestRunOptions { Jobs = 2 });
        Assert.Equal(["a@1 vision-only", "c@1 for-c", "c@1 vision-only"], results.Select(r => $"{r.Ref} {r.Test}").Order());
    }

    [Fact]
    public void Each_stored_model_is_checked_out_once_however_many_tests_and_runs_use_it()
    {
        using var fixture = new RepoFixture();
        AddText(fixture, "a.txt", "same\n", new AddOptions { Name = "a" });
        AddText(fixture, "b.txt", "same\n", new AddOptions { Name = "b" });
        AddText(fixture, "c.txt", "other\n", new AddOptions { Name = "c" });
        for (int i = 0; i < 3; i++)
        {
            fixture.Repository.RegisterTest(new TestDefinition($"t{i}", "test -r {model}", TestScope.All, null, 60));
        }

        var versions = fixture.Repository.Graph().Versions;
        long stored = fixture.StoredBytes;
        fixture.Repository.RunTests(versions, new TestRunOptions { Jobs = 3 });
        fixture.Repository.RunTests(versions, new TestRunOptions { Jobs = 3 });

        // a and b hold the same bytes under different file names, so their manifests differ: three checkouts.
        string cache = Path.Combine(fixture.RepositoryPath, ".mgit", "cache", "checkouts");
        Assert.Equal(3, Directory.GetDirectories(cache).Length);
        Assert.Equal(stored, fixture.StoredBytes); // the cache and the logs are not the repository's stored data
        foreach (string file in Directory.GetFiles(cache, "*", SearchOption.AllDirectories))
        {
            if (!OperatingSystem.IsWindows())
            {
                Assert.Equal(UnixFileMode.None, File.GetUnixFileMode(file) & UnixFileMode.UserWrite);
            }
        }
    }

    [Fact]
    public void A_test_that_outlives_its_timeout_is_killed_and_fails()
    {
        using var fixture = new RepoFixture();
        AddText(fixture, "a.txt", "a\n", new AddOptions { Name = "a" });
        fixture.Repository.RegisterTest(new TestDefinition("slow", "sleep 30", TestScope.All, null, 0.5));
        var started = DateTime.UtcNow;
        var result = fixture.Repository.RunTests(fixture.Repository.Graph().Versions, new TestRunOptions()).Single();
        Assert.False(result.Passed);
        Assert.Null(result.ExitCode);
        Assert.StartsWith("timed out", result.Reason, StringComparison.Ordinal);
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(20));
    }

    [Fact]
    public void A_command_that_cannot_start_fails_the_test_with_the_reason()
    {
        using var fixture = new RepoFixture();
        AddText(fixture, "a.txt", "a\n", new AddOptions { Name = "a" });
        fixture.Repository.RegisterTest(new TestDefinition("missing", "/no/such/program {model}", TestScope.All, null, 60));
        var result = fixture.Repository.RunTests(fixture.Repository.Graph().Versions, new TestRunOptions()).Single();
        Assert.False(result.Passed);
        Assert.StartsWith("could not start", result.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Model_names_and_paths_with_shell_characters_stay_single_harmless_arguments()
    {
        using var fixture = new RepoFixture();
        string canary = fixture.Scratch("pwned");
        string evil = $"x; touch {canary}; $(touch {canary}) `touch {canary}`";
        string folder = fixture.Scratch("dir with space; $(touch " + canary + ")");
        Directory.CreateDirectory(folder);
        string file = Path.Combine(folder, "m; touch pwned $(id) `id`.txt");
        File.WriteAllText(file, "weights\n");
        fixture.Repository.Add(file, new AddOptions { Name = evil });
        string argsOut = fixture.Scratch("args.txt");
        string script = Scripts.Write(fixture.Scratch("args.sh"), $"printf '%s\\n' \"$#\" \"$1\" \"$2\" > {Scripts.Quote(argsOut)}");
        fixture.Repository.RegisterTest(new TestDefinition("args", $"{Scripts.Command(script)} {{model}} {{ref}}", TestScope.All, null, 60));

        var result = fixture.Repository.RunTests(fixture.Repository.Graph().Versions, new TestRunOptions()).Single();

        Assert.True(result.Passed, result.Reason);
        Assert.False(File.Exists(canary));
        var lines = File.ReadAllLines(argsOut);
        Assert.Equal("2", lines[0]);
        Assert.EndsWith("/m; touch pwned $(id) `id`.txt", lines[1], StringComparison.Ordinal);
        Assert.Equal(evil + "@1", lines[2]);
    }

    [Fact]
    public void Bad_test_definitions_are_refused_at_registration()
    {
        using var fixture = new RepoFixture();
        var snapshot = RepositorySnapshot.Take(fixture.RepositoryPath);
        Assert.Throws<MGitException>(() => fixture.Repository.RegisterTest(new TestDefinition("ok", "run {parent}", TestScope.All, null, 60)));
        Assert.Throws<MGitException>(() => fixture.Repository.RegisterTest(new TestDefinition("ok", "run {model}", TestScope.All, "accuracy >=", 60)));
        Assert.Throws<MGitException>(() => fixture.Repository.RegisterTest(new TestDefinition("bad name!", "run {model}", TestScope.All, null, 60)));
        Assert.Throws<MGitException>(() => fixture.Repository.RegisterTest(new TestDefinition("ok", "run {model}", TestScope.All, null, 0)));
        Assert.Throws<MGitException>(() => TestScope.Parse("kind:x"));
        Assert.Equal(snapshot, RepositorySnapshot.Take(fixture.RepositoryPath));

        fixture.Repository.RegisterTest(new TestDefinition("ok", "run {model}", TestScope.All, null, 60));
        var duplicate = Assert.Throws<MGitException>(() => fixture.Repository.RegisterTest(new TestDefinition("ok", "other {model}", TestScope.All, null, 60)));
        Assert.Contains("--replace", duplicate.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_cli_runs_tests_and_shows_results_in_the_json_contract()
    {
        using var fixture = new RepoFixture();
        AddText(fixture, "a.txt", "one\ntwo\n", new AddOptions { Name = "a" });
        AddText(fixture, "b.txt", "bug\n", new AddOptions { Name = "b", Parents = ["a"] });
        string script = MetricsScript(fixture);
        string repo = fixture.RepositoryPath;
        var add = CliRunner.Run(repo, "test", "add", "clean", "--cmd", $"{Scripts.Command(script)} {{model}} {{ref}}", "--pass", "marker == 0", "--for", "all");
        Assert.Equal(0, add.ExitCode);

        var run = CliRunner.Run(repo, "test", "run", "--all");
        Assert.Equal(1, run.ExitCode);
        Assert.Contains("1 passed, 1 failed", run.Out, StringComparison.Ordinal);

        var onlyA = CliRunner.Run(repo, "test", "run", "a");
        Assert.Equal(0, onlyA.ExitCode);

        var show = CliRunner.Run(repo, "test", "show", "--json");
        Assert.Equal(0, show.ExitCode);
        using var document = JsonDocument.Parse(show.Out);
        var rows = document.RootElement.EnumerateArray().ToList();
        Assert.Equal(["a@1", "b@1"], rows.Select(r => r.GetProperty("ref").GetString()));
        foreach (var row in rows)
        {
            Assert.Equal("clean", row.GetProperty("test").GetString());
            Assert.True(row.GetProperty("duration_s").GetDouble() >= 0);
            Assert.Equal(JsonValueKind.Object, row.GetProperty("metrics").ValueKind);
        }

        Assert.False(rows[1].GetProperty("passed").GetBoolean());
        Assert.Equal(1, rows[1].GetProperty("metrics").GetProperty("marker").GetInt32());

        var table = CliRunner.Run(repo, "test", "show");
        Assert.Contains("FAIL", table.Out, StringComparison.Ordinal);
        Assert.Contains("pass", table.Out, StringComparison.Ordinal);

        var descendants = CliRunner.Run(repo, "test", "run", "--descendants", "a", "--json");
        Assert.Equal(2, JsonDocument.Parse(descendants.Out).RootElement.GetArrayLength());

        var both = CliRunner.Run(repo, "test", "run", "a", "--all");
        Assert.Equal(1, both.ExitCode);
        Assert.StartsWith("mgit: ", both.Error, StringComparison.Ordinal);
    }
}
