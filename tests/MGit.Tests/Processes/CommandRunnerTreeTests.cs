using System.Diagnostics;
using System.Text.Json;
using MGit.Execution;
using MGit.Tests.Cli;
using MGit.Tests.TestSupport;

namespace MGit.Tests.Processes;

/// <summary>A test of the native mgit that needs Linux as well (where commands run in their own session).</summary>
public sealed class NativeLinuxFactAttribute : FactAttribute
{
    public NativeLinuxFactAttribute(string needs)
    {
        Skip = !OperatingSystem.IsLinux() ? $"needs Linux: {needs}"
            : NativeCli.Path is null ? "no native mgit: set MGIT_TEST_NATIVE_CLI (bash .ci/run publishes one with -p:PublishAot=true)"
            : null;
    }
}

/// <summary>
/// A test or recipe is a whole run, not one process: what it leaves behind (children that outlive
/// it, grandchildren reparented away from it, holders of its output pipes) ends with it, whether it
/// exits, times out or mgit is interrupted.
/// </summary>
public sealed class CommandRunnerTreeTests
{
    /// <summary>Well under the 10 s the runner used to wait for pipes held open by a leftover process.</summary>
    private static readonly TimeSpan Promptly = TimeSpan.FromSeconds(5);

    private static readonly TimeSpan ShortTimeout = TimeSpan.FromSeconds(1.5);

    [LinuxFact("orphans reparented away from the command's tree")]
    public void An_orphaned_grandchild_is_killed_with_the_command_that_timed_out()
    {
        AssertOrphanDiesWithItsRun(dir => $"(sleep 1000 & echo $! > {Scripts.Quote(dir.File("orphan.pid"))}); sleep 1000");
    }

    /// <summary>Out of the process group too, so that only the session finds it (perl, essential on Debian and Ubuntu, calls setpgid).</summary>
    [LinuxFact("orphans reparented away from the command's tree")]
    public void An_orphan_that_cleared_its_environment_and_left_the_process_group_is_found_by_its_session()
    {
        AssertOrphanDiesWithItsRun(dir =>
            $"(env -i perl -e 'setpgrp(0, 0); open(my $f, \">\", $ARGV[0]) or die; print $f \"$$\\n\"; close $f; exec(\"sleep\", \"1000\")' {Scripts.Quote(dir.File("orphan.pid"))} &); sleep 1000");
    }

    [LinuxFact("orphans reparented away from the command's tree")]
    public void An_orphan_that_started_its_own_session_is_found_by_the_run_marker()
    {
        AssertOrphanDiesWithItsRun(dir => $"(setsid sleep 1000 & echo $! > {Scripts.Quote(dir.File("orphan.pid"))}); sleep 1000");
    }

    [LinuxFact("orphans reparented away from the command's tree")]
    public void In_a_shared_session_an_orphan_is_still_found_by_the_run_marker()
    {
        AssertOrphanDiesWithItsRun(dir => $"(sleep 1000 & echo $! > {Scripts.Quote(dir.File("orphan.pid"))}); sleep 1000", CommandIsolation.SharedSession);
    }

    private static void AssertOrphanDiesWithItsRun(Func<TempDirectory, string> script, CommandIsolation isolation = CommandIsolation.OwnSession)
    {
        using var dir = new TempDirectory();
        var clock = Stopwatch.StartNew();
        var outcome = CommandRunner.Run(["sh", "-c", script(dir)], dir.Path, ShortTimeout, dir.File("run.log"), isolation: isolation);
        var elapsed = clock.Elapsed;
        int orphan = ReadPid(dir.File("orphan.pid"));
        try
        {
            Assert.True(outcome.TimedOut, outcome.Describe(ShortTimeout));
            Assert.Null(outcome.ExitCode);
            Assert.False(IsRunning(orphan, "sleep"), $"the orphaned sleep {orphan} outlived its run");
            Assert.True(elapsed < Promptly, $"Run took {elapsed.TotalSeconds:0.0} s");
        }
        finally
        {
            KillIfRunning(orphan, "sleep");
        }
    }

    [LinuxFact("a background child holding the output pipe")]
    public void A_command_that_exits_while_its_background_child_holds_the_output_returns_promptly()
    {
        AssertBackgroundChildEndsWithTheCommand(CommandIsolation.OwnSession);
    }

    [LinuxFact("a background child holding the output pipe")]
    public void In_a_shared_session_a_background_child_still_ends_with_the_command()
    {
        AssertBackgroundChildEndsWithTheCommand(CommandIsolation.SharedSession);
    }

    private static void AssertBackgroundChildEndsWithTheCommand(CommandIsolation isolation)
    {
        using var dir = new TempDirectory();
        string pidFile = dir.File("child.pid");
        string log = dir.File("run.log");
        var clock = Stopwatch.StartNew();
        var outcome = CommandRunner.Run(["sh", "-c", $"sleep 1000 & echo $! > {Scripts.Quote(pidFile)}; echo done"], dir.Path, TimeSpan.FromMinutes(1), log, isolation: isolation);
        var elapsed = clock.Elapsed;
        int child = ReadPid(pidFile);
        try
        {
            Assert.Equal(0, outcome.ExitCode);
            Assert.False(outcome.TimedOut);
            Assert.Equal("done", outcome.LastOutputLine);
            Assert.Contains("done", File.ReadAllText(log), StringComparison.Ordinal);
            Assert.False(IsRunning(child, "sleep"), $"the background sleep {child} outlived its run");
            Assert.True(elapsed < Promptly, $"Run took {elapsed.TotalSeconds:0.0} s");
        }
        finally
        {
            KillIfRunning(child, "sleep");
        }
    }

    /// <summary>
    /// The known limit: a process that clears its environment, leaves the session and loses its
    /// parent is no longer recognisable as the run's. It is left alone, and its hold on the output
    /// costs a bounded wait, not the run.
    /// </summary>
    [LinuxFact("setsid, env -i")]
    public void A_process_that_escapes_every_mark_is_left_but_not_waited_for()
    {
        using var dir = new TempDirectory();
        string pidFile = Scripts.Quote(dir.File("escaped.pid"));
        string log = dir.File("run.log");
        string script = $"(env -i setsid sh -c 'echo $$ > {pidFile}.tmp; mv {pidFile}.tmp {pidFile}; exec sleep 1000' &); while [ ! -s {pidFile} ]; do sleep 0.05; done; echo done";
        var clock = Stopwatch.StartNew();
        var outcome = CommandRunner.Run(["sh", "-c", script], dir.Path, TimeSpan.FromMinutes(1), log);
        var elapsed = clock.Elapsed;
        int escaped = ReadPid(dir.File("escaped.pid"));
        try
        {
            Assert.Equal(0, outcome.ExitCode);
            Assert.Equal("done", outcome.LastOutputLine);
            Assert.True(elapsed < Promptly, $"Run took {elapsed.TotalSeconds:0.0} s");
            Assert.Contains("[stopped reading: a process outside the run still holds its output open]", File.ReadAllLines(log));
            Assert.True(IsRunning(escaped, name: null), "the escaped process was found after all: this test should then assert that it died");
        }
        finally
        {
            KillIfRunning(escaped, name: null);
        }
    }

    [LinuxFact("/proc/PID/stat")]
    public void A_command_leads_its_own_session_and_carries_the_run_marker()
    {
        using var dir = new TempDirectory();
        var outcome = CommandRunner.Run(["sh", "-c", "echo $$ $(cut -d' ' -f6 /proc/$$/stat) ${MGIT_RUN_ID:-none}"], dir.Path, TimeSpan.FromMinutes(1), dir.File("run.log"));
        Assert.Equal(0, outcome.ExitCode);
        string[] fields = outcome.LastOutputLine!.Split(' ');
        Assert.Equal(fields[0], fields[1]);
        Assert.NotEqual(Stat(Environment.ProcessId).Session, int.Parse(fields[1], System.Globalization.CultureInfo.InvariantCulture));
        Assert.NotEqual("none", fields[2]);
    }

    [LinuxFact("sh")]
    public void An_ordinary_command_reports_its_exit_code_last_line_and_log()
    {
        using var dir = new TempDirectory();
        string log = Path.Combine(dir.Path, "logs", "run.log");
        string script = "echo first; echo '{\"m\": 1}'; echo oops >&2; exit 3";
        var outcome = CommandRunner.Run(["sh", "-c", script], dir.Path, TimeSpan.FromMinutes(1), log);
        Assert.Equal(3, outcome.ExitCode);
        Assert.False(outcome.TimedOut);
        Assert.Null(outcome.StartError);
        Assert.Equal("exit 3", outcome.Describe(TimeSpan.FromMinutes(1)));
        Assert.Equal("{\"m\": 1}", outcome.LastOutputLine);
        Assert.Contains("oops", outcome.LogTail, StringComparison.Ordinal);
        Assert.Equal(log, outcome.LogPath);
        string[] lines = File.ReadAllLines(log);
        Assert.Equal($"$ sh -c {CommandRunner.Quote(script)}", lines[0]);
        Assert.Contains("first", lines);
        Assert.Contains("oops", lines);
        Assert.StartsWith("[exit 3 after ", lines[^1], StringComparison.Ordinal);
    }

    [LinuxFact("sh")]
    public void A_command_sees_its_environment_and_folder_and_a_closed_input()
    {
        using var dir = new TempDirectory();
        var environment = new Dictionary<string, string> { ["MGIT_TEST_VALUE"] = "a b;c" };
        var outcome = CommandRunner.Run(["sh", "-c", "cat; pwd; echo \"$MGIT_TEST_VALUE\""], dir.Path, TimeSpan.FromMinutes(1), dir.File("run.log"), environment);
        Assert.Equal(0, outcome.ExitCode);
        Assert.Equal("a b;c", outcome.LastOutputLine);
        Assert.Contains(Path.GetFullPath(dir.Path), outcome.LogTail, StringComparison.Ordinal);
    }

    [LinuxFact("sleep")]
    public void A_command_that_outlives_its_timeout_is_reported_as_timed_out()
    {
        using var dir = new TempDirectory();
        string log = dir.File("run.log");
        var timeout = TimeSpan.FromSeconds(1);
        var clock = Stopwatch.StartNew();
        var outcome = CommandRunner.Run(["sleep", "30"], dir.Path, timeout, log);
        Assert.True(clock.Elapsed < Promptly, $"Run took {clock.Elapsed.TotalSeconds:0.0} s");
        Assert.True(outcome.TimedOut);
        Assert.Null(outcome.ExitCode);
        Assert.False(outcome.Succeeded);
        Assert.Equal("timed out after 1 s", outcome.Describe(timeout));
        Assert.Equal("[killed after the timeout of 1 s]", File.ReadAllLines(log)[^1]);
    }

    [LinuxFact("exec errors")]
    public void A_command_that_cannot_start_says_why_in_one_line()
    {
        using var dir = new TempDirectory();
        foreach (string program in new[] { "/no/such/program", "no-such-program-mgit" })
        {
            var outcome = CommandRunner.Run([program, "x"], dir.Path, TimeSpan.FromMinutes(1), dir.File("run.log"));
            Assert.Null(outcome.ExitCode);
            Assert.False(outcome.TimedOut);
            Assert.NotNull(outcome.StartError);
            Assert.StartsWith($"{program}: ", outcome.StartError, StringComparison.Ordinal);
            Assert.DoesNotContain('\n', outcome.StartError);
            Assert.StartsWith("could not start", outcome.Describe(TimeSpan.FromMinutes(1)), StringComparison.Ordinal);
        }

        string notExecutable = dir.File("plain.txt");
        File.WriteAllText(notExecutable, "not a program\n");
        var denied = CommandRunner.Run([notExecutable], dir.Path, TimeSpan.FromMinutes(1), dir.File("run.log"));
        Assert.NotNull(denied.StartError);
    }

    [LinuxFact("signals")]
    public void An_interrupted_mgit_ends_the_test_it_was_running()
    {
        AssertInterruptEndsTheRun(repo => CliRunner.Start(repo, "test", "run", "--all"));
    }

    [NativeLinuxFact("signals")]
    public void An_interrupted_native_mgit_ends_the_test_it_was_running()
    {
        AssertInterruptEndsTheRun(repo => Process.Start(CliRunner.StartInfo(NativeCli.Path!, repo, ["test", "run", "--all"]))!);
    }

    /// <summary>
    /// SIGINT to mgit alone, as a terminal's Ctrl-C reaches it when the test runs in its own
    /// session: mgit must end the test's processes itself before it dies.
    /// </summary>
    private static void AssertInterruptEndsTheRun(Func<string, Process> startMgit)
    {
        using var dir = new TempDirectory();
        Assert.Equal(0, CliRunner.Run(dir.Path, "init").ExitCode);
        File.WriteAllText(dir.File("a.txt"), "a\n");
        Assert.Equal(0, CliRunner.Run(dir.Path, "add", dir.File("a.txt"), "--name", "a").ExitCode);
        string childPid = dir.File("child.pid");
        string script = Scripts.Write(dir.File("hang.sh"), $"sleep 1000 &\necho $! > {Scripts.Quote(childPid)}.tmp\nmv {Scripts.Quote(childPid)}.tmp {Scripts.Quote(childPid)}\nsleep 1000");
        Assert.Equal(0, CliRunner.Run(dir.Path, "test", "add", "hang", "--cmd", Scripts.Command(script)).ExitCode);

        using var mgit = startMgit(dir.Path);
        int child = 0;
        try
        {
            var waited = Stopwatch.StartNew();
            while (!File.Exists(childPid))
            {
                if (mgit.HasExited)
                {
                    Assert.Fail($"mgit ended before the test started: {mgit.StandardError.ReadToEnd()}");
                }

                Assert.True(waited.Elapsed < TimeSpan.FromMinutes(2), "the test never started");
                Thread.Sleep(50);
            }

            child = ReadPid(childPid);
            // A shell without job control starts background jobs with SIGINT ignored, and mgit
            // inherits that (and rightly ignores it): the tests may run so; SIGTERM is never ignored.
            string signal = IgnoresSigint(mgit.Id) ? "-TERM" : "-INT";
            using (var kill = Process.Start("kill", [signal, mgit.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
            {
                kill.WaitForExit();
            }

            Assert.True(mgit.WaitForExit(TimeSpan.FromSeconds(30)), $"mgit did not end on {signal}");
            Assert.NotEqual(0, mgit.ExitCode);
            Assert.False(IsRunning(child, "sleep"), $"the test's sleep {child} outlived the interrupted mgit");

            // The killed test is not recorded as a result of its own.
            var show = CliRunner.Run(dir.Path, "test", "show", "--json");
            Assert.Equal(0, show.ExitCode);
            using var results = JsonDocument.Parse(show.Out);
            Assert.DoesNotContain(results.RootElement.EnumerateArray(), r => r.GetProperty("test").GetString() == "hang");
        }
        finally
        {
            if (!mgit.HasExited)
            {
                mgit.Kill(entireProcessTree: true);
            }

            KillIfRunning(child, "sleep");
        }
    }

    private static bool IgnoresSigint(int pid)
    {
        string mask = File.ReadAllLines($"/proc/{pid}/status").Single(l => l.StartsWith("SigIgn:", StringComparison.Ordinal))["SigIgn:".Length..].Trim();
        return (ulong.Parse(mask, System.Globalization.NumberStyles.HexNumber, System.Globalization.CultureInfo.InvariantCulture) & (1UL << (2 - 1))) != 0;
    }

    private static int ReadPid(string path)
    {
        // The script writes it before it blocks; allow for a slow start all the same.
        var waited = Stopwatch.StartNew();
        while (waited.Elapsed < TimeSpan.FromSeconds(10))
        {
            if (File.Exists(path) && int.TryParse(File.ReadAllText(path).Trim(), out int pid))
            {
                return pid;
            }

            Thread.Sleep(20);
        }

        throw new InvalidOperationException($"{path} holds no process id");
    }

    private static (string Name, char State, int Session) Stat(int pid)
    {
        string stat = File.ReadAllText($"/proc/{pid}/stat");
        int open = stat.IndexOf('(', StringComparison.Ordinal);
        int close = stat.LastIndexOf(')');
        string[] rest = stat[(close + 2)..].Split(' ');
        return (stat[(open + 1)..close], rest[0][0], int.Parse(rest[3], System.Globalization.CultureInfo.InvariantCulture));
    }

    /// <summary>Alive and still the program it was, if <paramref name="name"/> is given (a zombie has ended; a reused id is another program).</summary>
    private static bool IsRunning(int pid, string? name)
    {
        try
        {
            var (actual, state, _) = Stat(pid);
            return state != 'Z' && state != 'X' && (name is null || actual == name);
        }
        catch (IOException)
        {
            return false;
        }
    }

    private static void KillIfRunning(int pid, string? name)
    {
        if (pid > 0 && IsRunning(pid, name))
        {
            using var process = Process.GetProcessById(pid);
            process.Kill();
        }
    }
}
