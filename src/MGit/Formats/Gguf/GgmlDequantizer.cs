using System.Buffers.Binary;

namespace MGit.Formats.Gguf;

/// <summary>
/// Turns whole blocks of a quantized ggml type back into values, as ggml's reference
/// dequantisation does (ggml-quants.c; the arithmetic is done in float, as there, so values match
/// what llama.cpp computes). Used for diff statistics only: the stored bytes are never changed.
/// The i-quants (IQ*), ternary and MXFP4 types need codebooks and are not decoded here; callers
/// compare their bytes instead.
/// </summary>
internal static class GgmlDequantizer
{
    /// <summary>Super-block size of the K-quants (ggml's QK_K).</summary>
    private const int SuperBlock = 256;

    private static readonly HashSet<string> Decoded = new(StringComparer.Ordinal)
    {
        "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q8_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "Q8_K",
    };

    /// <summary>Whether <paramref name="type"/> is a quantized type this class decodes.</summary>
    public static bool Supports(GgmlType type) => Decoded.Contains(type.Name);

    /// <summary>
    /// Decodes the whole blocks in <paramref name="source"/> into <paramref name="destination"/>,
    /// which receives <see cref="GgmlType.BlockElements"/> values per block.
    /// </summary>
    public static void Dequantize(GgmlType type, ReadOnlySpan<byte> source, Span<double> destination)
    {
        if (!Supports(type))
        {
            throw new ArgumentException($"ggml type {type.Name} is not dequantised here", nameof(type));
        }

        if (source.Length % type.BlockBytes != 0)
        {
            throw new ArgumentException($"{source.Length} bytes are not whole {type.Name} blocks of {type.BlockBytes} bytes", nameof(source));
        }

        int blocks = source.Length / type.BlockBytes;
        if (destination.Length < blocks * type.BlockElements)
        {
            throw new ArgumentException("destination is smaller than the blocks' values", nameof(destination));
        }

        for (int i = 0; i < blocks; i++)
        {
            var block = source.Slice(i * type.BlockBytes, type.BlockBytes);
            var y = destination.Slice(i * type.BlockElements, type.BlockElements);
            switch (type.Name)
            {
                case "Q4_0": Q4_0(block, y); break;
                case "Q4_1": Q4_1(block, y); break;
                case "Q5_0": Q5_0(block, y); break;
                case "Q5_1": Q5_1(block, y); break;
                case "Q8_0" or "Q8_1": Q8_0(block, y); break;
                case "Q2_K": Q2_K(block, y); break;
                case "Q3_K": Q3_K(block, y); break;
                case "Q4_K": Q4_K(block, y); break;
                case "Q5_K": Q5_K(block, y); break;
                case "Q6_K": Q6_K(block, y); break;
                default: Q8_K(block, y); break;
            }
        }
    }

    private static float Half(ReadOnlySpan<byte> bytes, int offset) => (float)BinaryPrimitives.ReadHalfLittleEndian(bytes[offset..]);

    // Q4_0: f16 scale, 16 bytes of nibbles; low nibbles are elements 0-15, high nibbles 16-31, offset by 8.
    private static void Q4_0(ReadOnlySpan<byte> b, Span<double> y)
    {
        float d = Half(b, 0);
        var qs = b.Slice(2, 16);
        for (int j = 0; j < 16; j++)
        {
            y[j] = ((qs[j] & 0xF) - 8) * d;
            y[j + 16] = ((qs[j] >> 4) - 8) * d;
        }
    }

    // Q4_1: f16 scale and f16 minimum, then nibbles as Q4_0, unsigned.
    private static void Q4_1(ReadOnlySpan<byte> b, Span<double> y)
    {
        float d = Half(b, 0), m = Half(b, 2);
        var qs = b.Slice(4, 16);
        for (int j = 0; j < 16; j++)
        {
            y[j] = ((qs[j] & 0xF) * d) + m;
            y[j + 16] = ((qs[j] >> 4) * d) + m;
        }
    }

    // Q5_0: f16 scale, 32 fifth bits (one u32, bit j for element j), nibbles as Q4_0; offset by 16.
    private static void Q5_0(ReadOnlySpan<byte> b, Span<double> y)
    {
        float d = Half(b, 0);
        uint qh = BinaryPrimitives.ReadUInt32LittleEndian(b[2..]);
        var qs = b.Slice(6, 16);
        for (int j = 0; j < 16; j++)
        {
            int low = (int)(qs[j] & 0xF) | (int)(((qh >> j) & 1) << 4);
            int high = (qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4);
            y[j] = (low - 16) * d;
            y[j + 16] = (high - 16) * d;
        }
    }

    // Q5_1: f16 scale and minimum, fifth bits and nibbles as Q5_0, unsigned.
    private static void Q5_1(ReadOnlySpan<byte> b, Span<double> y)
    {
        float d = Half(b, 0), m = Half(b, 2);
        uint qh = BinaryPrimitives.ReadUInt32LittleEndian(b[4..]);
        var qs = b.Slice(8, 16);
        for (int j = 0; j < 16; j++)
        {
            int low = (int)(qs[j] & 0xF) | (int)(((qh >> j) & 1) << 4);
            int high = (qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4);
            y[j] = (low * d) + m;
            y[j + 16] = (high * d) + m;
        }
    }

    // Q8_0: f16 scale, 32 signed bytes. Q8_1 has a second f16 (the sum, unused here) before the same bytes.
    private static void Q8_0(ReadOnlySpan<byte> b, Span<double> y)
    {
        float d = Half(b, 0);
        var qs = b[(b.Length - 32)..];
        for (int j = 0; j < 32; j++)
        {
            y[j] = unchecked((sbyte)qs[j]) * d;
        }
    }

    // Q2_K: 16 bytes of 4-bit scale and 4-bit min pairs, 64 bytes of 2-bit quants, f16 d and dmin.
    // Each 128 values read 32 quant bytes four times, two bits further each time; 16 values per scale.
    private static void Q2_K(ReadOnlySpan<byte> b, Span<double> y)
    {
        var scales = b[..16];
        var qs = b.Slice(16, 64);
        float d = Half(b, 80), min = Half(b, 82);
        int output = 0, scale = 0;
        for (int half = 0; half < 2; half++)
        {
            var q = qs.Slice(half * 32, 32);
            for (int shift = 0; shift < 8; shift += 2)
            {
                for (int part = 0; part < 2; part++)
                {
                    byte sc = scales[scale++];
                    float dl = d * (sc & 0xF), ml = min * (sc >> 4);
                    for (int l = 0; l < 16; l++)
                    {
                        y[output++] = (dl * ((q[(part * 16) + l] >> shift) & 3)) - ml;
                    }
                }
            }
        }
    }

    // Q3_K: 32 bytes of high bits, 64 bytes of 2-bit quants, 12 bytes packing sixteen 6-bit scales, f16 d.
    // A value is (2-bit quant - (high bit clear ? 4 : 0)) * d * (scale - 32).
    private static void Q3_K(ReadOnlySpan<byte> b, Span<double> y)
    {
        var hmask = b[..32];
        var qs = b.Slice(32, 64);
        Span<int> scales = stackalloc int[16];
        UnpackQ3Scales(b.Slice(96, 12), scales);
        float dAll = Half(b, 108);
        int output = 0, scale = 0, bit = 0;
        for (int half = 0; half < 2; half++)
        {
            var q = qs.Slice(half * 32, 32);
            for (int shift = 0; shift < 8; shift += 2, bit++)
            {
                for (int part = 0; part < 2; part++)
                {
                    float dl = dAll * (scales[scale++] - 32);
                    for (int l = 0; l < 16; l++)
                    {
                        int i = (part * 16) + l;
                        int value = ((q[i] >> shift) & 3) - ((hmask[i] >> bit & 1) != 0 ? 0 : 4);
                        y[output++] = dl * value;
                    }
                }
            }
        }
    }

    /// <summary>
    /// Q3_K's sixteen 6-bit scales: the low 4 bits of scales 0-7 are the low nibbles of bytes 0-7,
    /// of scales 8-15 their high nibbles; the top 2 bits of scale k come from byte 8 + (k mod 4),
    /// bits 2 * (k / 4) and up.
    /// </summary>
    internal static void UnpackQ3Scales(ReadOnlySpan<byte> packed, Span<int> scales)
    {
        for (int k = 0; k < 16; k++)
        {
            int low = k < 8 ? packed[k] & 0xF : packed[k - 8] >> 4;
            int high = (packed[8 + (k % 4)] >> (2 * (k / 4))) & 3;
            scales[k] = low | (high << 4);
        }
    }

    /// <summary>
    /// Q4_K's and Q5_K's eight 6-bit scale and min pairs in 12 bytes: pairs 0-3 are the low 6 bits of
    /// bytes 0-3 (scales) and 4-7 (mins); pairs 4-7 take their low 4 bits from the nibbles of bytes
    /// 8-11 and their top 2 bits from the top bits of bytes 0-3 (scales) and 4-7 (mins).
    /// </summary>
    internal static (int Scale, int Min) ScaleMinK4(int j, ReadOnlySpan<byte> q) => j < 4
        ? (q[j] & 63, q[j + 4] & 63)
        : ((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4));

    // Q4_K: f16 d and dmin, 12 scale bytes, 128 bytes of nibbles; each 64 values share 32 bytes (low nibbles, then high).
    private static void Q4_K(ReadOnlySpan<byte> b, Span<double> y)
    {
        float d = Half(b, 0), min = Half(b, 2);
        var scales = b.Slice(4, 12);
        var qs = b.Slice(16, 128);
        int output = 0;
        for (int group = 0; group < SuperBlock / 64; group++)
        {
            var (sc1, m1) = ScaleMinK4(2 * group, scales);
            var (sc2, m2) = ScaleMinK4((2 * group) + 1, scales);
            float d1 = d * sc1, min1 = min * m1, d2 = d * sc2, min2 = min * m2;
            var q = qs.Slice(group * 32, 32);
            for (int l = 0; l < 32; l++) y[output++] = (d1 * (q[l] & 0xF)) - min1;
            for (int l = 0; l < 32; l++) y[output++] = (d2 * (q[l] >> 4)) - min2;
        }
    }

    // Q5_K: as Q4_K with 32 bytes of fifth bits between scales and nibbles; group g uses bits 2g and 2g+1.
    private static void Q5_K(ReadOnlySpan<byte> b, Span<double> y)
    {
        float d = Half(b, 0), min = Half(b, 2);
        var scales = b.Slice(4, 12);
        var qh = b.Slice(16, 32);
        var qs = b.Slice(48, 128);
        int output = 0;
        for (int group = 0; group < SuperBlock / 64; group++)
        {
            var (sc1, m1) = ScaleMinK4(2 * group, scales);
            var (sc2, m2) = ScaleMinK4((2 * group) + 1, scales);
            float d1 = d * sc1, min1 = min * m1, d2 = d * sc2, min2 = min * m2;
            var q = qs.Slice(group * 32, 32);
            int lowBit = 2 * group, highBit = (2 * group) + 1;
            for (int l = 0; l < 32; l++) y[output++] = (d1 * ((q[l] & 0xF) + (((qh[l] >> lowBit) & 1) << 4))) - min1;
            for (int l = 0; l < 32; l++) y[output++] = (d2 * ((q[l] >> 4) + (((qh[l] >> highBit) & 1) << 4))) - min2;
        }
    }

    // Q6_K: 128 bytes of low nibbles, 64 bytes of 2-bit highs, 16 signed 8-bit scales, f16 d; values offset by 32.
    private static void Q6_K(ReadOnlySpan<byte> b, Span<double> y)
    {
        float d = Half(b, 208);
        for (int half = 0; half < 2; half++)
        {
            var ql = b.Slice(half * 64, 64);
            var qh = b.Slice(128 + (half * 32), 32);
            var sc = b.Slice(192 + (half * 8), 8);
            var o = y.Slice(half * 128, 128);
            for (int l = 0; l < 32; l++)
            {
                int s = l / 16;
                int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                o[l] = d * unchecked((sbyte)sc[s]) * q1;
                o[l + 32] = d * unchecked((sbyte)sc[s + 2]) * q2;
                o[l + 64] = d * unchecked((sbyte)sc[s + 4]) * q3;
                o[l + 96] = d * unchecked((sbyte)sc[s + 6]) * q4;
            }
        }
    }

    // Q8_K: f32 scale, 256 signed bytes, then 16 i16 block sums (used by dot products, not by values).
    private static void Q8_K(ReadOnlySpan<byte> b, Span<double> y)
    {
        float d = BinaryPrimitives.ReadSingleLittleEndian(b);
        var qs = b.Slice(4, SuperBlock);
        for (int j = 0; j < SuperBlock; j++)
        {
            y[j] = d * unchecked((sbyte)qs[j]);
        }
    }
}
