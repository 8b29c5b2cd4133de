using System.Diagnostics;
using System.Globalization;
using System.Text;
using MGit.Quickstart;

namespace MGit.Bench;

/// <summary>
/// The kurtosis study: does a weight statistic move one way with training, so that it can orient a
/// lineage edge (as MoTHer orients by kurtosis)? Trains TinyMlp runs (Adam and SGD, several rates and
/// seeds, from random init and as fine-tunes of trained bases), keeps checkpoints along each run,
/// and reports for every statistic how often parent → child moves it up, and how large the move is.
/// The same checkpoints give the distribution of the Pearson correlation of corresponding weights
/// for related pairs (ancestor → descendant, by how far training moved them) against unrelated ones.
/// </summary>
internal static class KurtosisCommand
{
    private static readonly (TrainOptimizer Optimizer, float Rate)[] ScratchConfigs =
        [(TrainOptimizer.Adam, 1e-4f), (TrainOptimizer.Adam, 1e-3f), (TrainOptimizer.Adam, 1e-2f), (TrainOptimizer.Sgd, 1e-3f), (TrainOptimizer.Sgd, 1e-2f), (TrainOptimizer.Sgd, 5e-2f)];

    private static readonly (TrainOptimizer Optimizer, float Rate)[] FineTuneConfigs =
        [(TrainOptimizer.Adam, 1e-4f), (TrainOptimizer.Adam, 1e-3f), (TrainOptimizer.Adam, 1e-2f), (TrainOptimizer.Sgd, 1e-2f), (TrainOptimizer.Sgd, 5e-2f)];

    private static readonly (TrainOptimizer Optimizer, float Rate)[] NewHeadConfigs = [(TrainOptimizer.Adam, 1e-3f), (TrainOptimizer.Sgd, 1e-2f)];

    private static readonly string[] Matrices = [.. TinyMlp.WeightMatrices];

    public static int Run(Arguments options, string[] commandLine)
    {
        string? results = options.String("results");
        int seeds = (int)options.Long("seeds", 3, 1, 20);
        int epochs = (int)options.Long("epochs", 200, 5, 5000);
        int longEpochs = (int)options.Long("long-epochs", 1000, 5, 20_000);
        int seed = (int)options.Long("seed", 1, 0, 1_000_000);
        options.RejectUnused();

        var stopwatch = Stopwatch.StartNew();
        var study = new Study(epochs, longEpochs);
        var records = PenguinData.ReadRecords();
        var species = PenguinData.FromRecords(records, PenguinTask.Species, seed);
        var speciesOtherSplit = PenguinData.FromRecords(records, PenguinTask.Species, seed + 1, species.Scaler, testFraction: 0.5);
        var island = PenguinData.FromRecords(records, PenguinTask.Island, seed, species.Scaler);
        var sex = PenguinData.FromRecords(records, PenguinTask.Sex, seed, species.Scaler);

        // From random init: every configuration with every seed; the seed draws the init and the batch order.
        for (int s = 0; s < seeds; s++)
        {
            int initSeed = (seed * 1000) + s;
            var init = study.AddInit(TinyMlp.Create(3, initSeed), $"init {initSeed}");
            foreach (var (optimizer, rate) in ScratchConfigs)
            {
                study.TrainRun("from scratch", optimizer, rate, initSeed, init, TinyMlp.Create(3, initSeed), species.Train);
            }

            if (s == 0)
            {
                study.TrainRun("from scratch, long", TrainOptimizer.Adam, 1e-3f, initSeed, init, TinyMlp.Create(3, initSeed), species.Train, longRun: true);
                study.TrainRun("from scratch, long", TrainOptimizer.Sgd, 1e-2f, initSeed, init, TinyMlp.Create(3, initSeed), species.Train, longRun: true);
            }

            Console.Error.WriteLine($"kurtosis: seed {s + 1}/{seeds} from scratch done ({stopwatch.Elapsed.TotalSeconds:0} s)");
        }

        // Fine-tunes: a base trained with Adam, then continued on another split of the same task, or given a
        // new head for another task and trained whole.
        for (int b = 0; b < Math.Min(seeds, 2); b++)
        {
            int baseSeed = (seed * 1000) + 500 + b;
            var baseModel = TinyMlp.Create(3, baseSeed);
            var baseInit = study.AddInit(baseModel, $"base init {baseSeed}");
            baseModel.Train(species.Train, new TrainOptions { Epochs = 50, LearningRate = 1e-3f, Seed = baseSeed });
            var trainedBase = study.AddChild(baseInit, baseModel, "base", 50, keepHead: true);
            foreach (var (optimizer, rate) in FineTuneConfigs)
            {
                study.TrainRun("fine-tune, same task, other data", optimizer, rate, baseSeed, trainedBase, baseModel.Clone(), speciesOtherSplit.Train);
            }

            foreach (var (task, data, headSeed) in new[] { ("island", island, baseSeed + 10_000), ("sex", sex, baseSeed + 20_000) })
            {
                // One new head per task; both optimizers start from it, so their heads are siblings.
                var headed = baseModel.WithNewHead(data.Labels.Count, headSeed);
                var start = study.AddChild(trainedBase, headed, $"new {task} head", 0, keepHead: false);
                foreach (var (optimizer, rate) in NewHeadConfigs)
                {
                    study.TrainRun($"fine-tune, new head ({task})", optimizer, rate, baseSeed, start, headed.Clone(), data.Train);
                }
            }

            // Long continued training, the regime of issue 21's third case.
            study.TrainRun("fine-tune, same task, other data, long", TrainOptimizer.Adam, 1e-3f, baseSeed, trainedBase, baseModel.Clone(), speciesOtherSplit.Train, longRun: true);
            study.TrainRun("fine-tune, same task, other data, long", TrainOptimizer.Sgd, 5e-2f, baseSeed, trainedBase, baseModel.Clone(), speciesOtherSplit.Train, longRun: true);

            Console.Error.WriteLine($"kurtosis: base {b + 1} and its fine-tunes done ({stopwatch.Elapsed.TotalSeconds:0} s)");
        }

        string report = study.Report(commandLine, stopwatch.Elapsed);
        Console.WriteLine(report);
        if (results is not null)
        {
            File.WriteAllText(results, report);
        }

        return 0;
    }

    private static int[] ScheduleUpTo(int epochs)
    {
        int[] marks = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000];
        return [0, .. marks.Where(m => m < epochs), epochs];
    }

    /// <summary>One saved model: its weights and, per tensor, where that tensor came from.</summary>
    private sealed class Checkpoint
    {
        public required int Id { get; init; }

        public required string Label { get; init; }

        public required int Epoch { get; init; }

        public required Dictionary<string, float[]> Weights { get; init; }

        /// <summary>Per tensor: the id of the checkpoint where that tensor was freshly initialised.</summary>
        public required Dictionary<string, int> Root { get; init; }

        /// <summary>Per tensor: every earlier checkpoint this tensor descends from.</summary>
        public required Dictionary<string, HashSet<int>> Ancestors { get; init; }

        public Dictionary<string, double[]> Stats { get; } = new(StringComparer.Ordinal);
    }

    /// <summary>A parent → child pair whose statistics the direction tables compare.</summary>
    private sealed record Step(Checkpoint Parent, Checkpoint Child, string Kind, TrainOptimizer Optimizer, float Rate);

    private sealed class Study(int epochs, int longEpochs)
    {
        private readonly int[] _schedule = ScheduleUpTo(epochs);
        private readonly int[] _longSchedule = ScheduleUpTo(longEpochs);
        private readonly List<Checkpoint> _checkpoints = [];
        private readonly List<Step> _steps = [];
        private readonly List<(string Run, double[] RelativeChange)> _runChanges = [];
        private int _epochsTrained;

        public Checkpoint AddInit(TinyMlp model, string label)
        {
            int id = _checkpoints.Count;
            var weights = MlpWeights.Of(model);
            var checkpoint = new Checkpoint
            {
                Id = id,
                Label = label,
                Epoch = 0,
                Weights = weights,
                Root = weights.Keys.ToDictionary(k => k, _ => id, StringComparer.Ordinal),
                Ancestors = weights.Keys.ToDictionary(k => k, _ => new HashSet<int>(), StringComparer.Ordinal),
            };
            Describe(checkpoint);
            _checkpoints.Add(checkpoint);
            return checkpoint;
        }

        /// <summary>A checkpoint derived from <paramref name="parent"/>; without <paramref name="keepHead"/> the head is new.</summary>
        public Checkpoint AddChild(Checkpoint parent, TinyMlp model, string label, int epoch, bool keepHead)
        {
            var checkpoint = Derive(parent, model, label, epoch, keepHead, _checkpoints.Count);
            _checkpoints.Add(checkpoint);
            return checkpoint;
        }

        // A checkpoint derived from parent, registered by the caller or not at all (a negative id).
        private static Checkpoint Derive(Checkpoint parent, TinyMlp model, string label, int epoch, bool keepHead, int id)
        {
            var weights = MlpWeights.Of(model);
            var root = new Dictionary<string, int>(StringComparer.Ordinal);
            var ancestors = new Dictionary<string, HashSet<int>>(StringComparer.Ordinal);
            foreach (string name in weights.Keys)
            {
                bool fresh = !keepHead && name.StartsWith("head.", StringComparison.Ordinal);
                root[name] = fresh ? id : parent.Root[name];
                ancestors[name] = fresh ? [] : [.. parent.Ancestors[name], parent.Id];
            }

            var checkpoint = new Checkpoint { Id = id, Label = label, Epoch = epoch, Weights = weights, Root = root, Ancestors = ancestors };
            Describe(checkpoint);
            return checkpoint;
        }

        /// <summary>
        /// Trains <paramref name="model"/> (whose weights are <paramref name="start"/>'s) through the schedule; each
        /// segment is a new <see cref="TinyMlp.Train"/> call, so the optimizer state restarts at every checkpoint,
        /// as when each version is a new training run on the previous one.
        /// </summary>
        public void TrainRun(string kind, TrainOptimizer optimizer, float rate, int seed, Checkpoint start, TinyMlp model, PenguinSplit data, bool longRun = false)
        {
            int[] schedule = longRun ? _longSchedule : _schedule;
            string run = $"{kind}, {Name(optimizer)} lr {rate.ToString("0.####", CultureInfo.InvariantCulture)}, seed {seed}";
            var previous = start;
            for (int k = 1; k < schedule.Length; k++)
            {
                model.Train(data, new TrainOptions { Epochs = schedule[k] - schedule[k - 1], LearningRate = rate, Optimizer = optimizer, Seed = (seed * 7919) + k });
                _epochsTrained += schedule[k] - schedule[k - 1];
                var next = AddChild(previous, model, run, schedule[k], keepHead: true);
                if (next.Weights.Values.Any(w => w.Any(v => !float.IsFinite(v))))
                {
                    throw new BenchException($"{run} diverged at epoch {schedule[k]}");
                }

                _steps.Add(new Step(previous, next, kind.StartsWith("from scratch", StringComparison.Ordinal) ? "from scratch: checkpoint k → k+1" : "fine-tune: checkpoint k → k+1", optimizer, rate));
                previous = next;
            }

            _steps.Add(new Step(start, previous, kind.StartsWith("from scratch", StringComparison.Ordinal) ? "from scratch: init → final" : "fine-tune: start → final", optimizer, rate));
            // The arithmetic derivations a lineage also holds; kept out of the correlation pairs (they are copies).
            var pruned = model.Clone();
            pruned.PruneMagnitude(0.5);
            _steps.Add(new Step(previous, Derive(previous, pruned, run + ", pruned", schedule[^1], keepHead: true, -1), "derived: prune 50%, no retraining", optimizer, rate));
            var cast = TinyMlp.FromTensors(model.ExportBf16());
            _steps.Add(new Step(previous, Derive(previous, cast, run + ", BF16", schedule[^1], keepHead: true, -1), "derived: BF16 cast", optimizer, rate));
            _runChanges.Add((run, [.. Matrices.Select(m => WeightStatistics.RelativeChange(start.Weights[m], previous.Weights[m]))]));
        }

        public string Report(string[] commandLine, TimeSpan elapsed)
        {
            var machine = MachineInfo.Collect(Environment.CurrentDirectory);
            var text = new StringBuilder();
            text.AppendLine("# Does a weight statistic change monotonically with training? (TinyMlp, real training)");
            text.AppendLine();
            text.AppendLine(CultureInfo.InvariantCulture, $"- **Date:** {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC; machine: {machine.Cpu}, {machine.Cores} cores, {machine.Memory}; {machine.Runtime}");
            text.AppendLine(CultureInfo.InvariantCulture, $"- **Command:** `MGit.Bench {string.Join(' ', commandLine.Select(Invocation.Quote))}` ({elapsed.TotalSeconds:0} s, {_epochsTrained} epochs trained)");
            text.AppendLine(CultureInfo.InvariantCulture, $"- **Model:** TinyMlp 4 → 256 → 256 → classes (ReLU) on Palmer Penguins; weight matrices {string.Join(", ", Matrices.Select(m => $"`{m}` ({_checkpoints[0].Weights[m].Length} elements)"))}. Biases are not studied.");
            text.AppendLine(CultureInfo.InvariantCulture, $"- **Runs:** from random init (U(±1/√fan_in), as PyTorch), {string.Join(", ", ScratchConfigs.Select(Describe))}, each with every seed; fine-tunes of two Adam-trained bases (50 epochs, lr 0.001): continued on another split of the species data with {string.Join(", ", FineTuneConfigs.Select(Describe))}; a new head (island, sex) and all layers trained with {string.Join(", ", NewHeadConfigs.Select(Describe))}. Long runs: from scratch with Adam lr 0.001 and SGD lr 0.01 (first seed), and each base continued with Adam lr 0.001 and SGD lr 0.05. Batch 32; no weight decay.");
            text.AppendLine(CultureInfo.InvariantCulture, $"- **Checkpoints** at epochs {string.Join(", ", _schedule)} (the long runs: {string.Join(", ", _longSchedule)}). Each segment between checkpoints is a new training run on the previous weights (the optimizer state restarts), as when each version is trained on from the previous one.");
            text.AppendLine("- **Up** = the child's statistic is larger than the parent's. A rule \"higher X = later\" orients an edge right exactly as often as the \"up\" fraction (and \"lower = later\" as often as 1 − up). Cells: up fraction (pairs), then median Δ = child − parent and median |Δ|. The model column votes: up when at least 2 of the 3 weight matrices go up.");
            text.AppendLine();
            AppendSummary(text);
            AppendDirectionTables(text);
            AppendKurtosisByRate(text);
            AppendRegime(text);
            AppendCorrelation(text);
            return text.ToString();
        }

        private static string Describe((TrainOptimizer Optimizer, float Rate) config) =>
            $"{Name(config.Optimizer)} lr {config.Rate.ToString("0.####", CultureInfo.InvariantCulture)}";

        private static void Describe(Checkpoint checkpoint)
        {
            foreach (string m in Matrices)
            {
                checkpoint.Stats[m] = WeightStatistics.Describe(checkpoint.Weights[m]);
            }
        }

        /// <summary>Each rule "higher X = later" by the model vote, both optimizers together: the figure a direction rule would score.</summary>
        private void AppendSummary(StringBuilder text)
        {
            var kinds = _steps.Select(s => s.Kind).Distinct().Order(StringComparer.Ordinal).ToList();
            text.AppendLine("## Summary: how often \"higher X = later\" orients parent → child (model vote, Adam and SGD together)");
            text.AppendLine();
            text.AppendLine(CultureInfo.InvariantCulture, $"| rule | {string.Join(" | ", kinds)} |");
            text.AppendLine(CultureInfo.InvariantCulture, $"| --- | {string.Join(" | ", kinds.Select(_ => "---:"))} |");
            for (int stat = 0; stat < WeightStatistics.Names.Length; stat++)
            {
                var cells = kinds.Select(kind =>
                {
                    var votes = _steps.Where(s => s.Kind == kind).Select(s => Matrices.Count(m => SameShape(s, m) && s.Child.Stats[m][stat] > s.Parent.Stats[m][stat]) >= 2).ToList();
                    return $"{Percent(votes.Count(v => v), votes.Count)} ({votes.Count})";
                });
                text.AppendLine(CultureInfo.InvariantCulture, $"| higher {WeightStatistics.Names[stat].Replace("|", "\\|", StringComparison.Ordinal)} = later | {string.Join(" | ", cells)} |");
            }

            text.AppendLine();
        }

        private void AppendDirectionTables(StringBuilder text)
        {
            var groups = _steps.GroupBy(s => (s.Kind, s.Optimizer)).OrderBy(g => g.Key.Kind, StringComparer.Ordinal).ThenBy(g => g.Key.Optimizer).ToList();
            for (int stat = 0; stat < WeightStatistics.Names.Length; stat++)
            {
                text.AppendLine(CultureInfo.InvariantCulture, $"## {WeightStatistics.Names[stat]}");
                text.AppendLine();
                text.AppendLine(CultureInfo.InvariantCulture, $"| pairs | optimizer | {string.Join(" | ", Matrices.Select(m => $"`{m}`"))} | model (2 of 3 up) |");
                text.AppendLine(CultureInfo.InvariantCulture, $"| --- | --- | {string.Join(" | ", Matrices.Select(_ => "---:"))} | ---: |");
                foreach (var group in groups)
                {
                    var cells = new List<string>();
                    foreach (string m in Matrices)
                    {
                        var deltas = group.Where(s => SameShape(s, m)).Select(s => s.Child.Stats[m][stat] - s.Parent.Stats[m][stat]).ToList();
                        cells.Add(deltas.Count == 0 ? "–" : string.Create(CultureInfo.InvariantCulture,
                            $"{Percent(deltas.Count(d => d > 0), deltas.Count)} ({deltas.Count}), Δ {Number(Statistics.Median(deltas))}, \\|Δ\\| {Number(Statistics.Median(deltas.Select(Math.Abs))).TrimStart('+')}"));
                    }

                    var votes = group.Select(s => Matrices.Count(m => SameShape(s, m) && s.Child.Stats[m][stat] > s.Parent.Stats[m][stat]) >= 2).ToList();
                    text.AppendLine(CultureInfo.InvariantCulture, $"| {group.Key.Kind} | {Name(group.Key.Optimizer)} | {string.Join(" | ", cells)} | {Percent(votes.Count(v => v), votes.Count)} ({votes.Count}) |");
                }

                text.AppendLine();
            }
        }

        private void AppendKurtosisByRate(StringBuilder text)
        {
            text.AppendLine("## Excess kurtosis by learning rate (checkpoint k → k+1 and start → final)");
            text.AppendLine();
            text.AppendLine(CultureInfo.InvariantCulture, $"| pairs | optimizer | lr | {string.Join(" | ", Matrices.Select(m => $"`{m}` up"))} | model up |");
            text.AppendLine(CultureInfo.InvariantCulture, $"| --- | --- | ---: | {string.Join(" | ", Matrices.Select(_ => "---:"))} | ---: |");
            foreach (var group in _steps.GroupBy(s => (s.Kind, s.Optimizer, s.Rate)).OrderBy(g => g.Key.Kind, StringComparer.Ordinal).ThenBy(g => g.Key.Optimizer).ThenBy(g => g.Key.Rate))
            {
                var cells = Matrices.Select(m =>
                {
                    var deltas = group.Where(s => SameShape(s, m)).Select(s => s.Child.Stats[m][0] - s.Parent.Stats[m][0]).ToList();
                    return deltas.Count == 0 ? "–" : $"{Percent(deltas.Count(d => d > 0), deltas.Count)} ({deltas.Count})";
                });
                var votes = group.Select(s => Matrices.Count(m => SameShape(s, m) && s.Child.Stats[m][0] > s.Parent.Stats[m][0]) >= 2).ToList();
                text.AppendLine(CultureInfo.InvariantCulture, $"| {group.Key.Kind} | {Name(group.Key.Optimizer)} | {group.Key.Rate.ToString("0.####", CultureInfo.InvariantCulture)} | {string.Join(" | ", cells)} | {Percent(votes.Count(v => v), votes.Count)} |");
            }

            text.AppendLine();
        }

        private void AppendRegime(StringBuilder text)
        {
            text.AppendLine("## How far each run moved the weights (‖final − start‖ / ‖start‖ per matrix)");
            text.AppendLine();
            text.AppendLine(CultureInfo.InvariantCulture, $"| run | {string.Join(" | ", Matrices.Select(m => $"`{m}`"))} |");
            text.AppendLine(CultureInfo.InvariantCulture, $"| --- | {string.Join(" | ", Matrices.Select(_ => "---:"))} |");
            foreach (var (run, change) in _runChanges)
            {
                text.AppendLine(CultureInfo.InvariantCulture, $"| {run} | {string.Join(" | ", change.Select(c => c.ToString("0.000", CultureInfo.InvariantCulture)))} |");
            }

            text.AppendLine();
        }

        private void AppendCorrelation(StringBuilder text)
        {
            // Every pair of checkpoints, every weight matrix of one shape: related (one descends from the other),
            // siblings (one common origin, neither descends from the other) or unrelated (different origins).
            var rows = new Dictionary<(string Tensor, string Category), List<double>>();
            var centred = new Dictionary<(string Tensor, string Category), List<double>>();
            var closest = new Dictionary<string, (double R, string A, string B)>(StringComparer.Ordinal);
            foreach (var a in _checkpoints)
            {
                foreach (var b in _checkpoints.Where(c => c.Id > a.Id))
                {
                    foreach (string m in Matrices)
                    {
                        if (a.Weights[m].Length != b.Weights[m].Length)
                        {
                            continue;
                        }

                        string category;
                        if (b.Ancestors[m].Contains(a.Id))
                        {
                            double change = WeightStatistics.RelativeChange(a.Weights[m], b.Weights[m]);
                            category = change < 0.3 ? "descendant, change < 0.3" : change <= 1.5 ? "descendant, change 0.3–1.5" : "descendant, change > 1.5";
                        }
                        else if (a.Root[m] == b.Root[m])
                        {
                            category = "siblings (common origin)";
                        }
                        else
                        {
                            category = a.Epoch == 0 && b.Epoch == 0 && a.Ancestors[m].Count == 0 && b.Ancestors[m].Count == 0
                                ? "unrelated: independent inits"
                                : "unrelated: independently trained";
                        }

                        var list = rows.TryGetValue((m, category), out var existing) ? existing : rows[(m, category)] = [];
                        double r = WeightStatistics.Pearson(a.Weights[m], b.Weights[m]);
                        list.Add(r);
                        var centredList = centred.TryGetValue((m, category), out var existingCentred) ? existingCentred : centred[(m, category)] = [];
                        centredList.Add(WeightStatistics.RowCentredPearson(a.Weights[m], b.Weights[m], Columns(m)));
                        if (category.StartsWith("unrelated", StringComparison.Ordinal) && (!closest.TryGetValue(m, out var best) || Math.Abs(r) > Math.Abs(best.R)))
                        {
                            closest[m] = (r, $"{a.Label} @ epoch {a.Epoch}", $"{b.Label} @ epoch {b.Epoch}");
                        }
                    }
                }
            }

            text.AppendLine("## Pearson correlation of corresponding weights: related against unrelated pairs");
            text.AppendLine();
            text.AppendLine("Every pair of checkpoints above, per weight matrix of one shape. \"Change\" is ‖descendant − ancestor‖ / ‖ancestor‖ for that matrix. Under the null of independent weights r ≈ N(0, 1/n), so r·√n is a z score; a new head is a fresh tensor (its pairs with the old head count as unrelated). Row-centred: each row's mean subtracted from both matrices first (weights are stored [out, in]).");
            text.AppendLine();
            text.AppendLine("| tensor (elements n) | pairs | count | min r | 5% r | median r | max r | max \\|r\\| | min r·√n | max \\|r\\|·√n | row-centred: min r·√n | row-centred: max \\|r\\|·√n |");
            text.AppendLine("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
            string[] order = ["descendant, change < 0.3", "descendant, change 0.3–1.5", "descendant, change > 1.5", "siblings (common origin)", "unrelated: independent inits", "unrelated: independently trained"];
            foreach (string m in Matrices)
            {
                int n = _checkpoints[0].Weights[m].Length;
                foreach (string category in order)
                {
                    if (!rows.TryGetValue((m, category), out var r) || r.Count == 0)
                    {
                        continue;
                    }

                    double sqrtN = Math.Sqrt(n);
                    text.AppendLine(CultureInfo.InvariantCulture,
                        $"| `{m}` ({n}) | {category} | {r.Count} | {r.Min():0.0000} | {WeightStatistics.Quantile(r, 0.05):0.0000} | {Statistics.Median(r):0.0000} | {r.Max():0.0000} | {r.Max(Math.Abs):0.0000} | {r.Min() * sqrtN:0.0} | {r.Max(Math.Abs) * sqrtN:0.0} | {centred[(m, category)].Min() * sqrtN:0.0} | {centred[(m, category)].Max(Math.Abs) * sqrtN:0.0} |");
                }
            }

            text.AppendLine();
            foreach (var (m, (r, a, b)) in closest)
            {
                text.AppendLine(CultureInfo.InvariantCulture, $"- Most correlated unrelated pair for `{m}`: r = {r:0.0000} (r·√n = {r * Math.Sqrt(_checkpoints[0].Weights[m].Length):0.0}), {a} against {b}.");
            }

            text.AppendLine();
        }

        private static string Name(TrainOptimizer optimizer) => optimizer == TrainOptimizer.Sgd ? "SGD" : "Adam";

        private static int Columns(string tensor) => tensor == TinyMlp.Encoder0Weight ? TinyMlp.InputSize : TinyMlp.HiddenSize;

        private static bool SameShape(Step step, string tensor) =>
            step.Parent.Weights[tensor].Length == step.Child.Weights[tensor].Length && step.Child.Ancestors[tensor].Contains(step.Parent.Id);

        private static string Percent(int part, int whole) =>
            whole == 0 ? "–" : string.Create(CultureInfo.InvariantCulture, $"{100.0 * part / whole:0}%");

        private static string Number(double value) =>
            Math.Abs(value) >= 0.01 || value == 0 ? value.ToString("+0.000;-0.000;0", CultureInfo.InvariantCulture) : value.ToString("+0.0e0;-0.0e0", CultureInfo.InvariantCulture);
    }
}
