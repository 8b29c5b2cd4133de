using System.ComponentModel;
using System.Diagnostics;
using System.Text;

namespace MGit.Execution;

/// <summary>How a command ended. <see cref="ExitCode"/> is null when it never started or was killed for its timeout.</summary>
public sealed record CommandOutcome(
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

/// <summary>
/// Runs an argument list directly (no shell), with a timeout that kills the whole process tree,
/// and captures standard output and error to a log file, keeping the tail and the last line of
/// standard output (where tests report their metrics).
/// </summary>
public static class CommandRunner
{
    public const int TailLines = 20;
    private const int MaxTailCharacters = 4096;

    public static CommandOutcome Run(IReadOnlyList<string> arguments, string workingDirectory, TimeSpan timeout, string logPath, IReadOnlyDictionary<string, string>? environment = null)
    {
        ArgumentOutOfRangeException.ThrowIfZero(arguments.Count);
        Directory.CreateDirectory(Path.GetDirectoryName(logPath)!);
        var start = new ProcessStartInfo(arguments[0])
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            WorkingDirectory = workingDirectory,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        foreach (string argument in arguments.Skip(1))
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[key] = value;
        }

        var stopwatch = Stopwatch.StartNew();
        using var log = new StreamWriter(logPath, append: false, new UTF8Encoding(false));
        log.WriteLine($"$ {string.Join(' ', arguments.Select(Quote))}");
        var tail = new Queue<string>();
        string? lastOutputLine = null;
        var gate = new object();

        void Capture(string line, bool isOutput)
        {
            lock (gate)
            {
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

        using var process = new Process { StartInfo = start };
        try
        {
            process.Start();
        }
        catch (Win32Exception e)
        {
            log.WriteLine($"could not start {arguments[0]}: {e.Message}");
            return new CommandOutcome(null, false, $"{arguments[0]}: {e.Message}", stopwatch.Elapsed, null, "", logPath);
        }

        process.StandardInput.Close();
        var pumps = new[]
        {
            Task.Run(() => Pump(process.StandardOutput, line => Capture(line, isOutput: true))),
            Task.Run(() => Pump(process.StandardError, line => Capture(line, isOutput: false))),
        };
        bool exited = process.WaitForExit(timeout);
        if (!exited)
        {
            try
            {
                process.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
                // It exited between the timeout and the kill.
            }
        }

        // Reads what is left in the pipes; bounded, since a grandchild left running may hold them open.
        Task.WaitAll(pumps, TimeSpan.FromSeconds(10));
        stopwatch.Stop();
        lock (gate)
        {
            log.WriteLine(exited ? $"[exit {process.ExitCode} after {stopwatch.Elapsed.TotalSeconds:0.###} s]" : $"[killed after the timeout of {timeout.TotalSeconds:0.#} s]");
            string tailText = string.Join('\n', tail);
            if (tailText.Length > MaxTailCharacters)
            {
                tailText = tailText[^MaxTailCharacters..];
            }

            return new CommandOutcome(exited ? process.ExitCode : null, !exited, null, stopwatch.Elapsed, lastOutputLine, tailText, logPath);
        }
    }

    private static void Pump(StreamReader reader, Action<string> onLine)
    {
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
