using System.Buffers.Binary;
using System.Text;
using System.Text.Json;

namespace MGit.Bench;

/// <summary>Element types the generator writes.</summary>
internal enum Dtype
{
    F32,
    BF16,
}

/// <summary>How a tensor's values are drawn: N(Mean, Std^2).</summary>
internal sealed record TensorSpec(string Name, long[] Shape, float Mean, float Std)
{
    public long Elements => Shape.Aggregate(1L, (a, b) => checked(a * b));
}

/// <summary>A tensor as laid out in a file: its spec, dtype and data offsets (relative to the data start).</summary>
internal sealed record TensorEntry(string Name, Dtype Dtype, long[] Shape, long Begin, long End)
{
    public long Length => End - Begin;
}

/// <summary>Writes and reads the safetensors header: 8-byte LE length, JSON, space padding to 8.</summary>
internal static class Safetensors
{
    public static int ElementSize(Dtype dtype) => dtype == Dtype.F32 ? 4 : 2;

    public static Dtype ParseDtype(string text) => text.ToUpperInvariant() switch
    {
        "F32" => Dtype.F32,
        "BF16" => Dtype.BF16,
        _ => throw new BenchException($"dtype must be F32 or BF16, not '{text}'"),
    };

    /// <summary>Lays tensors out contiguously from offset 0 in the given order.</summary>
    public static List<TensorEntry> Layout(IEnumerable<TensorSpec> specs, Dtype dtype)
    {
        var entries = new List<TensorEntry>();
        long offset = 0;
        foreach (var spec in specs)
        {
            long end = checked(offset + (spec.Elements * ElementSize(dtype)));
            entries.Add(new TensorEntry(spec.Name, dtype, spec.Shape, offset, end));
            offset = end;
        }

        return entries;
    }

    /// <summary>The complete header: length prefix plus JSON padded with spaces to a multiple of 8 bytes.</summary>
    public static byte[] Header(IReadOnlyList<TensorEntry> entries)
    {
        using var json = new MemoryStream();
        using (var writer = new Utf8JsonWriter(json))
        {
            writer.WriteStartObject();
            writer.WriteStartObject("__metadata__");
            writer.WriteString("format", "pt");
            writer.WriteEndObject();
            foreach (var entry in entries)
            {
                writer.WriteStartObject(entry.Name);
                writer.WriteString("dtype", entry.Dtype.ToString());
                writer.WriteStartArray("shape");
                foreach (long dimension in entry.Shape)
                {
                    writer.WriteNumberValue(dimension);
                }

                writer.WriteEndArray();
                writer.WriteStartArray("data_offsets");
                writer.WriteNumberValue(entry.Begin);
                writer.WriteNumberValue(entry.End);
                writer.WriteEndArray();
                writer.WriteEndObject();
            }

            writer.WriteEndObject();
        }

        int jsonLength = checked((int)json.Length);
        int padded = (jsonLength + 7) / 8 * 8;
        byte[] header = new byte[8 + padded];
        BinaryPrimitives.WriteUInt64LittleEndian(header, (ulong)padded);
        json.GetBuffer().AsSpan(0, jsonLength).CopyTo(header.AsSpan(8));
        header.AsSpan(8 + jsonLength).Fill((byte)' ');
        return header;
    }

    /// <summary>Reads a header this tool can rewrite: returns its raw bytes and the tensors in data order.</summary>
    public static (byte[] Raw, List<TensorEntry> Entries) Read(Stream stream, string path)
    {
        Span<byte> prefix = stackalloc byte[8];
        stream.ReadExactly(prefix);
        ulong length = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        if (length > 100_000_000 || (long)length > stream.Length - 8)
        {
            throw new BenchException($"{path}: not a safetensors file (header length {length})");
        }

        byte[] raw = new byte[8 + (int)length];
        prefix.CopyTo(raw);
        stream.ReadExactly(raw.AsSpan(8));

        var entries = new List<TensorEntry>();
        try
        {
            using var document = JsonDocument.Parse(Encoding.UTF8.GetString(raw, 8, (int)length).TrimEnd(' '));
            foreach (var property in document.RootElement.EnumerateObject())
            {
                if (property.Name == "__metadata__")
                {
                    continue;
                }

                var value = property.Value;
                var offsets = value.GetProperty("data_offsets");
                entries.Add(new TensorEntry(
                    property.Name,
                    ParseDtype(value.GetProperty("dtype").GetString() ?? ""),
                    value.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()).ToArray(),
                    offsets[0].GetInt64(),
                    offsets[1].GetInt64()));
            }
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new BenchException($"{path}: unreadable safetensors header ({e.Message})", e);
        }

        entries.Sort((a, b) => a.Begin.CompareTo(b.Begin));
        long expected = 0;
        foreach (var entry in entries)
        {
            if (entry.Begin != expected || entry.End < entry.Begin)
            {
                throw new BenchException($"{path}: tensor '{entry.Name}' is not contiguous (offset {entry.Begin}, expected {expected})");
            }

            expected = entry.End;
        }

        if (raw.Length + expected != stream.Length)
        {
            throw new BenchException($"{path}: header describes {expected} data bytes, the file holds {stream.Length - raw.Length}");
        }

        return (raw, entries);
    }
}
