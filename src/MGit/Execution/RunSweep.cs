using System.Diagnostics;
using System.Globalization;
using System.Runtime.Versioning;
using System.Text;

namespace MGit.Execution;

/// <summary>
/// Kills every process of one run on Linux by sweeping /proc, as Jenkins' ProcessTreeKiller does,
/// because a process tree loses whatever is reparented away from it. A process belongs to the run
/// when its environment carries the run's marker (which every descendant inherits unless it clears
/// its environment), when it is in the run's session (unless it started its own), or when its
/// parent belongs. An orphan keeps the first two, so it is found after its parent is gone; only a
/// process that both clears its environment and leaves the session, then loses its parent, escapes.
/// </summary>
[SupportedOSPlatform("linux")]
internal static class RunSweep
{
    /// <summary>How long to keep killing: a process stuck in the kernel (a dead NFS mount) may not die at once.</summary>
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Kills the run's processes until none is left alive (zombies have closed their files, pipes
    /// included). <paramref name="session"/>, if the run has a session of its own, and
    /// <paramref name="root"/>, the command while it runs, are ids of a child not yet reaped, so
    /// that no other process can have them. False if some could not be killed, or not looked for.
    /// </summary>
    public static bool KillAll(string marker, int? session, int? root)
    {
        byte[] markerBytes = Encoding.UTF8.GetBytes(marker);
        // A dying process has already given up its memory, environment included: what was found
        // once stays a member until it is dead.
        var found = new HashSet<int>();
        var clock = Stopwatch.StartNew();
        try
        {
            while (true)
            {
                var members = FindLiveMembers(markerBytes, session, root, found);
                if (members is null)
                {
                    // No /proc (a bare container): the command's process group, the command, and no more.
                    if (session is int group)
                    {
                        _ = LinuxProcessCalls.Kill(-group, LinuxProcessCalls.SigKill);
                    }

                    if (root is int command)
                    {
                        _ = LinuxProcessCalls.Kill(command, LinuxProcessCalls.SigKill);
                    }

                    return false;
                }

                if (members.Count == 0)
                {
                    return true;
                }

                foreach (int pid in members)
                {
                    // ESRCH only: it died since the scan.
                    _ = LinuxProcessCalls.Kill(pid, LinuxProcessCalls.SigKill);
                }

                found.UnionWith(members);
                if (clock.Elapsed > Patience)
                {
                    return false;
                }

                // A killed process takes a moment to exit; one forked since the scan is found next time.
                Thread.Sleep(10);
            }
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            // A libc .NET cannot bind: nothing to kill with.
            return false;
        }
    }

    private readonly record struct LiveProcess(int Pid, int Parent, int Session);

    /// <summary>The run's processes alive now; null if /proc cannot be read.</summary>
    private static HashSet<int>? FindLiveMembers(byte[] marker, int? session, int? root, HashSet<int> found)
    {
        int self = Environment.ProcessId;
        var live = new List<LiveProcess>();
        try
        {
            foreach (string directory in Directory.EnumerateDirectories("/proc"))
            {
                if (int.TryParse(Path.GetFileName(directory), NumberStyles.None, CultureInfo.InvariantCulture, out int pid) && pid != self
                    && ReadLive(pid) is { } process)
                {
                    live.Add(process);
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }

        var members = new HashSet<int>();
        foreach (var process in live)
        {
            if (process.Pid == root || process.Session == session || found.Contains(process.Pid) || EnvironmentCarries(process.Pid, marker))
            {
                members.Add(process.Pid);
            }
        }

        var children = live.ToLookup(p => p.Parent, p => p.Pid);
        var pending = new Queue<int>(members);
        while (pending.TryDequeue(out int pid))
        {
            foreach (int child in children[pid])
            {
                if (members.Add(child))
                {
                    pending.Enqueue(child);
                }
            }
        }

        return members;
    }

    /// <summary>The process's parent and session from /proc/PID/stat; null if it is gone or a zombie.</summary>
    private static LiveProcess? ReadLive(int pid)
    {
        string stat;
        try
        {
            stat = File.ReadAllText($"/proc/{pid}/stat");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }

        // "PID (NAME) STATE PPID PGRP SESSION ...": the name may hold spaces and parentheses.
        int nameEnd = stat.LastIndexOf(')');
        if (nameEnd < 0 || nameEnd + 2 >= stat.Length)
        {
            return null;
        }

        string[] fields = stat[(nameEnd + 2)..].Split(' ');
        if (fields.Length < 4 || fields[0] is "Z" or "X" or "x"
            || !int.TryParse(fields[1], NumberStyles.None, CultureInfo.InvariantCulture, out int parent)
            || !int.TryParse(fields[3], NumberStyles.None, CultureInfo.InvariantCulture, out int session))
        {
            return null;
        }

        return new LiveProcess(pid, parent, session);
    }

    private static bool EnvironmentCarries(int pid, byte[] marker)
    {
        try
        {
            return File.ReadAllBytes($"/proc/{pid}/environ").AsSpan().IndexOf(marker) >= 0;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Gone, or another user's (a setuid program the run started is still found by session or parent).
            return false;
        }
    }
}
