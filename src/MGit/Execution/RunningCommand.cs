using System.ComponentModel;
using System.Diagnostics;

namespace MGit.Execution;

/// <summary>A started command as <see cref="CommandRunner"/> sees it: its output, its exit, and the end of its whole run.</summary>
internal interface IRunningCommand : IDisposable
{
    Stream Output { get; }

    Stream Error { get; }

    /// <summary>How long the output may still take once <see cref="End"/> has returned.</summary>
    TimeSpan DrainPatience { get; }

    bool WaitForExit(TimeSpan timeout);

    /// <summary>Kills the command, if it still runs, and the rest of its run. Safe from another thread at any time (an interrupt).</summary>
    void KillRun();

    /// <summary>
    /// Ends the run once the command has exited or its timeout has passed: kills whatever of the
    /// run is left, and returns the command's exit code if it <paramref name="exited"/> by itself.
    /// </summary>
    RunEnd End(bool exited);
}

/// <param name="ExitCode">Null when the command was killed.</param>
/// <param name="LeftNothing">False when some process of the run could not be killed.</param>
internal readonly record struct RunEnd(int? ExitCode, bool LeftNothing);

/// <summary>
/// The command as a <see cref="Process"/>, in mgit's session: on Windows and macOS, where its
/// process tree is killed, and on a Linux whose libc cannot start it in a session of its own (or
/// when asked), where <see cref="RunSweep"/> finds its run by marker and by descent.
/// </summary>
internal sealed class ProcessCommand : IRunningCommand
{
    private readonly Process _process;
    private readonly string? _marker;

    private ProcessCommand(Process process, string? marker)
    {
        _process = process;
        _marker = marker;
    }

    public Stream Output => _process.StandardOutput.BaseStream;

    public Stream Error => _process.StandardError.BaseStream;

    // Where nothing sweeps, a leftover grandchild may hold the pipes: wait for it, within reason.
    public TimeSpan DrainPatience => _marker is null ? TimeSpan.FromSeconds(10) : CommandRunner.SweptDrainPatience;

    /// <summary>The started command, or null with the reason it could not start.</summary>
    public static ProcessCommand? Start(IReadOnlyList<string> arguments, string workingDirectory, IReadOnlyDictionary<string, string> environment, string? marker, out string? startError)
    {
        var start = new ProcessStartInfo(arguments[0])
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            WorkingDirectory = workingDirectory,
        };
        foreach (string argument in arguments.Skip(1))
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var (key, value) in environment)
        {
            start.Environment[key] = value;
        }

        var process = new Process { StartInfo = start };
        try
        {
            process.Start();
        }
        catch (Win32Exception e)
        {
            process.Dispose();
            startError = e.Message;
            return null;
        }

        process.StandardInput.Close();
        startError = null;
        return new ProcessCommand(process, marker);
    }

    public bool WaitForExit(TimeSpan timeout) => _process.WaitForExit(timeout);

    public void KillRun() => KillEverything(commandMayRun: true);

    public RunEnd End(bool exited)
    {
        bool leftNothing = KillEverything(commandMayRun: !exited);
        return new RunEnd(exited ? _process.ExitCode : null, leftNothing);
    }

    public void Dispose() => _process.Dispose();

    /// <summary>On Linux the sweep, which takes the command too while it runs; elsewhere the command's process tree.</summary>
    private bool KillEverything(bool commandMayRun)
    {
        if (_marker is not null && OperatingSystem.IsLinux())
        {
            // Its id stays its own until .NET reaps it, which follows its exit.
            int? root = commandMayRun && !_process.HasExited ? _process.Id : null;
            return RunSweep.KillAll(_marker, session: null, root);
        }

        if (commandMayRun)
        {
            try
            {
                _process.Kill(entireProcessTree: true);
            }
            catch (Exception e) when (e is InvalidOperationException or Win32Exception)
            {
                // It exited between the timeout and the kill, or cannot be signalled.
            }
        }

        return true;
    }
}
