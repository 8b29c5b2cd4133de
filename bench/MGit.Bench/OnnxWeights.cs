using System.Buffers.Binary;
using System.Reflection;

namespace MGit.Bench;

/// <summary>A float tensor taken from a real model.</summary>
internal sealed record FloatTensor(string Name, long[] Shape, float[] Values);

/// <summary>
/// Just enough of the protobuf wire format to take the FLOAT initializers out of an ONNX model
/// (raw_data or float_data), so the benchmark can build families on real pretrained weights.
/// The product's own ONNX support is a separate piece of work; this reader serves the bench only.
/// </summary>
internal static class OnnxWeights
{
    private const int FloatType = 1;

    /// <summary>The first embedded resource ending in .onnx in a .NET assembly (packages ship models that way).</summary>
    public static byte[] FromAssemblyResource(string assemblyPath)
    {
        var assembly = Assembly.LoadFile(Path.GetFullPath(assemblyPath));
        string name = assembly.GetManifestResourceNames().FirstOrDefault(n => n.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase))
            ?? throw new BenchException($"{assemblyPath} embeds no .onnx resource");
        using var stream = assembly.GetManifestResourceStream(name)!;
        using var memory = new MemoryStream();
        stream.CopyTo(memory);
        return memory.ToArray();
    }

    public static List<FloatTensor> Read(byte[] model)
    {
        var tensors = new List<FloatTensor>();
        foreach (var (field, graph) in Fields(model))
        {
            if (field == 7 && graph is { } graphBytes)
            {
                foreach (var (graphField, initializer) in Fields(graphBytes))
                {
                    if (graphField == 5 && initializer is { } tensorBytes && ReadTensor(tensorBytes) is { } tensor)
                    {
                        tensors.Add(tensor);
                    }
                }
            }
        }

        return tensors;
    }

    private static FloatTensor? ReadTensor(ReadOnlyMemory<byte> bytes)
    {
        var dims = new List<long>();
        int dataType = 0;
        string name = "";
        ReadOnlyMemory<byte>? raw = null;
        var floats = new List<float>();
        foreach (var (field, wire, value, payload) in RawFields(bytes))
        {
            switch (field)
            {
                case 1 when wire == 0: dims.Add((long)value); break;
                case 1 when wire == 2: dims.AddRange(PackedVarints(payload!.Value).Select(v => (long)v)); break;
                case 2: dataType = (int)value; break;
                case 4 when wire == 2:
                    for (int i = 0; i + 4 <= payload!.Value.Length; i += 4)
                    {
                        floats.Add(BinaryPrimitives.ReadSingleLittleEndian(payload.Value.Span[i..]));
                    }

                    break;
                case 4 when wire == 5: floats.Add(BitConverter.UInt32BitsToSingle((uint)value)); break;
                case 8: name = System.Text.Encoding.UTF8.GetString(payload!.Value.Span); break;
                case 9: raw = payload; break;
            }
        }

        if (dataType != FloatType)
        {
            return null;
        }

        float[] values = raw is { } r
            ? Enumerable.Range(0, r.Length / 4).Select(i => BinaryPrimitives.ReadSingleLittleEndian(r.Span[(i * 4)..])).ToArray()
            : floats.ToArray();
        return new FloatTensor(name, dims.ToArray(), values);
    }

    private static IEnumerable<(int Field, ReadOnlyMemory<byte>? Payload)> Fields(ReadOnlyMemory<byte> message) =>
        RawFields(message).Select(f => (f.Field, f.Payload));

    private static IEnumerable<(int Field, int Wire, ulong Value, ReadOnlyMemory<byte>? Payload)> RawFields(ReadOnlyMemory<byte> message)
    {
        int position = 0;
        while (position < message.Length)
        {
            ulong key = Varint(message.Span, ref position);
            int field = (int)(key >> 3);
            int wire = (int)(key & 7);
            switch (wire)
            {
                case 0:
                    yield return (field, wire, Varint(message.Span, ref position), null);
                    break;
                case 1:
                    yield return (field, wire, BinaryPrimitives.ReadUInt64LittleEndian(message.Span[position..]), null);
                    position += 8;
                    break;
                case 2:
                    int length = checked((int)Varint(message.Span, ref position));
                    if (length < 0 || position + length > message.Length)
                    {
                        throw new BenchException("malformed ONNX protobuf");
                    }

                    yield return (field, wire, 0, message.Slice(position, length));
                    position += length;
                    break;
                case 5:
                    yield return (field, wire, BinaryPrimitives.ReadUInt32LittleEndian(message.Span[position..]), null);
                    position += 4;
                    break;
                default:
                    throw new BenchException($"unsupported protobuf wire type {wire}");
            }
        }
    }

    private static List<ulong> PackedVarints(ReadOnlyMemory<byte> payload)
    {
        int position = 0;
        var values = new List<ulong>();
        while (position < payload.Length)
        {
            values.Add(Varint(payload.Span, ref position));
        }

        return values;
    }

    private static ulong Varint(ReadOnlySpan<byte> data, ref int position)
    {
        ulong result = 0;
        for (int shift = 0; shift < 64; shift += 7)
        {
            byte b = data[position++];
            result |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0)
            {
                return result;
            }
        }

        throw new BenchException("malformed varint");
    }
}
