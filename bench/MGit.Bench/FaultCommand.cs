namespace MGit.Bench;

/// <summary>
/// <c>faults</c>: SIGKILLs mgit commands at seeded random moments of their run and fills the disk
/// under a repository, then checks what a user relies on: fsck, every version byte for byte, what
/// <c>ls</c> lists, what a checkout leaves in its target, and that a pushed-to remote still clones.
/// Reports every failure it sees; exit code 0 only when nothing was inconsistent.
/// </summary>
internal static class FaultCommand
{
    private static readonly string[] FileSystems = ["tmpfs", "ext4"];

    public static int Run(Arguments options, string[] rawArgs)
    {
        string mgit = Path.GetFullPath(options.RequiredString("mgit"));
        string work = Path.GetFullPath(options.RequiredString("work"));
        int runs = (int)options.Long("runs", 10, 1, 100_000);
        ulong seed = (ulong)options.Long("seed", (long)GenerateCommand.DefaultSeed, 0, long.MaxValue);
        string fullDisk = options.String("full-disk") ?? string.Join(',', FileSystems);
        string? results = options.String("results");
        options.RejectUnused();
        if (!File.Exists(mgit))
        {
            throw new UsageException($"--mgit {mgit}: no such file");
        }

        var fileSystems = fullDisk == "none" ? [] : fullDisk.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (fileSystems.FirstOrDefault(fs => !FileSystems.Contains(fs, StringComparer.Ordinal)) is { } unknown)
        {
            throw new UsageException($"--full-disk takes tmpfs, ext4 (comma-separated) or none, not '{unknown}'");
        }

        ChildProcess.RequireTools("cp");
        string root = Path.Combine(work, "faults");
        Directory.CreateDirectory(root);
        var started = DateTime.UtcNow;
        var machine = MachineInfo.Collect(root);
        string version = ChildProcess.Run(Invocation.Mgit(mgit, ["--version"])).Trim();
        double startup = Statistics.Median(Enumerable.Range(0, 3).Select(_ => ChildProcess.Attempt(Invocation.Mgit(mgit, ["--version"])).Seconds));
        var family = FaultFamily.Generate(Path.Combine(root, "models"), seed);

        var loop = new KillLoop(mgit, root, family);
        loop.BuildTemplates();
        var tallies = loop.RunAll(runs, seed, startup);
        var disks = fileSystems.Select(fs => FullDiskRun.Run(mgit, root, family, fs)).ToList();

        string report = FaultReport.Render(new FaultReport.Inputs(
            started,
            DateTime.UtcNow,
            "MGit.Bench " + string.Join(' ', rawArgs.Select(Invocation.Quote)),
            mgit,
            version,
            work,
            machine,
            family,
            seed,
            startup,
            tallies,
            disks));
        Console.Write(report);
        if (results is not null)
        {
            File.WriteAllText(results, report);
        }

        bool consistent = tallies.All(t => t.InconsistentRuns == 0);
        bool diskHeld = disks.All(d => d.Checks.All(c => c.Passed != false));
        return consistent && diskHeld ? 0 : 1;
    }
}
