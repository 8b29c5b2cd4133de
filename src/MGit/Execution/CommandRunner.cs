using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using System.Text;
using MGit.Errors;

namespace MGit.Execution;

/// <summary>How a command ended. <see cref="ExitCode"/> is null when it never started or was killed for its timeout.</summary>
internal sealed record CommandOutcome(
    int? ExitCode,
    bool TimedOut,
    string? StartError,
    TimeSpan Duration,
    string? LastOutputLine,
    string LogTail,
    string LogPath)
{
    public bool Succeeded => ExitCode == 0;

    /// <summary>A short phrase for tables and errors: "exit 0", "timed out after 30 s", "could not start: ...".</summary>
    public string Describe(TimeSpan timeout) =>
        StartError is not null ? $"could not start: {StartError}"
        : TimedOut ? $"timed out after {timeout.TotalSeconds:0.#} s"
        : $"exit {ExitCode}";
}

/// <summary>How <see cref="CommandRunner"/> starts a command on Linux; elsewhere it is always <see cref="SharedSession"/>.</summary>
internal enum CommandIsolation
{
    /// <summary>
    /// In a session of its own, so that a terminal's signals reach mgit and not the command, and
    /// every process of the run is found by its session as well as by its marker. Where libc cannot
    /// start a command so (glibc before 2.29), as <see cref="SharedSession"/>.
    /// </summary>
    OwnSession,

    /// <summary>
    /// In mgit's session and process group, as System.Diagnostics.Process starts it; its run is
    /// found by its process tree and, on Linux, by its marker.
    /// </summary>
    SharedSession,
}

/// <summary>
/// Runs an argument list directly (no shell), with a timeout, and captures standard output and
/// error to a log file, keeping the tail and the last line of standard output (where tests report
/// their metrics). On Linux the command runs in a session of its own, marked so that every process
/// it leads to can be found (<see cref="SessionCommand"/>, <see cref="RunSweep"/>): when it exits
/// or times out, or mgit is interrupted, whatever is left of the run is killed, so nothing
/// outlives it and its output ends with it. Elsewhere its process tree is killed at the timeout.
/// </summary>
internal static class CommandRunner
{
    public const int TailLines = 20;
    private const int MaxTailCharacters = 4096;

    /// <summary>The environment variable that marks each process of a run on Linux.</summary>
    public const string RunMarkerVariable = "MGIT_RUN_ID";

    /// <summary>Once every process of a run is dead, only a process outside it can hold its output open: this long, then no more reading.</summary>
    internal static readonly TimeSpan SweptDrainPatience = TimeSpan.FromSeconds(2);

    /// <summary>The commands running now, each with the signal that interrupted mgit while it ran ("" if none).</summary>
    private static readonly ConcurrentDictionary<IRunningCommand, string> Running = new();
    private static readonly Lock InterruptSetup = new();

    /// <summary>Kept referenced: a registration that is collected stops handling its signal.</summary>
    private static PosixSignalRegistration[]? _interruptHandlers;

    /// <summary>
    /// How long a run killed by a signal waits for its caller's token to be cancelled: an
    /// application that turns the signal into a cancel (mgit's CLI) does so in a handler that
    /// runs just after this class's, and the run then ends as cancelled rather than interrupted.
    /// </summary>
    private static readonly TimeSpan InterruptToCancelGrace = TimeSpan.FromSeconds(2);

    /// <param name="arguments">The program and its arguments (no shell is involved).</param>
    /// <param name="workingDirectory">The folder the command runs in.</param>
    /// <param name="timeout">How long the command may run before it and every process it started are killed.</param>
    /// <param name="logPath">File that receives the command's standard output and error.</param>
    /// <param name="environment">Variables to set for the command on top of mgit's own environment; null for none.</param>
    /// <param name="isolation">Whether the command gets its own session (so it can be killed as a group) or shares mgit's.</param>
    /// <param name="cancellationToken">
    /// Cancelled, the run is killed (the command and every process it started, as at the
    /// timeout) and <see cref="OperationCanceledException"/> is thrown; nothing starts when it
    /// is cancelled already.
    /// </param>
    public static CommandOutcome Run(IReadOnlyList<string> arguments, string workingDirectory, TimeSpan timeout, string logPath, IReadOnlyDictionary<string, string>? environment = null, CommandIsolation isolation = CommandIsolation.OwnSession, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfZero(arguments.Count);
        cancellationToken.ThrowIfCancellationRequested();
        Directory.CreateDirectory(Path.GetDirectoryName(logPath)!);
        var variables = new Dictionary<string, string>(environment ?? new Dictionary<string, string>(), StringComparer.Ordinal);
        string? marker = null;
        if (OperatingSystem.IsLinux())
        {
            marker = Guid.NewGuid().ToString("N");
            // An enclosing run's marker stays, so that its sweep still finds this run's processes.
            variables[RunMarkerVariable] = Environment.GetEnvironmentVariable(RunMarkerVariable) is { Length: > 0 } enclosing ? $"{enclosing}:{marker}" : marker;
            InterruptsEndRuns();
        }

        var stopwatch = Stopwatch.StartNew();
        using var log = new StreamWriter(logPath, append: false, new UTF8Encoding(false));
        log.WriteLine($"$ {string.Join(' ', arguments.Select(Quote))}");
        var tail = new Queue<string>();
        string? lastOutputLine = null;
        bool logClosed = false;
        var gate = new object();

        void Capture(string line, bool isOutput)
        {
            lock (gate)
            {
                if (logClosed)
                {
                    return;
                }

                log.WriteLine(line);
                tail.Enqueue(line);
                if (tail.Count > TailLines)
                {
                    tail.Dequeue();
                }

                if (isOutput && !string.IsNullOrWhiteSpace(line))
                {
                    lastOutputLine = line;
                }
            }
        }

        var command = Start(arguments, workingDirectory, variables, marker, isolation, out string? startError);
        if (command is null)
        {
            log.WriteLine($"could not start {arguments[0]}: {startError}");
            return new CommandOutcome(null, false, $"{arguments[0]}: {startError}", stopwatch.Elapsed, null, "", logPath);
        }

        using (command)
        {
            Running[command] = "";
            RunEnd end;
            bool exited;
            bool drained;
            string? interruptedBy;
            try
            {
                // Threads of their own: a busy thread pool (parallel tests, a cascade) must not
                // keep them from reading while the drain below waits only briefly.
                var pumps = new[]
                {
                    Task.Factory.StartNew(() => Pump(command.Output, line => Capture(line, isOutput: true)), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default),
                    Task.Factory.StartNew(() => Pump(command.Error, line => Capture(line, isOutput: false)), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default),
                };
                // A cancel kills the run as the timeout would; the wait then ends at once.
                using (cancellationToken.Register(command.KillRun))
                {
                    exited = command.WaitForExit(timeout);
                }

                end = command.End(exited);
                // What is left in the pipes; once the run is dead that takes no time.
                drained = Task.WaitAll(pumps, command.DrainPatience);
            }
            finally
            {
                Running.TryRemove(command, out interruptedBy);
            }

            stopwatch.Stop();
            bool cancelled = cancellationToken.IsCancellationRequested
                || (interruptedBy is { Length: > 0 } && cancellationToken.CanBeCanceled && cancellationToken.WaitHandle.WaitOne(InterruptToCancelGrace));
            lock (gate)
            {
                if (!end.LeftNothing)
                {
                    log.WriteLine("[some processes of the run could not be killed]");
                }

                if (!drained)
                {
                    log.WriteLine("[stopped reading: a process outside the run still holds its output open]");
                }

                logClosed = true;
                if (cancelled)
                {
                    // Not an outcome of the command's either: nothing is recorded for it.
                    log.WriteLine("[killed: cancelled]");
                    throw new OperationCanceledException($"cancelled while running {arguments[0]}", cancellationToken);
                }

                if (interruptedBy is { Length: > 0 })
                {
                    // Not an outcome of the command's: nothing is recorded for it, and mgit is ending anyway.
                    log.WriteLine($"[killed: mgit received {interruptedBy}]");
                    throw new MGitException(ErrorKind.Failed, $"interrupted by {interruptedBy} while running {arguments[0]}");
                }

                log.WriteLine(exited ? $"[exit {end.ExitCode} after {stopwatch.Elapsed.TotalSeconds:0.###} s]" : $"[killed after the timeout of {timeout.TotalSeconds:0.#} s]");
                string tailText = string.Join('\n', tail);
                if (tailText.Length > MaxTailCharacters)
                {
                    tailText = tailText[^MaxTailCharacters..];
                }

                return new CommandOutcome(end.ExitCode, !exited, null, stopwatch.Elapsed, lastOutputLine, tailText, logPath);
            }
        }
    }

    private static IRunningCommand? Start(IReadOnlyList<string> arguments, string workingDirectory, IReadOnlyDictionary<string, string> environment, string? marker, CommandIsolation isolation, out string? startError)
    {
        if (marker is not null && isolation == CommandIsolation.OwnSession && OperatingSystem.IsLinux()
            && SessionCommand.TryStart(arguments, workingDirectory, environment, marker, out var command, out startError))
        {
            return command;
        }

        return ProcessCommand.Start(arguments, workingDirectory, environment, marker, out startError);
    }

    /// <summary>
    /// A command in its own session does not see the terminal's Ctrl-C or hang-up: mgit gets them,
    /// kills its runs, and then ends as the signal would have ended it anyway, unless the
    /// application turns the signal into a cancel (mgit's CLI does: see
    /// <see cref="InterruptToCancelGrace"/>). Registered at the first run, for the whole process,
    /// an application embedding MGit included. A signal mgit was started with ignored stays
    /// ignored (.NET does not call these).
    /// </summary>
    [SupportedOSPlatform("linux")]
    private static void InterruptsEndRuns()
    {
        lock (InterruptSetup)
        {
            _interruptHandlers ??=
            [
                PosixSignalRegistration.Create(PosixSignal.SIGINT, _ => KillRunning("SIGINT")),
                PosixSignalRegistration.Create(PosixSignal.SIGTERM, _ => KillRunning("SIGTERM")),
                PosixSignalRegistration.Create(PosixSignal.SIGQUIT, _ => KillRunning("SIGQUIT")),
                PosixSignalRegistration.Create(PosixSignal.SIGHUP, _ => KillRunning("SIGHUP")),
            ];
        }
    }

    private static void KillRunning(string signal)
    {
        foreach (var command in Running.Keys)
        {
            // Marked first, so that the run sees why its command died.
            Running.TryUpdate(command, signal, "");
            command.KillRun();
        }
    }

    private static void Pump(Stream stream, Action<string> onLine)
    {
        using var reader = new StreamReader(stream, Encoding.UTF8);
        while (reader.ReadLine() is { } line)
        {
            onLine(line);
        }
    }

    /// <summary>Quotes an argument for the log so a reader can see where each one begins and ends.</summary>
    public static string Quote(string argument) =>
        argument.Length > 0 && argument.All(c => char.IsAsciiLetterOrDigit(c) || "-_./=:,+@%".Contains(c))
            ? argument
            : "'" + argument.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}
