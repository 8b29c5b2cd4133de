using System.Runtime.InteropServices;
using System.Runtime.Versioning;

namespace MGit.Execution;

/// <summary>
/// The libc calls that start a command in its own session and end its whole run (Linux only).
/// Source-generated, so the native build has them; every signature is blittable or marshals
/// UTF-8 strings, and the opaque libc structures live in memory from <see cref="Marshal.AllocHGlobal(int)"/>.
/// </summary>
[SupportedOSPlatform("linux")]
internal static partial class LinuxProcessCalls
{
    public const int SigKill = 9;
    public const int SigPipe = 13;

    public const int NoSuchProcess = 3; // ESRCH
    public const int Interrupted = 4; // EINTR
    public const int NoChild = 10; // ECHILD
    public const int NoSuchFile = 2; // ENOENT

    // The same values in glibc and musl.
    public const short SpawnSetSignalDefaults = 0x04;
    public const short SpawnSetSignalMask = 0x08;
    public const short SpawnSetSession = 0x80;

    public const int OpenReadOnly = 0;
    public const int OpenCloseOnExec = 0x80000;

    public const int WaitForProcess = 1; // P_PID
    public const int WaitExited = 4; // WEXITED
    public const int WaitNoHang = 1; // WNOHANG
    public const int WaitLeaveWaitable = 0x01000000; // WNOWAIT

    /// <summary>Generous room for posix_spawnattr_t (336 bytes in glibc), posix_spawn_file_actions_t (80) and sigset_t (128).</summary>
    public const int OpaqueStructureBytes = 1024;

    /// <summary>siginfo_t, which waitid fills and this code never reads.</summary>
    [StructLayout(LayoutKind.Sequential, Size = 128)]
    public struct SignalInfo
    {
        public int Number;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct PipeEnds
    {
        public int Read;
        public int Write;
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    public static partial int Kill(int pid, int signal);

    [LibraryImport("libc", EntryPoint = "pipe2", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    public static partial int Pipe(out PipeEnds ends, int flags);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    public static partial int Close(int fd);

    [LibraryImport("libc", EntryPoint = "waitid", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    public static partial int WaitId(int idType, int id, out SignalInfo info, int options);

    [LibraryImport("libc", EntryPoint = "waitpid", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    public static partial int WaitPid(int pid, out int status, int options);

    [LibraryImport("libc", EntryPoint = "sigemptyset")]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    public static partial int SignalSetEmpty(nint set);

    [LibraryImport("libc", EntryPoint = "sigaddset")]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    public static partial int SignalSetAdd(nint set, int signal);

    // The posix_spawn family returns an error number instead of setting errno.
    [LibraryImport("libc", EntryPoint = "posix_spawnattr_init")]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    public static partial int SpawnAttributesInit(nint attributes);

    [LibraryImport("libc", EntryPoint = "posix_spawnattr_destroy")]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    public static partial int SpawnAttributesDestroy(nint attributes);

    [LibraryImport("libc", EntryPoint = "posix_spawnattr_setflags")]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    public static partial int SpawnAttributesSetFlags(nint attributes, short flags);

    [LibraryImport("libc", EntryPoint = "posix_spawnattr_setsigmask")]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    public static partial int SpawnAttributesSetSignalMask(nint attributes, nint set);

    [LibraryImport("libc", EntryPoint = "posix_spawnattr_setsigdefault")]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    public static partial int SpawnAttributesSetSignalDefaults(nint attributes, nint set);

    [LibraryImport("libc", EntryPoint = "posix_spawn_file_actions_init")]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    public static partial int FileActionsInit(nint actions);

    [LibraryImport("libc", EntryPoint = "posix_spawn_file_actions_destroy")]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    public static partial int FileActionsDestroy(nint actions);

    [LibraryImport("libc", EntryPoint = "posix_spawn_file_actions_adddup2")]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    public static partial int FileActionsAddDuplicate(nint actions, int fd, int newFd);

    [LibraryImport("libc", EntryPoint = "posix_spawn_file_actions_addopen", StringMarshalling = StringMarshalling.Utf8)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    public static partial int FileActionsAddOpen(nint actions, int fd, string path, int flags, uint mode);

    // glibc 2.29 and musl 1.1.24 have it; older ones fail the call with EntryPointNotFoundException.
    [LibraryImport("libc", EntryPoint = "posix_spawn_file_actions_addchdir_np", StringMarshalling = StringMarshalling.Utf8)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    public static partial int FileActionsAddChangeDirectory(nint actions, string path);

    /// <summary><paramref name="arguments"/> and <paramref name="environment"/> are C arrays of C strings ending with a null pointer (<see cref="CStringArray"/>).</summary>
    [LibraryImport("libc", EntryPoint = "posix_spawn", StringMarshalling = StringMarshalling.Utf8)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    public static partial int Spawn(out int pid, string path, nint actions, nint attributes, nint arguments, nint environment);

    /// <summary>
    /// A null-terminated array of UTF-8 strings in native memory, as argv and envp are, built with
    /// <see cref="Marshal"/> alone: the generated marshalling of a string array threw an
    /// OverflowException under this project's checked arithmetic.
    /// </summary>
    public sealed class CStringArray : IDisposable
    {
        private readonly nint[] _strings;

        public CStringArray(IReadOnlyCollection<string> strings)
        {
            _strings = [.. strings.Select(Marshal.StringToCoTaskMemUTF8)];
            Pointer = Marshal.AllocHGlobal(checked((_strings.Length + 1) * IntPtr.Size));
            for (int i = 0; i < _strings.Length; i++)
            {
                Marshal.WriteIntPtr(Pointer, i * IntPtr.Size, _strings[i]);
            }

            Marshal.WriteIntPtr(Pointer, _strings.Length * IntPtr.Size, IntPtr.Zero);
        }

        public nint Pointer { get; }

        public void Dispose()
        {
            foreach (nint s in _strings)
            {
                Marshal.FreeCoTaskMem(s);
            }

            Marshal.FreeHGlobal(Pointer);
        }
    }
}
