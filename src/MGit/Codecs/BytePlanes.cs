using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;

namespace MGit.Codecs;

/// <summary>
/// Splits little-endian floats into planes of one byte per element, and joins them back.
/// F32 and BF16 are regrouped so that plane 0 is exactly the 8-bit exponent and plane 1 is the
/// sign with the top mantissa bits; F16 and F64 are split into plain byte planes, most
/// significant first. Plane p of n elements occupies bytes [p*n, (p+1)*n) of the plane buffer.
/// </summary>
internal static class BytePlanes
{
    public static void Split(ReadOnlySpan<byte> source, ElementKind kind, Span<byte> planes)
    {
        int width = kind.Width();
        int n = ElementCount(source.Length, planes.Length, width);

        // Truncating casts below keep the low bits on purpose.
        unchecked
        {
            switch (kind)
            {
                case ElementKind.F32:
                    {
                        var values = MemoryMarshal.Cast<byte, uint>(source);
                        var exponent = planes[..n];
                        var signHigh = planes.Slice(n, n);
                        var middle = planes.Slice(2 * n, n);
                        var low = planes.Slice(3 * n, n);
                        for (int i = SplitF32Vectorized(values, exponent, signHigh, middle, low); i < values.Length; i++)
                        {
                            uint x = BitConverter.IsLittleEndian ? values[i] : BinaryPrimitives.ReverseEndianness(values[i]);
                            exponent[i] = (byte)(x >> 23);
                            signHigh[i] = (byte)(((x >> 24) & 0x80) | ((x >> 16) & 0x7F));
                            middle[i] = (byte)(x >> 8);
                            low[i] = (byte)x;
                        }

                        return;
                    }

                case ElementKind.BF16:
                    {
                        var values = MemoryMarshal.Cast<byte, ushort>(source);
                        var exponent = planes[..n];
                        var signMantissa = planes.Slice(n, n);
                        for (int i = SplitBF16Vectorized(values, exponent, signMantissa); i < values.Length; i++)
                        {
                            ushort x = BitConverter.IsLittleEndian ? values[i] : BinaryPrimitives.ReverseEndianness(values[i]);
                            exponent[i] = (byte)(x >> 7);
                            signMantissa[i] = (byte)(((x >> 8) & 0x80) | (x & 0x7F));
                        }

                        return;
                    }

                case ElementKind.F16:
                    for (int i = SplitF16Vectorized(MemoryMarshal.Cast<byte, ushort>(source), planes[..n], planes.Slice(n, n)); i < n; i++)
                    {
                        planes[i] = source[(i * 2) + 1];
                        planes[n + i] = source[i * 2];
                    }

                    return;

                default:
                    for (int p = 0; p < width; p++)
                    {
                        // Most significant byte first: little-endian byte (width - 1 - p).
                        var plane = planes.Slice(p * n, n);
                        int offset = width - 1 - p;
                        for (int i = 0; i < n; i++)
                        {
                            plane[i] = source[(i * width) + offset];
                        }
                    }

                    return;
            }
        }
    }

    public static void Join(ReadOnlySpan<byte> planes, ElementKind kind, Span<byte> destination)
    {
        int width = kind.Width();
        int n = ElementCount(destination.Length, planes.Length, width);

        // Truncating casts below keep the low bits on purpose.
        unchecked
        {
            switch (kind)
            {
                case ElementKind.F32:
                    JoinF32(planes[..n], planes.Slice(n, n), planes.Slice(2 * n, n), planes.Slice(3 * n, n), destination);
                    return;

                case ElementKind.BF16:
                    JoinBF16(planes[..n], planes.Slice(n, n), destination);
                    return;

                case ElementKind.F16:
                    for (int i = JoinF16Vectorized(planes[..n], planes.Slice(n, n), MemoryMarshal.Cast<byte, ushort>(destination)); i < n; i++)
                    {
                        destination[(i * 2) + 1] = planes[i];
                        destination[i * 2] = planes[n + i];
                    }

                    return;

                default:
                    for (int p = 0; p < width; p++)
                    {
                        var plane = planes.Slice(p * n, n);
                        int offset = width - 1 - p;
                        for (int i = 0; i < n; i++)
                        {
                            destination[(i * width) + offset] = plane[i];
                        }
                    }

                    return;
            }
        }
    }

    /// <summary>Joins F32 planes that need not be adjacent (a decoder can join straight from the planes stored raw).</summary>
    public static void JoinF32(ReadOnlySpan<byte> exponent, ReadOnlySpan<byte> signHigh, ReadOnlySpan<byte> middle, ReadOnlySpan<byte> low, Span<byte> destination)
    {
        var values = MemoryMarshal.Cast<byte, uint>(destination);
        CheckPlanes(values.Length, exponent, signHigh, middle, low);
        unchecked
        {
            for (int i = JoinF32Vectorized(exponent, signHigh, middle, low, values); i < values.Length; i++)
            {
                uint sh = signHigh[i];
                uint x = ((uint)exponent[i] << 23) | ((sh & 0x80) << 24) | ((sh & 0x7F) << 16) | ((uint)middle[i] << 8) | low[i];
                values[i] = BitConverter.IsLittleEndian ? x : BinaryPrimitives.ReverseEndianness(x);
            }
        }
    }

    /// <summary>Joins BF16 planes that need not be adjacent.</summary>
    public static void JoinBF16(ReadOnlySpan<byte> exponent, ReadOnlySpan<byte> signMantissa, Span<byte> destination)
    {
        var values = MemoryMarshal.Cast<byte, ushort>(destination);
        CheckPlanes(values.Length, exponent, signMantissa, signMantissa, signMantissa);
        unchecked
        {
            for (int i = JoinBF16Vectorized(exponent, signMantissa, values); i < values.Length; i++)
            {
                uint sm = signMantissa[i];
                ushort x = (ushort)(((uint)exponent[i] << 7) | ((sm & 0x80) << 8) | (sm & 0x7F));
                values[i] = BitConverter.IsLittleEndian ? x : BinaryPrimitives.ReverseEndianness(x);
            }
        }
    }

    private static void CheckPlanes(int n, ReadOnlySpan<byte> a, ReadOnlySpan<byte> b, ReadOnlySpan<byte> c, ReadOnlySpan<byte> d)
    {
        if (a.Length < n || b.Length < n || c.Length < n || d.Length < n)
        {
            throw new ArgumentException("a plane is shorter than the destination's element count");
        }
    }

    // The vectorized loops handle 16 elements at a time with 128-bit vectors (SSE2 on x64,
    // AdvSIMD on Arm64: every .NET target has them) and return how many elements they did; the
    // scalar loops above finish the rest and define the layout. Little-endian only, like the
    // element loads they replace.
    private const int Lanes = 16;

    private static int SplitF32Vectorized(ReadOnlySpan<uint> values, Span<byte> exponent, Span<byte> signHigh, Span<byte> middle, Span<byte> low)
    {
        if (!Vector128.IsHardwareAccelerated || !BitConverter.IsLittleEndian)
        {
            return 0;
        }

        var sign = Vector128.Create(0x80u);
        var high = Vector128.Create(0x7Fu);
        var byteMask = Vector128.Create(0xFFu);
        int i = 0;
        for (; i + Lanes <= values.Length; i += Lanes)
        {
            var x0 = Vector128.Create(values.Slice(i, 4));
            var x1 = Vector128.Create(values.Slice(i + 4, 4));
            var x2 = Vector128.Create(values.Slice(i + 8, 4));
            var x3 = Vector128.Create(values.Slice(i + 12, 4));
            Pack((x0 >>> 23) & byteMask, (x1 >>> 23) & byteMask, (x2 >>> 23) & byteMask, (x3 >>> 23) & byteMask).CopyTo(exponent.Slice(i, Lanes));
            Pack(((x0 >>> 24) & sign) | ((x0 >>> 16) & high), ((x1 >>> 24) & sign) | ((x1 >>> 16) & high), ((x2 >>> 24) & sign) | ((x2 >>> 16) & high), ((x3 >>> 24) & sign) | ((x3 >>> 16) & high)).CopyTo(signHigh.Slice(i, Lanes));
            Pack((x0 >>> 8) & byteMask, (x1 >>> 8) & byteMask, (x2 >>> 8) & byteMask, (x3 >>> 8) & byteMask).CopyTo(middle.Slice(i, Lanes));
            Pack(x0 & byteMask, x1 & byteMask, x2 & byteMask, x3 & byteMask).CopyTo(low.Slice(i, Lanes));
        }

        return i;
    }

    private static int JoinF32Vectorized(ReadOnlySpan<byte> exponent, ReadOnlySpan<byte> signHigh, ReadOnlySpan<byte> middle, ReadOnlySpan<byte> low, Span<uint> values)
    {
        if (!CanInterleave)
        {
            return 0;
        }

        // Each element's two high bytes are formed bytewise, then the four byte planes are
        // interleaved into elements (two rounds of unpacking): a third of the instructions of
        // widening every plane to 32 bits and shifting it into place.
        var sign = Vector128.Create((byte)0x80);
        var high = Vector128.Create((byte)0x7F);
        var output = MemoryMarshal.AsBytes(values);
        int i = 0;
        for (; i + Lanes <= values.Length; i += Lanes)
        {
            var e = Vector128.Create(exponent.Slice(i, Lanes));
            var sh = Vector128.Create(signHigh.Slice(i, Lanes));
            var byte2 = (e << 7) | (sh & high);      // the exponent's low bit, the top 7 mantissa bits
            var byte3 = (sh & sign) | (e >>> 1);     // the sign, the exponent's top 7 bits
            var (low0, low1) = Interleave(Vector128.Create(low.Slice(i, Lanes)), Vector128.Create(middle.Slice(i, Lanes)));
            var (high0, high1) = Interleave(byte2, byte3);
            var (w0, w1) = Interleave(low0.AsUInt16(), high0.AsUInt16());
            var (w2, w3) = Interleave(low1.AsUInt16(), high1.AsUInt16());
            var elements = output.Slice(i * 4, Lanes * 4);
            w0.CopyTo(elements);
            w1.CopyTo(elements[16..]);
            w2.CopyTo(elements[32..]);
            w3.CopyTo(elements[48..]);
        }

        return i;
    }

    private static int SplitBF16Vectorized(ReadOnlySpan<ushort> values, Span<byte> exponent, Span<byte> signMantissa)
    {
        if (!Vector128.IsHardwareAccelerated || !BitConverter.IsLittleEndian)
        {
            return 0;
        }

        var sign = Vector128.Create((ushort)0x80);
        var mantissa = Vector128.Create((ushort)0x7F);
        var byteMask = Vector128.Create((ushort)0xFF);
        int i = 0;
        for (; i + Lanes <= values.Length; i += Lanes)
        {
            var x0 = Vector128.Create(values.Slice(i, 8));
            var x1 = Vector128.Create(values.Slice(i + 8, 8));
            Vector128.Narrow((x0 >>> 7) & byteMask, (x1 >>> 7) & byteMask).CopyTo(exponent.Slice(i, Lanes));
            Vector128.Narrow(((x0 >>> 8) & sign) | (x0 & mantissa), ((x1 >>> 8) & sign) | (x1 & mantissa)).CopyTo(signMantissa.Slice(i, Lanes));
        }

        return i;
    }

    private static int JoinBF16Vectorized(ReadOnlySpan<byte> exponent, ReadOnlySpan<byte> signMantissa, Span<ushort> values)
    {
        if (!CanInterleave)
        {
            return 0;
        }

        var sign = Vector128.Create((byte)0x80);
        var mantissa = Vector128.Create((byte)0x7F);
        var output = MemoryMarshal.AsBytes(values);
        int i = 0;
        for (; i + Lanes <= values.Length; i += Lanes)
        {
            var e = Vector128.Create(exponent.Slice(i, Lanes));
            var sm = Vector128.Create(signMantissa.Slice(i, Lanes));
            var (w0, w1) = Interleave((e << 7) | (sm & mantissa), (sm & sign) | (e >>> 1));
            w0.CopyTo(output.Slice(i * 2, Lanes));
            w1.CopyTo(output.Slice((i * 2) + Lanes, Lanes));
        }

        return i;
    }

    /// <summary>F16 as plain byte planes: high bytes, then low bytes.</summary>
    private static int SplitF16Vectorized(ReadOnlySpan<ushort> values, Span<byte> highBytes, Span<byte> lowBytes)
    {
        if (!Vector128.IsHardwareAccelerated || !BitConverter.IsLittleEndian)
        {
            return 0;
        }

        var byteMask = Vector128.Create((ushort)0xFF);
        int i = 0;
        for (; i + Lanes <= values.Length; i += Lanes)
        {
            var x0 = Vector128.Create(values.Slice(i, 8));
            var x1 = Vector128.Create(values.Slice(i + 8, 8));
            Vector128.Narrow(x0 >>> 8, x1 >>> 8).CopyTo(highBytes.Slice(i, Lanes));
            Vector128.Narrow(x0 & byteMask, x1 & byteMask).CopyTo(lowBytes.Slice(i, Lanes));
        }

        return i;
    }

    private static int JoinF16Vectorized(ReadOnlySpan<byte> highBytes, ReadOnlySpan<byte> lowBytes, Span<ushort> values)
    {
        if (!Vector128.IsHardwareAccelerated || !BitConverter.IsLittleEndian)
        {
            return 0;
        }

        int i = 0;
        for (; i + Lanes <= values.Length; i += Lanes)
        {
            var (h0, h1) = Vector128.Widen(Vector128.Create(highBytes.Slice(i, Lanes)));
            var (l0, l1) = Vector128.Widen(Vector128.Create(lowBytes.Slice(i, Lanes)));
            ((h0 << 8) | l0).CopyTo(values.Slice(i, 8));
            ((h1 << 8) | l1).CopyTo(values.Slice(i + 8, 8));
        }

        return i;
    }

    /// <summary>Four vectors of values below 256 into one vector of 16 bytes, in order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)] // the native build left these as calls returning vectors through memory
    private static Vector128<byte> Pack(Vector128<uint> a, Vector128<uint> b, Vector128<uint> c, Vector128<uint> d) =>
        Vector128.Narrow(Vector128.Narrow(a, b), Vector128.Narrow(c, d));

    /// <summary>Whether <see cref="Interleave(Vector128{byte}, Vector128{byte})"/> has an instruction here (x64, Arm64); else the scalar loops do all.</summary>
    private static bool CanInterleave => (Sse2.IsSupported || AdvSimd.Arm64.IsSupported) && BitConverter.IsLittleEndian;

    /// <summary>The bytes of <paramref name="a"/> and <paramref name="b"/> alternating (a0 b0 a1 b1 …), as two vectors.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector128<byte> Lower, Vector128<byte> Upper) Interleave(Vector128<byte> a, Vector128<byte> b)
    {
        if (Sse2.IsSupported)
        {
            return (Sse2.UnpackLow(a, b), Sse2.UnpackHigh(a, b));
        }

        if (AdvSimd.Arm64.IsSupported)
        {
            return (AdvSimd.Arm64.ZipLow(a, b), AdvSimd.Arm64.ZipHigh(a, b));
        }

        throw new PlatformNotSupportedException(); // callers check CanInterleave
    }

    /// <summary>The 16-bit lanes of <paramref name="a"/> and <paramref name="b"/> alternating, as two vectors of bytes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector128<byte> Lower, Vector128<byte> Upper) Interleave(Vector128<ushort> a, Vector128<ushort> b)
    {
        if (Sse2.IsSupported)
        {
            return (Sse2.UnpackLow(a, b).AsByte(), Sse2.UnpackHigh(a, b).AsByte());
        }

        if (AdvSimd.Arm64.IsSupported)
        {
            return (AdvSimd.Arm64.ZipLow(a, b).AsByte(), AdvSimd.Arm64.ZipHigh(a, b).AsByte());
        }

        throw new PlatformNotSupportedException(); // callers check CanInterleave
    }

    /// <summary>Elements in <paramref name="length"/> bytes, which must be whole elements that fit the plane buffer.</summary>
    private static int ElementCount(int length, int planesLength, int width)
    {
        if (length % width != 0 || planesLength < length)
        {
            throw new ArgumentException("the data is not a whole number of elements, or the plane buffer is too small");
        }

        return length / width;
    }
}
