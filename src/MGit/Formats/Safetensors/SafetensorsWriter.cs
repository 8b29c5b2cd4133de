using System.Buffers;
using System.Buffers.Binary;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace MGit.Formats.Safetensors;

/// <summary>One tensor to write: its name, safetensors dtype (e.g. "F32"), shape and raw little-endian bytes.</summary>
public sealed record TensorData(string Name, string Dtype, long[] Shape, byte[] Data);

/// <summary>How <see cref="SafetensorsWriter"/> lays out a file.</summary>
public sealed record SafetensorsWriteOptions
{
    /// <summary>
    /// Pad the JSON header with spaces to a multiple of 8 bytes, as the reference (Rust/Python) writer does.
    /// MLX-like writers do not pad.
    /// </summary>
    public bool PadHeader { get; init; } = true;

    /// <summary>
    /// Order tensors as the reference writer does (larger dtypes first, then by name, ordinal);
    /// false keeps the order given.
    /// </summary>
    public bool SortLikeReference { get; init; } = true;

    /// <summary>Optional <c>__metadata__</c> string map; written with keys in ordinal order.</summary>
    public IReadOnlyDictionary<string, string>? Metadata { get; init; }
}

/// <summary>Writes Hugging Face safetensors files.</summary>
public static class SafetensorsWriter
{
    private const string MetadataKey = "__metadata__";

    // Escape only what JSON requires: the reference writer (serde_json) emits non-ASCII names as raw UTF-8.
    private static readonly JsonWriterOptions JsonOptions = new()
    {
        Indented = false,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <summary>Writes <paramref name="tensors"/> as a safetensors file to <paramref name="output"/>.</summary>
    /// <exception cref="ArgumentException">A tensor is malformed, or two share a name.</exception>
    public static void Write(Stream output, IReadOnlyList<TensorData> tensors, SafetensorsWriteOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(output);
        var (header, ordered) = Prepare(tensors, options ?? new SafetensorsWriteOptions());
        WritePrepared(output, header, ordered);
    }

    /// <summary>Writes <paramref name="tensors"/> as a safetensors file at <paramref name="path"/>, replacing any file there.</summary>
    /// <exception cref="ArgumentException">A tensor is malformed, or two share a name.</exception>
    public static void WriteFile(string path, IReadOnlyList<TensorData> tensors, SafetensorsWriteOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        // Validate before touching the file system so bad input leaves no empty file behind.
        var (header, ordered) = Prepare(tensors, options ?? new SafetensorsWriteOptions());
        using var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16);
        WritePrepared(file, header, ordered);
    }

    /// <summary>Bytes per element of a safetensors dtype.</summary>
    /// <exception cref="ArgumentException">Unknown dtype.</exception>
    public static int DtypeSize(string dtype) => dtype switch
    {
        "BOOL" or "U8" or "I8" or "F8_E5M2" or "F8_E4M3" => 1,
        "I16" or "U16" or "F16" or "BF16" => 2,
        "I32" or "U32" or "F32" => 4,
        "F64" or "I64" or "U64" => 8,
        null => throw new ArgumentNullException(nameof(dtype)),
        _ => throw new ArgumentException($"Unknown safetensors dtype '{dtype}'.", nameof(dtype)),
    };

    /// <summary>Little-endian F32 bytes of <paramref name="values"/>.</summary>
    public static byte[] ToBytes(ReadOnlySpan<float> values)
    {
        var bytes = new byte[checked(values.Length * sizeof(float))];
        var span = bytes.AsSpan();
        for (var i = 0; i < values.Length; i++)
        {
            BinaryPrimitives.WriteSingleLittleEndian(span[(i * sizeof(float))..], values[i]);
        }

        return bytes;
    }

    // Position in the reference's Dtype enum, which is declared in increasing size order; the reference
    // sorts by this descending, so among same-size dtypes e.g. BF16 precedes F16 and U64 precedes F64.
    private static int ReferenceRank(string dtype) => dtype switch
    {
        "BOOL" => 0,
        "U8" => 1,
        "I8" => 2,
        "F8_E5M2" => 3,
        "F8_E4M3" => 4,
        "I16" => 5,
        "U16" => 6,
        "F16" => 7,
        "BF16" => 8,
        "I32" => 9,
        "U32" => 10,
        "F32" => 11,
        "F64" => 12,
        "I64" => 13,
        "U64" => 14,
        _ => throw new ArgumentException($"Unknown safetensors dtype '{dtype}'.", nameof(dtype)),
    };

    private static (byte[] Header, TensorData[] Ordered) Prepare(IReadOnlyList<TensorData> tensors, SafetensorsWriteOptions options)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var ordered = new TensorData[tensors.Count];
        for (var i = 0; i < tensors.Count; i++)
        {
            var tensor = tensors[i] ?? throw new ArgumentException($"Tensor at index {i} is null.", nameof(tensors));
            Validate(tensor);
            if (!seen.Add(tensor.Name))
            {
                throw new ArgumentException($"Duplicate tensor name '{tensor.Name}'.", nameof(tensors));
            }

            ordered[i] = tensor;
        }

        if (options.SortLikeReference)
        {
            // Names are unique, so this comparison is total and the (unstable) sort is deterministic.
            Array.Sort(ordered, static (a, b) =>
            {
                var byDtype = ReferenceRank(b.Dtype).CompareTo(ReferenceRank(a.Dtype));
                return byDtype != 0 ? byDtype : string.CompareOrdinal(a.Name, b.Name);
            });
        }

        var buffer = new ArrayBufferWriter<byte>(256 + (ordered.Length * 96));
        using (var json = new Utf8JsonWriter(buffer, JsonOptions))
        {
            json.WriteStartObject();
            if (options.Metadata is { } metadata)
            {
                json.WritePropertyName(MetadataKey);
                json.WriteStartObject();
                // Sorted so the bytes do not depend on the dictionary's enumeration order.
                foreach (var key in metadata.Keys.Order(StringComparer.Ordinal))
                {
                    var value = metadata[key] ?? throw new ArgumentException($"Metadata value for '{key}' is null.", nameof(options));
                    json.WriteString(key, value);
                }

                json.WriteEndObject();
            }

            long offset = 0;
            foreach (var tensor in ordered)
            {
                var end = checked(offset + tensor.Data.LongLength);
                json.WritePropertyName(tensor.Name);
                json.WriteStartObject();
                json.WriteString("dtype", tensor.Dtype);
                json.WritePropertyName("shape");
                json.WriteStartArray();
                foreach (var dim in tensor.Shape)
                {
                    json.WriteNumberValue(dim);
                }

                json.WriteEndArray();
                json.WritePropertyName("data_offsets");
                json.WriteStartArray();
                json.WriteNumberValue(offset);
                json.WriteNumberValue(end);
                json.WriteEndArray();
                json.WriteEndObject();
                offset = end;
            }

            json.WriteEndObject();
        }

        var length = buffer.WrittenCount;
        var padded = options.PadHeader ? checked((length + 7) / 8 * 8) : length;
        var header = new byte[padded];
        buffer.WrittenSpan.CopyTo(header);
        header.AsSpan(length).Fill((byte)' ');
        return (header, ordered);
    }

    private static void Validate(TensorData tensor)
    {
        if (string.IsNullOrEmpty(tensor.Name))
        {
            throw new ArgumentException("Tensor name must not be null or empty.", nameof(tensor));
        }

        if (tensor.Name == MetadataKey)
        {
            throw new ArgumentException($"'{MetadataKey}' is reserved and cannot name a tensor.", nameof(tensor));
        }

        if (tensor.Dtype is null || tensor.Shape is null || tensor.Data is null)
        {
            throw new ArgumentException($"Tensor '{tensor.Name}' has a null dtype, shape or data.", nameof(tensor));
        }

        long expected;
        try
        {
            long elements = 1;
            foreach (var dim in tensor.Shape)
            {
                if (dim < 0)
                {
                    throw new ArgumentException($"Tensor '{tensor.Name}' has a negative dimension {dim}.", nameof(tensor));
                }

                elements = checked(elements * dim);
            }

            expected = checked(elements * DtypeSize(tensor.Dtype));
        }
        catch (OverflowException ex)
        {
            throw new ArgumentException($"Tensor '{tensor.Name}' has a shape whose byte size overflows.", nameof(tensor), ex);
        }

        if (tensor.Data.LongLength != expected)
        {
            throw new ArgumentException(
                $"Tensor '{tensor.Name}' ({tensor.Dtype}, shape [{string.Join(',', tensor.Shape)}]) needs {expected} bytes but has {tensor.Data.LongLength}.",
                nameof(tensor));
        }
    }

    private static void WritePrepared(Stream output, byte[] header, TensorData[] ordered)
    {
        Span<byte> prefix = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(prefix, (ulong)header.LongLength);
        output.Write(prefix);
        output.Write(header);
        foreach (var tensor in ordered)
        {
            output.Write(tensor.Data);
        }
    }
}
