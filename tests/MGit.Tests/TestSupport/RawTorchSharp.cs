namespace MGit.Tests.TestSupport;

/// <summary>
/// Writes state dicts as TorchSharp's <c>Module.save</c> does (its own layout, not torch.save's
/// zip): an unsigned LEB128 entry count, then per entry the name as .NET's BinaryWriter writes a
/// string (TorchSharp uses BinaryWriter.Write(string) too), the ScalarType number, the dimension
/// count and dimensions (LEB128), then the elements. TorchSharp itself needs a newer libstdc++
/// than the test machines have, so the layout is written here from its description.
/// </summary>
public static class RawTorchSharp
{
    /// <summary>A tensor entry: name, TorchSharp ScalarType number (6 = Float32, 7 = Float64, 4 = Int64...), shape and raw little-endian elements.</summary>
    public sealed record Entry(string Name, int ScalarType, long[] Shape, byte[] Data);

    public static byte[] Write(IReadOnlyList<Entry> entries)
    {
        using var memory = new MemoryStream();
        using (var writer = new BinaryWriter(memory))
        {
            Leb128(writer, entries.Count);
            foreach (var entry in entries)
            {
                writer.Write(entry.Name);
                Leb128(writer, entry.ScalarType);
                Leb128(writer, entry.Shape.Length);
                foreach (long dimension in entry.Shape)
                {
                    Leb128(writer, dimension);
                }

                writer.Write(entry.Data);
            }
        }

        return memory.ToArray();
    }

    /// <summary>A float32 entry of random elements.</summary>
    public static Entry RandomFloat32(string name, long[] shape, int seed)
    {
        var data = new byte[shape.Aggregate(4L, (a, b) => a * b)];
        var random = new Random(seed);
        for (int i = 0; i < data.Length; i += 4)
        {
            BitConverter.GetBytes((float)(random.NextDouble() - 0.5)).CopyTo(data, i);
        }

        return new Entry(name, 6, shape, data);
    }

    private static void Leb128(BinaryWriter writer, long value)
    {
        do
        {
            byte low = (byte)(value & 0x7F);
            value >>= 7;
            writer.Write(value == 0 ? low : (byte)(low | 0x80));
        }
        while (value != 0);
    }
}
