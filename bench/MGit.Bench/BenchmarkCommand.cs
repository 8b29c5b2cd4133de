using System.Globalization;
using System.Text.Json;

namespace MGit.Bench;

/// <summary>One measured operation: the median run, the spread over runs, and what it produced.</summary>
internal sealed record Row(string Operation, string Command, Measurement Median, double MinSeconds, double MaxSeconds, long MaxRssBytes, long InputBytes, long? OutputBytes, string Note)
{
    /// <summary>Runs discarded because other work on the machine used more than the quiet threshold meanwhile.</summary>
    public int SetAside { get; init; }

    public double MegabytesPerSecond => InputBytes / 1e6 / Median.Seconds;
}

/// <summary>What <c>mgit stats --json</c> reports.</summary>
internal sealed record RepoStats(long LogicalBytes, long StoredBytes, double Ratio, long Objects);

/// <summary>
/// <c>run</c>: times cp, zstd and mgit on the same warm file, then a base + fine-tune family, and
/// renders the Markdown report.
/// </summary>
internal sealed class BenchmarkCommand
{
    private readonly string _mgit;
    private readonly string _work;
    private readonly int _repeat;
    private readonly TimeSpan _quietWait;
    private readonly double _quietBelow;
    private readonly TextWriter _log = Console.Error;
    private int _counter;

    private BenchmarkCommand(string mgit, string work, int repeat, TimeSpan quietWait, double quietBelow)
    {
        _mgit = mgit;
        _work = work;
        _repeat = repeat;
        _quietWait = quietWait;
        _quietBelow = quietBelow;
    }

    public static int Run(Arguments options, string[] commandLine)
    {
        string mgit = Path.GetFullPath(options.RequiredString("mgit"));
        string work = Path.GetFullPath(options.RequiredString("work"));
        long sizeMb = options.Long("size-mb", 2048, 1, 1_000_000);
        var dtype = Safetensors.ParseDtype(options.String("dtype") ?? "F32");
        ulong seed = (ulong)options.Long("seed", (long)GenerateCommand.DefaultSeed, 0, long.MaxValue - 2);
        long familyMb = options.Long("family-size-mb", 512, 1, 1_000_000);
        double changeFraction = options.Double("change-fraction", 0.3, 0, 1);
        bool family = !options.Flag("no-family");
        int repeat = (int)options.Long("repeat", 1, 1, 99);
        bool clean = options.Flag("clean");
        var quietWait = TimeSpan.FromSeconds(options.Long("quiet-wait", 120, 0, 86_400));
        double quietBelow = options.Double("quiet-below", 0.25, 0, 1024);
        string? results = options.String("results");
        options.RejectUnused();

        if (!File.Exists(mgit))
        {
            throw new BenchException($"{mgit} does not exist; publish the CLI first (see docs/BENCHMARKS.md)");
        }

        ChildProcess.RequireTools("/usr/bin/time", "zstd", "cp", "dd", "cmp", "cat", "sync", "sh", "find", "dotnet");

        Directory.CreateDirectory(work);
        var bench = new BenchmarkCommand(mgit, work, repeat, quietWait, quietBelow);
        var report = new Report
        {
            Date = DateTime.UtcNow,
            CommandLine = "MGit.Bench " + string.Join(' ', commandLine.Select(Invocation.Quote)),
            Executable = Path.Combine(AppContext.BaseDirectory, "MGit.Bench.dll"),
            Machine = MachineInfo.Collect(work),
            MgitPath = mgit,
            MgitVersion = ChildProcess.Run(Invocation.Mgit(mgit, ["--version"])).Trim(),
            Work = work,
            Repeat = repeat,
            QuietWait = quietWait,
            QuietBelow = quietBelow,
        };

        bench.Single(report, sizeMb, dtype, seed);
        if (family)
        {
            bench.Family(report, familyMb, dtype, seed + 1, changeFraction);
        }

        string markdown = report.Render();
        Console.WriteLine(markdown);
        if (results is not null)
        {
            string full = Path.GetFullPath(results);
            Directory.CreateDirectory(Path.GetDirectoryName(full)!);
            File.WriteAllText(full, markdown);
            bench._log.WriteLine($"results written to {full}");
        }

        if (clean)
        {
            foreach (string model in report.GeneratedModels)
            {
                File.Delete(model);
            }
        }

        return 0;
    }

    private void Single(Report report, long sizeMb, Dtype dtype, ulong seed)
    {
        string model = Path.Combine(_work, $"model-{sizeMb}mb-{dtype}-seed{seed}.safetensors".ToLowerInvariant());
        var plan = ModelPlan.ForSize(sizeMb * 1_000_000, dtype);
        report.SingleGeneration = EnsureModel(model, () => ModelGenerator.Generate(model, plan, dtype, seed));
        report.GeneratedModels.Add(model);
        long size = new FileInfo(model).Length;
        report.SingleModel = $"{Report.Mb(size)} MB safetensors, {dtype}, {plan.Describe()}";
        report.SingleBytes = size;
        var rows = report.SingleRows;

        string copy = Path.Combine(_work, "copy.safetensors");
        rows.Add(Measure("cp (same disk)", [model], size,
            () => { File.Delete(copy); return new Invocation("cp", [model, copy]); },
            _ => (SameLength(copy, size), "")));
        File.Delete(copy);

        rows.Add(Measure("dd bs=4M (copy through user memory)", [model], size,
            () => { File.Delete(copy); return new Invocation("dd", [$"if={model}", $"of={copy}", "bs=4M", "status=none"]); },
            _ => (SameLength(copy, size), "")));
        File.Delete(copy);

        string zstd1 = Path.Combine(_work, "model.zstd1.zst");
        rows.Add(Measure("zstd -1 -T2", [model], size,
            () => new Invocation("zstd", ["-1", "-T2", "-q", "-f", model, "-o", zstd1]),
            _ => (new FileInfo(zstd1).Length, "")));
        report.Zstd1Bytes = new FileInfo(zstd1).Length;
        File.Delete(zstd1);

        string zstd3 = Path.Combine(_work, "model.zstd3.zst");
        rows.Add(Measure("zstd -3 -T2", [model], size,
            () => new Invocation("zstd", ["-3", "-T2", "-q", "-f", model, "-o", zstd3]),
            _ => (new FileInfo(zstd3).Length, "")));
        report.Zstd3Bytes = new FileInfo(zstd3).Length;

        string repo = Path.Combine(_work, "repo-fsync");
        string reference = "";
        rows.Add(Measure("mgit add (fsync on, default)", [model], size,
            () => { FreshRepo(repo); return Mgit(repo, null, "add", model, "--name", "model", "-q"); },
            m =>
            {
                reference = m.StandardOutput.Trim();
                var stats = Stats(repo);
                report.StoredStats = stats;
                return (stats.StoredBytes, $"{stats.Objects} objects");
            }));

        string repoNoFsync = Path.Combine(_work, "repo-nofsync");
        rows.Add(Measure("mgit add (MGIT_FSYNC=0)", [model], size,
            () => { FreshRepo(repoNoFsync); return Mgit(repoNoFsync, NoFsync, "add", model, "--name", "model", "-q"); },
            _ => (Stats(repoNoFsync).StoredBytes, "")));
        DeleteDirectory(repoNoFsync);

        rows.Add(Measure("mgit add again (every chunk already stored)", [model], size,
            () => Mgit(repo, null, "add", model, "--name", $"again-{++_counter}", "-q"),
            _ => (null, "read + hash only, no object written")));

        string checkout = Path.Combine(_work, "checkout.safetensors");
        string objects = Path.Combine(repo, ".mgit", "objects");
        rows.Add(Measure("mgit checkout", [objects], size,
            () => { File.Delete(checkout); return Mgit(repo, null, "checkout", reference, "-o", checkout, "-q"); },
            _ => (ChildProcess.Identical(model, checkout), "cmp: identical")));
        File.Delete(checkout);

        rows.Add(Measure("mgit fsck (read + verify every object)", [objects], size,
            () => Mgit(repo, null, "fsck", "-q"),
            _ => (null, "")));

        string decompressed = Path.Combine(_work, "decompressed.safetensors");
        rows.Add(Measure("zstd -d -T2 (of the zstd -3 file)", [zstd3], size,
            () => new Invocation("zstd", ["-d", "-T2", "-q", "-f", zstd3, "-o", decompressed]),
            _ => (ChildProcess.Identical(model, decompressed), "cmp: identical")));
        File.Delete(decompressed);
        File.Delete(zstd3);

        var startup = Measure("mgit stats --json (process start-up floor)", [], 0,
            () => Mgit(repo, null, "stats", "--json"),
            _ => (null, ""));
        rows.Add(startup);
        report.StartupSeconds = startup.Median.Seconds;
        report.StartupRssBytes = startup.MaxRssBytes;
        DeleteDirectory(repo);
    }

    private void Family(Report report, long sizeMb, Dtype dtype, ulong seed, double changeFraction)
    {
        string baseModel = Path.Combine(_work, $"family-base-{sizeMb}mb-{dtype}-seed{seed}.safetensors".ToLowerInvariant());
        string fineTune = Path.Combine(_work, string.Create(CultureInfo.InvariantCulture, $"family-ft-{sizeMb}mb-{dtype}-seed{seed}-change{changeFraction}.safetensors").ToLowerInvariant());
        var plan = ModelPlan.ForSize(sizeMb * 1_000_000, dtype);
        bool baseIsNew = !File.Exists(baseModel);
        report.FamilyGeneration = EnsureModel(baseModel, () => ModelGenerator.Generate(baseModel, plan, dtype, seed));
        if (baseIsNew)
        {
            File.Delete(fineTune);
        }

        EnsureModel(fineTune, () => ModelGenerator.Derive(baseModel, fineTune, changeFraction, seed + 1));
        var (changedTensors, tensors, changedBytes) = ModelGenerator.PlannedChange(baseModel, changeFraction, seed + 1);
        report.GeneratedModels.Add(baseModel);
        report.GeneratedModels.Add(fineTune);
        long baseSize = new FileInfo(baseModel).Length;
        long size = new FileInfo(fineTune).Length;
        report.FamilyBytes = size;
        report.FamilyModel = $"base {Report.Mb(baseSize)} MB ({dtype}, {plan.Describe()}); fine-tune of the same size with a seeded random " +
            string.Create(CultureInfo.InvariantCulture, $"{changeFraction:0.##} of the tensor bytes perturbed by N(0, 0.0002) (1% of the weight std 0.02)") +
            $": {changedTensors} of {tensors} tensors, {Report.Mb(changedBytes)} MB";
        var rows = report.FamilyRows;

        string repo = Path.Combine(_work, "repo-family");
        rows.Add(Measure("mgit add base (fresh repo)", [baseModel], baseSize,
            () => { FreshRepo(repo); return Mgit(repo, null, "add", baseModel, "--name", "base", "-q"); },
            _ =>
            {
                report.FamilyBaseStats = Stats(repo);
                return (report.FamilyBaseStats.StoredBytes, "");
            }));

        rows.Add(Measure("mgit add fine-tune (--parent base@1)", [baseModel, fineTune], size,
            () =>
            {
                FreshRepo(repo);
                ChildProcess.Run(Mgit(repo, null, "add", baseModel, "--name", "base", "-q"));
                return Mgit(repo, null, "add", fineTune, "--name", "finetune", "--parent", "base@1", "--how", "finetune", "-q");
            },
            _ =>
            {
                report.FamilyStats = Stats(repo);
                long added = report.FamilyStats.StoredBytes - report.FamilyBaseStats!.StoredBytes;
                return (added, "output = bytes the fine-tune added to the store");
            }));

        string checkout = Path.Combine(_work, "family-checkout.safetensors");
        rows.Add(Measure("mgit checkout fine-tune", [Path.Combine(repo, ".mgit", "objects")], size,
            () => { File.Delete(checkout); return Mgit(repo, null, "checkout", "finetune@1", "-o", checkout, "-q"); },
            _ => (ChildProcess.Identical(fineTune, checkout), "cmp: identical")));
        File.Delete(checkout);
        DeleteDirectory(repo);

        string alone = Path.Combine(_work, "family-ft.zstd3.zst");
        rows.Add(Measure("zstd -3 -T2 of the fine-tune alone", [fineTune], size,
            () => new Invocation("zstd", ["-3", "-T2", "-q", "-f", fineTune, "-o", alone]),
            _ => (new FileInfo(alone).Length, "")));
        report.FamilyZstdAloneBytes = new FileInfo(alone).Length;
        File.Delete(alone);

        string patch = Path.Combine(_work, "family-ft.patch.zst");
        rows.Add(Measure("zstd --patch-from=base (compress)", [baseModel, fineTune], size,
            () => new Invocation("zstd", ["-3", "-T2", "--long=31", "-q", "-f", $"--patch-from={baseModel}", fineTune, "-o", patch]),
            _ => (new FileInfo(patch).Length, "")));
        report.FamilyPatchBytes = new FileInfo(patch).Length;

        string applied = Path.Combine(_work, "family-patched.safetensors");
        rows.Add(Measure("zstd -d --patch-from=base (apply)", [baseModel, patch], size,
            () => new Invocation("zstd", ["-d", "--long=31", "--memory=2048MB", "-q", "-f", $"--patch-from={baseModel}", patch, "-o", applied]),
            _ => (ChildProcess.Identical(fineTune, applied), "cmp: identical")));
        File.Delete(applied);
        File.Delete(patch);
    }

    private static readonly Dictionary<string, string> NoFsync = new(StringComparer.Ordinal) { ["MGIT_FSYNC"] = "0" };

    private Invocation Mgit(string repo, IReadOnlyDictionary<string, string>? environment, params string[] arguments) =>
        Invocation.Mgit(_mgit, ["-C", repo, .. arguments], environment);

    private void FreshRepo(string repo)
    {
        DeleteDirectory(repo);
        ChildProcess.Run(Invocation.Mgit(_mgit, ["init", repo, "-q"]));
    }

    private RepoStats Stats(string repo)
    {
        using var json = JsonDocument.Parse(ChildProcess.Run(Mgit(repo, null, "stats", "--json")));
        var root = json.RootElement;
        return new RepoStats(
            root.GetProperty("logical_bytes").GetInt64(),
            root.GetProperty("stored_bytes").GetInt64(),
            root.GetProperty("ratio").GetDouble(),
            root.GetProperty("objects").GetInt64());
    }

    /// <summary>
    /// Runs one operation <c>_repeat</c> times: before each run, <paramref name="prepare"/> resets its
    /// state untimed, <c>sync</c> flushes dirty pages of earlier steps, and every file the operation
    /// reads is cat'ed to /dev/null so it starts from a warm page cache.
    /// </summary>
    private Row Measure(string operation, string[] warm, long inputBytes, Func<Invocation> prepare, Func<Measurement, (long? OutputBytes, string Note)> check)
    {
        var runs = new List<(Measurement Measurement, long? Output, string Note)>();
        var disturbed = new List<(Measurement Measurement, long? Output, string Note)>();
        string command = "";
        int attempts = 0;
        while (runs.Count < _repeat)
        {
            // A run during which other work took more than the quiet threshold is set aside and run
            // again, up to twice the runs asked for; if the machine never calms down, they count anyway.
            if (attempts++ >= _repeat * 3)
            {
                _log.WriteLine($"[{operation}] the machine stayed busy; keeping {_repeat - runs.Count} disturbed run(s)");
                runs.AddRange(disturbed.OrderBy(d => d.Measurement.OtherCores).Take(_repeat - runs.Count));
                break;
            }

            var invocation = prepare();
            command = invocation.Display(Shorten);
            ChildProcess.Run("sync");
            foreach (string path in warm)
            {
                ChildProcess.Run("sh", "-c", "find \"$1\" -type f -exec cat {} + > /dev/null", "sh", path);
            }

            if (_quietWait > TimeSpan.Zero)
            {
                MachineLoad.WaitForQuiet(_quietBelow, _quietWait, _log, operation);
            }

            var measurement = ChildProcess.Measure(invocation);
            var (output, note) = check(measurement);
            bool quiet = _quietWait == TimeSpan.Zero || measurement.OtherCores is not { } other || other < _quietBelow;
            (quiet ? runs : disturbed).Add((measurement, output, note));
            _log.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"[{operation}] run {runs.Count}/{_repeat}{(quiet ? "" : " (disturbed, set aside)")}: {measurement.Seconds:0.000} s, {inputBytes / 1e6 / measurement.Seconds:0} MB/s, peak RSS {measurement.PeakRssBytes / 1e6:0} MB, CPU {measurement.CpuUse:0.00} cores ({measurement.UserSeconds:0.00} user + {measurement.SystemSeconds:0.00} sys s), other load {(measurement.OtherCores is { } o ? o.ToString("0.00", CultureInfo.InvariantCulture) : "n/a")} cores"));
        }

        runs.Sort((a, b) => a.Measurement.Seconds.CompareTo(b.Measurement.Seconds));
        var median = runs[runs.Count / 2];
        return new Row(operation, command, median.Measurement, runs[0].Measurement.Seconds, runs[^1].Measurement.Seconds,
            runs.Max(r => r.Measurement.PeakRssBytes), inputBytes, median.Output, median.Note)
        {
            SetAside = disturbed.Count(d => !runs.Contains(d)),
        };
    }

    private string Shorten(string word) =>
        word.Replace(_mgit, "$MGIT", StringComparison.Ordinal).Replace(_work, "$WORK", StringComparison.Ordinal);

    private ModelGenerator.Summary? EnsureModel(string path, Func<ModelGenerator.Summary> generate)
    {
        if (File.Exists(path))
        {
            try
            {
                using var stream = new FileStream(path, FileMode.Open, FileAccess.Read);
                _ = Safetensors.Read(stream, path);
                _log.WriteLine($"reusing {path}");
                return null;
            }
            catch (BenchException e)
            {
                _log.WriteLine($"regenerating {path}: {e.Message}");
            }
        }

        _log.WriteLine($"generating {path} ...");
        var summary = generate();
        _log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"generated {summary.Bytes} bytes in {summary.Elapsed.TotalSeconds:0.0} s"));
        return summary;
    }

    private static long SameLength(string path, long expected)
    {
        long length = new FileInfo(path).Length;
        return length == expected ? length : throw new BenchException($"{path} is {length} bytes, expected {expected}");
    }

    private static void DeleteDirectory(string path)
    {
        if (Directory.Exists(path))
        {
            Directory.Delete(path, recursive: true);
        }
    }
}
