using MGit.Errors;
using Microsoft.Data.Sqlite;

namespace MGit.Storage;

/// <summary>
/// A full disk, told apart from damage: the errors it causes (ENOSPC, EDQUOT, SQLite's "disk
/// full", and SQLite's "disk I/O error" when it cannot grow its shared-memory file) and the one
/// message users get for them, naming the file system. See also <see cref="SpaceReserve"/>.
/// </summary>
internal static class DiskSpace
{
    private const int NoSpaceErrno = 28; // ENOSPC; .NET reports an errno it does not map as the HResult
    private const int QuotaErrno = 122; // EDQUOT
    private const int SqliteFull = 13;
    private const int SqliteIoError = 10;

    /// <summary>
    /// Whether <paramref name="error"/> (or the first error inside it) says a file system is full;
    /// with <paramref name="path"/>, also an unspecific I/O error while the file system holding it is full.
    /// </summary>
    public static bool IsNoSpace(Exception error, string? path = null)
    {
        while (error is AggregateException { InnerExceptions.Count: > 0 } aggregate)
        {
            error = aggregate.InnerExceptions[0];
        }

        return error switch
        {
            // Some failures say only "I/O" (a preallocation refused for want of room): the disk tells.
            IOException io => io.HResult is NoSpaceErrno or QuotaErrno || (io.InnerException is { } inner && IsNoSpace(inner, path)) || (path is not null && IsFull(path)),
            SqliteException { SqliteErrorCode: SqliteFull } => true,
            SqliteException { SqliteErrorCode: SqliteIoError } when path is not null => IsFull(path),
            MGitException { Kind: ErrorKind.NoSpace } => true,
            MGitException { InnerException: { } inner } => IsNoSpace(inner, path),
            _ => false,
        };
    }

    /// <summary>Whether the file system holding <paramref name="path"/> has (almost) no room left for an unprivileged writer.</summary>
    public static bool IsFull(string path) => FreeBytes(path) is long free && free < 64 * 1024;

    /// <summary>Bytes an unprivileged writer may still use on the file system holding <paramref name="path"/>; null when it cannot be told.</summary>
    public static long? FreeBytes(string path)
    {
        try
        {
            return new DriveInfo(ExistingAncestor(path)).AvailableFreeSpace;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            return null;
        }
    }

    /// <summary>The one-line error for a full file system, naming its mount point and the path that needed room.</summary>
    public static MGitException NoSpace(string path, Exception cause) =>
        new(ErrorKind.NoSpace, $"no space left on {MountPointOf(path)} (writing {path}); free some space and try again ('mgit rm' then 'mgit gc' frees what mgit stores)", cause);

    /// <summary>The mount point holding <paramref name="path"/> (the longest mount that is a prefix of it), or the path itself when unknown.</summary>
    public static string MountPointOf(string path)
    {
        string full = Path.GetFullPath(path);
        try
        {
            return DriveInfo.GetDrives()
                .Select(d => d.Name)
                .Where(m => full == m.TrimEnd('/') || full.StartsWith(m.EndsWith('/') ? m : m + "/", StringComparison.Ordinal))
                .OrderByDescending(m => m.Length)
                .FirstOrDefault() ?? full;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return full;
        }
    }

    private static string ExistingAncestor(string path)
    {
        string? current = Path.GetFullPath(path);
        while (current is not null && !Directory.Exists(current))
        {
            current = Path.GetDirectoryName(current);
        }

        return current ?? Path.GetPathRoot(Path.GetFullPath(path))!;
    }
}

/// <summary>
/// A few megabytes the repository keeps allocated (<c>.mgit/reserve</c>) so that on a full disk
/// the commands that free space (<c>rm</c>, which must write to the lineage database, then
/// <c>gc</c>) still have room to work: they release it, and it is taken again once there is room.
/// Nothing else ever releases it, so a failing add cannot use it up.
/// </summary>
internal sealed class SpaceReserve(string path)
{
    /// <summary>Room for the write-ahead log of removing hundreds of versions (4 KiB per changed page).</summary>
    public const int Bytes = 4 << 20;

    public string Path { get; } = path;

    /// <summary>Allocates the reserve if it is missing and the disk has clear room for it; best effort.</summary>
    public void Ensure()
    {
        if (File.Exists(Path) || DiskSpace.FreeBytes(Path) is not long free || free < 4L * Bytes)
        {
            return;
        }

        string temp = $"{Path}.{Environment.ProcessId}.tmp";
        try
        {
            // Preallocated (fallocate), not sparse: its blocks are really set aside.
            using (var file = new FileStream(temp, new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, PreallocationSize = Bytes }))
            {
                file.SetLength(Bytes);
            }

            File.Move(temp, Path, overwrite: true);
        }
        catch (IOException)
        {
            File.Delete(temp);
        }
    }

    /// <summary>Frees the reserve; false when there was none to free.</summary>
    public bool Release()
    {
        if (!File.Exists(Path))
        {
            return false;
        }

        File.Delete(Path);
        return true;
    }
}
