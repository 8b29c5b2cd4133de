using System.Buffers.Binary;
using System.Globalization;

namespace MGit.Formats.Gguf;

/// <summary>
/// Reads the layout of a GGUF file (llama.cpp, versions 2 and 3, little-endian): header, metadata
/// (every value type, nested arrays), tensor infos and the aligned data section. Each tensor's
/// bytes become a tensor segment; the header, metadata and alignment padding are skeleton.
/// Every count, length, dimension and offset is checked against the file before it is used.
/// </summary>
internal sealed class GgufFormat : IModelFormat
{
    public const uint DefaultAlignment = 32;

    /// <summary>ggml's GGML_MAX_DIMS.</summary>
    public const int MaxDimensions = 4;

    /// <summary>Keys and tensor names: <see cref="HeaderLimits.MaxNameBytes"/>, checked before a byte of the name is read.</summary>
    private const int MaxKeyLength = HeaderLimits.MaxNameBytes;
    private const int MaxArrayDepth = 16;
    /// <summary>Metadata values longer than this are not copied into the manifest (chat templates, vocabularies).</summary>
    private const int MaxShownValueLength = 256;

    private static ReadOnlySpan<byte> Magic => "GGUF"u8;

    public string Name => "gguf";

    public bool ClaimsByName(string fileName) => fileName.EndsWith(".gguf", StringComparison.OrdinalIgnoreCase);

    public bool Matches(ReadOnlySpan<byte> prefix, string fileName) => prefix.StartsWith(Magic) || ClaimsByName(fileName);

    public FileLayout ReadLayout(Stream stream, long length, string displayName)
    {
        var reader = new LittleEndianFileReader(stream, length, displayName);
        Span<byte> magic = stackalloc byte[4];
        reader.ReadExactly(magic, "the GGUF magic");
        if (!magic.SequenceEqual(Magic))
        {
            throw reader.Bad("not a GGUF file (no GGUF magic)");
        }

        uint version = reader.ReadU32("the version");
        if (version is not (2 or 3))
        {
            throw reader.Bad(BinaryPrimitives.ReverseEndianness(version) is 2 or 3
                ? "big-endian GGUF files are not supported"
                : version == 1
                    ? "GGUF version 1 is not supported (only versions 2 and 3)"
                    : $"unknown GGUF version {version} (only versions 2 and 3 are supported)");
        }

        return FormatRecognition.Recognized(displayName, () => ReadRecognized(reader, version, length));
    }

    private FileLayout ReadRecognized(LittleEndianFileReader reader, uint version, long length)
    {
        ulong tensorCount = reader.ReadU64("the tensor count");
        ulong metadataCount = reader.ReadU64("the metadata count");

        // The smallest metadata entry is 13 bytes, the smallest tensor info 24: counts beyond what the file can hold are lies.
        if (metadataCount > (ulong)reader.Remaining / 13)
        {
            throw reader.Bad($"metadata count {metadataCount} is more than the file can hold");
        }

        // Each entry costs a key kept in memory whatever its size in the file: capped, not only bounded by the file.
        if (metadataCount > HeaderLimits.MaxMetadataEntries)
        {
            throw reader.Bad($"metadata count {metadataCount} is more than the limit of {HeaderLimits.MaxMetadataEntries}");
        }

        var budget = new HeaderBudget(reader.Bad);

        var metadata = new Dictionary<string, string>(StringComparer.Ordinal) { ["gguf.version"] = version.ToString(CultureInfo.InvariantCulture) };
        var keys = new HashSet<string>(StringComparer.Ordinal);
        uint alignment = DefaultAlignment;
        for (ulong i = 0; i < metadataCount; i++)
        {
            string key = ReadString(reader, MaxKeyLength, "a metadata key");
            budget.AddName(key, "metadata key");
            if (!keys.Add(key))
            {
                throw reader.Bad($"duplicate metadata key '{key}'");
            }

            uint type = reader.ReadU32($"the type of metadata '{key}'");
            if (key == "general.alignment")
            {
                if (type != (uint)GgufValueType.UInt32)
                {
                    throw reader.Bad($"general.alignment has type {type}, not UINT32");
                }

                alignment = reader.ReadU32("general.alignment");
                if (alignment == 0 || (alignment & (alignment - 1)) != 0)
                {
                    throw reader.Bad($"general.alignment {alignment} is not a power of two");
                }

                metadata[key] = alignment.ToString(CultureInfo.InvariantCulture);
                continue;
            }

            if (ReadValue(reader, key, type, depth: 0) is { } shown)
            {
                metadata[key] = shown;
            }
        }

        if (tensorCount > (ulong)reader.Remaining / 24)
        {
            throw reader.Bad($"tensor count {tensorCount} is more than the file can hold");
        }

        if (tensorCount > HeaderLimits.MaxTensors)
        {
            throw reader.Bad($"tensor count {tensorCount} is more than the limit of {HeaderLimits.MaxTensors} per file");
        }

        var tensors = new List<(TensorInfo Info, ulong Offset, ulong Bytes)>((int)Math.Min(tensorCount, 4096));
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (ulong i = 0; i < tensorCount; i++)
        {
            var tensor = ReadTensorInfo(reader);
            budget.AddTensor(tensor.Info.Name);
            if (!names.Add(tensor.Info.Name))
            {
                throw reader.Bad($"duplicate tensor name '{tensor.Info.Name}'");
            }

            if (tensor.Offset % alignment != 0)
            {
                throw reader.Bad($"tensor '{tensor.Info.Name}' has offset {tensor.Offset}, not a multiple of the alignment {alignment}");
            }

            tensors.Add(tensor);
        }

        long dataStart = AlignUp(reader.Position, alignment);
        if (dataStart > length)
        {
            throw reader.Bad($"file is truncated: the data section would start at {dataStart}, the file has {length} bytes");
        }

        ulong dataLength = (ulong)(length - dataStart);
        var spans = new List<Segment>(tensors.Count);
        foreach (var (info, offset, bytes) in tensors)
        {
            if (offset > dataLength || bytes > dataLength - offset)
            {
                throw reader.Bad($"tensor '{info.Name}' ({bytes} bytes at data offset {offset}) runs past the end of the file (data section of {dataLength} bytes)");
            }

            spans.Add(new Segment(dataStart + (long)offset, (long)bytes, info));
        }

        spans.Sort((x, y) => x.Offset != y.Offset ? x.Offset.CompareTo(y.Offset) : x.Length.CompareTo(y.Length));
        for (int i = 1; i < spans.Count; i++)
        {
            if (spans[i].Offset < spans[i - 1].Offset + spans[i - 1].Length)
            {
                throw reader.Bad($"tensor '{spans[i].Tensor!.Name}' overlaps tensor '{spans[i - 1].Tensor!.Name}'");
            }
        }

        return FileLayout.FromTensorSpans(Name, length, spans, metadata);
    }

    private static (TensorInfo Info, ulong Offset, ulong Bytes) ReadTensorInfo(LittleEndianFileReader reader)
    {
        string name = ReadString(reader, MaxKeyLength, "a tensor name");
        uint dimensionCount = reader.ReadU32($"the dimension count of tensor '{name}'");
        if (dimensionCount > MaxDimensions)
        {
            throw reader.Bad($"tensor '{name}' has {dimensionCount} dimensions, more than ggml's {MaxDimensions}");
        }

        // GGUF lists dimensions fastest-varying first; MGit shows the outermost first, as PyTorch and safetensors do.
        var shape = new long[dimensionCount];
        ulong elements = 1;
        bool empty = false;
        bool overflow = false;
        for (int d = 0; d < dimensionCount; d++)
        {
            ulong size = reader.ReadU64($"a dimension of tensor '{name}'");
            if (size > long.MaxValue)
            {
                throw reader.Bad($"tensor '{name}' has a negative dimension");
            }

            shape[dimensionCount - 1 - d] = (long)size;
            empty |= size == 0;
            overflow |= size != 0 && elements > long.MaxValue / size;
            elements = overflow ? elements : elements * size;
        }

        if (overflow && !empty)
        {
            throw reader.Bad($"tensor '{name}' has dimensions whose element count overflows");
        }

        uint typeId = reader.ReadU32($"the type of tensor '{name}'");
        var type = GgmlTypes.FromId(typeId) ?? throw reader.Bad($"tensor '{name}' has unknown ggml type {typeId}");
        ulong offset = reader.ReadU64($"the offset of tensor '{name}'");
        if (empty)
        {
            return (new TensorInfo(name, type.Name, shape, type.Layout), offset, 0);
        }

        long rowLength = dimensionCount == 0 ? 1 : shape[^1];
        if (rowLength % type.BlockElements != 0)
        {
            throw reader.Bad($"tensor '{name}' has rows of {rowLength} elements, not a multiple of the {type.Name} block of {type.BlockElements}");
        }

        ulong blocks = elements / (ulong)type.BlockElements;
        if (blocks > long.MaxValue / (ulong)type.BlockBytes)
        {
            throw reader.Bad($"tensor '{name}' has dimensions whose byte size overflows");
        }

        return (new TensorInfo(name, type.Name, shape, type.Layout), offset, blocks * (ulong)type.BlockBytes);
    }

    /// <summary>Reads (or skips) one metadata value; returns its text when it is a short scalar worth keeping.</summary>
    private static string? ReadValue(LittleEndianFileReader reader, string key, uint type, int depth)
    {
        switch ((GgufValueType)type)
        {
            case GgufValueType.UInt8: return reader.ReadU8(key).ToString(CultureInfo.InvariantCulture);
            case GgufValueType.Int8: return unchecked((sbyte)reader.ReadU8(key)).ToString(CultureInfo.InvariantCulture);
            case GgufValueType.UInt16: return reader.ReadU16(key).ToString(CultureInfo.InvariantCulture);
            case GgufValueType.Int16: return unchecked((short)reader.ReadU16(key)).ToString(CultureInfo.InvariantCulture);
            case GgufValueType.UInt32: return reader.ReadU32(key).ToString(CultureInfo.InvariantCulture);
            case GgufValueType.Int32: return unchecked((int)reader.ReadU32(key)).ToString(CultureInfo.InvariantCulture);
            case GgufValueType.Float32: return BitConverter.UInt32BitsToSingle(reader.ReadU32(key)).ToString("R", CultureInfo.InvariantCulture);
            case GgufValueType.Bool:
                byte flag = reader.ReadU8(key);
                return flag switch
                {
                    0 => "false",
                    1 => "true",
                    _ => throw reader.Bad($"metadata '{key}' is a bool with value {flag}"),
                };
            case GgufValueType.UInt64: return reader.ReadU64(key).ToString(CultureInfo.InvariantCulture);
            case GgufValueType.Int64: return unchecked((long)reader.ReadU64(key)).ToString(CultureInfo.InvariantCulture);
            case GgufValueType.Float64: return BitConverter.UInt64BitsToDouble(reader.ReadU64(key)).ToString("R", CultureInfo.InvariantCulture);
            case GgufValueType.String:
                ulong length = reader.ReadU64($"the length of metadata '{key}'");
                if (length <= MaxShownValueLength)
                {
                    return reader.ReadUtf8(length, MaxShownValueLength, $"metadata '{key}'");
                }

                reader.Skip(length, $"metadata '{key}'");
                return null;
            case GgufValueType.Array:
                SkipArray(reader, key, depth);
                return null;
            default:
                throw reader.Bad($"metadata '{key}' has unknown value type {type}");
        }
    }

    private static void SkipArray(LittleEndianFileReader reader, string key, int depth)
    {
        if (depth >= MaxArrayDepth)
        {
            throw reader.Bad($"metadata '{key}' nests arrays more than {MaxArrayDepth} deep");
        }

        uint elementType = reader.ReadU32($"the element type of metadata '{key}'");
        ulong count = reader.ReadU64($"the element count of metadata '{key}'");
        int? fixedSize = FixedSize((GgufValueType)elementType);
        if (fixedSize is int size)
        {
            if (count > (ulong)reader.Remaining / (ulong)size)
            {
                throw reader.Bad($"metadata '{key}' claims {count} elements, more than the file holds");
            }

            reader.Skip(count * (ulong)size, $"metadata '{key}'");
            return;
        }

        // Strings take at least 8 bytes, arrays at least 12: a count beyond that is a lie, caught before looping.
        ulong minimum = (GgufValueType)elementType == GgufValueType.String ? 8u : 12u;
        if (elementType is not ((uint)GgufValueType.String or (uint)GgufValueType.Array))
        {
            throw reader.Bad($"metadata '{key}' is an array of unknown value type {elementType}");
        }

        if (count > (ulong)reader.Remaining / minimum)
        {
            throw reader.Bad($"metadata '{key}' claims {count} elements, more than the file holds");
        }

        for (ulong i = 0; i < count; i++)
        {
            if (elementType == (uint)GgufValueType.String)
            {
                reader.Skip(reader.ReadU64($"a string length in metadata '{key}'"), $"a string in metadata '{key}'");
            }
            else
            {
                SkipArray(reader, key, depth + 1);
            }
        }
    }

    private static int? FixedSize(GgufValueType type) => type switch
    {
        GgufValueType.UInt8 or GgufValueType.Int8 or GgufValueType.Bool => 1,
        GgufValueType.UInt16 or GgufValueType.Int16 => 2,
        GgufValueType.UInt32 or GgufValueType.Int32 or GgufValueType.Float32 => 4,
        GgufValueType.UInt64 or GgufValueType.Int64 or GgufValueType.Float64 => 8,
        _ => null,
    };

    private static string ReadString(LittleEndianFileReader reader, int maxLength, string what) =>
        reader.ReadUtf8(reader.ReadU64($"the length of {what}"), maxLength, what);

    private static long AlignUp(long position, uint alignment) => checked((position + alignment - 1) / alignment * alignment);
}

/// <summary>GGUF metadata value types (gguf.h); the numbers are part of the file format.</summary>
internal enum GgufValueType : uint
{
    UInt8 = 0,
    Int8 = 1,
    UInt16 = 2,
    Int16 = 3,
    UInt32 = 4,
    Int32 = 5,
    Float32 = 6,
    Bool = 7,
    String = 8,
    Array = 9,
    UInt64 = 10,
    Int64 = 11,
    Float64 = 12,
}
