using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using System.Text.Unicode;
using MGit.Errors;

namespace MGit.Formats.Safetensors;

/// <summary>
/// Reads the layout of a safetensors file, validating it as the reference (Rust) reader does:
/// header length cap, strict UTF-8 JSON, unique names, known dtypes, shape x dtype = span,
/// offsets contiguous from 0 with no gap or overlap, and the file ending with the last tensor.
/// </summary>
internal sealed class SafetensorsFormat : IModelFormat
{
    /// <summary>The reference reader's cap on the header length.</summary>
    public const long MaxHeaderLength = 100_000_000;

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

        // Checked on the bytes: the header is parsed as UTF-8 and never copied into a UTF-16 string.
        if (!Utf8.IsValid(header))
        {
            throw Bad("header is not valid UTF-8");
        }

        if (headerLength == 0 || header[0] != (byte)'{')
        {
            throw Bad("header does not start with '{'");
        }

        long dataStart = 8 + (long)headerLength;
        long bufferLength = length - dataStart;
        var (tensors, metadata) = ParseHeader(header, Bad);

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

    /// <summary>A value type: a list of a few hundred thousand of them is one array, not an object each.</summary>
    private readonly record struct ParsedTensor(TensorInfo Info, long Begin, long End);

    /// <summary>
    /// Reads the header in one forward pass over its UTF-8 bytes (no document tree, no UTF-16 copy):
    /// time and memory grow with the header's length, by a small constant.
    /// </summary>
    private static (List<ParsedTensor> Tensors, Dictionary<string, string>? Metadata) ParseHeader(byte[] header, Func<string, InvalidModelFileException> bad)
    {
        var budget = new HeaderBudget(bad);
        var names = new HashSet<string>(StringComparer.Ordinal);
        var tensors = new List<ParsedTensor>();
        var dtypes = new Dictionary<string, string>(StringComparer.Ordinal);
        var shape = new List<long>();
        Dictionary<string, string>? metadata = null;
        var reader = new Utf8JsonReader(header, new JsonReaderOptions { MaxDepth = 8 });
        try
        {
            reader.Read();
            if (reader.TokenType != JsonTokenType.StartObject)
            {
                throw bad("header is not a JSON object");
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                string name = ReadString(ref reader, bad);
                if (!names.Add(name))
                {
                    throw bad($"duplicate entry '{name}' in the header");
                }

                reader.Read();
                if (name == "__metadata__")
                {
                    metadata = ParseMetadata(ref reader, bad);
                    continue;
                }

                budget.AddTensor(name);
                tensors.Add(ParseTensor(ref reader, name, dtypes, shape, budget, bad));
            }

            // Only whitespace may follow the object (the reference reader pads with spaces).
            while (reader.Read())
            {
            }
        }
        catch (JsonException e)
        {
            throw bad($"header is not valid JSON ({FirstLine(e.Message)})");
        }

        return (tensors, metadata);
    }

    /// <summary>A string token; an escaped lone surrogate (valid JSON, not valid UTF-8) is refused as the reference reader does.</summary>
    private static string ReadString(ref Utf8JsonReader reader, Func<string, InvalidModelFileException> bad)
    {
        try
        {
            return reader.GetString()!;
        }
        catch (InvalidOperationException)
        {
            throw bad("header has a string that is not valid Unicode");
        }
    }

    private static Dictionary<string, string> ParseMetadata(ref Utf8JsonReader reader, Func<string, InvalidModelFileException> bad)
    {
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            throw bad("__metadata__ is not an object of strings");
        }

        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            string key = ReadString(ref reader, bad);
            reader.Read();
            if (reader.TokenType != JsonTokenType.String)
            {
                throw bad($"__metadata__ value '{key}' is not a string");
            }

            if (!metadata.TryAdd(key, ReadString(ref reader, bad)))
            {
                throw bad($"duplicate __metadata__ key '{key}'");
            }

            // Each entry is copied into the manifest: a few dozen are real, millions would be a header made to cost.
            if (metadata.Count > HeaderLimits.MaxMetadataEntries)
            {
                throw bad($"__metadata__ has more than {HeaderLimits.MaxMetadataEntries} entries (the limit)");
            }
        }

        return metadata;
    }

    /// <summary>What one of a tensor's fields held: absent, the expected JSON kind, or something else.</summary>
    private enum Field
    {
        Absent,
        Valid,
        Invalid,
    }

    private static ParsedTensor ParseTensor(ref Utf8JsonReader reader, string name, Dictionary<string, string> dtypes, List<long> shape, HeaderBudget budget, Func<string, InvalidModelFileException> bad)
    {
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            throw bad($"tensor '{name}' is not an object");
        }

        // The fields come in any order: collect them, then check them in a fixed order so a file
        // with several problems always gets the same message.
        var dtypeField = Field.Absent;
        string dtype = "";
        var shapeField = Field.Absent;
        bool dimensionInvalid = false;
        shape.Clear();
        var offsetsField = Field.Absent;
        long begin = -1, end = -1;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            string? field = reader.ValueTextEquals("dtype"u8) ? "dtype" : reader.ValueTextEquals("shape"u8) ? "shape" : reader.ValueTextEquals("data_offsets"u8) ? "data_offsets" : null;
            reader.Read();
            switch (field)
            {
                case "dtype":
                    Once(ref dtypeField, field);
                    if (reader.TokenType == JsonTokenType.String)
                    {
                        dtypeField = Field.Valid;
                        dtype = ReadDtype(ref reader, dtypes, bad);
                    }

                    break;
                case "shape":
                    Once(ref shapeField, field);
                    if (reader.TokenType == JsonTokenType.StartArray)
                    {
                        shapeField = Field.Valid;
                        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                        {
                            if (reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out long size) && size >= 0)
                            {
                                shape.Add(size);
                                budget.CheckDimensions(name, shape.Count);
                            }
                            else
                            {
                                dimensionInvalid = true;
                                reader.Skip();
                            }
                        }
                    }

                    break;
                case "data_offsets":
                    Once(ref offsetsField, field);
                    if (reader.TokenType == JsonTokenType.StartArray)
                    {
                        int count = 0;
                        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                        {
                            long value = reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out long v) ? v : -1;
                            begin = count == 0 ? value : begin;
                            end = count == 1 ? value : end;
                            count++;
                            reader.Skip();
                        }

                        offsetsField = count == 2 ? Field.Valid : Field.Invalid;
                    }

                    break;
            }

            // A field of the wrong kind, or one that is not MGit's (ignored, as serde does): MaxDepth bounds what it nests.
            reader.Skip();
        }

        return CheckTensor(name, dtypeField == Field.Valid ? dtype : null, shapeField == Field.Valid, dimensionInvalid, shape, offsetsField == Field.Valid, begin, end, bad);

        void Once(ref Field seen, string field)
        {
            if (seen != Field.Absent)
            {
                throw bad($"tensor '{name}' has more than one '{field}'");
            }

            seen = Field.Invalid;
        }
    }

    /// <summary>The dtype, one shared string per distinct dtype rather than one per tensor.</summary>
    private static string ReadDtype(ref Utf8JsonReader reader, Dictionary<string, string> dtypes, Func<string, InvalidModelFileException> bad)
    {
        if (!reader.ValueIsEscaped && reader.ValueSpan.Length <= 32)
        {
            Span<char> chars = stackalloc char[32];
            int count = Encoding.UTF8.GetChars(reader.ValueSpan, chars);
            if (dtypes.GetAlternateLookup<ReadOnlySpan<char>>().TryGetValue(chars[..count], out string? known))
            {
                return known;
            }
        }

        string dtype = ReadString(ref reader, bad);
        dtypes.TryAdd(dtype, dtype);
        return dtype;
    }

    private static ParsedTensor CheckTensor(string name, string? dtype, bool hasShape, bool dimensionInvalid, List<long> shape, bool hasOffsets, long begin, long end, Func<string, InvalidModelFileException> bad)
    {
        if (dtype is null)
        {
            throw bad($"tensor '{name}' has no dtype");
        }

        if (dtype.Length is 0 or > 32 || !dtype.All(c => c is (>= 'A' and <= 'Z') or (>= '0' and <= '9') or '_'))
        {
            throw bad($"tensor '{name}' has an invalid dtype '{Truncate(dtype)}'");
        }

        if (!hasShape)
        {
            throw bad($"tensor '{name}' has no shape");
        }

        if (dimensionInvalid)
        {
            throw bad($"tensor '{name}' has an invalid dimension in its shape");
        }

        ulong elements = 1;
        bool overflow = false;
        foreach (long size in shape)
        {
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

        if (!hasOffsets)
        {
            throw bad($"tensor '{name}' has no data_offsets pair");
        }

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

        return new ParsedTensor(new TensorInfo(name, dtype, shape.Count == 0 ? [] : shape.ToArray(), SafetensorsDtypes.Layout(dtype)), begin, end);
    }

    private static string Truncate(string text) => text.Length <= 40 ? text : text[..40] + "…";

    private static string FirstLine(string text)
    {
        int newline = text.IndexOfAny(['\r', '\n']);
        return newline < 0 ? text : text[..newline];
    }
}
