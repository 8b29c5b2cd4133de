using System.Runtime.InteropServices;

namespace MGit.Cli;

/// <summary>
/// Ctrl-C and its kind for the running command: the first SIGINT or SIGTERM cancels the command's
/// token, so that it ends cleanly (nothing half-stored, no partial file, child processes killed)
/// and mgit exits with 130 or 143; a second one ends mgit at once, as the signal would.
/// </summary>
/// <remarks>
/// System.CommandLine's own handling (<c>InvocationConfiguration.ProcessTerminationTimeout</c>)
/// is not used: it returns once a timeout passes while the command may still be cleaning up, and
/// swallows every later signal too, so an impatient second Ctrl-C would not end a stuck mgit.
/// </remarks>
public sealed class Interruption : IDisposable
{
    /// <summary>The exit code after a SIGINT (128 + 2), as shells report a process it ended.</summary>
    public const int ExitSigint = 130;

    /// <summary>The exit code after a SIGTERM (128 + 15).</summary>
    public const int ExitSigterm = 143;

    private readonly CancellationTokenSource _source = new();
    private PosixSignalRegistration[] _registrations = [];
    private int _exitCode;

    /// <summary>The token every long operation of the command is given.</summary>
    public CancellationToken Token => _source.Token;

    /// <summary>Whether the command was asked to stop.</summary>
    public bool Requested => _source.IsCancellationRequested;

    /// <summary>The exit code of a command that ended because it was asked to stop.</summary>
    public int ExitCode => _exitCode == 0 ? ExitSigint : _exitCode;

    /// <summary>
    /// Listens for SIGINT and SIGTERM for the life of the process (mgit's entry point; tests that
    /// run commands in memory use <see cref="Interrupt"/> instead). A signal mgit was started with
    /// ignored stays ignored: .NET does not call these then.
    /// </summary>
    public static Interruption FromSignals()
    {
        var interruption = new Interruption();
        interruption._registrations =
        [
            PosixSignalRegistration.Create(PosixSignal.SIGINT, signal => interruption.OnSignal(signal, ExitSigint)),
            PosixSignalRegistration.Create(PosixSignal.SIGTERM, signal => interruption.OnSignal(signal, ExitSigterm)),
        ];
        return interruption;
    }

    /// <summary>Asks the command to stop, to end with <paramref name="exitCode"/>; false when it was asked already.</summary>
    public bool Interrupt(int exitCode = ExitSigint)
    {
        if (Interlocked.CompareExchange(ref _exitCode, exitCode, 0) != 0)
        {
            return false;
        }

        _source.Cancel();
        return true;
    }

    private void OnSignal(PosixSignalContext signal, int exitCode)
    {
        // The first is the command's to handle; the default handling of a later one ends mgit.
        signal.Cancel = Interrupt(exitCode);
    }

    public void Dispose()
    {
        foreach (var registration in _registrations)
        {
            registration.Dispose();
        }

        _source.Dispose();
    }
}
