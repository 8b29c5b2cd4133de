using System.Text;

namespace MGit.Tests.TestSupport;

/// <summary>
/// Builds GGUF bytes by hand (little-endian, as llama.cpp's gguf writer lays them out), so tests
/// can make valid files of every ggml type and broken ones.
/// </summary>
internal static class RawGguf
{
    /// <summary>A tensor: ggml type id, dimensions fastest-varying first (as GGUF stores them), payload.</summary>
    public sealed record Tensor(string Name, uint Type, long[] Dims, byte[] Data);

    /// <summary>A metadata entry: key, GGUF value type, and the value's encoded bytes.</summary>
    public sealed record Entry(string Key, uint Type, byte[] Value);

    public static Entry U32(string key, uint value) => new(key, 4, BitConverter.GetBytes(value));

    public static Entry Str(string key, string value) => new(key, 8, StringBytes(value));

    /// <summary>One entry of each of the 13 value types, plus nested arrays.</summary>
    public static IReadOnlyList<Entry> EveryValueType() =>
    [
        new("t.u8", 0, [200]),
        new("t.i8", 1, [0xFE]),
        new("t.u16", 2, BitConverter.GetBytes((ushort)60000)),
        new("t.i16", 3, BitConverter.GetBytes((short)-300)),
        new("t.u32", 4, BitConverter.GetBytes(4_000_000_000u)),
        new("t.i32", 5, BitConverter.GetBytes(-70000)),
        new("t.f32", 6, BitConverter.GetBytes(1.5f)),
        new("t.bool", 7, [1]),
        Str("general.architecture", "llama"),
        new("t.array.f32", 9, [.. BitConverter.GetBytes(6u), .. BitConverter.GetBytes(3UL), .. BitConverter.GetBytes(1f), .. BitConverter.GetBytes(2f), .. BitConverter.GetBytes(3f)]),
        new("t.array.str", 9, [.. BitConverter.GetBytes(8u), .. BitConverter.GetBytes(2UL), .. StringBytes("a"), .. StringBytes("bé")]),
        new("t.array.nested", 9, [.. BitConverter.GetBytes(9u), .. BitConverter.GetBytes(2UL),
            .. BitConverter.GetBytes(0u), .. BitConverter.GetBytes(2UL), 1, 2,
            .. BitConverter.GetBytes(8u), .. BitConverter.GetBytes(1UL), .. StringBytes("x")]),
        new("t.u64", 10, BitConverter.GetBytes(ulong.MaxValue)),
        new("t.i64", 11, BitConverter.GetBytes(long.MinValue)),
        new("t.f64", 12, BitConverter.GetBytes(-2.25)),
        Str("t.long.string", new string('x', 1000)),
    ];

    public static byte[] StringBytes(string value)
    {
        byte[] utf8 = Encoding.UTF8.GetBytes(value);
        return [.. BitConverter.GetBytes((ulong)utf8.Length), .. utf8];
    }

    /// <summary>A random tensor of a ggml type: <paramref name="rows"/> rows of <paramref name="blocks"/> blocks each.</summary>
    public static Tensor Random(string name, MGit.Formats.Gguf.GgmlType type, int blocks, int rows, int seed)
    {
        var data = new byte[blocks * type.BlockBytes * rows];
        new Random(seed).NextBytes(data);
        return new Tensor(name, (uint)type.Id, [blocks * type.BlockElements, rows], data);
    }

    /// <summary>Header, metadata and tensor infos, then the data section with every tensor at an aligned offset (zero padded).</summary>
    public static byte[] Build(IEnumerable<Entry> metadata, IReadOnlyList<Tensor> tensors, uint alignment = 32, uint version = 3)
    {
        var entries = metadata.ToList();
        using var output = new MemoryStream();
        using var w = new BinaryWriter(output);
        w.Write("GGUF"u8);
        w.Write(version);
        w.Write((ulong)tensors.Count);
        w.Write((ulong)entries.Count);
        foreach (var e in entries)
        {
            w.Write(StringBytes(e.Key));
            w.Write(e.Type);
            w.Write(e.Value);
        }

        long offset = 0;
        var offsets = new List<long>();
        foreach (var t in tensors)
        {
            w.Write(StringBytes(t.Name));
            w.Write((uint)t.Dims.Length);
            foreach (long d in t.Dims) w.Write((ulong)d);
            w.Write(t.Type);
            w.Write((ulong)offset);
            offsets.Add(offset);
            offset = Align(offset + t.Data.Length, alignment);
        }

        Pad(w, alignment);
        long dataStart = output.Position;
        for (int i = 0; i < tensors.Count; i++)
        {
            while (output.Position < dataStart + offsets[i]) w.Write((byte)0);
            w.Write(tensors[i].Data);
        }

        w.Flush();
        return output.ToArray();
    }

    private static long Align(long value, uint alignment) => (value + alignment - 1) / alignment * alignment;

    private static void Pad(BinaryWriter w, uint alignment)
    {
        while (w.BaseStream.Position % alignment != 0) w.Write((byte)0);
    }
}
