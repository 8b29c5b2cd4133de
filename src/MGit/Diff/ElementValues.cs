using System.Buffers.Binary;
using MGit.Formats.Gguf;

namespace MGit.Diff;

/// <summary>
/// How a dtype's values are read for statistics: every <see cref="BlockBytes"/> bytes hold
/// <see cref="BlockElements"/> values (1 and the element width for plain dtypes; a whole block for
/// quantized ggml types, which are dequantised).
/// </summary>
internal sealed record ElementDecoder(string Dtype, int BlockElements, int BlockBytes, GgmlType? Quantized)
{
    /// <summary>Decodes the whole blocks of <paramref name="source"/> into <paramref name="destination"/>.</summary>
    public void Decode(ReadOnlySpan<byte> source, Span<double> destination)
    {
        if (Quantized is { } type)
        {
            GgmlDequantizer.Dequantize(type, source, destination);
        }
        else
        {
            ElementValues.Decode(Dtype, source, destination);
        }
    }
}

/// <summary>
/// Turns tensor bytes (little-endian, as safetensors and the other formats store them) into
/// doubles, so statistics and sketches treat every numeric dtype alike: F64, F32, F16, BF16, both
/// 8-bit floats, and the integer and bool types. Sub-byte and complex dtypes are not numeric here.
/// </summary>
internal static class ElementValues
{
    /// <summary>Bytes per element of a dtype this class decodes, or null when it does not decode it.</summary>
    public static int? Width(string dtype) => dtype switch
    {
        "F64" or "I64" or "U64" => 8,
        "F32" or "I32" or "U32" => 4,
        "F16" or "BF16" or "I16" or "U16" => 2,
        "F8_E4M3" or "F8_E5M2" or "I8" or "U8" or "BOOL" => 1,
        _ => null,
    };

    public static bool IsNumeric(string dtype) => Width(dtype) is not null;

    /// <summary>
    /// How to read a dtype's values for statistics, or null when they cannot be read (sub-byte,
    /// complex, and the ggml types that are not dequantised: their bytes are compared instead).
    /// </summary>
    public static ElementDecoder? Decoder(string dtype) =>
        Width(dtype) is int width ? new ElementDecoder(dtype, 1, width, null)
        : GgmlTypes.FromName(dtype) is { IsQuantized: true } type && GgmlDequantizer.Supports(type) ? new ElementDecoder(dtype, type.BlockElements, type.BlockBytes, type)
        : null;

    public static bool IsFloat(string dtype) => dtype is "F64" or "F32" or "F16" or "BF16" or "F8_E4M3" or "F8_E5M2";

    /// <summary>Float precision rank: a cast to a lower rank loses information (used to orient lineage).</summary>
    public static int Precision(string dtype) => dtype switch
    {
        "F64" => 64,
        "F32" => 32,
        "F16" or "BF16" => 16,
        "F8_E4M3" or "F8_E5M2" => 8,
        _ => 0,
    };

    /// <summary>Decodes <paramref name="destination"/>.Length elements from <paramref name="source"/>.</summary>
    public static void Decode(string dtype, ReadOnlySpan<byte> source, Span<double> destination)
    {
        int width = Width(dtype) ?? throw new ArgumentException($"dtype {dtype} is not numeric", nameof(dtype));
        if (source.Length < destination.Length * width)
        {
            throw new ArgumentException("source holds fewer elements than requested", nameof(source));
        }

        switch (dtype)
        {
            case "F64":
                for (int i = 0; i < destination.Length; i++) destination[i] = BinaryPrimitives.ReadDoubleLittleEndian(source[(i * 8)..]);
                break;
            case "F32":
                for (int i = 0; i < destination.Length; i++) destination[i] = BinaryPrimitives.ReadSingleLittleEndian(source[(i * 4)..]);
                break;
            case "F16":
                for (int i = 0; i < destination.Length; i++) destination[i] = (double)BinaryPrimitives.ReadHalfLittleEndian(source[(i * 2)..]);
                break;
            case "BF16":
                // bfloat16 is the top half of a float32.
                for (int i = 0; i < destination.Length; i++) destination[i] = BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(source[(i * 2)..]) << 16);
                break;
            case "F8_E5M2":
                // E5M2 is the top byte of an IEEE half.
                for (int i = 0; i < destination.Length; i++) destination[i] = (double)BitConverter.UInt16BitsToHalf((ushort)(source[i] << 8));
                break;
            case "F8_E4M3":
                for (int i = 0; i < destination.Length; i++) destination[i] = E4M3(source[i]);
                break;
            case "I64":
                for (int i = 0; i < destination.Length; i++) destination[i] = BinaryPrimitives.ReadInt64LittleEndian(source[(i * 8)..]);
                break;
            case "U64":
                for (int i = 0; i < destination.Length; i++) destination[i] = BinaryPrimitives.ReadUInt64LittleEndian(source[(i * 8)..]);
                break;
            case "I32":
                for (int i = 0; i < destination.Length; i++) destination[i] = BinaryPrimitives.ReadInt32LittleEndian(source[(i * 4)..]);
                break;
            case "U32":
                for (int i = 0; i < destination.Length; i++) destination[i] = BinaryPrimitives.ReadUInt32LittleEndian(source[(i * 4)..]);
                break;
            case "I16":
                for (int i = 0; i < destination.Length; i++) destination[i] = BinaryPrimitives.ReadInt16LittleEndian(source[(i * 2)..]);
                break;
            case "U16":
                for (int i = 0; i < destination.Length; i++) destination[i] = BinaryPrimitives.ReadUInt16LittleEndian(source[(i * 2)..]);
                break;
            case "I8":
                for (int i = 0; i < destination.Length; i++) destination[i] = unchecked((sbyte)source[i]);
                break;
            default: // U8, BOOL
                for (int i = 0; i < destination.Length; i++) destination[i] = source[i];
                break;
        }
    }

    /// <summary>One element at byte offset 0 of <paramref name="source"/>.</summary>
    public static double DecodeOne(string dtype, ReadOnlySpan<byte> source)
    {
        Span<double> one = stackalloc double[1];
        Decode(dtype, source, one);
        return one[0];
    }

    /// <summary>OCP FP8 E4M3 ("fn"): bias 7, no infinities, S.1111.111 is NaN.</summary>
    private static double E4M3(byte b)
    {
        int exponent = (b >> 3) & 0xF;
        int mantissa = b & 0x7;
        double sign = (b & 0x80) != 0 ? -1 : 1;
        if (exponent == 0xF && mantissa == 0x7)
        {
            return double.NaN;
        }

        return exponent == 0
            ? sign * mantissa / 8.0 * Math.Pow(2, -6)
            : sign * (1 + mantissa / 8.0) * Math.Pow(2, exponent - 7);
    }
}
