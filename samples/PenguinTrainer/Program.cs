// A small real training program for the cascade sample: it trains, fine-tunes, prunes and evaluates
// the penguin MLPs of MGit's quickstart (Palmer penguins, CC0, shipped with MGit) and writes
// safetensors files. MGit runs it as a recipe ({parent} -> {output}) and as a test (metrics as JSON
// on the last line of standard output).
using System.Globalization;
using MGit.Formats.Catalog;
using MGit.Formats.Safetensors;
using MGit.Quickstart;

return PenguinTrainer.Run(args);

internal static class PenguinTrainer
{
    private const string Usage = """
        usage:
          PenguinTrainer train    --out FILE [--epochs N] [--seed S]                        species model from scratch
          PenguinTrainer finetune --base FILE --task sex|island --out FILE [--epochs N] [--freeze-encoder] [--seed S]
          PenguinTrainer prune    --in FILE --fraction F --out FILE                         zero the smallest weights
          PenguinTrainer eval     --model FILE --task species|sex|island                    prints {"accuracy": ...}
        """;

    public static int Run(string[] args)
    {
        try
        {
            if (args.Length == 0)
            {
                throw new ArgumentException("no command given");
            }

            var options = ParseOptions(args[1..]);
            switch (args[0])
            {
                case "train":
                    Train(options);
                    break;
                case "finetune":
                    FineTune(options);
                    break;
                case "prune":
                    Prune(options);
                    break;
                case "eval":
                    Evaluate(options);
                    break;
                default:
                    throw new ArgumentException($"unknown command '{args[0]}'");
            }

            return 0;
        }
        catch (Exception e) when (e is ArgumentException or IOException or FormatException or MGit.Errors.MGitException)
        {
            Console.Error.WriteLine($"PenguinTrainer: {e.Message}");
            Console.Error.WriteLine(Usage);
            return 2;
        }
    }

    private static void Train(Dictionary<string, string> options)
    {
        int seed = Int(options, "seed", 7);
        var data = PenguinData.Load(PenguinTask.Species, seed);
        var model = TinyMlp.Create(data.Labels.Count, seed);
        model.Train(data.Train, new TrainOptions { Epochs = Int(options, "epochs", 20), LearningRate = 1e-3f, Seed = seed + 1 });
        Save(model, Required(options, "out"));
        Console.Error.WriteLine($"trained species model: test accuracy {model.Evaluate(data.Test):0.000}");
    }

    private static void FineTune(Dictionary<string, string> options)
    {
        int seed = Int(options, "seed", 7);
        var task = Task(Required(options, "task"));
        var baseModel = Load(Required(options, "base"));
        // The species data's scaler, so the encoder sees inputs scaled as in pre-training.
        var species = PenguinData.Load(PenguinTask.Species, seed);
        var data = PenguinData.Load(task, seed, species.Scaler);
        var model = baseModel.WithNewHead(data.Labels.Count, seed + 2);
        bool freeze = options.ContainsKey("freeze-encoder");
        model.Train(data.Train, new TrainOptions
        {
            Epochs = Int(options, "epochs", 40),
            LearningRate = freeze ? 3e-3f : 5e-4f,
            Seed = seed + 3,
            FrozenParameters = freeze ? TinyMlp.EncoderParameters : null,
        });
        Save(model, Required(options, "out"));
        Console.Error.WriteLine($"fine-tuned for {PenguinTasks.Name(task)}: test accuracy {model.Evaluate(data.Test):0.000}");
    }

    private static void Prune(Dictionary<string, string> options)
    {
        var model = Load(Required(options, "in"));
        double fraction = double.Parse(Required(options, "fraction"), CultureInfo.InvariantCulture);
        int zeroed = model.PruneMagnitude(fraction);
        Save(model, Required(options, "out"));
        Console.Error.WriteLine($"pruned {zeroed} weights");
    }

    private static void Evaluate(Dictionary<string, string> options)
    {
        var task = Task(Required(options, "task"));
        var model = Load(Required(options, "model"));
        var species = PenguinData.Load(PenguinTask.Species, 7);
        var data = PenguinData.Load(task, 7, species.Scaler);
        double accuracy = model.Evaluate(data.Test);
        Console.WriteLine($"evaluated {data.Test.Count} held-out penguins");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{{\"accuracy\": {accuracy:0.0000}, \"task\": \"{PenguinTasks.Name(task)}\", \"n\": {data.Test.Count}}}"));
    }

    private static TinyMlp Load(string path)
    {
        using var stream = File.OpenRead(path);
        var layout = ModelFormats.ReadLayout(path, path);
        var tensors = new List<TensorData>();
        foreach (var segment in layout.Segments.Where(s => s.Tensor is not null))
        {
            var data = new byte[segment.Length];
            stream.Position = segment.Offset;
            stream.ReadExactly(data);
            tensors.Add(new TensorData(segment.Tensor!.Name, segment.Tensor.Dtype, [.. segment.Tensor.Shape], data));
        }

        return TinyMlp.FromTensors(tensors);
    }

    private static void Save(TinyMlp model, string path) => SafetensorsWriter.WriteFile(path, model.Export());

    private static PenguinTask Task(string name) => name switch
    {
        "species" => PenguinTask.Species,
        "sex" => PenguinTask.Sex,
        "island" => PenguinTask.Island,
        _ => throw new ArgumentException($"unknown task '{name}' (species, sex or island)"),
    };

    private static Dictionary<string, string> ParseOptions(string[] args)
    {
        var options = new Dictionary<string, string>(StringComparer.Ordinal);
        for (int i = 0; i < args.Length; i++)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal))
            {
                throw new ArgumentException($"unexpected argument '{args[i]}'");
            }

            string key = args[i][2..];
            bool flag = i + 1 >= args.Length || args[i + 1].StartsWith("--", StringComparison.Ordinal);
            options[key] = flag ? "" : args[++i];
        }

        return options;
    }

    private static string Required(Dictionary<string, string> options, string key) =>
        options.TryGetValue(key, out var value) && value.Length > 0 ? value : throw new ArgumentException($"--{key} is required");

    private static int Int(Dictionary<string, string> options, string key, int fallback) =>
        options.TryGetValue(key, out var value) ? int.Parse(value, CultureInfo.InvariantCulture) : fallback;
}
