using System.Text.Json;
using MGit.Codecs;
using MGit.Formats.Safetensors;
using MGit.Primitives;
using MGit.Storage;
using MGit.Tests.TestSupport;
using static MGit.Tests.TestSupport.RawSafetensors;

namespace MGit.Tests.Codecs;

public sealed class LossyTests
{
    private static double Value(ReadOnlySpan<byte> data, int i, ElementKind kind) => kind switch
    {
        ElementKind.F32 => BitConverter.ToSingle(data[(i * 4)..]),
        ElementKind.F64 => BitConverter.ToDouble(data[(i * 8)..]),
        ElementKind.F16 => (double)BitConverter.ToHalf(data[(i * 2)..]),
        _ => BitConverter.UInt32BitsToSingle((uint)BitConverter.ToUInt16(data[(i * 2)..]) << 16),
    };

    private static byte[] Encode(double[] values, ElementKind kind) => values.SelectMany(v => kind switch
    {
        ElementKind.F32 => BitConverter.GetBytes((float)v),
        ElementKind.F64 => BitConverter.GetBytes(v),
        ElementKind.F16 => BitConverter.GetBytes((Half)v),
        _ => BitConverter.GetBytes(DeltaCodec.ToBFloat16(BitConverter.SingleToUInt32Bits((float)v))),
    }).ToArray();

    [Fact]
    public void The_bound_holds_on_every_element_of_random_tensors()
    {
        // A property test: many random tensors, scales, deltas and bounds, including values the grid cannot reach.
        var random = new Random(12345);
        var kinds = new[] { ElementKind.F32, ElementKind.F64, ElementKind.F16, ElementKind.BF16 };
        for (int trial = 0; trial < 200; trial++)
        {
            var kind = kinds[trial % kinds.Length];
            int n = random.Next(0, 3000);
            double scale = Math.Pow(10, random.Next(-6, 3));
            double deltaScale = scale * Math.Pow(10, random.Next(-5, 1));
            double bound = Math.Pow(10, random.Next(-7, -1));
            var parent = Enumerable.Range(0, n).Select(_ => scale * (random.NextDouble() - 0.5)).ToArray();
            var child = parent.Select(p => p + (deltaScale * (random.NextDouble() - 0.5))).ToArray();
            if (n > 10)
            {
                child[3] = double.NaN;
                child[5] = double.PositiveInfinity;
                child[7] = 1e30;
            }

            byte[] baseBytes = Encode(parent, kind);
            byte[] content = Encode(child, kind);
            var baseId = ObjectId.Compute(baseBytes);
            var (reconstruction, payload) = LossyCodec.Encode(content, kind, baseBytes, baseId, 0, bound);
            using (reconstruction)
            using (payload)
            {
                var id = ObjectId.Compute(reconstruction.Span);
                var decoded = new byte[content.Length];
                DeltaCodec.Decode(DeltaCodec.ReadHeader(payload.Span, id), payload.Span, baseBytes, decoded, id);
                Assert.Equal(reconstruction.Span.ToArray(), decoded);
                for (int i = 0; i < n; i++)
                {
                    double original = Value(content, i, kind);
                    double stored = Value(decoded, i, kind);
                    if (double.IsFinite(original))
                    {
                        Assert.True(Math.Abs(stored - original) <= bound, $"trial {trial} {kind} element {i}: {stored} vs {original}, bound {bound}");
                    }
                    else
                    {
                        Assert.Equal(content.AsSpan(i * kind.Width(), kind.Width()).ToArray(), decoded.AsSpan(i * kind.Width(), kind.Width()).ToArray());
                    }
                }
            }
        }
    }

    [Fact]
    public void A_lossy_fine_tune_is_much_smaller_is_marked_and_checks_out_as_a_valid_file_within_the_bound()
    {
        using var dir = new TempDirectory();
        Assert.Equal(0, CliRunner.Run(dir.Path, "init").ExitCode);
        var random = new Random(2);
        var weights = Enumerable.Range(0, 256 * 1024).Select(_ => (float)(0.02 * (random.NextDouble() - 0.5) * 3.4)).ToArray();
        var tuned = weights.Select(w => w + (float)(0.0002 * (random.NextDouble() - 0.5) * 3.4)).ToArray();
        string basePath = Write(dir.File("base.safetensors"), [new Tensor("w", "F32", [512, 512], SafetensorsWriter.ToBytes(weights))]);
        string tunedPath = Write(dir.File("tuned.safetensors"), [new Tensor("w", "F32", [512, 512], SafetensorsWriter.ToBytes(tuned))]);
        Assert.Equal(0, CliRunner.Run(dir.Path, "add", basePath).ExitCode);
        var lossless = CliRunner.Run(dir.Path, "add", tunedPath, "--name", "exact", "--parent", "base", "--json");
        var lossy = CliRunner.Run(dir.Path, "add", tunedPath, "--parent", "base", "--lossy", "--json");
        Assert.True(lossy.ExitCode == 0, lossy.Error);
        using var exact = JsonDocument.Parse(lossless.Out);
        using var approx = JsonDocument.Parse(lossy.Out);
        long logical = approx.RootElement.GetProperty("logical_bytes").GetInt64();
        long stored = approx.RootElement.GetProperty("stored_bytes").GetInt64();
        Assert.True(approx.RootElement.GetProperty("lossy").GetBoolean());
        Assert.False(exact.RootElement.GetProperty("lossy").GetBoolean());
        Assert.True((double)logical / stored >= 7, $"lossy ratio {(double)logical / stored:0.0}");
        Assert.True(stored < exact.RootElement.GetProperty("stored_bytes").GetInt64() / 3);

        using var ls = JsonDocument.Parse(CliRunner.Run(dir.Path, "ls", "--json").Out);
        var row = ls.RootElement.EnumerateArray().Single(r => r.GetProperty("ref").GetString() == "tuned@1");
        Assert.True(row.GetProperty("lossy").GetBoolean());
        Assert.Equal(1e-4, row.GetProperty("error_bound").GetDouble());
        using var show = JsonDocument.Parse(CliRunner.Run(dir.Path, "show", "tuned", "--json").Out);
        Assert.True(show.RootElement.GetProperty("lossy").GetBoolean());

        string output = dir.File("tuned.out.safetensors");
        Assert.Equal(0, CliRunner.Run(dir.Path, "checkout", "tuned", "-o", output).ExitCode);
        using (var stream = File.OpenRead(output))
        {
            new SafetensorsFormat().ReadLayout(stream, stream.Length, output); // a valid file
        }

        byte[] original = File.ReadAllBytes(tunedPath);
        byte[] rebuilt = File.ReadAllBytes(output);
        Assert.Equal(original.Length, rebuilt.Length);
        int dataStart = original.Length - (tuned.Length * 4);
        Assert.Equal(original.AsSpan(0, dataStart).ToArray(), rebuilt.AsSpan(0, dataStart).ToArray());
        for (int i = 0; i < tuned.Length; i++)
        {
            float value = BitConverter.ToSingle(rebuilt, dataStart + (i * 4));
            Assert.True(Math.Abs(value - tuned[i]) <= 1e-4, $"element {i}: {value} vs {tuned[i]}");
        }

        Assert.Equal(0, CliRunner.Run(dir.Path, "fsck").ExitCode);
    }

    [Fact]
    public void Lossy_without_a_parent_or_with_a_bad_bound_is_refused()
    {
        using var dir = new TempDirectory();
        CliRunner.Run(dir.Path, "init");
        string path = Write(dir.File("m.safetensors"), [Random("w", "F32", [64], 1)]);
        Assert.Contains("--parent", CliRunner.Run(dir.Path, "add", path, "--lossy").Error);
        Assert.Equal(0, CliRunner.Run(dir.Path, "add", path, "--name", "p").ExitCode);
        Assert.Contains("--error-bound", CliRunner.Run(dir.Path, "add", path, "--parent", "p", "--lossy", "--error-bound", "-1").Error);
        Assert.Contains("--lossy", CliRunner.Run(dir.Path, "add", path, "--parent", "p", "--error-bound", "0.01").Error);
    }
}
