using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using MGit.Errors;

namespace MGit.Formats.Safetensors;

/// <summary>
/// Reads the layout of a safetensors file, validating it as the reference (Rust) reader does:
/// header length cap, strict UTF-8 JSON, unique names, known dtypes, shape x dtype = span,
/// offsets contiguous from 0 with no gap or overlap, and the file ending with the last tensor.
/// </summary>
public sealed class SafetensorsFormat : IModelFormat
{
    /// <summary>The reference reader's cap on the header length.</summary>
    public const long MaxHeaderLength = 100_000_000;

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public string Name => "safetensors";

    public bool ClaimsByName(string fileName) => fileName.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase);

    public bool Matches(ReadOnlySpan<byte> prefix, string fileName)
    {
        if (ClaimsByName(fileName))
        {
            return true;
        }

        if (prefix.Length < 10)
        {
            return false;
        }

        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        return headerLength >= 2 && headerLength <= MaxHeaderLength && prefix[8] == (byte)'{' && (prefix[9] == (byte)'"' || prefix[9] == (byte)'}');
    }

    public FileLayout ReadLayout(Stream stream, long length, string displayName)
    {
        InvalidModelFileException Bad(string problem) => new(displayName, problem);

        if (length < 8)
        {
            throw Bad($"too short for a safetensors file ({length} bytes)");
        }

        Span<byte> lengthBytes = stackalloc byte[8];
        stream.Position = 0;
        stream.ReadExactly(lengthBytes);
        ulong declared = BinaryPrimitives.ReadUInt64LittleEndian(lengthBytes);
        if (declared > MaxHeaderLength)
        {
            throw Bad($"header length {declared} exceeds the limit of {MaxHeaderLength}");
        }

        if ((long)declared > length - 8)
        {
            throw Bad($"header length {declared} runs past the end of the file ({length} bytes)");
        }

        int headerLength = (int)declared;
        byte[] header = new byte[headerLength];
        stream.ReadExactly(header);

        string json;
        try
        {
            json = StrictUtf8.GetString(header);
        }
        catch (DecoderFallbackException)
        {
            throw Bad("header is not valid UTF-8");
        }

        if (!json.StartsWith('{'))
        {
            throw Bad("header does not start with '{'");
        }

        long dataStart = 8 + (long)headerLength;
        long bufferLength = length - dataStart;
        var (tensors, metadata) = ParseHeader(json, Bad);

        // Offsets must tile the buffer exactly, as the reference reader requires.
        tensors.Sort((x, y) => x.Begin != y.Begin ? x.Begin.CompareTo(y.Begin) : x.End.CompareTo(y.End));
        long expected = 0;
        var segments = new List<Segment>(tensors.Count + 1) { new(0, dataStart, null) };
        foreach (var t in tensors)
        {
            if (t.Begin != expected)
            {
                throw Bad(t.Begin > expected
                    ? $"gap in the data before tensor '{t.Info.Name}' (offset {t.Begin}, expected {expected})"
                    : $"tensor '{t.Info.Name}' overlaps the previous tensor (offset {t.Begin}, expected {expected})");
            }

            expected = t.End;
            segments.Add(new Segment(checked(dataStart + t.Begin), t.End - t.Begin, t.Info));
        }

        if (expected != bufferLength)
        {
            throw Bad(expected < bufferLength
                ? $"{bufferLength - expected} bytes after the last tensor: the file is longer than its header says"
                : $"file is truncated: the header needs {expected} bytes of data, the file has {bufferLength}");
        }

        return new FileLayout(Name, length, segments, metadata);
    }

    private sealed record ParsedTensor(TensorInfo Info, long Begin, long End);

    private static (List<ParsedTensor> Tensors, Dictionary<string, string>? Metadata) ParseHeader(string json, Func<string, InvalidModelFileException> bad)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 8 });
        }
        catch (JsonException e)
        {
            throw bad($"header is not valid JSON ({FirstLine(e.Message)})");
        }

        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw bad("header is not a JSON object");
            }

            var names = new HashSet<string>(StringComparer.Ordinal);
            var tensors = new List<ParsedTensor>();
            Dictionary<string, string>? metadata = null;
            foreach (var property in document.RootElement.EnumerateObject())
            {
                if (!names.Add(property.Name))
                {
                    throw bad($"duplicate entry '{property.Name}' in the header");
                }

                if (property.Name == "__metadata__")
                {
                    metadata = ParseMetadata(property.Value, bad);
                    continue;
                }

                tensors.Add(ParseTensor(property.Name, property.Value, bad));
            }

            return (tensors, metadata);
        }
    }

    private static Dictionary<string, string> ParseMetadata(JsonElement value, Func<string, InvalidModelFileException> bad)
    {
        if (value.ValueKind != JsonValueKind.Object)
        {
            throw bad("__metadata__ is not an object of strings");
        }

        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var entry in value.EnumerateObject())
        {
            if (entry.Value.ValueKind != JsonValueKind.String)
            {
                throw bad($"__metadata__ value '{entry.Name}' is not a string");
            }

            if (!metadata.TryAdd(entry.Name, entry.Value.GetString()!))
            {
                throw bad($"duplicate __metadata__ key '{entry.Name}'");
            }
        }

        return metadata;
    }

    private static ParsedTensor ParseTensor(string name, JsonElement value, Func<string, InvalidModelFileException> bad)
    {
        if (value.ValueKind != JsonValueKind.Object)
        {
            throw bad($"tensor '{name}' is not an object");
        }

        if (!value.TryGetProperty("dtype", out var dtypeElement) || dtypeElement.ValueKind != JsonValueKind.String)
        {
            throw bad($"tensor '{name}' has no dtype");
        }

        string dtype = dtypeElement.GetString()!;
        if (dtype.Length is 0 or > 32 || !dtype.All(c => c is (>= 'A' and <= 'Z') or (>= '0' and <= '9') or '_'))
        {
            throw bad($"tensor '{name}' has an invalid dtype '{Truncate(dtype)}'");
        }

        if (!value.TryGetProperty("shape", out var shapeElement) || shapeElement.ValueKind != JsonValueKind.Array)
        {
            throw bad($"tensor '{name}' has no shape");
        }

        var shape = new List<long>();
        ulong elements = 1;
        bool overflow = false;
        foreach (var dimension in shapeElement.EnumerateArray())
        {
            if (dimension.ValueKind != JsonValueKind.Number || !dimension.TryGetInt64(out long size) || size < 0)
            {
                throw bad($"tensor '{name}' has an invalid dimension in its shape");
            }

            shape.Add(size);
            if (!overflow)
            {
                try
                {
                    elements = checked(elements * (ulong)size);
                }
                catch (OverflowException)
                {
                    overflow = true;
                }
            }
        }

        // A zero dimension makes the tensor empty however large the others are.
        if (shape.Contains(0))
        {
            elements = 0;
            overflow = false;
        }

        if (overflow)
        {
            throw bad($"tensor '{name}' has a shape whose element count overflows");
        }

        if (!value.TryGetProperty("data_offsets", out var offsetsElement) || offsetsElement.ValueKind != JsonValueKind.Array || offsetsElement.GetArrayLength() != 2)
        {
            throw bad($"tensor '{name}' has no data_offsets pair");
        }

        long begin = ReadOffset(offsetsElement[0]);
        long end = ReadOffset(offsetsElement[1]);
        if (begin < 0 || end < 0)
        {
            throw bad($"tensor '{name}' has invalid data_offsets");
        }

        if (end < begin)
        {
            throw bad($"tensor '{name}' ends before it begins (data_offsets [{begin}, {end}])");
        }

        ulong span = (ulong)(end - begin);
        int? bits = SafetensorsDtypes.BitsPerElement(dtype);
        if (bits is int knownBits)
        {
            ulong totalBits;
            try
            {
                totalBits = checked(elements * (ulong)knownBits);
            }
            catch (OverflowException)
            {
                throw bad($"tensor '{name}' has a shape whose byte size overflows");
            }

            if (totalBits % 8 != 0 || totalBits / 8 != span)
            {
                throw bad($"tensor '{name}': shape [{string.Join(", ", shape)}] of {dtype} needs {(totalBits % 8 == 0 ? $"{totalBits / 8} bytes" : "a fractional number of bytes")}, data_offsets give {span}");
            }
        }
        else if (!(elements == 0 ? span == 0 : span % elements == 0 && span / elements is 1 or 2 or 4 or 8 or 16))
        {
            // An unknown (newer) dtype is kept as bytes only if its span is a whole element size times the element count.
            throw bad($"tensor '{name}' has unknown dtype '{dtype}' whose size does not match its shape");
        }

        return new ParsedTensor(new TensorInfo(name, dtype, shape), begin, end);
    }

    private static long ReadOffset(JsonElement element) =>
        element.ValueKind == JsonValueKind.Number && element.TryGetInt64(out long value) ? value : -1;

    private static string Truncate(string text) => text.Length <= 40 ? text : text[..40] + "…";

    private static string FirstLine(string text)
    {
        int newline = text.IndexOfAny(['\r', '\n']);
        return newline < 0 ? text : text[..newline];
    }
}
