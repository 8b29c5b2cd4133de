using System.Text;

namespace MGit.Formats.PyTorch;

/// <summary>
/// Reads the files TorchSharp's <c>Module.save</c> writes (a <c>.pt</c> or <c>.dat</c> that is not
/// torch.save's zip): an entry count, then per entry the tensor's name (a .NET BinaryWriter string:
/// its UTF-8 byte length 7 bits at a time, then the bytes), its element type (TorchSharp's
/// ScalarType number), its dimension count and each dimension, then its elements, contiguous and
/// little-endian. Every number is unsigned LEB128. The format has no magic number or checksum:
/// a file is TorchSharp's only when its first entry reads as one (see <see cref="BeginsLikeOne"/>),
/// and its tensors are listed only when every entry reads and the last one ends the file.
/// </summary>
internal static class TorchSharpLayout
{
    public const string FormatName = "torchsharp";

    /// <summary>The bytes an entry's header may take: a name up to the header cap, and LEB128 numbers for the type and up to 64 dimensions.</summary>
    private const int MaxHeaderBytes = 5 + HeaderLimits.MaxNameBytes + 10 + 10 + (HeaderLimits.MaxDimensions * 10);

    /// <summary>TorchSharp's ScalarType numbers (the same as libtorch's c10::ScalarType), as MGit names dtypes.</summary>
    private static readonly Dictionary<long, TorchDtype> ScalarTypes = new()
    {
        [0] = new("U8", 1),
        [1] = new("I8", 1),
        [2] = new("I16", 2),
        [3] = new("I32", 4),
        [4] = new("I64", 8),
        [5] = new("F16", 2),
        [6] = new("F32", 4),
        [7] = new("F64", 8),
        [9] = new("C64", 8),
        [10] = new("C128", 16),
        [11] = new("BOOL", 1),
        [15] = new("BF16", 2),
    };

    /// <summary>Whether the file starts as TorchSharp writes one: an empty state dict, or an entry count and a first entry header that reads.</summary>
    public static bool BeginsLikeOne(LittleEndianFileReader reader)
    {
        if (reader.Length == 1)
        {
            reader.Seek(0);
            return reader.ReadU8("the entry count") == 0;
        }

        try
        {
            var window = Window(reader, 0);
            int at = 0;
            return ReadNumber(window, ref at) is > 0 && TryReadHeader(window, ref at, reader.Length, out _, out _);
        }
        catch (Errors.InvalidModelFileException)
        {
            return false;
        }
    }

    /// <summary>Reads every entry; refuses (with the reader's one-line error) a file whose entries do not read or do not end it exactly.</summary>
    public static FileLayout Read(LittleEndianFileReader reader)
    {
        var budget = new HeaderBudget(reader.Bad);
        var spans = new List<Segment>();
        var window = Window(reader, 0);
        int at = 0;
        long count = ReadNumber(window, ref at) ?? throw reader.Bad("the entry count does not read");
        long position = at;
        for (long i = 0; i < count; i++)
        {
            window = Window(reader, position);
            at = 0;
            if (!TryReadHeader(window, ref at, reader.Length, out var tensor, out var problem))
            {
                throw reader.Bad($"entry {i + 1} of {count}: {problem}");
            }

            budget.AddTensor(tensor.Name);
            long start = checked(position + at);
            long bytes = ByteLength(tensor);
            if (bytes > reader.Length - start)
            {
                throw reader.Bad($"tensor '{HeaderLimits.Excerpt(tensor.Name)}' needs {bytes} bytes from offset {start}, past the end of the file");
            }

            spans.Add(new Segment(start, bytes, tensor));
            position = start + bytes;
        }

        if (position != reader.Length)
        {
            throw reader.Bad($"{count} entries end at byte {position}, but the file has {reader.Length}");
        }

        return FileLayout.FromTensorSpans(FormatName, reader.Length, spans);
    }

    private static byte[] Window(LittleEndianFileReader reader, long position)
    {
        var window = new byte[(int)Math.Min(MaxHeaderBytes, reader.Length - position)];
        reader.Seek(position);
        reader.ReadExactly(window, "an entry header");
        return window;
    }

    private static bool TryReadHeader(ReadOnlySpan<byte> window, ref int at, long fileLength, out TensorInfo tensor, out string problem)
    {
        tensor = null!;
        long? nameLength = ReadNumber(window, ref at);
        if (nameLength is not { } n || n is 0 or > HeaderLimits.MaxNameBytes || n > window.Length - at)
        {
            problem = "the tensor name's length does not read";
            return false;
        }

        string name;
        try
        {
            name = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(window.Slice(at, (int)n));
        }
        catch (DecoderFallbackException)
        {
            problem = "the tensor name is not UTF-8";
            return false;
        }

        at += (int)n;
        if (name.Any(char.IsControl))
        {
            problem = "the tensor name holds control characters";
            return false;
        }

        if (ReadNumber(window, ref at) is not { } type || !ScalarTypes.TryGetValue(type, out var dtype))
        {
            problem = $"tensor '{HeaderLimits.Excerpt(name)}' has an element type TorchSharp does not write";
            return false;
        }

        if (ReadNumber(window, ref at) is not { } rank || rank > HeaderLimits.MaxDimensions)
        {
            problem = $"tensor '{HeaderLimits.Excerpt(name)}' has more than {HeaderLimits.MaxDimensions} dimensions";
            return false;
        }

        var shape = new long[rank];
        for (int d = 0; d < rank; d++)
        {
            if (ReadNumber(window, ref at) is not { } size || size > fileLength)
            {
                problem = $"tensor '{HeaderLimits.Excerpt(name)}' has a dimension that does not read or exceeds the file";
                return false;
            }

            shape[d] = size;
        }

        tensor = new TensorInfo(name, dtype.Name, shape, dtype.Layout);
        problem = "";
        return true;
    }

    private static long ByteLength(TensorInfo tensor)
    {
        try
        {
            long elements = tensor.Shape.Aggregate(1L, (a, b) => checked(a * b));
            return checked(elements * tensor.Layout!.BlockBytes);
        }
        catch (OverflowException)
        {
            return long.MaxValue;
        }
    }

    /// <summary>An unsigned LEB128 number of at most 63 bits, or null when it does not end within the window or is too large.</summary>
    private static long? ReadNumber(ReadOnlySpan<byte> window, ref int at)
    {
        long value = 0;
        for (int shift = 0; shift < 63; shift += 7)
        {
            if (at >= window.Length)
            {
                return null;
            }

            byte b = window[at++];
            value |= (long)(b & 0x7F) << shift;
            if ((b & 0x80) == 0)
            {
                return value;
            }
        }

        return null;
    }
}
