using System.Diagnostics;
using System.Text;
using MGit.Errors;
using MGit.Lineage;
using MGit.Scheduling;
using MGit.Tests.TestSupport;
using MGit.Workspace;

namespace MGit.Tests.Scheduling;

/// <summary>The parts of the cluster executor that need no cluster: job scripts, sbatch arguments, settings and their precedence, states.</summary>
public sealed class SchedulingTests
{
    public static TheoryData<string> Awkward => new()
    {
        "plain",
        "two words",
        "it's",
        "\"double\"",
        "$(touch pwned)",
        "`touch pwned`",
        "line one\nline two",
        "back\\slash",
        "",
        "*",
        "~",
        "-n",
        "a;b|c&d>e<f",
        "ünïcødé ✓",
        "'",
        "''\"'\"",
    };

    [LinuxTheory("needs /bin/sh")]
    [MemberData(nameof(Awkward))]
    public void A_job_script_hands_every_argument_to_the_program_as_it_is(string argument)
    {
        using var dir = new TempDirectory();
        string[] arguments = ["before", argument, "after"];
        string script = dir.File("job.sh");
        File.WriteAllText(script, ShellScript.Exec(["printf", "%s\\0", .. arguments], "a job\nwith a two-line description $(touch pwned)"));

        var start = new ProcessStartInfo("sh") { RedirectStandardOutput = true, WorkingDirectory = dir.Path, StandardOutputEncoding = Encoding.UTF8 };
        start.ArgumentList.Add(script);
        using var process = Process.Start(start)!;
        string output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();

        Assert.Equal(0, process.ExitCode);
        Assert.Equal(arguments, output.Split('\0')[..^1]);
        Assert.False(File.Exists(dir.File("pwned")));
    }

    [Fact]
    public void A_NUL_in_an_argument_is_refused_not_cut_short()
    {
        var error = Assert.Throws<MGitException>(() => ShellScript.Quote("a\0b"));
        Assert.Equal(ErrorKind.InvalidInput, error.Kind);
    }

    [Fact]
    public void Sbatch_gets_the_dependencies_the_settings_and_the_extra_arguments_each_as_one_argument()
    {
        var job = new ClusterJob("mgit-cascade-1-m", ["mgit", "cascade-step", "1", "m q"], "/shared/repo dir", "/shared/repo dir/.mgit/logs/x.log", ["11", "12"], new SchedulerOptions
        {
            Partition = "gpu",
            Gres = "gpu:1",
            Time = "1-02:00:00",
            Cpus = 4,
            Mem = "16G",
            Account = "lab",
            ExtraArguments = ["--qos=high", "--comment=two words"],
        });

        var arguments = SlurmScheduler.SubmitArguments(job, "/shared/repo dir/.mgit/logs/x.sbatch");

        Assert.Equal(
            [
                "sbatch", "--parsable", "--job-name=mgit-cascade-1-m", "--output=/shared/repo dir/.mgit/logs/x.log", "--chdir=/shared/repo dir",
                "--dependency=afterok:11:12", "--kill-on-invalid-dep=yes",
                "--partition=gpu", "--gres=gpu:1", "--time=1-02:00:00", "--cpus-per-task=4", "--mem=16G", "--account=lab",
                "--qos=high", "--comment=two words", "/shared/repo dir/.mgit/logs/x.sbatch",
            ],
            arguments);
        Assert.DoesNotContain(SlurmScheduler.SubmitArguments(job with { After = [], Options = SchedulerOptions.None }, "s"), a => a.StartsWith("--dependency", StringComparison.Ordinal) || a.StartsWith("--partition", StringComparison.Ordinal));
    }

    [Fact]
    public void The_command_line_wins_over_a_test_or_recipe_which_wins_over_the_repository()
    {
        var repository = new SchedulerOptions { Partition = "cpu", Time = "60", Mem = "4G", ExtraArguments = ["--qos=low"] };
        var test = new SchedulerOptions { Partition = "gpu", Gres = "gpu:1", ExtraArguments = ["--qos=normal"] };
        var commandLine = new SchedulerOptions { Time = "5" };

        var effective = commandLine.Over(test).Over(repository);

        Assert.Equal("gpu", effective.Partition);
        Assert.Equal("gpu:1", effective.Gres);
        Assert.Equal("5", effective.Time);
        Assert.Equal("4G", effective.Mem);
        // sbatch takes the last of a repeated option, so the stronger setting's come last.
        Assert.Equal(["--qos=low", "--qos=normal"], effective.ExtraArguments);
    }

    [Theory]
    [InlineData("time", "soon", "is not a time limit")]
    [InlineData("time", "1:2:3:4", "is not a time limit")]
    [InlineData("mem", "lots", "is not an amount of memory")]
    [InlineData("cpus", "0", "must be a whole number from 1")]
    [InlineData("cpus", "two", "must be a whole number from 1")]
    [InlineData("partition", "a b", "must be one word")]
    [InlineData("gres", "gpu:1\n--uid=0", "must be one word")]
    [InlineData("sbatch-args", "qos=high", "must be an option")]
    [InlineData("sbatch-args", "'--qos=high", "unclosed")]
    public void A_bad_setting_is_refused_in_one_line_before_anything_is_submitted(string name, string value, string message)
    {
        var error = Assert.Throws<MGitException>(() => SchedulerOptions.FromSettings(new Dictionary<string, string> { ["slurm." + name] = value }, "slurm."));
        Assert.Equal(ErrorKind.InvalidInput, error.Kind);
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', error.Message.Replace(value, "", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("30")]
    [InlineData("30:00")]
    [InlineData("2:30:00")]
    [InlineData("1-0")]
    [InlineData("1-12:30")]
    [InlineData("1-12:30:00")]
    [InlineData("UNLIMITED")]
    public void Every_time_format_sbatch_takes_is_accepted(string time) =>
        Assert.Equal(time, new SchedulerOptions { Time = time }.Validated().Time);

    [Theory]
    [InlineData("COMPLETED", JobPhase.Succeeded)]
    [InlineData("FAILED", JobPhase.Failed)]
    [InlineData("TIMEOUT", JobPhase.Killed)]
    [InlineData("NODE_FAIL", JobPhase.Killed)]
    [InlineData("PREEMPTED", JobPhase.Killed)]
    [InlineData("OUT_OF_MEMORY", JobPhase.Killed)]
    [InlineData("CANCELLED", JobPhase.Cancelled)]
    [InlineData("CANCELLED by 0", JobPhase.Cancelled)]
    [InlineData("PENDING", JobPhase.Pending)]
    [InlineData("REQUEUED", JobPhase.Pending)]
    [InlineData("RUNNING", JobPhase.Running)]
    [InlineData("COMPLETING", JobPhase.Running)]
    public void Slurm_states_map_to_what_mgit_does_with_them(string state, JobPhase phase) =>
        Assert.Equal(phase, SlurmScheduler.PhaseOf(state));

    [Fact]
    public void Scontrol_lines_give_the_state_reason_exit_code_and_run_time()
    {
        // As Slurm 22.05 printed them for a job killed at its time limit and one that exited 3.
        var timedOut = SlurmScheduler.ParseShowJob("JobId=2 JobName=wrap UserId=root(0) JobState=TIMEOUT Reason=TimeLimit Dependency=(null) Requeue=1 Restarts=0 BatchFlag=1 Reboot=0 ExitCode=0:15 RunTime=00:01:21 TimeLimit=00:01:00")!;
        var failed = SlurmScheduler.ParseShowJob("JobId=9 JobName=x JobState=FAILED Reason=NonZeroExitCode ExitCode=3:0 RunTime=1-02:03:04")!;

        Assert.Equal(("2", JobPhase.Killed, "TIMEOUT", "TimeLimit", (int?)null, TimeSpan.FromSeconds(81)), (timedOut.JobId, timedOut.Phase, timedOut.State, timedOut.Reason, timedOut.ExitCode, timedOut.RunTime));
        Assert.Equal("TIMEOUT (TimeLimit)", timedOut.Describe());
        Assert.Equal((3, new TimeSpan(1, 2, 3, 4)), (failed.ExitCode, failed.RunTime!.Value));
        Assert.Equal("FAILED (NonZeroExitCode), exit 3", failed.Describe());
        Assert.Null(SlurmScheduler.ParseShowJob("slurm_load_jobs error: Invalid job id specified"));
    }

    [Fact]
    public void An_unknown_executor_is_refused_with_the_known_ones() =>
        Assert.Contains("local, slurm", Assert.Throws<MGitException>(() => JobSchedulers.Create("kubernetes")).Message, StringComparison.Ordinal);

    [Fact]
    public void Mgit_config_sets_shows_lists_and_unsets_settings_and_refuses_bad_ones_in_one_line()
    {
        using var fixture = new RepoFixture();
        string root = fixture.RepositoryPath;

        CliRunner.Ok(root, "config", "executor", "slurm");
        CliRunner.Ok(root, "config", "slurm.gres", "gpu:1");
        CliRunner.Ok(root, "config", "test.eval set.slurm.time", "2:00:00");
        // A value that starts with "-" comes after "--", as for every mgit command.
        CliRunner.Ok(root, "config", "recipe.my.model.slurm.sbatch-args", "--", "--qos=high '--comment=a b'");

        Assert.Equal("gpu:1\n", CliRunner.Ok(root, "config", "slurm.gres").Out);
        Assert.Equal("executor=slurm\nrecipe.my.model.slurm.sbatch-args=--qos=high '--comment=a b'\nslurm.gres=gpu:1\ntest.eval set.slurm.time=2:00:00\n", CliRunner.Ok(root, "config").Out);
        var config = RepositoryConfig.Load(Path.Combine(root, ".mgit"));
        Assert.Equal("slurm", config.Executor);
        Assert.Equal(["--qos=high", "--comment=a b"], config.ForRecipe("my.model", "slurm").ExtraArguments);
        Assert.Equal("2:00:00", config.ForTest("eval set", "slurm").Time);

        foreach (var (key, value, message) in new[]
        {
            ("executor", "pbs", "unknown executor 'pbs'"),
            ("slurm.time", "soon", "is not a time limit"),
            ("slurm.colour", "blue", "unknown scheduler setting 'slurm.colour'"),
            ("remote.origin", "x", "unknown setting 'remote.origin'"),
        })
        {
            var refused = CliRunner.Run(root, "config", key, value);
            Assert.Equal(1, refused.ExitCode);
            Assert.Contains(message, refused.Error, StringComparison.Ordinal);
            Assert.Single(refused.Error.Trim().Split('\n'));
        }

        CliRunner.Ok(root, "config", "--unset", "slurm.gres");
        Assert.Equal(1, CliRunner.Run(root, "config", "slurm.gres").ExitCode);
        Assert.Equal(1, CliRunner.Run(root, "config", "--unset", "slurm.gres").ExitCode);
        Assert.Equal("slurm", RepositoryConfig.Load(Path.Combine(root, ".mgit")).Executor); // the rest kept

        File.WriteAllText(Path.Combine(root, ".mgit", "config.json"), "{ \"executor\": 3 }");
        var damaged = CliRunner.Run(root, "config");
        Assert.NotEqual(0, damaged.ExitCode);
        Assert.Contains("is not a string; fix or remove it", damaged.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void Scheduler_options_without_a_cluster_executor_are_refused()
    {
        using var fixture = new RepoFixture();
        var refused = CliRunner.Run(fixture.RepositoryPath, "test", "run", "--all", "--gres", "gpu:1");
        Assert.Equal(1, refused.ExitCode);
        Assert.Contains("add --executor slurm", refused.Error, StringComparison.Ordinal);
        var noWait = CliRunner.Run(fixture.RepositoryPath, "cascade", "x", "--no-wait");
        Assert.Equal(1, noWait.ExitCode);
        Assert.Contains("--no-wait is for a cluster executor", noWait.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void Status_and_cancel_say_so_when_no_cascade_has_run()
    {
        using var fixture = new RepoFixture();
        foreach (string verb in new[] { "--status", "--cancel" })
        {
            var result = CliRunner.Run(fixture.RepositoryPath, "cascade", verb);
            Assert.Equal(1, result.ExitCode);
            Assert.Contains("no cascade has run in this repository", result.Error, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void A_job_is_recorded_as_submitted_when_it_was_handed_over_not_when_the_scheduler_answered()
    {
        // A job may start, and its result record its start, before the scheduler's answer comes
        // back; test show pairs a result with the job submitted before it, so the record keeps
        // the time of handing over (this was the time of the answer: a loaded run lost the pairing).
        using var fixture = new RepoFixture();
        var handedOver = new DateTimeOffset(2026, 12, 8, 3, 0, 0, TimeSpan.Zero);
        var clock = handedOver;
        var scheduler = new AnswersLate(() => clock = clock.AddSeconds(5));
        using var lineage = LineageStore.Open(Path.Combine(fixture.RepositoryPath, ".mgit", "lineage.db"), create: false);
        var run = new ClusterRun(scheduler, lineage, "tests", fixture.RepositoryPath, () => clock);

        run.Submit("m@1\nt", new ClusterJob("job", ["true"], fixture.RepositoryPath, Path.Combine(fixture.RepositoryPath, "job.log"), [], new SchedulerOptions()));

        var recorded = Assert.Single(run.Recorded());
        Assert.Equal("late-1", recorded.JobId);
        Assert.Equal(handedOver, recorded.SubmittedAt);
    }

    /// <summary>A scheduler whose answer to a submission comes after <paramref name="meanwhile"/> happened.</summary>
    private sealed class AnswersLate(Action meanwhile) : IJobScheduler
    {
        public string Name => "late";

        public string Submit(ClusterJob job)
        {
            meanwhile();
            return "late-1";
        }

        public IReadOnlyDictionary<string, ClusterJobState> Query(IReadOnlyCollection<string> jobIds) => new Dictionary<string, ClusterJobState>();

        public void Cancel(IReadOnlyCollection<string> jobIds)
        {
        }
    }
}
