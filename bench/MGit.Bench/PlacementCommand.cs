using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace MGit.Bench;

/// <summary>
/// Automatic placement as the graph grows: a seeded synthetic family (fine-tunes, head swaps,
/// 50% prunes and BF16 casts of random earlier members, and now and then an unrelated model)
/// is added model by model with <c>mgit add --auto</c>; each add reports how long placement took
/// (reading every stored fingerprint and ranking every candidate). Names carry no hints, so the
/// placements are also scored against the known parents.
/// </summary>
internal static partial class PlacementCommand
{
    private sealed record Model(string Name, int? Parent, string Operation, List<(string Name, long[] Shape, float[] Values)> Tensors, bool Bf16);

    public static int Run(Arguments options, string[] commandLine)
    {
        string mgit = Path.GetFullPath(options.RequiredString("mgit"));
        string work = Path.GetFullPath(options.RequiredString("work"));
        int count = (int)options.Long("models", 500, 2, 5000);
        int layers = (int)options.Long("layers", 12, 1, 200);
        int seed = (int)options.Long("seed", 1, 0, int.MaxValue);
        // Measuring placement at thousands of models one process per add takes hours: the first
        // models can be added in this process (placed the same way, by the library, untimed).
        int measureLast = (int)options.Long("measure-last", count, 1, count);
        string? results = options.String("results");
        // The prefilter's setting (MGIT_PLACEMENT_CANDIDATES; 0: the full scan), and where to list
        // each model's parent, so that two runs can be compared model by model.
        int? candidates = options.String("candidates") is null ? null : (int)options.Long("candidates", 64, 0, 1_000_000);
        string? parentsOut = options.String("parents-out");
        options.RejectUnused();

        string models = Path.Combine(work, "placement-models");
        string repo = Path.Combine(work, "placement-repo");
        if (Directory.Exists(repo))
        {
            Directory.Delete(repo, recursive: true);
        }

        Directory.CreateDirectory(models);
        ChildProcess.Run(Invocation.Mgit(mgit, ["init", repo, "-q"]));
        var family = Generate(count, layers, seed);
        var rows = new List<(int Graph, double PlacementMs, double CpuMs, double ProcessSeconds, bool Correct)>();
        var environment = new Dictionary<string, string> { ["MGIT_FSYNC"] = "0" };
        if (candidates is int k)
        {
            environment["MGIT_PLACEMENT_CANDIDATES"] = k.ToString(CultureInfo.InvariantCulture);
        }

        var placedUnder = new List<string>();
        int prefill = family.Count - measureLast;
        if (prefill > 0)
        {
            using var repository = MGit.Repository.Open(repo, new MGit.Workspace.RepositoryOptions { FlushToDisk = false, PlacementCandidates = candidates ?? MGit.Workspace.RepositoryOptions.DefaultPlacementCandidates });
            for (int i = 0; i < prefill; i++)
            {
                var added = repository.Add(Write(models, family[i]), new MGit.Ingest.AddOptions { Auto = true });
                placedUnder.Add($"{family[i].Name}\t{added.Placement?.Parent ?? "-"}");
                if ((i + 1) % 500 == 0)
                {
                    Console.Error.WriteLine($"{i + 1} models added in-process");
                }
            }
        }

        for (int i = prefill; i < family.Count; i++)
        {
            string file = Write(models, family[i]);
            var measured = ChildProcess.Measure(Invocation.Mgit(mgit, ["-C", repo, "add", file, "--auto"], environment));
            var timing = TimingLine().Match(measured.StandardError);
            if (!timing.Success)
            {
                throw new BenchException($"mgit add --auto printed no placement time: {measured.StandardError.Trim()}");
            }

            var placed = ParentLine().Match(measured.StandardOutput);
            string? parent = placed.Success ? placed.Groups[1].Value : null;
            placedUnder.Add($"{family[i].Name}\t{(parent is null ? "-" : parent + "@1")}");
            string? truth = family[i].Parent is int p ? family[p].Name : null;
            if (parent != truth && Environment.GetEnvironmentVariable("PLACEMENT_DEBUG") == "1")
            {
                Console.Error.WriteLine($"{family[i].Name} ({family[i].Operation} of {truth ?? "-"}{(family[i].Parent is int pp && family[pp].Parent is int gp ? $", itself {family[pp].Operation} of {family[gp].Name}" : "")}): placed under {parent ?? "-"}: {measured.StandardOutput.Trim().Split('\n').Last()}");
            }

            rows.Add((i, double.Parse(timing.Groups[2].Value, CultureInfo.InvariantCulture), double.Parse(timing.Groups[3].Value, CultureInfo.InvariantCulture), measured.Seconds, parent == truth));
            if ((i + 1) % 50 == 0)
            {
                Console.Error.WriteLine($"{i + 1} models added");
            }
        }

        if (parentsOut is not null)
        {
            File.WriteAllLines(parentsOut, placedUnder);
        }

        string report = Report(rows, family, commandLine, layers, work);
        Console.WriteLine(report);
        if (results is not null)
        {
            File.WriteAllText(results, report);
        }

        return 0;
    }

    [GeneratedRegex(@"placement: compared with (\d+) model\(s\) in ([0-9.]+) ms \(([0-9.]+) ms CPU\)")]
    private static partial Regex TimingLine();

    [GeneratedRegex(@"@1: parent (\S+)@1 ")]
    private static partial Regex ParentLine();

    private static string Report(List<(int Graph, double PlacementMs, double CpuMs, double ProcessSeconds, bool Correct)> rows, List<Model> family, string[] commandLine, int layers, string work)
    {
        var machine = MachineInfo.Collect(work);
        var text = new StringBuilder();
        text.AppendLine("## Automatic placement as the graph grows");
        text.AppendLine();
        text.AppendLine(CultureInfo.InvariantCulture, $"- **Date:** {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC; machine: {machine.Cpu}, {machine.Cores} cores, {machine.Memory}");
        text.AppendLine(CultureInfo.InvariantCulture, $"- **Command:** `MGit.Bench {string.Join(' ', commandLine.Select(Invocation.Quote))}`");
        text.AppendLine(CultureInfo.InvariantCulture, $"- **Models:** {family.Count}, each {family[0].Tensors.Count} tensors ({layers} layers); operations: {string.Join(", ", family.GroupBy(m => m.Operation).Select(g => $"{g.Count()} {g.Key}"))}.");
        text.AppendLine("- **Placement time** is what `mgit add --auto` reports: reading every stored fingerprint (from the placement cache, `.mgit/cache/placement.bin`) and ranking every stored model; the CPU column is the processor time the process spent meanwhile (10 ms ticks; on a busy machine a truer cost than wall time); the process time is the whole `mgit add --auto` (start-up, fingerprinting and storing the new model included).");
        text.AppendLine();
        text.AppendLine("| models already in the graph | placement median (ms) | placement max (ms) | placement CPU median (ms) | whole add, median (s) | placed under the true parent |");
        text.AppendLine("| ---: | ---: | ---: | ---: | ---: | ---: |");
        int[] bounds = [0, 10, 50, 100, 200, 300, 400, 500, 750, 1000, 2000, 5000];
        for (int b = 0; b + 1 < bounds.Length; b++)
        {
            var bucket = rows.Where(r => r.Graph >= bounds[b] && r.Graph < bounds[b + 1]).ToList();
            if (bucket.Count == 0)
            {
                continue;
            }

            text.AppendLine(CultureInfo.InvariantCulture, $"| {bounds[b]}-{bucket.Max(r => r.Graph)} | {Statistics.Median(bucket.Select(r => r.PlacementMs)):0.0} | {bucket.Max(r => r.PlacementMs):0.0} | {Statistics.Median(bucket.Select(r => r.CpuMs)):0} | {Statistics.Median(bucket.Select(r => r.ProcessSeconds)):0.00} | {bucket.Count(r => r.Correct)}/{bucket.Count} |");
        }

        text.AppendLine();
        text.AppendLine("The research prototype diffs the new model against every model in the graph: 7.5 s per model with 23 models, 38.5 s per model with 736 (MGit paper).");
        return text.ToString();
    }

    /// <summary>A seeded family: each member derives from a random earlier one (or, one in 50, from nothing).</summary>
    private static List<Model> Generate(int count, int layers, int seed)
    {
        var random = new Random(seed);
        var family = new List<Model>();
        // A cast or a prune of one model twice would make two identical models: neither is then "the" parent.
        var deterministicDone = new HashSet<(int, int)>();
        for (int i = 0; i < count; i++)
        {
            string name = $"m{i:D4}";
            if (i == 0 || random.Next(50) == 0)
            {
                int width = 16 + (8 * random.Next(3));
                family.Add(new Model(name, null, "new root", Fresh(random, layers, width), false));
                continue;
            }

            int parentIndex = random.Next(family.Count);
            var parent = family[parentIndex];
            int choice = random.Next(parent.Bf16 ? 3 : 4);
            if (choice >= 2 && !deterministicDone.Add((parentIndex, choice)))
            {
                choice = 0;
            }

            var tensors = choice switch
            {
                0 => parent.Tensors.Select(t => (t.Name, t.Shape, t.Values.Select(v => v + (float)(Gaussian(random) * 0.01)).ToArray())).ToList(),
                1 => parent.Tensors.Take(parent.Tensors.Count - 2).Concat(Head(random, (int)parent.Tensors[0].Shape[1], 2 + random.Next(8))).ToList(),
                2 => parent.Tensors.Select(t => (t.Name, t.Shape, t.Shape.Length == 2 ? Prune(t.Values) : t.Values)).ToList(),
                _ => parent.Tensors.Select(t => (t.Name, t.Shape, t.Values.Select(RoundToBf16).ToArray())).ToList(),
            };
            string operation = choice switch { 0 => "fine-tunes", 1 => "head swaps", 2 => "prunes", _ => "BF16 casts" };
            family.Add(new Model(name, parentIndex, operation, tensors, parent.Bf16 || choice == 3));
        }

        return family;
    }

    private static List<(string, long[], float[])> Fresh(Random random, int layers, int width)
    {
        var tensors = new List<(string, long[], float[])>();
        for (int l = 0; l < layers; l++)
        {
            foreach (string part in new[] { "q", "k", "v", "o" })
            {
                tensors.Add(($"layers.{l}.{part}.weight", [width, width], Normal(random, width * width)));
                tensors.Add(($"layers.{l}.{part}.bias", [width], Normal(random, width)));
            }
        }

        return [.. tensors, .. Head(random, width, 3)];
    }

    private static (string, long[], float[])[] Head(Random random, int width, int classes) =>
        [("head.weight", [classes, width], Normal(random, classes * width)), ("head.bias", [classes], Normal(random, classes))];

    private static float[] Normal(Random random, int count) => Enumerable.Range(0, count).Select(_ => (float)(Gaussian(random) * 0.1)).ToArray();

    private static float[] Prune(float[] values)
    {
        float threshold = values.Select(Math.Abs).Order().ElementAt(values.Length / 2);
        return values.Select(v => Math.Abs(v) < threshold ? 0f : v).ToArray();
    }

    private static float RoundToBf16(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        return BitConverter.UInt32BitsToSingle((bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000);
    }

    private static double Gaussian(Random random) =>
        Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());

    private static string Write(string directory, Model model)
    {
        var dtype = model.Bf16 ? Dtype.BF16 : Dtype.F32;
        int size = Safetensors.ElementSize(dtype);
        var entries = new List<TensorEntry>();
        long offset = 0;
        foreach (var (name, shape, values) in model.Tensors)
        {
            entries.Add(new TensorEntry(name, dtype, shape, offset, offset + ((long)values.Length * size)));
            offset += (long)values.Length * size;
        }

        string path = Path.Combine(directory, $"{model.Name}.safetensors");
        using var file = File.Create(path);
        file.Write(Safetensors.Header(entries));
        var buffer = new byte[4];
        foreach (var (_, _, values) in model.Tensors)
        {
            foreach (float v in values)
            {
                if (model.Bf16)
                {
                    BinaryPrimitives.WriteUInt16LittleEndian(buffer, (ushort)(BitConverter.SingleToUInt32Bits(v) >> 16));
                }
                else
                {
                    BinaryPrimitives.WriteSingleLittleEndian(buffer, v);
                }

                file.Write(buffer, 0, size);
            }
        }

        return path;
    }
}
