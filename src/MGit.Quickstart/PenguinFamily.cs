using System.Globalization;
using System.Text;
using System.Text.Json;
using MGit.Formats.Safetensors;

namespace MGit.Quickstart;

/// <summary>
/// One model of the quickstart family, ready to be added to a repository in list order.
/// <paramref name="Parents"/> and <paramref name="VersionOf"/> name earlier members ("penguin-base", "penguin-base@1");
/// <paramref name="How"/> is finetune, prune, quantize, distill, merge or other.
/// </summary>
public sealed record FamilyMember(
    string Name,
    string Path,
    IReadOnlyList<string> Parents,
    string? How,
    string? VersionOf,
    string Type,
    string Message,
    double TestAccuracy);

/// <summary>Trains the quickstart's small, real model family on the Palmer Penguins data.</summary>
public static class PenguinFamily
{
    /// <summary>Tensor file name inside a Hugging Face style model folder.</summary>
    public const string WeightsFileName = "model.safetensors";

    private static readonly SafetensorsWriteOptions WriteOptions = new()
    {
        // What transformers' save_pretrained records for PyTorch weights.
        Metadata = new Dictionary<string, string>(StringComparer.Ordinal) { ["format"] = "pt" },
    };

    private static readonly JsonWriterOptions ConfigJsonOptions = new() { Indented = true, NewLine = "\n" };

    /// <summary>
    /// Trains the family, writes it under <paramref name="outputDirectory"/> (created if needed; files of the
    /// same names are replaced) and returns its members in the order they should be added. The same seed gives
    /// byte-identical files. Prints nothing.
    /// </summary>
    public static IReadOnlyList<FamilyMember> Build(string outputDirectory, int seed = 7)
    {
        ArgumentException.ThrowIfNullOrEmpty(outputDirectory);
        Directory.CreateDirectory(outputDirectory);
        var records = PenguinData.ReadRecords();
        var members = new List<FamilyMember>(6);

        // 1. penguin-base: encoder + species head, trained from scratch.
        var species = PenguinData.FromRecords(records, PenguinTask.Species, seed);
        var baseOptions = new TrainOptions { Epochs = 20, LearningRate = 1e-3f, BatchSize = 32, Seed = Derive(seed, 2) };
        var baseV1 = TinyMlp.Create(species.Labels.Count, Derive(seed, 1));
        baseV1.Train(species.Train, baseOptions);
        var baseV1Accuracy = baseV1.Evaluate(species.Test);
        var baseV1Path = Path.Combine(outputDirectory, "penguin-base");
        WriteFolder(baseV1Path, "penguin-base", baseV1, species, baseV1Accuracy, baseOptions.Epochs,
            $"Version 1 was trained from scratch for {baseOptions.Epochs} epochs.");
        members.Add(new FamilyMember("penguin-base", baseV1Path, [], null, null, "species",
            $"Train a 4-256-256-3 MLP to tell penguin species from beak, flipper and body size ({baseOptions.Epochs} epochs of Adam, lr {Rate(baseOptions)}): test accuracy {Percent(baseV1Accuracy)}",
            baseV1Accuracy));

        // 2. penguin-sex: the base's encoder frozen, a new 2-class head trained on sex.
        var sex = PenguinData.FromRecords(records, PenguinTask.Sex, seed, species.Scaler);
        var sexModel = baseV1.WithNewHead(sex.Labels.Count, Derive(seed, 3));
        var sexOptions = new TrainOptions
        {
            Epochs = 100,
            LearningRate = 3e-3f,
            BatchSize = 32,
            Seed = Derive(seed, 4),
            FrozenParameters = TinyMlp.EncoderParameters,
        };
        sexModel.Train(sex.Train, sexOptions);
        var sexAccuracy = sexModel.Evaluate(sex.Test);
        var sexPath = Path.Combine(outputDirectory, "penguin-sex.safetensors");
        SafetensorsWriter.WriteFile(sexPath, sexModel.Export(), WriteOptions);
        members.Add(new FamilyMember("penguin-sex", sexPath, ["penguin-base"], "finetune", null, "sex",
            $"Fine-tune penguin-base to predict sex: encoder frozen, new 2-class head trained for {sexOptions.Epochs} epochs at lr {Rate(sexOptions)}: test accuracy {Percent(sexAccuracy)}",
            sexAccuracy));

        // 3. penguin-island: every layer fine-tuned, with a small learning rate, for a new 3-class island head.
        var island = PenguinData.FromRecords(records, PenguinTask.Island, seed, species.Scaler);
        var islandModel = baseV1.WithNewHead(island.Labels.Count, Derive(seed, 5));
        var islandOptions = new TrainOptions { Epochs = 30, LearningRate = 5e-4f, BatchSize = 32, Seed = Derive(seed, 6) };
        islandModel.Train(island.Train, islandOptions);
        var islandAccuracy = islandModel.Evaluate(island.Test);
        var islandPath = Path.Combine(outputDirectory, "penguin-island.safetensors");
        SafetensorsWriter.WriteFile(islandPath, islandModel.Export(), WriteOptions);
        members.Add(new FamilyMember("penguin-island", islandPath, ["penguin-base"], "finetune", null, "island",
            $"Fine-tune all layers of penguin-base to predict the island (new 3-class head, {islandOptions.Epochs} epochs at lr {Rate(islandOptions)}): test accuracy {Percent(islandAccuracy)}",
            islandAccuracy));

        // 4. penguin-base v2: v1 trained further at a lower learning rate.
        var baseV2 = baseV1.Clone();
        var v2Options = new TrainOptions { Epochs = 20, LearningRate = 3e-4f, BatchSize = 32, Seed = Derive(seed, 7) };
        baseV2.Train(species.Train, v2Options);
        var baseV2Accuracy = baseV2.Evaluate(species.Test);
        var baseV2Path = Path.Combine(outputDirectory, "penguin-base-v2");
        WriteFolder(baseV2Path, "penguin-base", baseV2, species, baseV2Accuracy, baseOptions.Epochs + v2Options.Epochs,
            $"Version 2 is version 1 trained for {v2Options.Epochs} more epochs at learning rate {Rate(v2Options)}.");
        members.Add(new FamilyMember("penguin-base", baseV2Path, [], null, "penguin-base@1", "species",
            $"Continue training penguin-base for {v2Options.Epochs} more epochs at lr {Rate(v2Options)}: test accuracy {Percent(baseV2Accuracy)} (was {Percent(baseV1Accuracy)})",
            baseV2Accuracy));

        // 5. penguin-sex-pruned: half of every weight matrix zeroed, no retraining.
        var pruned = sexModel.Clone();
        pruned.PruneMagnitude(0.5);
        var prunedAccuracy = pruned.Evaluate(sex.Test);
        var prunedPath = Path.Combine(outputDirectory, "penguin-sex-pruned.safetensors");
        SafetensorsWriter.WriteFile(prunedPath, pruned.Export(), WriteOptions);
        members.Add(new FamilyMember("penguin-sex-pruned", prunedPath, ["penguin-sex"], "prune", null, "sex",
            $"Prune penguin-sex: zero the 50% smallest-magnitude weights of each weight matrix: test accuracy {Percent(prunedAccuracy)} (was {Percent(sexAccuracy)})",
            prunedAccuracy));

        // 6. penguin-island-bf16: every tensor cast to bfloat16; accuracy measured on the cast weights.
        var bf16Tensors = islandModel.ExportBf16();
        var bf16Accuracy = TinyMlp.FromTensors(bf16Tensors).Evaluate(island.Test);
        var bf16Path = Path.Combine(outputDirectory, "penguin-island-bf16.safetensors");
        SafetensorsWriter.WriteFile(bf16Path, bf16Tensors, WriteOptions);
        members.Add(new FamilyMember("penguin-island-bf16", bf16Path, ["penguin-island"], "quantize", null, "island",
            $"Cast penguin-island to bfloat16 (round to nearest even), halving its size: test accuracy {Percent(bf16Accuracy)} (was {Percent(islandAccuracy)})",
            bf16Accuracy));

        return members;
    }

    // Distinct, reproducible seeds for each random draw, all from the one family seed.
    private static int Derive(int seed, int stream) => unchecked((seed * 1_000_003) + stream);

    private static string Rate(TrainOptions options) => options.LearningRate.ToString("0.####", CultureInfo.InvariantCulture);

    private static string Percent(double accuracy) =>
        (accuracy * 100).ToString("0.0", CultureInfo.InvariantCulture) + "%";

    private static void WriteFolder(string folder, string name, TinyMlp model, PenguinData data, double accuracy, int epochs, string history)
    {
        Directory.CreateDirectory(folder);
        SafetensorsWriter.WriteFile(Path.Combine(folder, WeightsFileName), model.Export(), WriteOptions);
        File.WriteAllBytes(Path.Combine(folder, "config.json"), Config(model, data, epochs));
        File.WriteAllBytes(Path.Combine(folder, "README.md"), Encoding.UTF8.GetBytes(ModelCard(name, data, accuracy, history)));
    }

    private static byte[] Config(TinyMlp model, PenguinData data, int epochs)
    {
        using var stream = new MemoryStream();
        using (var json = new Utf8JsonWriter(stream, ConfigJsonOptions))
        {
            json.WriteStartObject();
            json.WriteStartArray("architectures");
            json.WriteStringValue("TinyMlp");
            json.WriteEndArray();
            json.WriteString("model_type", "mgit-penguin-mlp");
            json.WriteNumber("input_size", TinyMlp.InputSize);
            json.WriteStartArray("hidden_sizes");
            json.WriteNumberValue(TinyMlp.HiddenSize);
            json.WriteNumberValue(TinyMlp.HiddenSize);
            json.WriteEndArray();
            json.WriteString("hidden_act", "relu");
            json.WriteString("task", PenguinTasks.Name(data.Task));
            json.WriteNumber("num_labels", model.Classes);
            json.WriteStartObject("id2label");
            for (var i = 0; i < data.Labels.Count; i++)
            {
                json.WriteString(i.ToString(CultureInfo.InvariantCulture), data.Labels[i]);
            }

            json.WriteEndObject();
            json.WriteStartObject("label2id");
            for (var i = 0; i < data.Labels.Count; i++)
            {
                json.WriteNumber(data.Labels[i], i);
            }

            json.WriteEndObject();
            WriteStrings(json, "input_features", PenguinData.FeatureNames);
            WriteFloats(json, "feature_mean", data.Scaler.Means);
            WriteFloats(json, "feature_std", data.Scaler.Stds);
            json.WriteString("torch_dtype", "float32");
            json.WriteNumber("training_epochs", epochs);
            json.WriteEndObject();
        }

        stream.WriteByte((byte)'\n');
        return stream.ToArray();
    }

    private static void WriteStrings(Utf8JsonWriter json, string name, IReadOnlyList<string> values)
    {
        json.WriteStartArray(name);
        foreach (var v in values)
        {
            json.WriteStringValue(v);
        }

        json.WriteEndArray();
    }

    private static void WriteFloats(Utf8JsonWriter json, string name, IReadOnlyList<float> values)
    {
        json.WriteStartArray(name);
        foreach (var v in values)
        {
            json.WriteNumberValue(v);
        }

        json.WriteEndArray();
    }

    // Lines joined with "\n" explicitly so the bytes do not depend on the platform's newline.
    private static string ModelCard(string name, PenguinData data, double accuracy, string history)
    {
        string[] lines =
        [
            "---",
            "library_name: mgit",
            "pipeline_tag: tabular-classification",
            "tags:",
            "- mgit-quickstart",
            "- palmer-penguins",
            "metrics:",
            "- accuracy",
            "---",
            "",
            $"# {name}",
            "",
            $"A tiny multilayer perceptron (4 → 256 → 256 → {data.Labels.Count}, ReLU) that tells the species of a penguin",
            $"({string.Join(", ", data.Labels)}) from its beak length, beak depth, flipper length and body mass.",
            "MGit's quickstart trains it as the root of a small model family. " + history,
            "",
            "## Use",
            "",
            "Standardize each input with `feature_mean` and `feature_std` from `config.json`, then run",
            $"`encoder.0` (Linear 4→256), ReLU, `encoder.2` (Linear 256→256), ReLU and `head` (Linear 256→{data.Labels.Count});",
            "the largest output is the predicted class (`id2label`).",
            "",
            "## Evaluation",
            "",
            $"Test accuracy: {Percent(accuracy)} on {data.Test.Count} held-out penguins ({data.Train.Count} used for training).",
            "",
            "## Data",
            "",
            "Palmer Penguins, collected by Dr. Kristen Gorman and Palmer Station Antarctica LTER,",
            "packaged by Allison Horst's palmerpenguins; licence CC0 1.0.",
            "",
        ];
        return string.Join('\n', lines);
    }
}
