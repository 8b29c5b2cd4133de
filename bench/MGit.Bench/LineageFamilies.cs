using System.Globalization;
using MGit.Formats.Safetensors;
using MGit.Quickstart;

namespace MGit.Bench;

/// <summary>One model of a family whose truth is known: its true parents (none for a root) and how it was made.</summary>
internal sealed record FamilyModel(string Key, IReadOnlyList<string> Parents, string How, string File, string Note);

/// <summary>A family of models written to disk in creation order (parents before children).</summary>
internal sealed record LineageFamily(string Name, string Description, IReadOnlyList<FamilyModel> Models, IReadOnlyList<string> Notes)
{
    /// <summary>A negative control: every model is a root, and any recovered edge is a false relation.</summary>
    public bool IsControl => Models.All(m => m.Parents.Count == 0);
}

/// <summary>
/// Model families made by really training the quickstart's TinyMlp (4 → 256 → 256 → classes) on the
/// Palmer Penguins data: chains of versions, fine-tunes of fine-tunes, head swaps, prunes, casts, a
/// merge, long continued training, and negative controls. Every file is written in creation order;
/// the same seed gives the same bytes.
/// </summary>
internal static class LineageFamilies
{
    private static readonly SafetensorsWriteOptions WriteOptions = new()
    {
        Metadata = new Dictionary<string, string>(StringComparer.Ordinal) { ["format"] = "pt" },
    };

    /// <summary>The trained families' names, in report order.</summary>
    public static readonly string[] Names = ["chain", "finetune-tree", "head-swaps", "prune-cast-merge", "long-training", "controls"];

    /// <summary>Trains and writes the families named in <paramref name="wanted"/> under <paramref name="root"/>.</summary>
    public static List<LineageFamily> BuildTrained(string root, int seed, IReadOnlySet<string> wanted)
    {
        var data = new Data(seed);
        Func<string, int, Data, LineageFamily>[] builders = [Chain, Tree, HeadSwaps, PruneCastMerge, LongTraining, Controls];
        return [.. Names.Zip(builders).Where(p => wanted.Contains(p.First)).Select(p => p.Second(root, seed, data))];
    }

    /// <summary>base → v2 → … → v6: each version a new training run on the previous one (optimizers and data splits alternate).</summary>
    private static LineageFamily Chain(string root, int seed, Data data)
    {
        var family = new Builder(root, "chain");
        var model = Train(TinyMlp.Create(3, seed + 101), data.Species, TrainOptimizer.Adam, 1e-3f, 30, seed + 1);
        family.Save("base", model, "root", "from random init: Adam lr 0.001, 30 epochs");
        (PenguinSplit Data, string Split, TrainOptimizer Optimizer, float Rate, int Epochs)[] steps =
        [
            (data.Species2, "split 2", TrainOptimizer.Adam, 3e-4f, 20),
            (data.Species3, "split 3", TrainOptimizer.Sgd, 1e-2f, 30),
            (data.Species, "split 1", TrainOptimizer.Adam, 3e-4f, 20),
            (data.Species2, "split 2", TrainOptimizer.Sgd, 1e-2f, 30),
            (data.Species3, "split 3", TrainOptimizer.Adam, 1e-4f, 20),
        ];
        string previous = "base";
        for (int i = 0; i < steps.Length; i++)
        {
            var s = steps[i];
            model = Train(model.Clone(), s.Data, s.Optimizer, s.Rate, s.Epochs, seed + 10 + i);
            string key = $"v{i + 2}";
            family.Save(key, model, "finetune", $"continued training: {Describe(s.Optimizer, s.Rate, s.Epochs)}, species {s.Split}", previous);
            previous = key;
        }

        return family.Done("Chain of versions: each a new training run continued from the previous one.");
    }

    /// <summary>A tree of fine-tunes of fine-tunes, depth 3, with both optimizers, new heads and other data splits.</summary>
    private static LineageFamily Tree(string root, int seed, Data data)
    {
        var family = new Builder(root, "finetune-tree");
        var baseModel = Train(TinyMlp.Create(3, seed + 201), data.Species, TrainOptimizer.Adam, 1e-3f, 30, seed + 2);
        family.Save("base", baseModel, "root", "from random init: Adam lr 0.001, 30 epochs, species");
        var a = Train(baseModel.WithNewHead(3, seed + 202), data.Island, TrainOptimizer.Adam, 1e-3f, 30, seed + 21);
        family.Save("a", a, "finetune", "new island head, all layers: Adam lr 0.001, 30 epochs", "base");
        var b = Train(baseModel.Clone(), data.Species2, TrainOptimizer.Sgd, 1e-2f, 30, seed + 22);
        family.Save("b", b, "finetune", "species split 2: SGD lr 0.01, 30 epochs", "base");
        var c = Train(baseModel.Clone(), data.Species3, TrainOptimizer.Adam, 3e-4f, 20, seed + 23);
        family.Save("c", c, "finetune", "species split 3: Adam lr 0.0003, 20 epochs", "base");
        var a1 = Train(a.Clone(), data.Island2, TrainOptimizer.Adam, 3e-4f, 20, seed + 24);
        family.Save("a1", a1, "finetune", "island split 2: Adam lr 0.0003, 20 epochs", "a");
        var a2 = Train(a.Clone(), data.Island, TrainOptimizer.Sgd, 1e-2f, 30, seed + 25);
        family.Save("a2", a2, "finetune", "island, another batch order: SGD lr 0.01, 30 epochs", "a");
        var b1 = Train(b.Clone(), data.Species3, TrainOptimizer.Adam, 1e-4f, 20, seed + 26);
        family.Save("b1", b1, "finetune", "species split 3: Adam lr 0.0001, 20 epochs", "b");
        var a1x = Train(a1.Clone(), data.Island3, TrainOptimizer.Sgd, 5e-3f, 30, seed + 27);
        family.Save("a1x", a1x, "finetune", "island split 3: SGD lr 0.005, 30 epochs", "a1");
        var b1x = Train(b1.Clone(), data.Species, TrainOptimizer.Adam, 3e-4f, 10, seed + 28);
        family.Save("b1x", b1x, "finetune", "species split 1: Adam lr 0.0003, 10 epochs", "b1");
        return family.Done("Fine-tunes of fine-tunes (depth 3), Adam and SGD, different seeds and data splits.");
    }

    /// <summary>Head swaps (encoder frozen, new head trained), full fine-tunes of the head-swapped models, and a swap of a swap.</summary>
    private static LineageFamily HeadSwaps(string root, int seed, Data data)
    {
        var family = new Builder(root, "head-swaps");
        var baseModel = Train(TinyMlp.Create(3, seed + 301), data.Species, TrainOptimizer.Adam, 1e-3f, 30, seed + 3);
        family.Save("base", baseModel, "root", "from random init: Adam lr 0.001, 30 epochs, species (3 classes)");
        var sex = Train(baseModel.WithNewHead(2, seed + 302), data.Sex, TrainOptimizer.Adam, 3e-3f, 60, seed + 31, TinyMlp.EncoderParameters);
        family.Save("sex-head", sex, "finetune", "new 2-class sex head, encoder frozen: Adam lr 0.003, 60 epochs", "base");
        var sexFull = Train(sex.Clone(), data.Sex, TrainOptimizer.Adam, 3e-4f, 20, seed + 32);
        family.Save("sex-full", sexFull, "finetune", "full fine-tune of sex-head: Adam lr 0.0003, 20 epochs", "sex-head");
        var island = Train(baseModel.WithNewHead(3, seed + 303), data.Island, TrainOptimizer.Adam, 3e-3f, 60, seed + 33, TinyMlp.EncoderParameters);
        family.Save("island-head", island, "finetune", "new 3-class island head (same shape as the species head), encoder frozen: Adam lr 0.003, 60 epochs", "base");
        var islandFull = Train(island.Clone(), data.Island, TrainOptimizer.Sgd, 1e-2f, 30, seed + 34);
        family.Save("island-full", islandFull, "finetune", "full fine-tune of island-head: SGD lr 0.01, 30 epochs", "island-head");
        var sexFull2 = Train(sexFull.Clone(), data.Sex2, TrainOptimizer.Adam, 1e-4f, 20, seed + 35);
        family.Save("sex-full-v2", sexFull2, "finetune", "sex-full trained on (sex split 2): Adam lr 0.0001, 20 epochs", "sex-full");
        var swapOfSwap = Train(sexFull.WithNewHead(3, seed + 304), data.Island, TrainOptimizer.Adam, 3e-3f, 60, seed + 36, TinyMlp.EncoderParameters);
        family.Save("sex-full-island-head", swapOfSwap, "finetune", "new island head on sex-full, encoder frozen: Adam lr 0.003, 60 epochs", "sex-full");
        return family.Done("Head swaps and full fine-tunes of head-swapped models (issue 21, case 2).");
    }

    /// <summary>Prune + retrain, BF16 casts and a merge (the mean of two fine-tunes: two parents).</summary>
    private static LineageFamily PruneCastMerge(string root, int seed, Data data)
    {
        var family = new Builder(root, "prune-cast-merge");
        var baseModel = Train(TinyMlp.Create(3, seed + 401), data.Species, TrainOptimizer.Adam, 1e-3f, 30, seed + 4);
        family.Save("base", baseModel, "root", "from random init: Adam lr 0.001, 30 epochs");
        var ft1 = Train(baseModel.Clone(), data.Species2, TrainOptimizer.Adam, 1e-3f, 20, seed + 41);
        family.Save("ft1", ft1, "finetune", "species split 2: Adam lr 0.001, 20 epochs", "base");
        var ft2 = Train(baseModel.Clone(), data.Species3, TrainOptimizer.Sgd, 1e-2f, 30, seed + 42);
        family.Save("ft2", ft2, "finetune", "species split 3: SGD lr 0.01, 30 epochs", "base");
        var merge = MlpWeights.Average(ft1, ft2);
        family.Save("merge", merge, "merge", "element-wise mean of ft1 and ft2 (uniform model soup)", "ft1", "ft2");
        var pruned = ft1.Clone();
        pruned.PruneMagnitude(0.5);
        family.Save("ft1-pruned", pruned, "prune", "50% smallest-magnitude weights of each matrix zeroed, no retraining", "ft1");
        var retrained = Train(pruned.Clone(), data.Species2, TrainOptimizer.Adam, 1e-4f, 10, seed + 43);
        family.Save("ft1-pruned-retrained", retrained, "finetune", "the pruned model retrained (no mask: zeros may revive): Adam lr 0.0001, 10 epochs", "ft1-pruned");
        family.SaveBf16("ft2-bf16", ft2, "the BF16 cast of ft2", "ft2");
        family.SaveBf16("merge-bf16", merge, "the BF16 cast of the merge", "merge");
        family.SaveBf16("base-bf16", baseModel, "the BF16 cast of the base", "base");
        return family.Done("Prune and retrain, BF16 casts, and a merge of two fine-tunes (two true parents).");
    }

    /// <summary>Long continued training (per-tensor relative change 0.3-1.5 and beyond): issue 21, case 3.</summary>
    private static LineageFamily LongTraining(string root, int seed, Data data)
    {
        var family = new Builder(root, "long-training");
        var baseModel = Train(TinyMlp.Create(3, seed + 501), data.Species, TrainOptimizer.Adam, 1e-3f, 30, seed + 5);
        family.Save("base", baseModel, "root", "from random init: Adam lr 0.001, 30 epochs");
        var l1 = Train(baseModel.Clone(), data.Species2, TrainOptimizer.Adam, 1e-3f, 150, seed + 51);
        family.Save("long1", l1, "finetune", "continued on species split 2: Adam lr 0.001, 150 epochs", "base");
        var l2 = Train(l1.Clone(), data.Species3, TrainOptimizer.Adam, 1e-3f, 150, seed + 52);
        family.Save("long2", l2, "finetune", "long1 continued on species split 3: Adam lr 0.001, 150 epochs", "long1");
        var l3 = Train(baseModel.Clone(), data.Species3, TrainOptimizer.Adam, 3e-3f, 100, seed + 53);
        family.Save("long3", l3, "finetune", "continued on species split 3 at a higher rate: Adam lr 0.003, 100 epochs", "base");
        var l4 = Train(baseModel.WithNewHead(3, seed + 502), data.Island, TrainOptimizer.Adam, 1e-3f, 150, seed + 54);
        family.Save("long-island", l4, "finetune", "new island head, all layers: Adam lr 0.001, 150 epochs", "base");
        var light = Train(l1.Clone(), data.Species, TrainOptimizer.Adam, 1e-4f, 10, seed + 55);
        family.Save("long1-light", light, "finetune", "long1 lightly fine-tuned: Adam lr 0.0001, 10 epochs", "long1");
        family.MeasureChanges();
        return family.Done("Long continued training: the large tensors (encoder.2.weight, 96% of the weights, and the head) move by a relative change of about 0.8-1.7, the small first layer by 0.16-0.34 (measured below).");
    }

    /// <summary>Independently initialised and independently trained models of one architecture: all roots.</summary>
    private static LineageFamily Controls(string root, int seed, Data data)
    {
        var family = new Builder(root, "controls");
        for (int i = 0; i < 4; i++)
        {
            family.Save($"init-{i + 1}", TinyMlp.Create(3, seed + 601 + i), "root", $"fresh init, seed {seed + 601 + i}");
        }

        for (int i = 0; i < 4; i++)
        {
            var trained = Train(TinyMlp.Create(3, seed + 701 + i), data.Species, TrainOptimizer.Adam, 1e-3f, 30, seed + 71 + i);
            family.Save($"trained-{i + 1}", trained, "root", $"fresh init (seed {seed + 701 + i}) trained on the same species split: Adam lr 0.001, 30 epochs");
        }

        return family.Done("Negative control: 4 independent inits and 4 independently trained models (same data, different seeds). Every edge is a false relation.");
    }

    private static TinyMlp Train(TinyMlp model, PenguinSplit data, TrainOptimizer optimizer, float rate, int epochs, int seed, IReadOnlySet<string>? frozen = null)
    {
        model.Train(data, new TrainOptions { Epochs = epochs, LearningRate = rate, Optimizer = optimizer, Seed = seed, FrozenParameters = frozen });
        return model;
    }

    private static string Describe(TrainOptimizer optimizer, float rate, int epochs) =>
        string.Create(CultureInfo.InvariantCulture, $"{(optimizer == TrainOptimizer.Sgd ? "SGD" : "Adam")} lr {rate:0.####}, {epochs} epochs");

    /// <summary>The penguin splits the families train on: three draws of the training rows per task.</summary>
    private sealed class Data
    {
        public Data(int seed)
        {
            var records = PenguinData.ReadRecords();
            var species = PenguinData.FromRecords(records, PenguinTask.Species, seed);
            var scaler = species.Scaler;
            Species = species.Train;
            Species2 = PenguinData.FromRecords(records, PenguinTask.Species, seed + 1, scaler, 0.4).Train;
            Species3 = PenguinData.FromRecords(records, PenguinTask.Species, seed + 2, scaler, 0.5).Train;
            Island = PenguinData.FromRecords(records, PenguinTask.Island, seed, scaler).Train;
            Island2 = PenguinData.FromRecords(records, PenguinTask.Island, seed + 1, scaler, 0.4).Train;
            Island3 = PenguinData.FromRecords(records, PenguinTask.Island, seed + 2, scaler, 0.5).Train;
            Sex = PenguinData.FromRecords(records, PenguinTask.Sex, seed, scaler).Train;
            Sex2 = PenguinData.FromRecords(records, PenguinTask.Sex, seed + 1, scaler, 0.4).Train;
        }

        public PenguinSplit Species { get; }

        public PenguinSplit Species2 { get; }

        public PenguinSplit Species3 { get; }

        public PenguinSplit Island { get; }

        public PenguinSplit Island2 { get; }

        public PenguinSplit Island3 { get; }

        public PenguinSplit Sex { get; }

        public PenguinSplit Sex2 { get; }
    }

    /// <summary>Writes a family's models in creation order and remembers their truth.</summary>
    private sealed class Builder
    {
        private readonly string _name;
        private readonly string _folder;
        private readonly List<FamilyModel> _models = [];
        private readonly Dictionary<string, Dictionary<string, float[]>> _weights = new(StringComparer.Ordinal);
        private readonly List<string> _notes = [];

        public Builder(string root, string name)
        {
            _name = name;
            _folder = Path.Combine(root, name);
            if (Directory.Exists(_folder))
            {
                Directory.Delete(_folder, recursive: true);
            }

            Directory.CreateDirectory(_folder);
        }

        public void Save(string key, TinyMlp model, string how, string note, params string[] parents) =>
            Write(key, model.Export(), how, note, parents);

        public void SaveBf16(string key, TinyMlp model, string note, string parent) =>
            Write(key, model.ExportBf16(), "quantize", note, [parent]);

        /// <summary>Notes every fine-tune's per-tensor relative change ‖child − parent‖ / ‖parent‖ (shared shapes only).</summary>
        public void MeasureChanges()
        {
            foreach (var m in _models.Where(m => m.Parents.Count == 1))
            {
                var child = _weights[m.Key];
                var parent = _weights[m.Parents[0]];
                var changes = child.Where(t => parent.TryGetValue(t.Key, out var p) && p.Length == t.Value.Length && !IsNewHead(m, t.Key))
                    .Select(t => string.Create(CultureInfo.InvariantCulture, $"{t.Key} {WeightStatistics.RelativeChange(parent[t.Key], t.Value):0.00}"));
                _notes.Add($"relative change of {m.Key} against {m.Parents[0]}: {string.Join(", ", changes)}");
            }
        }

        public LineageFamily Done(string description) => new(_name, description, _models, _notes);

        private static bool IsNewHead(FamilyModel model, string tensor) =>
            tensor.StartsWith("head.", StringComparison.Ordinal) && model.Note.Contains("new ", StringComparison.Ordinal) && model.Note.Contains(" head", StringComparison.Ordinal);

        private void Write(string key, IReadOnlyList<TensorData> tensors, string how, string note, string[] parents)
        {
            string file = Path.Combine(_folder, key + ".safetensors");
            SafetensorsWriter.WriteFile(file, tensors, WriteOptions);
            _weights[key] = MlpWeights.Decode(tensors);
            _models.Add(new FamilyModel(key, parents, how, file, note));
        }
    }
}
