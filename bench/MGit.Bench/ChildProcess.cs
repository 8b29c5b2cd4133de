using System.Diagnostics;
using System.Globalization;

namespace MGit.Bench;

/// <summary>A command to run: program, arguments, extra environment, and how to show it in the report.</summary>
internal sealed record Invocation(string Program, IReadOnlyList<string> Arguments, IReadOnlyDictionary<string, string>? Environment = null)
{
    /// <summary>The command as a shell would take it, environment assignments first.</summary>
    public string Display(Func<string, string>? shorten = null)
    {
        var words = new List<string>();
        foreach (var (key, value) in Environment ?? new Dictionary<string, string>())
        {
            words.Add($"{key}={Quote(value)}");
        }

        words.Add(Quote(Program));
        words.AddRange(Arguments.Select(Quote));
        // Shorten after quoting, so "$WORK/..." stays readable as a shell variable.
        string line = string.Join(' ', words);
        return shorten?.Invoke(line) ?? line;
    }

    /// <summary>The mgit under test: a published <c>mgit.dll</c> runs through <c>dotnet</c>, a native (AOT) <c>mgit</c> directly.</summary>
    public static Invocation Mgit(string mgit, IEnumerable<string> arguments, IReadOnlyDictionary<string, string>? environment = null) =>
        mgit.EndsWith(".dll", StringComparison.OrdinalIgnoreCase)
            ? new("dotnet", [mgit, .. arguments], environment)
            : new(mgit, [.. arguments], environment);

    public static string Quote(string word) =>
        word.Length > 0 && word.All(c => char.IsAsciiLetterOrDigit(c) || "-_./=:@%+,".Contains(c, StringComparison.Ordinal))
            ? word
            : "'" + word.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}

/// <summary>What one run of a child cost: wall time from our side, CPU and peak RSS from GNU time.</summary>
internal sealed record Measurement(double Seconds, double UserSeconds, double SystemSeconds, long PeakRssBytes, string StandardOutput, string StandardError)
{
    /// <summary>Cores kept busy by everything else on the machine while the child ran (null when unknown).</summary>
    public double? OtherCores { get; init; }

    /// <summary>CPU time over wall time: 2.0 means two cores busy throughout.</summary>
    public double CpuUse => Seconds > 0 ? (UserSeconds + SystemSeconds) / Seconds : 0;
}

/// <summary>How one run of a command ended: killed by the harness, or exited by itself with a code.</summary>
internal sealed record Outcome(int ExitCode, string Output, string Error, double Seconds, bool Killed)
{
    public bool Succeeded => !Killed && ExitCode == 0;

    /// <summary>The first line the command wrote to stderr (else stdout), for a one-line account of it.</summary>
    public string Message
    {
        get
        {
            string line = Error.Split('\n').Concat(Output.Split('\n')).Select(l => l.Trim()).FirstOrDefault(l => l.Length > 0) ?? "(no output)";
            return line.Length <= 300 ? line : line[..300] + "...";
        }
    }
}

internal static class ChildProcess
{
    /// <summary>What .NET reports as the exit code of a process that SIGKILL ended (128 + signal 9).</summary>
    private const int KilledExitCode = 128 + 9;

    private const string GnuTime = "/usr/bin/time";

    /// <summary>
    /// Runs the command under <c>/usr/bin/time -f "%M %U %S"</c> (peak RSS in KiB, user and system CPU
    /// seconds, written to a side file so the child's own stderr stays clean) and times it.
    /// </summary>
    public static Measurement Measure(Invocation invocation)
    {
        string timeFile = Path.Combine(Path.GetTempPath(), $"mgit-bench-time-{Environment.ProcessId}-{Guid.NewGuid():N}.txt");
        try
        {
            var arguments = new List<string> { "-f", "%M %U %S", "-o", timeFile, invocation.Program };
            arguments.AddRange(invocation.Arguments);
            double? busyBefore = MachineLoad.BusySeconds();
            var stopwatch = Stopwatch.StartNew();
            var (exitCode, output, error) = Execute(GnuTime, arguments, invocation.Environment);
            stopwatch.Stop();
            double? busyAfter = MachineLoad.BusySeconds();
            if (exitCode != 0)
            {
                throw new BenchException($"`{invocation.Display()}` exited with {exitCode}: {Tail(error)}");
            }

            string[] fields = File.ReadAllLines(timeFile).Last(l => l.Length > 0).Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length != 3)
            {
                throw new BenchException($"unexpected output from {GnuTime}: '{string.Join(' ', fields)}'");
            }

            double seconds = stopwatch.Elapsed.TotalSeconds;
            double user = double.Parse(fields[1], CultureInfo.InvariantCulture);
            double system = double.Parse(fields[2], CultureInfo.InvariantCulture);
            // /proc/stat and GNU time count in 10 ms ticks: below half a second the difference is noise.
            double? other = busyBefore is { } b && busyAfter is { } a && seconds >= 0.5 ? Math.Max(0, (a - b - user - system) / seconds) : null;
            return new Measurement(seconds, user, system, long.Parse(fields[0], CultureInfo.InvariantCulture) * 1024, output, error)
            {
                OtherCores = other,
            };
        }
        finally
        {
            File.Delete(timeFile);
        }
    }

    /// <summary>Runs a helper command untimed and returns its standard output; fails on a non-zero exit.</summary>
    public static string Run(string program, params string[] arguments) => Run(new Invocation(program, arguments));

    public static string Run(Invocation invocation)
    {
        var (exitCode, output, error) = Execute(invocation.Program, invocation.Arguments, invocation.Environment);
        return exitCode == 0 ? output : throw new BenchException($"`{invocation.Display()}` exited with {exitCode}: {Tail(error)}");
    }

    /// <summary>Fails before anything is measured when a program a benchmark runs is not on the PATH.</summary>
    public static void RequireTools(params string[] tools)
    {
        foreach (string tool in tools)
        {
            if (TryRun("sh", "-c", "command -v \"$1\"", "sh", tool) is null)
            {
                throw new BenchException($"the benchmark needs '{tool}' on the PATH");
            }
        }
    }

    /// <summary>
    /// Checks with <c>cmp</c> that <paramref name="actual"/> has the bytes of <paramref name="expected"/> and
    /// returns its length. A child process streams both files, so the harness's own memory does not
    /// churn between timed steps (loading both into arrays did, and the VM hands freed memory back to
    /// its host, to be faulted in again by the next step).
    /// </summary>
    public static long Identical(string expected, string actual)
    {
        Run("cmp", expected, actual);
        return new FileInfo(actual).Length;
    }

    /// <summary>Like <see cref="Run(string, string[])"/> but returns null instead of failing (for optional machine facts).</summary>
    public static string? TryRun(string program, params string[] arguments) => TryRun(new Invocation(program, arguments));

    public static string? TryRun(Invocation invocation)
    {
        try
        {
            var (exitCode, output, _) = Execute(invocation.Program, invocation.Arguments, invocation.Environment);
            return exitCode == 0 ? output : null;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null;
        }
    }

    /// <summary>
    /// Runs the command and, with <paramref name="killAfter"/>, sends it SIGKILL once that much time
    /// has passed. Never fails on the command's exit code: the caller judges the outcome. A command
    /// that exits before the kill lands is reported as not killed.
    /// </summary>
    public static Outcome Attempt(Invocation invocation, TimeSpan? killAfter = null)
    {
        var stopwatch = Stopwatch.StartNew();
        var (exitCode, output, error, killed) = Execute(invocation.Program, invocation.Arguments, invocation.Environment, killAfter);
        return new Outcome(exitCode, output, error, stopwatch.Elapsed.TotalSeconds, killed);
    }

    private static (int ExitCode, string Output, string Error) Execute(string program, IEnumerable<string> arguments, IReadOnlyDictionary<string, string>? environment)
    {
        var (exitCode, output, error, _) = Execute(program, arguments, environment, killAfter: null);
        return (exitCode, output, error);
    }

    private static (int ExitCode, string Output, string Error, bool Killed) Execute(string program, IEnumerable<string> arguments, IReadOnlyDictionary<string, string>? environment, TimeSpan? killAfter)
    {
        var start = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[key] = value;
        }

        using var process = Process.Start(start) ?? throw new BenchException($"could not start {program}");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        bool signalled = false;
        if (killAfter is { } delay && !process.WaitForExit(delay))
        {
            try
            {
                process.Kill(); // SIGKILL on Unix: no handler runs, nothing is cleaned up, as under the OOM killer
                signalled = true;
            }
            catch (InvalidOperationException)
            {
                // It exited between the wait and the kill.
            }
        }

        process.WaitForExit();
        return (process.ExitCode, output.GetAwaiter().GetResult(), error.GetAwaiter().GetResult(), signalled && process.ExitCode == KilledExitCode);
    }

    private static string Tail(string text)
    {
        string trimmed = text.Trim();
        return trimmed.Length <= 2000 ? trimmed : "..." + trimmed[^2000..];
    }
}
