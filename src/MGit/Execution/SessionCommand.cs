using System.Collections;
using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using Microsoft.Win32.SafeHandles;

namespace MGit.Execution;

/// <summary>
/// The command started on Linux in a session of its own, with posix_spawn and POSIX_SPAWN_SETSID.
/// Its own session keeps a terminal's Ctrl-C (and hang-up) away from it, so that mgit alone is
/// interrupted and ends the run itself, and gives <see cref="RunSweep"/> one more way to find the
/// run's processes. posix_spawn rather than the setsid program: no dependency on util-linux, the
/// process waited on is the command itself, and a command that cannot start is reported as such
/// (posix_spawn returns exec's error) rather than as an exit code of setsid's.
/// The command is reaped only after the sweep: until then its id, which is also its session's and
/// process group's, cannot be given to another process.
/// </summary>
[SupportedOSPlatform("linux")]
internal sealed class SessionCommand : IRunningCommand
{
    /// <summary>Set once this libc turned out not to have what is needed (too old): the runner falls back to <see cref="ProcessCommand"/>.</summary>
    private static volatile bool _unsupported;

    private readonly int _pid;
    private readonly string _marker;
    private readonly TaskCompletionSource _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Lock _reaping = new();
    private bool _reaped;

    private SessionCommand(int pid, string marker, Stream output, Stream error)
    {
        _pid = pid;
        _marker = marker;
        Output = output;
        Error = error;
        // A blocking wait on a thread of its own; WNOWAIT leaves the command to be reaped after the sweep.
        new Thread(WaitUntilExited) { IsBackground = true, Name = "mgit command wait" }.Start();
    }

    public Stream Output { get; }

    public Stream Error { get; }

    public TimeSpan DrainPatience => CommandRunner.SweptDrainPatience;

    /// <summary>
    /// Starts the command; false if this libc cannot (the caller falls back). When true, either
    /// <paramref name="command"/> is set or <paramref name="startError"/> says why it could not start.
    /// </summary>
    public static bool TryStart(IReadOnlyList<string> arguments, string workingDirectory, IReadOnlyDictionary<string, string> environment, string marker, out SessionCommand? command, out string? startError)
    {
        command = null;
        startError = null;
        if (_unsupported)
        {
            return false;
        }

        try
        {
            return Spawn(arguments, workingDirectory, environment, marker, out command, out startError);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            _unsupported = true;
            return false;
        }
    }

    private static bool Spawn(IReadOnlyList<string> arguments, string workingDirectory, IReadOnlyDictionary<string, string> environment, string marker, out SessionCommand? command, out string? startError)
    {
        command = null;
        startError = null;
        string? program = ResolveProgram(arguments[0]);
        if (program is null)
        {
            startError = Marshal.GetPInvokeErrorMessage(LinuxProcessCalls.NoSuchFile);
            return true;
        }

        nint attributes = Marshal.AllocHGlobal(LinuxProcessCalls.OpaqueStructureBytes);
        nint actions = Marshal.AllocHGlobal(LinuxProcessCalls.OpaqueStructureBytes);
        nint signals = Marshal.AllocHGlobal(LinuxProcessCalls.OpaqueStructureBytes);
        var output = new LinuxProcessCalls.PipeEnds { Read = -1, Write = -1 };
        var error = new LinuxProcessCalls.PipeEnds { Read = -1, Write = -1 };
        bool attributesReady = false, actionsReady = false, started = false;
        try
        {
            // Assigned only on success: a failed call may leave zeros, and fd 0 is not ours to close.
            if (LinuxProcessCalls.Pipe(out var outputEnds, LinuxProcessCalls.OpenCloseOnExec) != 0)
            {
                startError = Marshal.GetLastPInvokeErrorMessage();
                return true;
            }

            output = outputEnds;
            if (LinuxProcessCalls.Pipe(out var errorEnds, LinuxProcessCalls.OpenCloseOnExec) != 0)
            {
                startError = Marshal.GetLastPInvokeErrorMessage();
                return true;
            }

            error = errorEnds;

            Check(LinuxProcessCalls.SpawnAttributesInit(attributes));
            attributesReady = true;
            if (LinuxProcessCalls.SpawnAttributesSetFlags(attributes, LinuxProcessCalls.SpawnSetSession | LinuxProcessCalls.SpawnSetSignalMask | LinuxProcessCalls.SpawnSetSignalDefaults) != 0)
            {
                // EINVAL: a libc older than POSIX_SPAWN_SETSID (glibc 2.26).
                _unsupported = true;
                return false;
            }

            // No signal blocked; SIGPIPE back to its default, which .NET set to ignored for itself
            // (signals mgit was started with ignored stay ignored, as they would for any child).
            Check(LinuxProcessCalls.SignalSetEmpty(signals));
            Check(LinuxProcessCalls.SpawnAttributesSetSignalMask(attributes, signals));
            Check(LinuxProcessCalls.SignalSetAdd(signals, LinuxProcessCalls.SigPipe));
            Check(LinuxProcessCalls.SpawnAttributesSetSignalDefaults(attributes, signals));

            Check(LinuxProcessCalls.FileActionsInit(actions));
            actionsReady = true;
            Check(LinuxProcessCalls.FileActionsAddOpen(actions, 0, "/dev/null", LinuxProcessCalls.OpenReadOnly, 0));
            Check(LinuxProcessCalls.FileActionsAddDuplicate(actions, output.Write, 1));
            Check(LinuxProcessCalls.FileActionsAddDuplicate(actions, error.Write, 2));
            Check(LinuxProcessCalls.FileActionsAddChangeDirectory(actions, workingDirectory));

            // argv[0] as the caller wrote it, the file resolved as System.Diagnostics.Process does.
            using var argv = new LinuxProcessCalls.CStringArray(arguments);
            using var envp = new LinuxProcessCalls.CStringArray(EnvironmentBlock(environment));
            int failure = LinuxProcessCalls.Spawn(out int pid, program, actions, attributes, argv.Pointer, envp.Pointer);
            if (failure != 0)
            {
                startError = Marshal.GetPInvokeErrorMessage(failure);
                return true;
            }

            started = true;
            command = new SessionCommand(pid, marker, ReadEnd(output.Read), ReadEnd(error.Read));
            return true;
        }
        finally
        {
            if (actionsReady)
            {
                _ = LinuxProcessCalls.FileActionsDestroy(actions);
            }

            if (attributesReady)
            {
                _ = LinuxProcessCalls.SpawnAttributesDestroy(attributes);
            }

            Marshal.FreeHGlobal(signals);
            Marshal.FreeHGlobal(actions);
            Marshal.FreeHGlobal(attributes);

            // The command has its own copies of the write ends; ours would keep the pipes open.
            CloseIfOpen(output.Write);
            CloseIfOpen(error.Write);
            if (!started)
            {
                CloseIfOpen(output.Read);
                CloseIfOpen(error.Read);
            }
        }
    }

    public bool WaitForExit(TimeSpan timeout) => _exited.Task.Wait(timeout);

    public void KillRun()
    {
        lock (_reaping)
        {
            if (!_reaped)
            {
                RunSweep.KillAll(_marker, session: _pid, root: _pid);
            }
        }
    }

    public RunEnd End(bool exited)
    {
        lock (_reaping)
        {
            // Exited or not, whatever else of the run is alive dies now, the command too if it did not exit.
            bool leftNothing = RunSweep.KillAll(_marker, session: _pid, root: _pid);
            // If not everything died, the command may be among the survivors: then no blocking wait.
            int options = leftNothing ? 0 : LinuxProcessCalls.WaitNoHang;
            int status;
            int result;
            while ((result = LinuxProcessCalls.WaitPid(_pid, out status, options)) < 0 && Marshal.GetLastPInvokeError() == LinuxProcessCalls.Interrupted)
            {
            }

            _reaped = true;
            if (!exited)
            {
                return new RunEnd(null, leftNothing);
            }

            // The exit code, or 128 + the signal that ended it, as System.Diagnostics.Process reports;
            // -1 if it could not be reaped (stuck, or reaped elsewhere: only if mgit started with SIGCHLD ignored).
            int exitCode = result != _pid ? -1 : (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f);
            return new RunEnd(exitCode, leftNothing);
        }
    }

    public void Dispose()
    {
        // The streams belong to the readers that drain them, and close with them.
    }

    private void WaitUntilExited()
    {
        while (LinuxProcessCalls.WaitId(LinuxProcessCalls.WaitForProcess, _pid, out _, LinuxProcessCalls.WaitExited | LinuxProcessCalls.WaitLeaveWaitable) != 0
            && Marshal.GetLastPInvokeError() == LinuxProcessCalls.Interrupted)
        {
        }

        _exited.TrySetResult();
    }

    /// <summary>Where System.Diagnostics.Process looks: a rooted path as is, then next to mgit, in the current folder, on PATH.</summary>
    private static string? ResolveProgram(string name)
    {
        if (Path.IsPathRooted(name))
        {
            return name;
        }

        if (Path.GetDirectoryName(Environment.ProcessPath) is { } ownFolder && File.Exists(Path.Combine(ownFolder, name)))
        {
            return Path.Combine(ownFolder, name);
        }

        string inCurrentFolder = Path.Combine(Directory.GetCurrentDirectory(), name);
        if (File.Exists(inCurrentFolder))
        {
            return inCurrentFolder;
        }

        const UnixFileMode anyExecute = UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;
        foreach (string folder in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            string candidate = Path.Combine(folder, name);
            if (File.Exists(candidate) && (File.GetUnixFileMode(candidate) & anyExecute) != 0)
            {
                return candidate;
            }
        }

        return null;
    }

    private static List<string> EnvironmentBlock(IReadOnlyDictionary<string, string> overrides)
    {
        var variables = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (DictionaryEntry entry in Environment.GetEnvironmentVariables())
        {
            variables[(string)entry.Key] = (string?)entry.Value ?? "";
        }

        foreach (var (key, value) in overrides)
        {
            variables[key] = value;
        }

        return [.. variables.Select(v => $"{v.Key}={v.Value}")];
    }

    private static FileStream ReadEnd(int fd) => new(new SafeFileHandle(fd, ownsHandle: true), FileAccess.Read, bufferSize: 0);

    private static void CloseIfOpen(int fd)
    {
        if (fd >= 0)
        {
            _ = LinuxProcessCalls.Close(fd);
        }
    }

    /// <summary>The attribute and file-action calls fail only for want of memory or on a bad argument: a bug either way.</summary>
    private static void Check(int result)
    {
        if (result != 0)
        {
            throw new InvalidOperationException($"posix_spawn setup failed: {Marshal.GetPInvokeErrorMessage(result)}");
        }
    }
}
