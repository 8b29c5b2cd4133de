using System.Diagnostics;
using System.Text.Json.Nodes;
using MGit.Cascade;
using MGit.Scheduling;
using MGit.Tests.TestSupport;

namespace MGit.Tests.Scheduling;

/// <summary>
/// The cascade and test runs on a real single-node Slurm cluster (<see cref="SlurmCluster"/>),
/// through the CLI as a user runs them, each checked against the same commands run locally.
/// </summary>
[Collection(SlurmTests.Name)]
public sealed class SlurmCascadeTests(SlurmCluster cluster)
{
    [SlurmFact]
    public void A_cascade_with_a_merge_on_Slurm_makes_byte_identical_versions_and_the_same_graph_as_a_local_one()
    {
        cluster.Require();
        using var local = new SlurmFamily();
        using var slurm = new SlurmFamily();

        local.MgitOk("cascade", "base@2", "--jobs", "2");
        var result = SlurmFamily.Json(slurm.MgitOk("cascade", "base@2", "--executor", "slurm", "--json").Out);

        Assert.Equal("slurm", result.GetProperty("executor").GetString());
        Assert.True(result.GetProperty("succeeded").GetBoolean());
        Assert.All(result.GetProperty("steps").EnumerateArray(), s => Assert.Equal(CascadeStatus.Rederived, s.GetProperty("status").GetString()));
        foreach (string model in SlurmFamily.Derived)
        {
            Assert.Equal(local.Hash($"{model}@2"), slurm.Hash($"{model}@2"));
        }

        Assert.Equal(local.Graph(), slurm.Graph());
        // The argument with quotes, $( ), backquotes and a line break reached the recipe whole, and nothing ran it.
        Assert.Equal($"base v2\nft:{SlurmFamily.TrickyTag}\nft:A2\n", slurm.Content("a2@2"));
        Assert.Empty(Directory.EnumerateFileSystemEntries(slurm.Root, "pwned", SearchOption.AllDirectories));
        Assert.False(File.Exists(Path.Combine(slurm.Folder, "pwned")));
        // The tests of each new version ran in its job, with the results a local cascade records.
        Assert.Equal(TestTable(local), TestTable(slurm));

        var status = slurm.Status();
        foreach (string model in SlurmFamily.Derived)
        {
            var job = status[model]["job"]!;
            Assert.Equal("slurm", (string?)job["scheduler"]);
            Assert.Equal("COMPLETED", (string?)job["state"]);
            Assert.Equal(0, (int?)job["exit_code"]);
            Assert.True(File.Exists(Path.Combine(slurm.Root, (string)job["log"]!)));
        }

        // Each step's job script names its model quoted for sh.
        var scripts = Directory.EnumerateFiles(Path.Combine(slurm.Root, ".mgit", "logs", "cascade"), "*.sbatch", SearchOption.AllDirectories).Select(File.ReadAllText).ToList();
        Assert.Equal(4, scripts.Count);
        Assert.Single(scripts, s => s.Contains(" cascade-step 1 'm '\\''q'\\'' $(touch pwned)' --timeout ", StringComparison.Ordinal));
        Assert.Empty(cluster.ActiveJobs());
    }

    [SlurmFact]
    public void A_failing_recipe_stops_only_its_branch_and_resume_after_the_fix_submits_only_what_is_left()
    {
        cluster.Require();
        using var family = new SlurmFamily();
        File.WriteAllText(family.FailFlag, "");

        var failed = family.Mgit("cascade", "base@2", "--executor", "slurm");

        Assert.Equal(1, failed.ExitCode);
        var status = family.Status();
        Assert.Equal(CascadeStatus.Rederived, (string?)status["a"]["status"]);
        Assert.Equal(CascadeStatus.Rederived, (string?)status["a2"]["status"]);
        Assert.Equal(CascadeStatus.Failed, (string?)status["b"]["status"]);
        Assert.Contains("exit 3", (string?)status["b"]["detail"], StringComparison.Ordinal);
        Assert.Equal("FAILED", (string?)status["b"]["job"]!["state"]);
        Assert.Equal(CascadeStatus.Blocked, (string?)status[SlurmFamily.Merged]["status"]);
        Assert.Contains("parent b was not re-derived", (string?)status[SlurmFamily.Merged]["detail"], StringComparison.Ordinal);
        Assert.Equal("CANCELLED", (string?)status[SlurmFamily.Merged]["job"]!["state"]);
        string aJob = (string)status["a"]["job"]!["id"]!;

        File.Delete(family.FailFlag);
        family.MgitOk("cascade", "--resume", "--executor", "slurm");

        status = family.Status();
        Assert.All(SlurmFamily.Derived, model => Assert.Equal(CascadeStatus.Rederived, (string?)status[model]["status"]));
        Assert.Equal(aJob, (string?)status["a"]["job"]!["id"]); // a was not submitted again
        Assert.Equal("merge\nbase v2\nft:" + SlurmFamily.TrickyTag + "\n--\nbase v2\nft:B\n", family.Content(SlurmFamily.Merged + "@2"));
        Assert.Equal(2, SlurmFamily.Json(family.MgitOk("ls", "--json").Out).EnumerateArray().Count(v => v.GetProperty("name").GetString() == "a"));
    }

    [SlurmFact]
    public void A_job_killed_for_its_time_limit_is_a_failed_step_with_the_reason_and_its_descendants_are_blocked()
    {
        cluster.Require();
        using var family = new SlurmFamily();
        File.WriteAllText(family.SlowFlag, "");
        var clock = Stopwatch.StartNew();

        var result = family.Mgit("cascade", "base@2", "--executor", "slurm", "--time", "1");

        // Slurm enforces a limit of one minute within about half a minute more; mgit does not wait for ever.
        Assert.InRange(clock.Elapsed, TimeSpan.FromSeconds(50), TimeSpan.FromMinutes(4));
        Assert.Equal(1, result.ExitCode);
        var status = family.Status();
        Assert.Equal(CascadeStatus.Failed, (string?)status["a"]["status"]);
        Assert.Contains("TIMEOUT (TimeLimit)", (string?)status["a"]["detail"], StringComparison.Ordinal);
        Assert.Equal(CascadeStatus.Blocked, (string?)status["a2"]["status"]);
        Assert.Equal(CascadeStatus.Blocked, (string?)status[SlurmFamily.Merged]["status"]);
        Assert.Equal(CascadeStatus.Rederived, (string?)status["b"]["status"]);
        Assert.DoesNotContain("a@2", family.MgitOk("ls").Out, StringComparison.Ordinal);
        Assert.Empty(cluster.ActiveJobs());
    }

    [SlurmFact]
    public void Cancelling_a_cascade_cancels_every_job_and_leaves_no_half_added_version()
    {
        cluster.Require();
        using var family = new SlurmFamily();
        File.WriteAllText(family.SlowFlag, "");

        var submitted = family.MgitOk("cascade", "base@2", "--executor", "slurm", "--no-wait");
        Assert.Contains("submitted", submitted.Out, StringComparison.Ordinal);
        Assert.NotEmpty(cluster.ActiveJobs());
        WaitUntil(() => (string?)family.Status()["a"]["job"]!["state"] == "RUNNING", "a's job to run");
        Assert.Contains("job(s) on slurm queued or running when last seen", family.MgitOk("status").Out, StringComparison.Ordinal);

        // --resume refuses while jobs of the cascade may still run.
        var early = family.Mgit("cascade", "--resume", "--executor", "slurm");
        Assert.NotEqual(0, early.ExitCode);
        Assert.Contains("still queued or running", early.Error, StringComparison.Ordinal);

        family.MgitOk("cascade", "--cancel");

        WaitUntil(() => cluster.ActiveJobs().Count == 0, "the cancelled jobs to leave the queue");
        var status = family.Status();
        Assert.Equal(CascadeStatus.Pending, (string?)status["a"]["status"]);
        Assert.Equal("CANCELLED", (string?)status["a"]["job"]!["state"]);
        Assert.DoesNotContain("a@2", family.MgitOk("ls").Out, StringComparison.Ordinal);
        Assert.True(SlurmFamily.Json(family.MgitOk("fsck", "--json").Out).GetProperty("intact").GetBoolean());
        Assert.Equal(0, SlurmFamily.Json(family.MgitOk("status", "--json").Out).GetProperty("cascade").GetProperty("open_jobs").GetInt32());

        // Without the slow flag, a resume finishes what the cancel stopped.
        File.Delete(family.SlowFlag);
        family.MgitOk("cascade", "--resume", "--executor", "slurm");
        Assert.All(SlurmFamily.Derived, model => Assert.Equal(CascadeStatus.Rederived, (string?)family.Status()[model]["status"]));
    }

    [SlurmFact]
    public void Cancelling_the_waiting_command_cancels_the_submitted_jobs()
    {
        cluster.Require();
        using var family = new SlurmFamily();
        File.WriteAllText(family.SlowFlag, "");
        using var repository = Repository.Open(family.Root, RepoFixture.Options);
        using var cancel = new CancellationTokenSource();
        var options = new CascadeOptions
        {
            Cluster = new ClusterOptions { Scheduler = new SlurmScheduler(), MgitCommand = [Path.Combine(AppContext.BaseDirectory, "mgit")], PollInterval = TimeSpan.FromMilliseconds(500) },
        };
        var running = Task.Run(() => repository.UpdateCascade(null, "base@2", options, cancel.Token));
        WaitUntil(() => cluster.ActiveJobs().Count > 0, "the cascade's jobs to be queued");

        cancel.Cancel();

        Assert.ThrowsAny<OperationCanceledException>(() => running.GetAwaiter().GetResult());
        WaitUntil(() => cluster.ActiveJobs().Count == 0, "the cancelled jobs to leave the queue");
        Assert.Null(repository.Graph().Versions.FirstOrDefault(v => v.Ref == "a@2"));
    }

    [SlurmFact]
    public void Tests_run_over_many_models_on_Slurm_record_what_a_local_run_records_and_show_their_jobs()
    {
        cluster.Require();
        using var local = new SlurmFamily();
        using var slurm = new SlurmFamily();
        local.MgitOk("cascade", "base@2");
        slurm.MgitOk("cascade", "base@2");

        var localRun = local.Mgit("test", "run", "--all", "--jobs", "2", "--json");
        var slurmRun = slurm.Mgit("test", "run", "--all", "--jobs", "3", "--executor", "slurm", "--json");

        Assert.Equal(1, localRun.ExitCode); // v1 models fail has-v2
        Assert.Equal(localRun.ExitCode, slurmRun.ExitCode);
        Assert.Equal(20, JsonNode.Parse(slurmRun.Out)!.AsArray().Count); // 10 versions x 2 tests
        Assert.Equal(TestTable(local), TestTable(slurm));
        var shown = JsonNode.Parse(slurm.MgitOk("test", "show", "--json").Out)!.AsArray();
        Assert.All(shown, r => Assert.Equal("slurm", (string?)r!["job"]!["scheduler"]));
        Assert.All(shown, r => Assert.Equal((bool)r!["passed"]! ? "COMPLETED" : "FAILED", (string?)r!["job"]!["state"]));
        Assert.DoesNotContain(JsonNode.Parse(local.MgitOk("test", "show", "--json").Out)!.AsArray(), r => r!["job"] is not null);
    }

    [SlurmFact]
    public void A_test_job_the_scheduler_stops_is_a_failed_result_with_the_schedulers_reason_not_the_killed_tests_exit()
    {
        cluster.Require();
        using var family = new SlurmFamily();
        string slow = Scripts.Write(Path.Combine(family.Folder, "slow test.sh"), "sleep 600");
        family.MgitOk("test", "add", "slow", "--cmd", $"{Scripts.Command(slow)} {{model}}", "--for", "model:base");

        var run = Task.Run(() => family.Mgit("test", "run", "base@2", "--test", "slow", "--executor", "slurm"));
        string job = "";
        WaitUntil(() => (job = RunningJob()) != "", "the test's job to run");
        SlurmCluster.Tool("scancel", job); // as an operator, or the scheduler preempting it, would

        var result = run.GetAwaiter().GetResult();
        Assert.Equal(1, result.ExitCode);
        var shown = JsonNode.Parse(family.MgitOk("test", "show", "base@2", "--json").Out)!.AsArray().Single(r => (string?)r!["test"] == "slow")!;
        Assert.False((bool)shown["passed"]!);
        Assert.StartsWith($"slurm job {job} CANCELLED", (string)shown["reason"]!, StringComparison.Ordinal);
        Assert.Equal("CANCELLED", (string?)shown["job"]!["state"]);
        Assert.Empty(cluster.ActiveJobs());
    }

    /// <summary>The id of the one job running now, or "".</summary>
    private static string RunningJob() =>
        SlurmCluster.Tool("squeue", "--noheader", "--states=RUNNING", "--format=%i").Output.Trim();

    [SlurmFact]
    public void Scheduler_settings_come_from_the_command_line_over_the_test_over_the_repository()
    {
        cluster.Require();
        using var family = new SlurmFamily();
        family.MgitOk("config", "slurm.partition", "other");
        family.MgitOk("config", "slurm.time", "7");
        family.MgitOk("config", "test.lines.slurm.time", "5");
        family.MgitOk("config", "test.lines.slurm.sbatch-args", "--", "--comment='from the test'");

        // base@2 has one line, so "lines" (at least 2) fails there: the runs exit 1, and record their jobs all the same.
        Assert.Equal(1, family.Mgit("test", "run", "base@2", "--executor", "slurm", "--cpus", "1").ExitCode);
        Assert.Equal(1, family.Mgit("test", "run", "base@2", "--test", "lines", "--executor", "slurm", "--partition", "debug", "--time", "3").ExitCode);

        var jobs = JsonNode.Parse(family.MgitOk("test", "show", "--json").Out)!.AsArray().ToDictionary(r => (string)r!["test"]!, r => (string)r!["job"]!["id"]!);
        string hasV2 = SlurmCluster.Tool("scontrol", "--oneliner", "show", "job", jobs["has-v2"]).Output;
        Assert.Contains("Partition=other", hasV2, StringComparison.Ordinal);
        Assert.Contains("TimeLimit=00:07:00", hasV2, StringComparison.Ordinal);
        string lines = SlurmCluster.Tool("scontrol", "--oneliner", "show", "job", jobs["lines"]).Output;
        Assert.Contains("Partition=debug", lines, StringComparison.Ordinal);
        Assert.Contains("TimeLimit=00:03:00", lines, StringComparison.Ordinal);
        Assert.Contains("Comment=from the test", lines, StringComparison.Ordinal);
    }

    /// <summary>Every recorded result, without what differs from run to run (times, log paths).</summary>
    private static List<string> TestTable(SlurmFamily family) =>
        JsonNode.Parse(family.MgitOk("test", "show", "--json").Out)!.AsArray()
            .Select(r => $"{r!["ref"]} {r["test"]} {r["passed"]} {r["exit_code"]} {r["reason"]} {r["metrics"]!.ToJsonString()}")
            .Order(StringComparer.Ordinal)
            .ToList();

    private static void WaitUntil(Func<bool> condition, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(60), $"timed out waiting for {what}");
            Thread.Sleep(250);
        }
    }
}
