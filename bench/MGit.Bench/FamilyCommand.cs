using System.Globalization;
using System.Text;
using System.Text.Json;

namespace MGit.Bench;

/// <summary>
/// The compression benchmark: a family of derivatives of a real pretrained model (weights taken
/// from a NuGet package), stored by mgit and, on the same files in the same run, by zstd -3,
/// xz, zstd --patch-from=PARENT and git (add + gc --aggressive).
/// </summary>
internal static class FamilyCommand
{
    /// <summary>A family member: file, name, lineage flags for mgit add, and the file it derives from.</summary>
    private sealed record Member(string Name, string File, string[] AddFlags, string? ParentFile, string How);

    public static int Run(Arguments options, string[] commandLine)
    {
        string mgit = Path.GetFullPath(options.RequiredString("mgit"));
        string work = Path.GetFullPath(options.RequiredString("work"));
        string? modelAssembly = options.String("assembly");
        string? onnx = options.String("onnx");
        string? safetensors = options.String("safetensors");
        string? results = options.String("results");
        bool skipXz = options.Flag("no-xz");
        bool skipGit = options.Flag("no-git");
        double fineTuneScale = options.Double("finetune-scale", 0.01, 1e-6, 1);
        int repeat = (int)options.Long("repeat", 1, 1, 9);
        options.RejectUnused();
        if (new[] { modelAssembly, onnx, safetensors }.Count(s => s is not null) != 1)
        {
            throw new BenchException("give the base model as --assembly DLL (an embedded .onnx resource), --onnx FILE or --safetensors FILE (F32)");
        }

        ChildProcess.RequireTools([
            "/usr/bin/time", "zstd", "cp", "cmp", "sync", "sh",
            .. skipXz ? Array.Empty<string>() : ["xz"],
            .. skipGit ? Array.Empty<string>() : ["git"],
        ]);
        Directory.CreateDirectory(work);
        var weights = safetensors is not null
            ? ReadSafetensors(safetensors)
            : OnnxWeights.Read(onnx is not null ? File.ReadAllBytes(onnx) : OnnxWeights.FromAssemblyResource(modelAssembly!));
        if (weights.Count == 0)
        {
            throw new BenchException("the model has no float tensors");
        }

        string source = onnx ?? modelAssembly ?? safetensors!;
        var members = BuildFamily(weights, work, fineTuneScale);
        var report = new StringBuilder();
        var machine = MachineInfo.Collect(work);
        report.AppendLine(CultureInfo.InvariantCulture, $"## Family of a real model: {Path.GetFileName(source)}");
        report.AppendLine();
        report.AppendLine(CultureInfo.InvariantCulture, $"- **Date:** {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC; machine: {machine.Cpu}, {machine.Cores} cores, {machine.Memory}; {machine.Zstd}");
        report.AppendLine(CultureInfo.InvariantCulture, $"- **Command:** `MGit.Bench {string.Join(' ', commandLine.Select(Invocation.Quote))}`");
        report.AppendLine(CultureInfo.InvariantCulture, $"- **Weights:** {weights.Count} FLOAT initializers, {weights.Sum(w => (long)w.Values.Length):N0} parameters, taken from `{Path.GetFileName(source)}`.");
        report.AppendLine(CultureInfo.InvariantCulture, $"- **Derivatives** (made by the bench, seeded): fine-tune deltas are N(0, ({fineTuneScale} x the tensor's std)^2) per element.");
        report.AppendLine();
        report.AppendLine("| model | made as | MB |");
        report.AppendLine("| --- | --- | ---: |");
        foreach (var m in members)
        {
            report.AppendLine(CultureInfo.InvariantCulture, $"| {m.Name} | {m.How} | {new FileInfo(m.File).Length / 1e6:0.0} |");
        }

        report.AppendLine();
        report.Append(Compare(members, work, mgit, skipXz, skipGit, repeat));
        string text = report.ToString();
        Console.WriteLine(text);
        if (results is not null)
        {
            File.WriteAllText(results, text);
        }

        return 0;
    }

    /// <summary>
    /// One tool on the family, file by file in member order: stored bytes, seconds to store, and
    /// seconds to restore (null for tools restored here only by their ratio); and the seconds to
    /// restore every file with one command, where the tool can.
    /// </summary>
    private sealed record ToolRun(string Tool, long[] Stored, double[] Seconds, double[]? RestoreSeconds, string Note, RestoreTwice? RestoreAll = null)
    {
        public long TotalStored => Stored.Sum();
    }

    /// <summary>
    /// The whole family restored twice back to back: the first run meets memory the VM has
    /// handed back to its host (see docs/BENCHMARKS.md, "fresh memory"), the second reuses it.
    /// </summary>
    private sealed record RestoreTwice(Measurement First, Measurement Second);

    /// <summary>Runs <paramref name="restore"/>, lets <paramref name="clean"/> remove its output, and runs it again.</summary>
    private static RestoreTwice Twice(Func<Measurement> restore, Action clean)
    {
        var first = restore();
        clean();
        return new RestoreTwice(first, restore());
    }

    /// <summary>A round of mgit: the per-file run, plus the version refs and the repository's whole stored size (shared objects counted once).</summary>
    private sealed record MgitRound(ToolRun Run, string[] Refs, long RepositoryBytes);

    /// <summary>Runs mgit and the peers on the same files; returns the Markdown tables.</summary>
    private static string Compare(IReadOnlyList<Member> members, string work, string mgit, bool skipXz, bool skipGit, int repeat)
    {
        // mgit and zstd -3 take turns, round after round, so both see the same machine; medians
        // are reported (of each file's seconds, and of each round's total for the family).
        var mgitRounds = new List<MgitRound>();
        var zstdRounds = new List<ToolRun>();
        var copyRounds = new List<ToolRun>();
        for (int round = 0; round < repeat; round++)
        {
            copyRounds.Add(CopyAll(members));
            mgitRounds.Add(MeasureMgit(members, work, mgit));
            zstdRounds.Add(Standalone(members, "zstd -3 -T2", f => new Invocation("zstd", ["-3", "-T2", "-q", "-f", f, "-o", f + ".zst"]), f => f + ".zst",
                f => new Invocation("zstd", ["-d", "-q", "-f", f + ".zst", "-o", f + ".out"]),
                (files, folder) => new Invocation("zstd", ["-d", "-q", "-f", "--output-dir-flat", folder, .. files.Select(f => f + ".zst")])));
        }

        if (mgitRounds.Any(r => !r.Run.Stored.SequenceEqual(mgitRounds[0].Run.Stored)))
        {
            throw new BenchException("mgit stored different sizes in different rounds");
        }

        // xz, each file on its own (once: it is here for its ratio, at a hundredth of the speed).
        var xz = skipXz ? null : Standalone(members, "xz -T2 (level 6)", f => new Invocation("xz", ["-T2", "-k", "-f", f]), f => f + ".xz",
            f => new Invocation("xz", ["-d", "-T2", "-c", f + ".xz"]));

        // zstd --patch-from: each derivative against the file it was made from.
        var patchStored = new long[members.Count];
        var patchSeconds = new double[members.Count];
        for (int i = 0; i < members.Count; i++)
        {
            var m = members[i];
            string output = m.File + ".patch.zst";
            var invocation = m.ParentFile is null
                ? new Invocation("zstd", ["-3", "-T2", "-q", "-f", m.File, "-o", output])
                : new Invocation("zstd", ["-3", "-T2", "--long=31", "-q", "-f", $"--patch-from={m.ParentFile}", m.File, "-o", output]);
            Warm(m.File);
            patchSeconds[i] = Settled(invocation).Seconds;
            patchStored[i] = new FileInfo(output).Length;
            File.Delete(output);
        }

        var patch = new ToolRun("zstd -3 --patch-from=PARENT", patchStored, patchSeconds, null, "base on its own, each derivative against its parent");
        var mgitRun = Median(mgitRounds.Select(r => r.Run).ToList());
        var zstdRun = Median(zstdRounds);
        var rows = new List<(string Tool, long Stored, double Seconds, double? RestoreSeconds, string Note)>
        {
            Row(mgitRounds.Select(r => r.Run).ToList(), mgitRounds[0].RepositoryBytes),
            Row(zstdRounds, zstdRounds[0].TotalStored),
        };
        if (xz is not null)
        {
            rows.Add(Row([xz], xz.TotalStored));
        }

        rows.Add(Row([patch], patch.TotalStored));
        if (!skipGit)
        {
            rows.Add(Git(members, work));
        }

        var peers = new[] { zstdRun, xz, patch };
        return Table(members, rows, mgitRun, mgitRounds[0].Refs, peers, work, mgit) + WholeFamily(members, [mgitRounds.Select(r => r.Run).ToList(), zstdRounds, copyRounds]);

        (string, long, double, double?, string) Row(IReadOnlyList<ToolRun> runs, long stored)
        {
            var store = runs.Select(r => r.Seconds.Sum()).ToList();
            var restore = runs[0].RestoreSeconds is null ? null : runs.Select(r => r.RestoreSeconds!.Sum()).ToList();
            string Spread(List<double> seconds) => $" {seconds.Min():0.00}-{seconds.Max():0.00} s";
            string rounds = runs.Count == 1 ? "" : $"; median of {runs.Count} rounds (store{Spread(store)}{(restore is null ? "" : $", restore{Spread(restore)}")})";
            return (runs[0].Tool, stored, Statistics.Median(store), restore is null ? null : Statistics.Median(restore), runs[0].Note + rounds);
        }
    }

    /// <summary>The family restored by one command per tool: mgit's multi-ref checkout and zstd -d given every file.</summary>
    private static string WholeFamily(IReadOnlyList<Member> members, IReadOnlyList<IReadOnlyList<ToolRun>> tools)
    {
        long logical = members.Sum(m => new FileInfo(m.File).Length);
        var table = new StringBuilder();
        table.AppendLine();
        table.AppendLine("The whole family restored by one command (`mgit checkout REF... -o DIR`, each model into DIR/NAME@VERSION; `zstd -d --output-dir-flat DIR FILE...`; and, as the floor, `cp FILE... DIR` of the uncompressed files), twice back to back (the output deleted in between):");
        table.AppendLine();
        table.AppendLine("| tool | run | restore s | restore MB/s | CPU user / system s | peak RSS MB | note |");
        table.AppendLine("| --- | --- | ---: | ---: | ---: | ---: | --- |");
        foreach (var rounds in tools)
        {
            foreach (var (run, pick) in new (string, Func<RestoreTwice, Measurement>)[] { ("first", r => r.First), ("second", r => r.Second) })
            {
                var runs = rounds.Select(r => pick(r.RestoreAll!)).ToList();
                var seconds = runs.Select(r => r.Seconds).ToList();
                double median = Statistics.Median(seconds);
                string note = rounds.Count == 1 ? "one round" : $"medians of {rounds.Count} rounds (wall {seconds.Min():0.00}-{seconds.Max():0.00} s)";
                table.AppendLine(CultureInfo.InvariantCulture,
                    $"| {rounds[0].Tool} | {run} | {median:0.00} | {logical / 1e6 / median:0} | {Statistics.Median(runs.Select(r => r.UserSeconds)):0.00} / {Statistics.Median(runs.Select(r => r.SystemSeconds)):0.00} | {runs.Max(r => r.PeakRssBytes) / 1e6:0} | {note} |");
            }
        }

        return table.ToString();
    }

    /// <summary>Each file's median over the rounds (sizes are those of the first round).</summary>
    private static ToolRun Median(IReadOnlyList<ToolRun> rounds) => rounds[0] with
    {
        Seconds = rounds[0].Seconds.Select((_, i) => Statistics.Median(rounds.Select(r => r.Seconds[i]))).ToArray(),
        RestoreSeconds = rounds[0].RestoreSeconds?.Select((_, i) => Statistics.Median(rounds.Select(r => r.RestoreSeconds![i]))).ToArray(),
    };

    /// <summary>git: every file in one repository, then gc --aggressive; its .git size.</summary>
    private static (string, long, double, double?, string) Git(IReadOnlyList<Member> members, string work)
    {
        string gitDir = Path.Combine(work, "git-repo");
        if (Directory.Exists(gitDir))
        {
            Directory.Delete(gitDir, recursive: true);
        }

        Directory.CreateDirectory(gitDir);
        ChildProcess.Run("git", "-C", gitDir, "init", "-q");
        foreach (var m in members)
        {
            File.Copy(m.File, Path.Combine(gitDir, Path.GetFileName(m.File)));
        }

        double seconds = Settled(new Invocation("git", ["-C", gitDir, "add", "."])).Seconds;
        seconds += Settled(new Invocation("git", ["-C", gitDir, "-c", "user.name=bench", "-c", "user.email=bench@localhost", "commit", "-q", "-m", "family"])).Seconds;
        seconds += Settled(new Invocation("git", ["-C", gitDir, "gc", "--aggressive", "--quiet"])).Seconds;
        long stored = new DirectoryInfo(Path.Combine(gitDir, ".git")).EnumerateFiles("*", SearchOption.AllDirectories).Sum(f => f.Length);
        Directory.Delete(gitDir, recursive: true);
        return ("git add + gc --aggressive", stored, seconds, null, ".git size");
    }

    /// <summary>Adds every member in lineage order to a fresh repository, then checks each out and compares it with its original.</summary>
    private static MgitRound MeasureMgit(IReadOnlyList<Member> members, string work, string mgit)
    {
        string repo = Path.Combine(work, "mgit-repo");
        if (Directory.Exists(repo))
        {
            Directory.Delete(repo, recursive: true);
        }

        ChildProcess.Run(Invocation.Mgit(mgit, ["init", repo, "-q"]));
        var addSeconds = new double[members.Count];
        var stored = new long[members.Count];
        var refs = new string[members.Count];
        for (int i = 0; i < members.Count; i++)
        {
            Warm(members[i].File);
            var measured = Settled(Invocation.Mgit(mgit, ["-C", repo, "add", members[i].File, "--name", members[i].Name, "--json", "-q", .. members[i].AddFlags]));
            addSeconds[i] = measured.Seconds;
            using var json = JsonDocument.Parse(measured.StandardOutput);
            stored[i] = json.RootElement.GetProperty("stored_bytes").GetInt64();
            refs[i] = json.RootElement.GetProperty("ref").GetString()!;
        }

        var checkoutSeconds = new double[members.Count];
        for (int i = 0; i < members.Count; i++)
        {
            string output = Path.Combine(work, "checkout.tmp");
            checkoutSeconds[i] = Settled(Invocation.Mgit(mgit, ["-C", repo, "checkout", refs[i], "-o", output, "-f", "-q"])).Seconds;
            ChildProcess.Identical(members[i].File, output);

            File.Delete(output);
        }

        // The whole family at once: one process, and parents' decoded chunks serve their children.
        string family = Path.Combine(work, "family-checkout");
        if (Directory.Exists(family))
        {
            Directory.Delete(family, recursive: true);
        }

        var all = Twice(() => Settled(Invocation.Mgit(mgit, ["-C", repo, "checkout", .. refs, "-o", family, "-q"])), () => Directory.Delete(family, recursive: true));
        for (int i = 0; i < members.Count; i++)
        {
            string output = Path.Combine(family, refs[i], Path.GetFileName(members[i].File));
            ChildProcess.Identical(members[i].File, output);
        }

        Directory.Delete(family, recursive: true);
        using var stats = JsonDocument.Parse(ChildProcess.Run(Invocation.Mgit(mgit, ["-C", repo, "stats", "--json"])));
        var run = new ToolRun("mgit (lossless)", stored, addSeconds, checkoutSeconds, "every checkout byte-identical", all);
        return new MgitRound(run, refs, stats.RootElement.GetProperty("stored_bytes").GetInt64());
    }

    private static string Table(IReadOnlyList<Member> members, List<(string Tool, long Stored, double Seconds, double? RestoreSeconds, string Note)> rows, ToolRun mgitRun, string[] refs, ToolRun?[] peers, string work, string mgit)
    {
        long logical = members.Sum(m => new FileInfo(m.File).Length);
        var table = new StringBuilder();
        table.AppendLine(CultureInfo.InvariantCulture, $"Family: {members.Count} files, {logical / 1e6:0.0} MB. Ratio = logical size / stored size; MB/s = logical MB / seconds (start-up included), warm page cache.");
        table.AppendLine();
        table.AppendLine("| tool | stored MB | ratio | store s | store MB/s | restore s | restore MB/s | note |");
        table.AppendLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |");
        foreach (var (tool, stored, seconds, restore, note) in rows)
        {
            string restoreText = restore is double r ? $"{r:0.00} | {logical / 1e6 / r:0}" : "- | -";
            table.AppendLine(CultureInfo.InvariantCulture, $"| {tool} | {stored / 1e6:0.00} | {(double)logical / stored:0.00}x | {seconds:0.00} | {logical / 1e6 / seconds:0} | {restoreText} | {note} |");
        }

        table.AppendLine();
        table.AppendLine("Single models in a fresh repository (no parent), and a lossy fine-tune (`--lossy`, E = 1e-4) against its base:");
        table.AppendLine();
        table.AppendLine("| what | MB | stored MB | ratio | zstd -3 ratio |");
        table.AppendLine("| --- | ---: | ---: | ---: | ---: |");
        foreach (var (label, member, flags) in new[]
        {
            ("F32 model alone", members[0], Array.Empty<string>()),
            ("BF16 model alone", members.First(m => m.Name == "base-bf16"), Array.Empty<string>()),
            ("lossy full fine-tune vs base", members.First(m => m.Name == "full-finetune"), new[] { "--parent", "base", "--lossy" }),
        })
        {
            string single = Path.Combine(work, "mgit-single");
            if (Directory.Exists(single))
            {
                Directory.Delete(single, recursive: true);
            }

            ChildProcess.Run(Invocation.Mgit(mgit, ["init", single, "-q"]));
            if (flags.Length > 0)
            {
                ChildProcess.Run(Invocation.Mgit(mgit, ["-C", single, "add", members[0].File, "--name", "base", "-q"]));
            }

            using var json = JsonDocument.Parse(ChildProcess.Run(Invocation.Mgit(mgit, ["-C", single, "add", member.File, "--name", "m", "--json", "-q", .. flags])));
            long stored = json.RootElement.GetProperty("stored_bytes").GetInt64();
            long size = new FileInfo(member.File).Length;
            ChildProcess.Run("zstd", "-3", "-T2", "-q", "-f", member.File, "-o", member.File + ".single.zst");
            long zstd = new FileInfo(member.File + ".single.zst").Length;
            File.Delete(member.File + ".single.zst");
            table.AppendLine(CultureInfo.InvariantCulture, $"| {label} | {size / 1e6:0.0} | {stored / 1e6:0.00} | {(double)size / stored:0.00}x | {(double)size / zstd:0.00}x |");
            Directory.Delete(single, recursive: true);
        }

        // Per model, side by side: what each tool stored for this file and how fast it stored and
        // restored it (mgit's stored bytes are what its add wrote, so shared chunks count once).
        table.AppendLine();
        table.AppendLine("Per model (ratio; MB/s to store / to restore; \"-\" where the tool was not run or is not restored per file):");
        table.AppendLine();
        var present = peers.Where(p => p is not null).Select(p => p!).ToList();
        table.AppendLine("| model | MB | mgit stored MB | mgit ratio | mgit add / checkout MB/s | " + string.Join(" | ", present.Select(p => $"{p.Tool} ratio | {p.Tool} MB/s")) + " |");
        table.AppendLine("| --- | ---: | ---: | ---: | ---: | " + string.Join(" | ", present.Select(_ => "---: | ---:")) + " |");
        for (int i = 0; i < members.Count; i++)
        {
            double mb = new FileInfo(members[i].File).Length / 1e6;
            string Speeds(ToolRun run) => run.RestoreSeconds is null ? $"{mb / run.Seconds[i]:0}" : $"{mb / run.Seconds[i]:0} / {mb / run.RestoreSeconds[i]:0}";
            string Ratio(long stored) => $"{mb * 1e6 / Math.Max(1, stored):0.00}x";
            table.AppendLine(string.Create(CultureInfo.InvariantCulture, $"| {refs[i]} | {mb:0.0} | {mgitRun.Stored[i] / 1e6:0.00} | {Ratio(mgitRun.Stored[i])} | {Speeds(mgitRun)} | ")
                + string.Join(" | ", present.Select(p => $"{Ratio(p.Stored[i])} | {Speeds(p)}")) + " |");
        }

        return table.ToString();
    }

    /// <param name="restoreAll">Restores every compressed file into a folder with one command, if the tool can.</param>
    private static ToolRun Standalone(IReadOnlyList<Member> members, string tool, Func<string, Invocation> compress, Func<string, string> output, Func<string, Invocation> restore,
        Func<IReadOnlyList<string>, string, Invocation>? restoreAll = null)
    {
        var stored = new long[members.Count];
        var seconds = new double[members.Count];
        var restoreSeconds = new double[members.Count];
        for (int i = 0; i < members.Count; i++)
        {
            string file = members[i].File;
            Warm(file);
            seconds[i] = Settled(compress(file)).Seconds;
            stored[i] = new FileInfo(output(file)).Length;
            restoreSeconds[i] = Settled(restore(file)).Seconds;
            File.Delete(file + ".out");
        }

        RestoreTwice? all = null;
        if (restoreAll is not null)
        {
            string folder = Path.Combine(Path.GetDirectoryName(members[0].File)!, "restore-all");
            Directory.CreateDirectory(folder);
            var files = members.Select(m => m.File).ToList();
            all = Twice(() => Settled(restoreAll(files, folder)), () =>
            {
                Directory.Delete(folder, recursive: true);
                Directory.CreateDirectory(folder);
            });
            if (files.Any(f => new FileInfo(Path.Combine(folder, Path.GetFileName(f))).Length != new FileInfo(f).Length))
            {
                throw new BenchException($"{tool} restored the family to files of the wrong size");
            }

            Directory.Delete(folder, recursive: true);
        }

        foreach (var member in members)
        {
            File.Delete(output(member.File));
        }

        return new ToolRun(tool, stored, seconds, restoreSeconds, "each file on its own", all);
    }

    /// <summary>
    /// The floor of a restore: <c>cp</c> of the uncompressed files (read from the page cache) into
    /// a folder, twice back to back as the restores are, so the cost of writing the same bytes on
    /// this machine stands next to theirs.
    /// </summary>
    private static ToolRun CopyAll(IReadOnlyList<Member> members)
    {
        string folder = Path.Combine(Path.GetDirectoryName(members[0].File)!, "copy-all");
        Directory.CreateDirectory(folder);
        var files = members.Select(m => m.File).ToList();
        files.ForEach(Warm);
        var all = Twice(() => Settled(new Invocation("cp", [.. files, folder])), () =>
        {
            Directory.Delete(folder, recursive: true);
            Directory.CreateDirectory(folder);
        });
        Directory.Delete(folder, recursive: true);
        var sizes = files.Select(f => new FileInfo(f).Length).ToArray();
        return new ToolRun("cp (the files as they are)", sizes, new double[files.Count], null, "the cost of writing the same bytes", all);
    }

    /// <summary>The F32 tensors of a safetensors file (the synthetic family's base).</summary>
    private static List<FloatTensor> ReadSafetensors(string path)
    {
        using var stream = File.OpenRead(path);
        var lengthBytes = new byte[8];
        stream.ReadExactly(lengthBytes);
        var header = new byte[checked((int)BitConverter.ToUInt64(lengthBytes))];
        stream.ReadExactly(header);
        long dataStart = 8 + header.Length;
        var tensors = new List<FloatTensor>();
        using var json = JsonDocument.Parse(header);
        foreach (var entry in json.RootElement.EnumerateObject().Where(e => e.Name != "__metadata__"))
        {
            if (entry.Value.GetProperty("dtype").GetString() != "F32")
            {
                continue;
            }

            long begin = entry.Value.GetProperty("data_offsets")[0].GetInt64();
            long end = entry.Value.GetProperty("data_offsets")[1].GetInt64();
            var bytes = new byte[end - begin];
            stream.Position = dataStart + begin;
            stream.ReadExactly(bytes);
            var values = new float[bytes.Length / 4];
            Buffer.BlockCopy(bytes, 0, values, 0, bytes.Length);
            tensors.Add(new FloatTensor(entry.Name, entry.Value.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()).ToArray(), values));
        }

        return tensors;
    }

    /// <summary>
    /// Measures a command after a sync, so that it does not share the disk and the CPU with the
    /// write-back of what the steps before it wrote (as the single-model bench does).
    /// </summary>
    private static Measurement Settled(Invocation invocation)
    {
        ChildProcess.Run("sync");
        return ChildProcess.Measure(invocation);
    }

    private static void Warm(string file)
    {
        using var stream = File.OpenRead(file);
        stream.CopyTo(Stream.Null);
    }

    /// <summary>
    /// The family of the compression issue: a head-only fine-tune, a full fine-tune and its next
    /// version, a BF16 cast, a BF16 fine-tune, and a 50% magnitude-pruned copy.
    /// </summary>
    private static List<Member> BuildFamily(List<FloatTensor> weights, string work, double scale)
    {
        string Path(string name) => System.IO.Path.Combine(work, name + ".safetensors");
        var random = new Random(20261127);
        var fullTune = weights.Select(t => Perturb(t, scale, random)).ToList();
        var nextVersion = fullTune.Select(t => Perturb(t, scale / 2, random)).ToList();
        int headCount = Math.Max(1, weights.Count / 12);
        var headTune = weights.Select((t, i) => i >= weights.Count - headCount ? Perturb(t, scale * 5, random) : t).ToList();
        var pruned = weights.Select(t => t.Shape.Length >= 2 ? Prune(t, 0.5) : t).ToList();

        WriteF32(Path("base"), weights);
        WriteF32(Path("head-finetune"), headTune);
        WriteF32(Path("full-finetune"), fullTune);
        WriteF32(Path("full-finetune-v2"), nextVersion);
        WriteBF16(Path("base-bf16"), weights);
        WriteBF16(Path("finetune-bf16"), fullTune);
        WriteF32(Path("pruned"), pruned);
        return
        [
            new("base", Path("base"), [], null, "the pretrained weights (F32)"),
            new("head-finetune", Path("head-finetune"), ["--parent", "base", "--how", "finetune"], Path("base"), $"last {headCount} tensors fine-tuned, the rest frozen"),
            new("full-finetune", Path("full-finetune"), ["--parent", "base", "--how", "finetune"], Path("base"), "every tensor fine-tuned"),
            new("full-finetune", Path("full-finetune-v2"), ["--version-of", "full-finetune"], Path("full-finetune"), "next version: fine-tuned further"),
            new("base-bf16", Path("base-bf16"), ["--parent", "base", "--how", "quantize"], Path("base"), "BF16 cast of the base (round to nearest even)"),
            new("finetune-bf16", Path("finetune-bf16"), ["--parent", "full-finetune@1", "--how", "quantize"], Path("full-finetune"), "BF16 cast of the fine-tune"),
            new("pruned", Path("pruned"), ["--parent", "base", "--how", "prune"], Path("base"), "50% magnitude pruning of every matrix"),
        ];
    }

    private static FloatTensor Perturb(FloatTensor tensor, double scale, Random random)
    {
        double mean = tensor.Values.Length == 0 ? 0 : tensor.Values.Average(v => (double)v);
        double std = tensor.Values.Length == 0 ? 0 : Math.Sqrt(tensor.Values.Average(v => (v - mean) * (v - mean)));
        double sigma = std * scale;
        var values = tensor.Values.Select(v => (float)(v + (sigma * Gaussian(random)))).ToArray();
        return tensor with { Values = values };
    }

    private static double Gaussian(Random random) =>
        Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());

    private static FloatTensor Prune(FloatTensor tensor, double fraction)
    {
        var magnitudes = tensor.Values.Select(Math.Abs).Order().ToArray();
        float threshold = magnitudes.Length == 0 ? 0 : magnitudes[(int)(magnitudes.Length * fraction)];
        return tensor with { Values = tensor.Values.Select(v => Math.Abs(v) < threshold ? 0f : v).ToArray() };
    }

    private static void WriteF32(string path, IReadOnlyList<FloatTensor> tensors) =>
        Write(path, tensors, "F32", 4, (v, span) => BitConverter.TryWriteBytes(span, v));

    private static void WriteBF16(string path, IReadOnlyList<FloatTensor> tensors) =>
        Write(path, tensors, "BF16", 2, (v, span) => BitConverter.TryWriteBytes(span, ToBFloat16(v)));

    private static ushort ToBFloat16(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        if ((bits & 0x7FFFFFFF) > 0x7F800000)
        {
            return (ushort)((bits >> 16) | 0x40);
        }

        return (ushort)((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16);
    }

    /// <summary>A safetensors file in the reference writer's layout: sorted by name, header padded to 8.</summary>
    private static void Write(string path, IReadOnlyList<FloatTensor> tensors, string dtype, int width, Func<float, Span<byte>, bool> encode)
    {
        var ordered = tensors.OrderBy(t => t.Name, StringComparer.Ordinal).ToList();
        var header = new StringBuilder("{\"__metadata__\":{\"format\":\"pt\"}");
        long offset = 0;
        foreach (var t in ordered)
        {
            long length = (long)t.Values.Length * width;
            header.Append(CultureInfo.InvariantCulture, $",{JsonSerializer.Serialize(t.Name)}:{{\"dtype\":\"{dtype}\",\"shape\":[{string.Join(',', t.Shape)}],\"data_offsets\":[{offset},{offset + length}]}}");
            offset += length;
        }

        header.Append('}');
        while ((Encoding.UTF8.GetByteCount(header.ToString()) % 8) != 0)
        {
            header.Append(' ');
        }

        using var stream = File.Create(path);
        byte[] headerBytes = Encoding.UTF8.GetBytes(header.ToString());
        stream.Write(BitConverter.GetBytes((ulong)headerBytes.Length));
        stream.Write(headerBytes);
        var buffer = new byte[width];
        foreach (var t in ordered)
        {
            foreach (float v in t.Values)
            {
                encode(v, buffer);
                stream.Write(buffer);
            }
        }
    }
}
