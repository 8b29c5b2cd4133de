using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace MGit.Bench;

/// <summary>
/// <c>scale</c> (issue 26, "Hub scale: 100,000 models"): a seeded repository of N tiny models in
/// families (chains of versions, fine-tunes of fine-tunes, wide stars with merges) is built in
/// this process with the library (explicit parents: the bulk is setup, not the measurement),
/// pushed to a file:// remote and cloned; then the real CLI is timed on it, one child process per
/// command, with its peak memory: <c>add --auto</c>, <c>ls --json</c>, <c>log</c> of one model,
/// <c>graph</c> of one subtree, <c>fsck</c>, <c>gc</c>, and the push and pull of one new model
/// (bytes written to the remote, lineage apart). Generated repositories are kept per (N, seed,
/// generator version) and copied before each run, so reruns skip the build.
/// </summary>
internal static partial class ScaleCommand
{
    public const long MemoryGoalBytes = 500L * 1000 * 1000;

    public static int Run(Arguments options, string[] commandLine)
    {
        string mgit = Path.GetFullPath(options.String("mgit") ?? "src/MGit.Cli/bin/Release/net10.0/mgit");
        string work = Path.GetFullPath(options.String("work") ?? Path.Combine(Path.GetTempPath(), "mgit-scale"));
        string sizesText = options.String("sizes") ?? "1000,10000,100000";
        int placements = (int)options.Long("placements", 20, 1, 1000);
        int depth = (int)options.Long("graph-depth", 3, 1, 1000);
        ulong seed = (ulong)options.Long("seed", 1, 0, long.MaxValue);
        bool fresh = options.Flag("fresh");
        int batch = (int)options.Long("batch", 1000, 10, 1_000_000);
        string? output = options.String("out");
        options.RejectUnused();

        var sizes = sizesText.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(s => int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out int n) && n >= 10 && n <= 10_000_000
                ? n
                : throw new UsageException($"--sizes takes model counts from 10 to 10,000,000, not '{s}'"))
            .ToList();
        if (!File.Exists(mgit) && !File.Exists(mgit + ".dll"))
        {
            throw new UsageException($"no mgit at {mgit} (build it: dotnet build MGit.slnx -c Release, or give --mgit)");
        }

        ChildProcess.RequireTools("cp");
        Directory.CreateDirectory(work);
        string version = ChildProcess.Run(Invocation.Mgit(mgit, ["--version"])).Trim();
        var startup = Enumerable.Range(0, 5).Select(_ => ChildProcess.Measure(Invocation.Mgit(mgit, ["--version"]))).ToList();
        string graphHelp = ChildProcess.TryRun(Invocation.Mgit(mgit, ["graph", "--help"])) ?? "";
        bool subtree = graphHelp.Contains("--root", StringComparison.Ordinal) && graphHelp.Contains("--depth", StringComparison.Ordinal);

        var runs = new List<ScaleRun>();
        foreach (int n in sizes)
        {
            runs.Add(MeasureSize(mgit, work, n, seed, placements, subtree, depth, fresh, batch));
            string report = ScaleReport.Render(commandLine, mgit, version, work, startup, runs, placements);
            if (output is not null)
            {
                File.WriteAllText(output, report);
            }

            if (n == sizes[^1])
            {
                Console.Write(report);
            }
        }

        return 0;
    }

    private static ScaleRun MeasureSize(string mgit, string work, int n, ulong seed, int placements, bool subtree, int depth, bool fresh, int batch)
    {
        var families = new ScaleFamilies(n, seed);
        string root = Path.Combine(work, string.Create(CultureInfo.InvariantCulture, $"scale-g{ScaleFamilies.GeneratorVersion}-n{n}-s{seed}"));
        string pristine = Path.Combine(root, "pristine");
        string run = Path.Combine(root, "run");
        string setupFile = Path.Combine(root, "setup.json");
        string repo = Path.Combine(run, "repo");
        string remote = Path.Combine(run, "remote");
        string clone = Path.Combine(run, "clone");
        string scratch = Path.Combine(root, "scratch");

        ScaleSetup setup;
        if (!fresh && File.Exists(setupFile) && Directory.Exists(pristine))
        {
            setup = JsonSerializer.Deserialize<ScaleSetup>(File.ReadAllText(setupFile)) ?? throw new BenchException($"{setupFile} is empty");
            Console.Error.WriteLine($"N={n}: reusing the repository generated in {setup.GenerationSeconds:0} s ({pristine})");
            Delete(run);
            var copy = Stopwatch.StartNew();
            ChildProcess.Run("cp", "-a", pristine, run);
            Console.Error.WriteLine($"N={n}: copied in {copy.Elapsed.TotalSeconds:0.0} s");
        }
        else
        {
            Delete(root);
            Directory.CreateDirectory(run);
            Directory.CreateDirectory(scratch);
            double generation = Generate(families, repo, scratch, batch);
            var noFsync = new Dictionary<string, string> { ["MGIT_FSYNC"] = "0" };
            ChildProcess.Run(Invocation.Mgit(mgit, ["-C", repo, "remote", "add", "origin", new Uri(remote).AbsoluteUri]));
            Console.Error.WriteLine($"N={n}: first push of everything (setup)");
            var push = ChildProcess.Measure(Invocation.Mgit(mgit, ["-C", repo, "push", "--json", "-q"], noFsync));
            Console.Error.WriteLine($"N={n}: clone (setup)");
            var cloned = ChildProcess.Measure(Invocation.Mgit(mgit, ["clone", new Uri(remote).AbsoluteUri, clone, "-q"], noFsync));
            var (repoFiles, repoBytes) = Sizes(Path.Combine(repo, ".mgit"), null);
            var (_, lineageDb) = Sizes(Path.Combine(repo, ".mgit"), "lineage.db");
            setup = new ScaleSetup(n, families.Families.Count, families.Families.Count(f => f.Kind == FamilyKind.Chain), families.Families.Count(f => f.Kind == FamilyKind.Deep),
                families.Families.Count(f => f.Kind == FamilyKind.Star), generation, repoFiles, repoBytes, lineageDb,
                push.Seconds, push.PeakRssBytes, cloned.Seconds, cloned.PeakRssBytes);
            var copy = Stopwatch.StartNew();
            ChildProcess.Run("cp", "-a", run, pristine);
            Console.Error.WriteLine($"N={n}: kept a pristine copy in {copy.Elapsed.TotalSeconds:0.0} s");
            File.WriteAllText(setupFile, JsonSerializer.Serialize(setup));
        }

        Directory.CreateDirectory(scratch);
        var measured = new List<ScaleRow>();
        var random = new Xoshiro256(seed, 2, (ulong)n);
        var middle = families.Families[families.Families.Count / 2];

        // Untimed, as part of the setup: a push and a pull with nothing new, so both sides hold
        // this mgit's push mark (a repository set up by an older mgit has none), as any repository
        // that pushed or pulled once with this mgit does.
        Console.Error.WriteLine($"N={n}: a push and a pull with nothing new (setup)");
        ChildProcess.Run(Invocation.Mgit(mgit, ["-C", repo, "push", "-q"]));
        ChildProcess.Run(Invocation.Mgit(mgit, ["-C", clone, "pull", "-q"]));

        // Push and pull of one new model: a fine-tune of a member of the middle family, added without --auto.
        Console.Error.WriteLine($"N={n}: push and pull of one new model");
        string pushed = Path.Combine(scratch, "pushed.safetensors");
        var (parentRef, _) = DeriveFrom(families, middle, ref random, pushed);
        ChildProcess.Run(Invocation.Mgit(mgit, ["-C", repo, "add", pushed, "--name", "scale-pushed", "--parent", parentRef, "--how", "finetune", "-q"]));
        var before = RemoteSizes(remote);
        var push1 = ChildProcess.Measure(Invocation.Mgit(mgit, ["-C", repo, "push", "--json", "-q"]));
        var after = RemoteSizes(remote);
        var (objectsSent, bytesSent) = Counts(push1.StandardOutput, "objects_sent", "bytes_sent");
        var pull = ChildProcess.Measure(Invocation.Mgit(mgit, ["-C", clone, "pull", "--json", "-q"]));
        var (objectsReceived, bytesReceived) = Counts(pull.StandardOutput, "objects_received", "bytes_received");
        var noop = ChildProcess.Measure(Invocation.Mgit(mgit, ["-C", repo, "push", "--json", "-q"]));
        var transfer = new ScaleTransfer(objectsSent, bytesSent, after.Total - before.Total, after.Lineage - before.Lineage, LineageReadByPull(before.LineageFiles, after.LineageFiles), objectsReceived, bytesReceived);
        measured.Add(new ScaleRow("push", "`mgit push` of one new model", push1, HowPushed(push1.StandardOutput)));
        measured.Add(new ScaleRow("pull", "`mgit pull` of it into a clone", pull, HowPushed(pull.StandardOutput)));
        measured.Add(new ScaleRow("push-noop", "`mgit push` with nothing new", noop, HowPushed(noop.StandardOutput)));

        // The same push without the mark (deleted): what a push costs when it must compare whole lineages.
        Console.Error.WriteLine($"N={n}: push of one new model comparing whole lineages");
        string compared = Path.Combine(scratch, "compared.safetensors");
        var (comparedParent, _) = DeriveFrom(families, middle, ref random, compared);
        ChildProcess.Run(Invocation.Mgit(mgit, ["-C", repo, "add", compared, "--name", "scale-compared", "--parent", comparedParent, "--how", "finetune", "-q"]));
        foreach (string mark in Directory.EnumerateFiles(Path.Combine(repo, ".mgit", "cache"), "push-mark.json", SearchOption.AllDirectories))
        {
            File.Delete(mark);
        }

        var whole = ChildProcess.Measure(Invocation.Mgit(mgit, ["-C", repo, "push", "--json", "-q"]));
        measured.Add(new ScaleRow("push-whole", "`mgit push` of one new model, its push mark deleted", whole, HowPushed(whole.StandardOutput)));

        // One model's everyday commands: an add with its parent given, then status, show, diff,
        // checkout and rm of it; each should read only what it names, not the whole graph.
        Console.Error.WriteLine($"N={n}: add, status, show, diff, checkout, rm of one model");
        string single = Path.Combine(scratch, "single.safetensors");
        var (singleParent, _) = DeriveFrom(families, middle, ref random, single);
        var addOne = ChildProcess.Measure(Invocation.Mgit(mgit, ["-C", repo, "add", single, "--name", "scale-single", "--parent", singleParent, "--how", "finetune", "-q"]));
        measured.Add(new ScaleRow("add", $"`mgit add FILE --parent {singleParent}`", addOne, null));
        var status = ChildProcess.Measure(Invocation.Mgit(mgit, ["-C", repo, "status"]));
        measured.Add(new ScaleRow("status", "`mgit status`", status, status.StandardOutput.Split('\n').FirstOrDefault(l => l.StartsWith("origin", StringComparison.Ordinal)) is { } state ? "origin: " + state[(state.LastIndexOf("  ", StringComparison.Ordinal) + 2)..] : null));
        var show = ChildProcess.Measure(Invocation.Mgit(mgit, ["-C", repo, "show", "scale-single", "--json"]));
        measured.Add(new ScaleRow("show", "`mgit show scale-single --json`", show, null));
        var diff = ChildProcess.Measure(Invocation.Mgit(mgit, ["-C", repo, "diff", singleParent, "scale-single"]));
        measured.Add(new ScaleRow("diff", $"`mgit diff {singleParent} scale-single`", diff, null));
        var checkout = ChildProcess.Measure(Invocation.Mgit(mgit, ["-C", repo, "checkout", "scale-single", "-o", Path.Combine(scratch, "checked-out.safetensors")]));
        measured.Add(new ScaleRow("checkout", "`mgit checkout scale-single -o FILE`", checkout, null));
        var rm = ChildProcess.Measure(Invocation.Mgit(mgit, ["-C", repo, "rm", "scale-single"]));
        measured.Add(new ScaleRow("rm", "`mgit rm scale-single`", rm, null));

        // add --auto: new models derived from random members of random families.
        Console.Error.WriteLine($"N={n}: {placements} x add --auto");
        var auto = new List<(Measurement Run, double PlacementMs, double CpuMs, int Compared)>();
        for (int i = 0; i < placements; i++)
        {
            var family = families.Families[random.NextInt(families.Families.Count)];
            string file = Path.Combine(scratch, string.Create(CultureInfo.InvariantCulture, $"scale-auto-{i:D4}.safetensors"));
            DeriveFrom(families, family, ref random, file);
            var add = ChildProcess.Measure(Invocation.Mgit(mgit, ["-C", repo, "add", file, "--auto"]));
            var timing = PlacementLine().Match(add.StandardError + add.StandardOutput);
            if (!timing.Success)
            {
                throw new BenchException($"mgit add --auto printed no placement time: {add.StandardError.Trim()}");
            }

            auto.Add((add, Parse(timing.Groups[2].Value), Parse(timing.Groups[3].Value), int.Parse(timing.Groups[1].Value, CultureInfo.InvariantCulture)));
        }

        Console.Error.WriteLine($"N={n}: ls, log, graph, fsck, gc");
        var ls = ChildProcess.Measure(Invocation.Mgit(mgit, ["-C", repo, "ls", "--json"]));
        int listed;
        using (var document = JsonDocument.Parse(ls.StandardOutput))
        {
            listed = document.RootElement.GetArrayLength();
        }

        measured.Add(new ScaleRow("ls", "`mgit ls --json`", ls, string.Create(CultureInfo.InvariantCulture, $"{listed:N0} versions, {ls.StandardOutput.Length / 1e6:0.0} MB of JSON")));
        var log = ChildProcess.Measure(Invocation.Mgit(mgit, ["-C", repo, "log", middle.RootName]));
        measured.Add(new ScaleRow("log", $"`mgit log {middle.RootName}`", log, string.Create(CultureInfo.InvariantCulture, $"{middle.Kind.ToString().ToLowerInvariant()} family of {middle.Size} versions; {log.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length} lines")));
        string[] graphArguments = subtree
            ? ["-C", repo, "graph", "--root", middle.RootName + "@1", "--depth", depth.ToString(CultureInfo.InvariantCulture), "--format", "json"]
            : ["-C", repo, "graph", "--format", "json"];
        var graph = ChildProcess.Measure(Invocation.Mgit(mgit, graphArguments));
        measured.Add(new ScaleRow("graph", subtree ? $"`mgit graph --root {middle.RootName}@1 --depth {depth} --format json`" : "`mgit graph --format json` (whole graph: this mgit has no `--root`/`--depth`)", graph,
            string.Create(CultureInfo.InvariantCulture, $"{graph.StandardOutput.Length / 1e3:0} KB of JSON")));
        var fsck = ChildProcess.Measure(Invocation.Mgit(mgit, ["-C", repo, "fsck"]));
        measured.Add(new ScaleRow("fsck", "`mgit fsck`", fsck, null));
        var gc = ChildProcess.Measure(Invocation.Mgit(mgit, ["-C", repo, "gc"]));
        measured.Add(new ScaleRow("gc", "`mgit gc`", gc, FirstLine(gc.StandardOutput)));
        Delete(scratch);
        return new ScaleRun(setup, measured, auto.Select(a => new ScalePlacement(a.Run.Seconds, a.Run.PeakRssBytes, a.PlacementMs, a.CpuMs, a.Compared, a.Run.OtherCores)).ToList(), transfer);
    }

    /// <summary>
    /// Adds every family's models in this process, with explicit parents (no placement), and returns
    /// the seconds it took. An add reads the whole lineage graph (twice), so adding N models one by
    /// one into one repository costs O(N^2): families are added in batches of about
    /// <paramref name="batch"/> models to a fresh repository each, pushed to a scratch file:// remote
    /// and pulled into the hub, which merges the graphs. Pulled versions carry no placement
    /// fingerprints; one placement at the end (a model added with auto placement, then removed)
    /// computes and stores them, as the repository would hold them had every model been added here.
    /// </summary>
    private static double Generate(ScaleFamilies families, string repo, string scratch, int batch)
    {
        var clock = Stopwatch.StartNew();
        int added = 0;
        int total = families.Families.Sum(f => f.Size);
        string file = Path.Combine(scratch, "model.safetensors");
        var settings = new MGit.Workspace.RepositoryOptions { FlushToDisk = false, Workers = 1 };
        using var hub = MGit.Repository.Init(repo, settings);
        int next = 0;
        for (int b = 0; next < families.Families.Count; b++)
        {
            var group = new List<ScaleFamily>();
            int size = 0;
            while (next < families.Families.Count && (size == 0 || size + families.Families[next].Size <= batch))
            {
                size += families.Families[next].Size;
                group.Add(families.Families[next++]);
            }

            string batchRepo = Path.Combine(scratch, "batch-repo");
            string batchRemote = Path.Combine(scratch, "batch-remote");
            Delete(batchRepo);
            Delete(batchRemote);
            using (var repository = MGit.Repository.Init(batchRepo, settings))
            {
                foreach (var family in group)
                {
                    foreach (var model in families.Models(family))
                    {
                        families.Write(file, family, model.Values);
                        repository.Add(file, new MGit.Ingest.AddOptions
                        {
                            Name = model.Name,
                            VersionOf = model.VersionOf is null ? null : string.Create(CultureInfo.InvariantCulture, $"{model.Name}@{model.Version - 1}"),
                            Parents = model.Parents,
                            How = model.How,
                            Type = string.Create(CultureInfo.InvariantCulture, $"arch-{family.Architecture}"),
                            Message = model.How is null ? (model.VersionOf is null ? "pre-trained" : "retrained") : $"{model.How} of {string.Join(" and ", model.Parents)}",
                        });
                        added++;
                    }
                }

                repository.AddRemote("hub", new Uri(batchRemote).AbsoluteUri);
                repository.Push("hub");
            }

            hub.AddRemote("batch", new Uri(batchRemote).AbsoluteUri);
            hub.Pull("batch");
            hub.RemoveRemote("batch");
            double seconds = clock.Elapsed.TotalSeconds;
            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{added:N0} / {total:N0} models added in-process (batch {b + 1}), {seconds:0} s ({added / seconds:0} per s, about {(total - added) * seconds / added / 60:0.0} min left)"));
        }

        Delete(Path.Combine(scratch, "batch-repo"));
        Delete(Path.Combine(scratch, "batch-remote"));
        var first = families.Families[0];
        families.Write(file, first, families.Models(first).First().Values);
        var warm = Stopwatch.StartNew();
        var warmup = hub.Add(file, new MGit.Ingest.AddOptions { Name = "scale-warmup", Auto = true });
        hub.Remove(warmup.Version.Ref, force: true);
        Console.Error.WriteLine($"placement fingerprints of {total:N0} pulled models computed in {warm.Elapsed.TotalSeconds:0} s");
        return clock.Elapsed.TotalSeconds;
    }

    /// <summary>Writes a fine-tune of a random member of <paramref name="family"/> (regenerated in memory) to <paramref name="path"/>; returns that member's ref.</summary>
    private static (string Ref, ScaleModel Model) DeriveFrom(ScaleFamilies families, ScaleFamily family, ref Xoshiro256 random, string path)
    {
        var members = families.Models(family).ToList();
        var source = members[random.NextInt(members.Count)];
        families.Write(path, family, ScaleFamilies.Derive(source.Values, ref random, 0.5, 0.01f));
        return (source.Ref, source);
    }

    /// <summary>How a push or pull found what to move, from its <c>--json</c> (an mgit before <c>from_adds_only</c>: always by comparing).</summary>
    private static string HowPushed(string json)
    {
        using var document = JsonDocument.Parse(json);
        return document.RootElement.TryGetProperty("from_adds_only", out var fromAdds) && fromAdds.GetBoolean()
            ? "only the adds since the last exchange (push mark)"
            : "compared whole lineages";
    }

    private static (long Objects, long Bytes) Counts(string json, string objects, string bytes)
    {
        using var document = JsonDocument.Parse(json);
        return (document.RootElement.GetProperty(objects).GetInt64(), document.RootElement.GetProperty(bytes).GetInt64());
    }

    /// <summary>A file:// remote's bytes: all of them, those outside objects/ (the lineage: its log's files, refs, locks), and its lineage files by name.</summary>
    private static (long Total, long Lineage, Dictionary<string, long> LineageFiles) RemoteSizes(string remote)
    {
        long total = 0, lineage = 0;
        string objects = Path.Combine(remote, "objects") + Path.DirectorySeparatorChar;
        foreach (var file in new DirectoryInfo(remote).EnumerateFiles("*", SearchOption.AllDirectories))
        {
            total += file.Length;
            if (!file.FullName.StartsWith(objects, StringComparison.Ordinal))
            {
                lineage += file.Length;
            }
        }

        var files = new DirectoryInfo(Path.Combine(remote, "lineage")).EnumerateFiles().ToDictionary(f => f.Name, f => f.Length, StringComparer.Ordinal);
        string reference = Path.Combine(remote, "refs", "lineage");
        files["refs/lineage"] = File.Exists(reference) ? new FileInfo(reference).Length : 0;
        return (total, lineage, files);
    }

    /// <summary>
    /// The lineage a clone that had pulled before the push reads to pull it: the ref, and the
    /// lineage files the push wrote (a remote of format 1 has one snapshot, read whole).
    /// </summary>
    private static long LineageReadByPull(Dictionary<string, long> before, Dictionary<string, long> after) =>
        after["refs/lineage"] + after.Where(f => f.Key != "refs/lineage" && !before.ContainsKey(f.Key)).Sum(f => f.Value);

    private static (long Files, long Bytes) Sizes(string directory, string? only)
    {
        long files = 0, bytes = 0;
        foreach (var file in new DirectoryInfo(directory).EnumerateFiles(only ?? "*", only is null ? SearchOption.AllDirectories : SearchOption.TopDirectoryOnly))
        {
            files++;
            bytes += file.Length;
        }

        return (files, bytes);
    }

    private static string? FirstLine(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault();

    private static double Parse(string text) => double.Parse(text, CultureInfo.InvariantCulture);

    private static void Delete(string directory)
    {
        if (Directory.Exists(directory))
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [GeneratedRegex(@"placement: compared with (\d+) model\(s\) in ([0-9.]+) ms \(([0-9.]+) ms CPU\)")]
    private static partial Regex PlacementLine();
}

/// <summary>What building a size's repository took (kept in setup.json next to the cached repository).</summary>
internal sealed record ScaleSetup(int Models, int Families, int Chains, int Deep, int Stars, double GenerationSeconds, long RepoFiles, long RepoBytes, long LineageDbBytes,
    double FullPushSeconds, long FullPushRssBytes, double CloneSeconds, long CloneRssBytes);

/// <summary>One measured command.</summary>
internal sealed record ScaleRow(string Key, string Command, Measurement Run, string? Note);

/// <summary>One <c>add --auto</c>: the whole command, and the placement time it printed.</summary>
internal sealed record ScalePlacement(double Seconds, long PeakRssBytes, double PlacementMs, double CpuMs, int Compared, double? OtherCores);

/// <summary>What pushing one new model wrote to the remote, and what pulling it received.</summary>
internal sealed record ScaleTransfer(long ObjectsSent, long BytesSent, long RemoteBytesAdded, long LineageBytesAdded, long PullLineageBytes, long ObjectsReceived, long BytesReceived);

/// <summary>Everything measured at one N.</summary>
internal sealed record ScaleRun(ScaleSetup Setup, List<ScaleRow> Rows, List<ScalePlacement> Placements, ScaleTransfer Transfer);
