using System.Globalization;

namespace MGit.Storage;

/// <summary>
/// Temporary files and folders of the repository (<c>.mgit/tmp</c>): each name carries the id of
/// the process that made it and its machine (<c>STEM.PID@HOST.GUID.tmp</c>), so that any later
/// command can delete what killed processes left behind without touching the work of running
/// ones, as checkout does for its partial files. The machine matters where several share the
/// repository (cluster jobs on a shared filesystem): a process id means something only on the
/// machine that gave it, so another machine's temporaries are never judged stale here. A name
/// without a machine (written by an older mgit) is taken as this machine's, as it always was.
/// </summary>
internal static class TemporaryFiles
{
    private const string Suffix = ".tmp";

    /// <summary>This machine's name as temporary names carry it: letters, digits and '-'.</summary>
    public static string Host { get; } = string.Concat(Environment.MachineName.Select(c => char.IsAsciiLetterOrDigit(c) || c == '-' ? c : '_'));

    /// <summary>A new temporary name for <paramref name="stem"/> (no path) that names this process and machine.</summary>
    public static string Name(string stem) =>
        $"{stem}.{Environment.ProcessId.ToString(CultureInfo.InvariantCulture)}@{Host}.{Guid.NewGuid():N}{Suffix}";

    /// <summary>
    /// The process of this machine that made a temporary name; null when the name is not one of
    /// <see cref="Name"/>'s or another machine made it.
    /// </summary>
    public static int? ProcessIdOf(string name)
    {
        if (!name.EndsWith(Suffix, StringComparison.Ordinal))
        {
            return null;
        }

        var parts = name[..^Suffix.Length].Split('.');
        if (parts.Length < 3)
        {
            return null;
        }

        string owner = parts[^2];
        int at = owner.IndexOf('@', StringComparison.Ordinal);
        if (at >= 0 && owner[(at + 1)..] != Host)
        {
            return null;
        }

        return int.TryParse(at >= 0 ? owner[..at] : owner, NumberStyles.None, CultureInfo.InvariantCulture, out int pid) ? pid : null;
    }

    /// <summary>
    /// The stem that marks a temporary file on a shared remote as this machine's (its host name,
    /// made of safe characters), so that a process id in it can be judged here.
    /// </summary>
    public static string HostStem { get; } = "host-" + string.Concat(Environment.MachineName.Select(c => char.IsAsciiLetterOrDigit(c) || c == '-' ? c : '_'));

    /// <summary>Whether a temporary name was made on this machine (<see cref="HostStem"/>) by a process that is no longer running.</summary>
    public static bool IsThisHostsAndStale(string name) =>
        name.StartsWith(HostStem + ".", StringComparison.Ordinal)
        && ProcessIdOf(name) is int pid && pid != Environment.ProcessId && !IsRunning(pid);

    /// <summary>Deletes the entries of <paramref name="directory"/> that processes no longer running made; returns how many.</summary>
    public static int RemoveStale(string directory) => Remove(directory, pid => pid != Environment.ProcessId && !IsRunning(pid));

    /// <summary>Deletes the entries of <paramref name="directory"/> that this process made.</summary>
    public static int RemoveOwn(string directory) => Remove(directory, pid => pid == Environment.ProcessId);

    private static int Remove(string directory, Func<int, bool> doomed)
    {
        if (!Directory.Exists(directory))
        {
            return 0;
        }

        int removed = 0;
        foreach (var entry in new DirectoryInfo(directory).EnumerateFileSystemInfos())
        {
            if (ProcessIdOf(entry.Name) is int pid && doomed(pid))
            {
                try
                {
                    if (entry is DirectoryInfo folder && folder.LinkTarget is null)
                    {
                        folder.Delete(recursive: true);
                    }
                    else
                    {
                        entry.Delete();
                    }

                    removed++;
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    // Gone meanwhile, or not ours to delete: gc reports what stays.
                }
            }
        }

        return removed;
    }

    /// <summary>Whether a process of that id exists (a reused id keeps a stale file: the safe way to be wrong).</summary>
    public static bool IsRunning(int processId)
    {
        try
        {
            System.Diagnostics.Process.GetProcessById(processId).Dispose();
            return true;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }
}
