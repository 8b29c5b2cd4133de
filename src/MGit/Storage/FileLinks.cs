using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace MGit.Storage;

/// <summary>
/// A second name for a file's bytes without copying them: a reflink (a copy-on-write clone, on
/// Btrfs, XFS and others) where the file system has them, else a hard link; neither crosses file
/// systems. .NET has no API for either, hence the two libc calls (source-generated, so the native
/// build has them).
/// </summary>
internal static partial class FileLinks
{
    /// <summary>How a file was linked.</summary>
    public enum Method
    {
        /// <summary>The file system could not link it here (another file system, or no support): nothing was made.</summary>
        None,
        /// <summary>A copy-on-write clone: an independent file sharing the blocks.</summary>
        Reflink,
        /// <summary>Another name for the same file (same inode, same permissions).</summary>
        HardLink,
    }

    private const nuint CloneIoctl = 0x40049409; // FICLONE

    /// <summary>Makes <paramref name="destination"/> (which must not exist) a reflink or, failing that, a hard link of <paramref name="source"/>.</summary>
    public static Method Link(string source, string destination)
    {
        if (!OperatingSystem.IsLinux())
        {
            return Method.None;
        }

        if (TryReflink(source, destination))
        {
            return Method.Reflink;
        }

        return HardLink(source, destination) == 0 ? Method.HardLink : Method.None;
    }

    private static bool TryReflink(string source, string destination)
    {
        using var from = File.OpenHandle(source, FileMode.Open, FileAccess.Read);
        bool cloned = false;
        try
        {
            using var to = File.OpenHandle(destination, FileMode.CreateNew, FileAccess.Write);
            cloned = Clone(to, CloneIoctl, from) == 0;
        }
        finally
        {
            if (!cloned)
            {
                File.Delete(destination);
            }
        }

        return cloned;
    }

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    private static partial int Clone(SafeFileHandle destination, nuint request, SafeFileHandle source);

    [LibraryImport("libc", EntryPoint = "link", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int HardLink(string existing, string created);
}
