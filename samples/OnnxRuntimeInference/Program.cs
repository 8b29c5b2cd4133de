// ONNX Runtime on models opened straight from an MGit repository, never checked out: a model and
// a lossily stored fine-tune of it, each run from its ref and compared with its original bytes.
// Run: dotnet run --project samples/OnnxRuntimeInference [-- MODEL.onnx]   (default: ResNet-18)
using System.Runtime.InteropServices;
using MGit;
using MGit.Ingest;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

string model = args.Length > 0 ? args[0] : Path.Combine(AppContext.BaseDirectory, "ResNet18.onnx");
string folder = Path.Combine(Path.GetTempPath(), $"mgit-onnx-sample-{Environment.ProcessId}");
using (var repository = Repository.Init(folder))
{
    repository.Add(model, new AddOptions { Name = "model" });

    // A fine-tune as storage sees it (every float weight moved by up to 1%), added from memory as a lossy delta.
    byte[] tuned = File.ReadAllBytes(model);
    foreach (var tensor in repository.Show("model").Tensors.Where(t => t.Dtype == "F32"))
    {
        var weights = MemoryMarshal.Cast<byte, float>(tuned.AsSpan(checked((int)tensor.Offset), checked((int)tensor.Length)));
        for (int i = 0; i < weights.Length; i++)
        {
            weights[i] *= 1 + (0.01f * MathF.Sin(i));
        }
    }

    const double Bound = 1e-4;
    repository.Add("model-tuned", new ModelFileContent(Path.GetFileName(model), new MemoryStream(tuned)), new AddOptions { Parents = ["model"], LossyErrorBound = Bound });

    float[] original = Run(File.ReadAllBytes(model)), fromRef = Run(FromRef(repository, "model"));
    Console.WriteLine($"model from its ref: {(original.SequenceEqual(fromRef) ? "bit-identical" : "DIFFERENT")} outputs ({original.Length} values)");
    float[] tunedOriginal = Run(tuned), tunedFromRef = Run(FromRef(repository, "model-tuned"));
    double error = tunedOriginal.Zip(tunedFromRef, (a, b) => Math.Abs((double)a - b)).Max();
    Console.WriteLine($"lossy fine-tune from its ref: max abs output error {error:g3} (outputs up to {tunedOriginal.Max(Math.Abs):g3}), every weight within {Bound:g}");
}

Directory.Delete(folder, recursive: true);

// InferenceSession takes a path or the whole model as one array: the stream from the ref fills the array.
static byte[] FromRef(Repository repository, string reference)
{
    using var stream = repository.OpenFile(reference);
    var bytes = new byte[stream.Length];
    stream.ReadExactly(bytes);
    return bytes;
}

// The model's first output for a fixed input pattern (batch 1).
static float[] Run(byte[] model)
{
    using var session = new InferenceSession(model);
    var (name, input) = session.InputMetadata.First();
    int[] dimensions = input.Dimensions.Select(d => Math.Max(d, 1)).ToArray();
    var values = Enumerable.Range(0, dimensions.Aggregate(1, (a, b) => a * b)).Select(i => 100 * MathF.Sin(i * 0.001f)).ToArray();
    using var results = session.Run([NamedOnnxValue.CreateFromTensor(name, new DenseTensor<float>(values, dimensions))]);
    return results[0].AsTensor<float>().ToArray();
}
