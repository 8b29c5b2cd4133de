using System.Reflection;
using System.Runtime.InteropServices;
using MGit.Ingest;
using MGit.Tests.TestSupport;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Xunit.Abstractions;

namespace MGit.Tests.Integration;

/// <summary>
/// ONNX Runtime on a real model opened straight from a repository ref: the ResNet-18 of
/// Microsoft.ML.DnnImageFeaturizer.ResNet18 (64 MB, the same file in 0.23.1 and 0.24.0), which
/// the test project's restore downloads (PackageDownload, see the .csproj).
/// </summary>
public sealed class OnnxRuntimeTests(ITestOutputHelper output)
{
    private const double Bound = 1e-4;

    private static string ResNet18 =>
        Path.Combine(
            typeof(OnnxRuntimeTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "NuGetPackageRoot").Value!,
            "microsoft.ml.dnnimagefeaturizer.resnet18", "0.23.1", "tools", "DnnImageModels", "ResNet18Onnx", "ResNet18.onnx");

    /// <summary>
    /// The whole model from a stream: InferenceSession takes a model as a path or as one byte
    /// array (the protobuf is parsed from contiguous memory), so the bytes are gathered here; ONNX
    /// Runtime would read the same 64 MB into memory itself from a path. Nothing goes to disk.
    /// </summary>
    private static byte[] ReadAll(Stream stream)
    {
        using (stream)
        {
            var bytes = new byte[stream.Length];
            stream.ReadExactly(bytes);
            return bytes;
        }
    }

    /// <summary>One thread, in order: the same model then gives the same bits run after run.</summary>
    private static SessionOptions Deterministic() => new() { IntraOpNumThreads = 1, InterOpNumThreads = 1, ExecutionMode = ExecutionMode.ORT_SEQUENTIAL };

    /// <summary>Every output of the model for one deterministic input (a smooth pattern over the input tensor).</summary>
    private static Dictionary<string, float[]> Infer(InferenceSession session)
    {
        var inputs = session.InputMetadata.Select(input =>
        {
            Assert.Equal(typeof(float), input.Value.ElementType);
            int[] dimensions = input.Value.Dimensions.Select(d => d > 0 ? d : 1).ToArray();
            var values = new float[dimensions.Aggregate(1, (a, b) => a * b)];
            for (int i = 0; i < values.Length; i++)
            {
                values[i] = 100 * MathF.Sin(i * 0.001f) * MathF.Cos(i * 0.37f);
            }

            return NamedOnnxValue.CreateFromTensor(input.Key, new DenseTensor<float>(values, dimensions));
        }).ToList();
        using var results = session.Run(inputs);
        return results.ToDictionary(r => r.Name, r => r.AsTensor<float>().ToArray());
    }

    private static Dictionary<string, float[]> Infer(string path)
    {
        using var options = Deterministic();
        using var session = new InferenceSession(path, options);
        return Infer(session);
    }

    private static Dictionary<string, float[]> Infer(byte[] model)
    {
        using var options = Deterministic();
        using var session = new InferenceSession(model, options);
        return Infer(session);
    }

    /// <summary>
    /// A fine-tune of the model, as far as storage can tell: a copy whose every F32 weight moved
    /// by up to 1% of itself (deterministically), its structure untouched. Written in place in
    /// blocks, at the offsets the repository lists for each tensor.
    /// </summary>
    private static void FineTune(string source, string target, IEnumerable<StoredTensor> tensors)
    {
        File.Copy(source, target);
        using var file = new FileStream(target, FileMode.Open, FileAccess.ReadWrite);
        var block = new byte[1 << 16];
        long k = 0;
        foreach (var tensor in tensors.Where(t => t.Dtype == "F32"))
        {
            for (long done = 0; done < tensor.Length; done += block.Length)
            {
                int length = (int)Math.Min(block.Length, tensor.Length - done);
                file.Position = tensor.Offset + done;
                file.ReadExactly(block, 0, length);
                var weights = MemoryMarshal.Cast<byte, float>(block.AsSpan(0, length));
                for (int i = 0; i < weights.Length; i++)
                {
                    weights[i] *= 1 + (0.01f * MathF.Sin(k++));
                }

                file.Position = tensor.Offset + done;
                file.Write(block, 0, length);
            }
        }
    }

    private static double MaxAbsDifference(Dictionary<string, float[]> expected, Dictionary<string, float[]> actual)
    {
        Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
        return expected.Max(e => e.Value.Zip(actual[e.Key], (x, y) => Math.Abs((double)x - y)).Max());
    }

    [Fact]
    public void A_model_opened_from_a_ref_infers_bit_for_bit_as_its_file_and_a_lossy_version_within_a_small_error()
    {
        Assert.True(File.Exists(ResNet18), $"the restore should have downloaded {ResNet18}");
        Assert.Equal(63_653_533, new FileInfo(ResNet18).Length);
        using var fixture = new RepoFixture(chunkSize: 4 << 20);
        var repository = fixture.Repository;
        repository.Add(ResNet18, new AddOptions { Name = "resnet18" });

        // Exact: the model's bytes from the ref, never checked out, give the same bits.
        var expected = Infer(ResNet18);
        var fromRef = Infer(ReadAll(repository.OpenFile("resnet18")));
        Assert.NotEmpty(expected);
        foreach (var (name, values) in expected)
        {
            Assert.True(values.Length > 0);
            Assert.Equal(values.Select(BitConverter.SingleToInt32Bits), fromRef[name].Select(BitConverter.SingleToInt32Bits));
        }

        // Lossy: a fine-tune stored as a quantized delta against the model, each weight within the bound.
        string tunedPath = fixture.Model("ResNet18-tuned.onnx");
        FineTune(ResNet18, tunedPath, repository.Show("resnet18").Tensors);
        AddResult added;
        using (var tuned = File.OpenRead(tunedPath))
        {
            added = repository.Add("resnet18-tuned", new ModelFileContent("ResNet18.onnx", tuned), new AddOptions { Parents = ["resnet18"], How = "finetune", LossyErrorBound = Bound });
        }

        Assert.True(added.Version.Lossy);
        Assert.Equal(Bound, added.Version.ErrorBound);
        Assert.Contains(repository.TensorStorageOf("resnet18-tuned"), t => t.Codecs.ContainsKey("delta:lossy"));

        double maxWeightError = 0;
        using (var original = File.OpenRead(tunedPath))
        {
            foreach (var tensor in repository.Show("resnet18-tuned").Tensors.Where(t => t.Dtype == "F32"))
            {
                var stored = new float[tensor.Length / 4];
                repository.ReadTensor<float>("resnet18-tuned", tensor.Name, stored);
                var written = new float[stored.Length];
                original.Position = tensor.Offset;
                original.ReadExactly(MemoryMarshal.AsBytes(written.AsSpan()));
                maxWeightError = Math.Max(maxWeightError, stored.Zip(written, (s, w) => Math.Abs((double)s - w)).Max());
            }
        }

        var exact = Infer(tunedPath);
        var lossy = Infer(ReadAll(repository.OpenFile("resnet18-tuned")));
        double maxOutputError = MaxAbsDifference(exact, lossy);
        double outputScale = exact.Values.Max(v => v.Max(x => Math.Abs((double)x)));
        output.WriteLine($"ResNet-18 fine-tune stored lossily: weight bound {Bound:g}, max weight error {maxWeightError:g}; " +
            $"max abs output error {maxOutputError:g} over {exact.Values.Sum(v => v.Length)} outputs of magnitude up to {outputScale:g}; " +
            $"stored {added.StoredBytes} bytes for {added.LogicalBytes}");
        Assert.InRange(maxWeightError, double.Epsilon, Bound);
        Assert.InRange(maxOutputError, double.Epsilon, 1e-2 * outputScale);
    }
}
