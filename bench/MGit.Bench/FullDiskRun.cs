using System.Globalization;

namespace MGit.Bench;

/// <summary>One check of the full-disk run; <see cref="Passed"/> is null for a fact reported without a verdict.</summary>
internal sealed record DiskCheck(string What, bool? Passed, string Details);

/// <summary>What the full-disk run on one file system found, or why it did not run.</summary>
internal sealed record FullDiskResult(string FileSystem, string? SkippedBecause, string Setup, IReadOnlyList<DiskCheck> Checks);

/// <summary>
/// A repository on a small file system that a filler file has filled to the last block: an add
/// must fail cleanly, the repository must stay intact and readable, removing a model and
/// collecting garbage must free space, and once there is room again an add must succeed.
/// </summary>
internal static class FullDiskRun
{
    private const string Size = "40m";

    /// <summary>Room left for the first add: less than the fine-tune it adds needs (about 2.5 MB stored).</summary>
    private const long Headroom = 1_000_000;

    public static FullDiskResult Run(string mgit, string root, FaultFamily family, string fileSystem)
    {
        string mountPoint = Path.Combine(root, $"disk-{fileSystem}");
        string image = Path.Combine(root, $"disk-{fileSystem}.img");
        if (ChildProcess.TryRun("id", "-u")?.Trim() != "0")
        {
            return Skipped(fileSystem, "not running as root: mounting a small file system needs root");
        }

        string[] tools = fileSystem == "tmpfs" ? ["mount", "umount", "mountpoint"] : ["mount", "umount", "mountpoint", "truncate", "mkfs.ext4"];
        if (tools.FirstOrDefault(t => ChildProcess.TryRun("sh", "-c", "command -v \"$1\"", "sh", t) is null) is { } missing)
        {
            return Skipped(fileSystem, $"no {missing} on the PATH");
        }

        // A run that was itself interrupted may have left its file system mounted.
        if (ChildProcess.TryRun("mountpoint", "-q", mountPoint) is not null)
        {
            ChildProcess.TryRun("umount", mountPoint);
        }

        Directory.CreateDirectory(mountPoint);
        string? refused = Mount(fileSystem, mountPoint, image);
        if (refused is not null)
        {
            return Skipped(fileSystem, refused);
        }

        try
        {
            return Exercise(mgit, root, family, fileSystem, mountPoint);
        }
        finally
        {
            var unmount = ChildProcess.Attempt(new Invocation("umount", [mountPoint]));
            if (unmount.ExitCode != 0)
            {
                Console.Error.WriteLine($"warning: umount {mountPoint} failed: {unmount.Message}");
            }

            File.Delete(image);
        }
    }

    private static FullDiskResult Skipped(string fileSystem, string reason)
    {
        Console.Error.WriteLine($"full-disk run on {fileSystem} skipped: {reason}");
        return new FullDiskResult(fileSystem, reason, "", []);
    }

    /// <summary>Mounts a fresh small file system; returns why not when that fails.</summary>
    private static string? Mount(string fileSystem, string mountPoint, string image)
    {
        Outcome mounted;
        if (fileSystem == "tmpfs")
        {
            mounted = ChildProcess.Attempt(new Invocation("mount", ["-t", "tmpfs", "-o", $"size={Size}", "tmpfs", mountPoint]));
        }
        else
        {
            File.Delete(image);
            var made = ChildProcess.Attempt(new Invocation("sh", ["-c", "truncate -s \"$1\" \"$2\" && mkfs.ext4 -q -F -m 0 \"$2\"", "sh", Size.ToUpperInvariant(), image]));
            if (made.ExitCode != 0)
            {
                return $"could not make an ext4 image: {made.Message}";
            }

            mounted = ChildProcess.Attempt(new Invocation("mount", ["-o", "loop", image, mountPoint]));
        }

        return mounted.ExitCode == 0 ? null : $"mount failed: {mounted.Message}";
    }

    private static FullDiskResult Exercise(string mgit, string root, FaultFamily family, string fileSystem, string mountPoint)
    {
        var probe = new RepositoryProbe(mgit, family, Path.Combine(root, "live", "verify"));
        string repo = Path.Combine(mountPoint, "repo");
        Must(probe, "init", repo, "-q");
        Must(probe, "-C", repo, "add", family.Base, "--name", "base", "-q");
        Must(probe, "-C", repo, "add", family.FinetuneA, "--parent", "base", "--name", "ft-a", "-q");
        Must(probe, "-C", repo, "add", family.FinetuneB, "--parent", "base", "--name", "ft-b", "-q");
        long total = new DriveInfo(mountPoint).TotalSize;
        long repositoryBytes = total - Free(mountPoint);
        string filler = Path.Combine(mountPoint, "filler");
        Fill(filler, mountPoint, leaveFree: Headroom);
        long headroom = Free(mountPoint);
        var checks = new List<DiskCheck>();

        // Less room than the add needs: it runs out of space midway, as adds on a filling disk do.
        string[] add = ["-C", repo, "add", family.Extra, "--parent", "base", "--name", "extra", "-q"];
        var failedAdd = probe.Mgit(add);
        string[] errorLines = failedAdd.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        bool oneLine = failedAdd.ExitCode == 1 && errorLines.Length == 1 && errorLines[0].StartsWith("mgit: ", StringComparison.Ordinal);
        bool saysFull = failedAdd.Error.Contains("space", StringComparison.OrdinalIgnoreCase) || failedAdd.Error.Contains("full", StringComparison.OrdinalIgnoreCase);
        checks.Add(new(Format($"`add` of a new model with {headroom / 1e6:0.0} MB free fails with a one-line error (exit 1)"), oneLine, Format($"exit {failedAdd.ExitCode}: {Quote(failedAdd.Error)}")));
        checks.Add(new("its error says the disk is full (\"space\" or \"full\")", saysFull, oneLine ? "see above" : Quote(failedAdd.Error)));
        checks.Add(new("files the failed add left in `.mgit/tmp`", null, TempFiles(repo)));
        checks.Add(Works(probe, "`fsck` after the failed add (the repository is intact)", "-C", repo, "fsck"));

        // Then not a block left, as when something else filled the disk.
        Fill(filler, mountPoint, leaveFree: 0);
        string setup = Format($"{fileSystem} of {total / 1e6:0.0} MB; a repository of base@1, ft-a@1 and ft-b@1 ({repositoryBytes / 1e6:0.0} MB used), then a filler leaving {headroom} bytes free for a first add, then topped up to leave {Free(mountPoint)} bytes free");
        checks.Add(Works(probe, "`fsck` on the full disk", "-C", repo, "fsck"));
        checks.Add(Works(probe, "`ls` on the full disk", "-C", repo, "ls"));
        checks.Add(Works(probe, "`show base` on the full disk", "-C", repo, "show", "base"));
        checks.Add(Works(probe, "`log` on the full disk", "-C", repo, "log"));

        long freeBeforeRemoval = Free(mountPoint);
        var rm = probe.Mgit("-C", repo, "rm", "ft-b", "-q");
        var gc = probe.Mgit("-C", repo, "gc", "-q");
        long freed = Free(mountPoint) - freeBeforeRemoval;
        checks.Add(new(
            "`rm ft-b` + `gc` on the full disk free space",
            rm.ExitCode == 0 && gc.ExitCode == 0 && freed > 0,
            Format($"rm: {Describe(rm)}; gc: {Describe(gc)}; {freed} bytes freed")));

        File.Delete(filler);
        var secondAdd = probe.Mgit(add);
        checks.Add(new("after deleting the filler, the `add` succeeds", secondAdd.ExitCode == 0, Describe(secondAdd)));
        checks.Add(new("files left in `.mgit/tmp` after that add", null, TempFiles(repo)));
        checks.Add(Works(probe, "`fsck` once there is room again", "-C", repo, "fsck"));

        var listing = probe.Listing(repo, out string failure);
        var problems = new List<string>();
        if (listing is null)
        {
            problems.Add($"`mgit ls --json` failed, {failure}");
        }
        else
        {
            probe.CheckEveryVersion(repo, listing.Select(RepositoryProbe.RefOf).Where(family.Originals.ContainsKey).ToList(), problems, "afterwards");
        }

        checks.Add(new(
            "every version listed then checks out byte-identical",
            problems.Count == 0,
            problems.Count == 0 ? string.Join(", ", listing!.Select(RepositoryProbe.RefOf)) : string.Join("; ", problems)));
        return new FullDiskResult(fileSystem, null, setup, checks);
    }

    private static DiskCheck Works(RepositoryProbe probe, string what, params string[] arguments)
    {
        var outcome = probe.Mgit(arguments);
        return new DiskCheck(what, outcome.ExitCode == 0, Describe(outcome));
    }

    private static string Describe(Outcome outcome) =>
        outcome.ExitCode == 0 ? "exit 0" : Format($"exit {outcome.ExitCode}: {Quote(outcome.Error.Length > 0 ? outcome.Error : outcome.Output)}");

    /// <summary>What a command wrote, on one line (lines joined by " / "), so a multi-line error shows as one.</summary>
    private static string Quote(string text)
    {
        string joined = string.Join(" / ", text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        return "`" + (joined.Length <= 400 ? joined : joined[..400] + "...") + "`";
    }

    /// <summary>
    /// Grows the filler until at most <paramref name="leaveFree"/> bytes are free (0: until the file
    /// system refuses a single byte), in ever smaller writes, so no block is left over by accident.
    /// </summary>
    private static void Fill(string path, string mountPoint, long leaveFree)
    {
        var block = new byte[1 << 20];
        using var stream = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.None, bufferSize: 0);
        foreach (int size in new[] { 1 << 20, 1 << 16, 1 << 12, 1 << 9, 1 })
        {
            try
            {
                while (leaveFree == 0 || Free(mountPoint) - size >= leaveFree)
                {
                    stream.Write(block, 0, size);
                }
            }
            catch (IOException)
            {
                // ENOSPC: go on with smaller writes, into what the larger ones could not use.
            }
        }
    }

    private static string TempFiles(string repository)
    {
        string folder = Path.Combine(repository, ".mgit", "tmp");
        var files = Directory.Exists(folder) ? new DirectoryInfo(folder).EnumerateFiles("*", SearchOption.AllDirectories).ToList() : [];
        return Format($"{files.Count} ({files.Sum(f => f.Length) / 1e6:0.0} MB)");
    }

    private static long Free(string mountPoint) => new DriveInfo(mountPoint).AvailableFreeSpace;

    private static void Must(RepositoryProbe probe, params string[] arguments)
    {
        var outcome = probe.Mgit(arguments);
        if (outcome.ExitCode != 0)
        {
            throw new BenchException($"setting up the full-disk repository: `mgit {string.Join(' ', arguments)}` exited with {outcome.ExitCode}: {outcome.Message}");
        }
    }

    private static string Format(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
