using System.Buffers.Binary;
using MGit.Formats.Safetensors;

namespace MGit.Bench;

/// <summary>
/// A family on real published weights: the ResNet-18 ONNX model that the NuGet package
/// Microsoft.ML.DnnImageFeaturizer.ResNet18 ships. The bench has no inference engine, so nothing
/// here is trained: every derivative is arithmetic on the real weights (magnitude pruning, F16 and
/// BF16 casts, and seeded Gaussian perturbations standing in for fine-tunes), and the report says so.
/// </summary>
internal static class ResNetFamily
{
    /// <summary>Where a NuGet restore of the package puts the model (the tests restore it).</summary>
    public static string DefaultPath =>
        Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages",
            "microsoft.ml.dnnimagefeaturizer.resnet18", "0.23.1", "tools", "DnnImageModels", "ResNet18Onnx", "ResNet18.onnx");

    public static LineageFamily Build(string root, string onnx, int seed)
    {
        if (!File.Exists(onnx))
        {
            throw new BenchException($"no ResNet-18 model at {onnx} (restore the tests' packages, or pass --resnet none)");
        }

        // The bench's ONNX reader takes the model whole (64 MB); the product never does this.
        var weights = OnnxWeights.Read(File.ReadAllBytes(onnx));
        if (weights.Count == 0)
        {
            throw new BenchException($"{onnx} has no float initializers");
        }

        string folder = Path.Combine(root, "resnet18");
        if (Directory.Exists(folder))
        {
            Directory.Delete(folder, recursive: true);
        }

        Directory.CreateDirectory(folder);
        var models = new List<FamilyModel>();
        var random = new Random(seed + 9000);
        void Save(string key, List<FloatTensor> tensors, string dtype, string how, string note, params string[] parents)
        {
            string file = Path.Combine(folder, key + ".safetensors");
            SafetensorsWriter.WriteFile(file, [.. tensors.Select(t => new TensorData(t.Name, dtype, t.Shape, Encode(t.Values, dtype)))]);
            models.Add(new FamilyModel(key, parents, how, file, note));
        }

        Save("base", weights, "F32", "root", "the published weights (F32), as the package ships them");
        var pruned = weights.Select(t => t.Shape.Length >= 2 ? Prune(t, 0.3) : t).ToList();
        Save("pruned", pruned, "F32", "prune", "arithmetic: 30% smallest-magnitude weights of every conv/linear tensor zeroed", "base");
        Save("base-f16", weights, "F16", "quantize", "arithmetic: F16 cast of the base", "base");
        Save("pruned-bf16", pruned, "BF16", "quantize", "arithmetic: BF16 cast of the pruned model", "pruned");
        pruned = null;
        var tuned = weights.Select(t => Perturb(t, 0.02, random)).ToList();
        Save("tuned", tuned, "F32", "finetune", "arithmetic stand-in for a full fine-tune: every tensor + N(0, (0.02 x its std)^2)", "base");
        var tunedV2 = tuned.Select(t => Perturb(t, 0.01, random)).ToList();
        Save("tuned-v2", tunedV2, "F32", "finetune", "arithmetic stand-in for training on: tuned + N(0, (0.01 x std)^2)", "tuned");
        tunedV2 = null;
        var heavy = weights.Select(t => Perturb(t, 0.5, random)).ToList();
        Save("heavy", heavy, "F32", "finetune", "arithmetic stand-in for heavy training: base + N(0, (0.5 x std)^2) (relative change about 0.5)", "base");
        return new LineageFamily("resnet18", $"Real published weights: ResNet-18 from Microsoft.ML.DnnImageFeaturizer.ResNet18 ({weights.Count} float tensors, {weights.Sum(w => (long)w.Values.Length):N0} parameters); derivatives are arithmetic, not trained.", models, []);
    }

    private static byte[] Encode(float[] values, string dtype)
    {
        int size = dtype == "F32" ? 4 : 2;
        var bytes = new byte[values.Length * size];
        for (int i = 0; i < values.Length; i++)
        {
            var span = bytes.AsSpan(i * size);
            switch (dtype)
            {
                case "F32":
                    BinaryPrimitives.WriteSingleLittleEndian(span, values[i]);
                    break;
                case "F16":
                    BinaryPrimitives.WriteHalfLittleEndian(span, (Half)values[i]);
                    break;
                default:
                    BinaryPrimitives.WriteUInt16LittleEndian(span, MGit.Quickstart.TinyMlp.ToBFloat16(values[i]));
                    break;
            }
        }

        return bytes;
    }

    private static FloatTensor Prune(FloatTensor tensor, double fraction)
    {
        var magnitudes = tensor.Values.Select(Math.Abs).ToArray();
        Array.Sort(magnitudes);
        float threshold = magnitudes[(int)(magnitudes.Length * fraction)];
        return tensor with { Values = [.. tensor.Values.Select(v => Math.Abs(v) < threshold ? 0f : v)] };
    }

    private static FloatTensor Perturb(FloatTensor tensor, double scale, Random random)
    {
        double mean = tensor.Values.Average(v => (double)v);
        double std = Math.Sqrt(tensor.Values.Average(v => (v - mean) * (v - mean)));
        double sigma = std * scale;
        var values = new float[tensor.Values.Length];
        for (int i = 0; i < values.Length; i++)
        {
            double gaussian = Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
            values[i] = (float)(tensor.Values[i] + (sigma * gaussian));
        }

        return tensor with { Values = values };
    }
}
