using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace MGit.Codecs;

/// <summary>
/// Splits little-endian floats into planes of one byte per element, and joins them back.
/// F32 and BF16 are regrouped so that plane 0 is exactly the 8-bit exponent and plane 1 is the
/// sign with the top mantissa bits; F16 and F64 are split into plain byte planes, most
/// significant first. Plane p of n elements occupies bytes [p*n, (p+1)*n) of the plane buffer.
/// </summary>
public static class BytePlanes
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
                        for (int i = 0; i < values.Length; i++)
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
                        for (int i = 0; i < values.Length; i++)
                        {
                            ushort x = BitConverter.IsLittleEndian ? values[i] : BinaryPrimitives.ReverseEndianness(values[i]);
                            exponent[i] = (byte)(x >> 7);
                            signMantissa[i] = (byte)(((x >> 8) & 0x80) | (x & 0x7F));
                        }

                        return;
                    }

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
                    {
                        var values = MemoryMarshal.Cast<byte, uint>(destination);
                        var exponent = planes[..n];
                        var signHigh = planes.Slice(n, n);
                        var middle = planes.Slice(2 * n, n);
                        var low = planes.Slice(3 * n, n);
                        for (int i = 0; i < values.Length; i++)
                        {
                            uint sh = signHigh[i];
                            uint x = ((uint)exponent[i] << 23) | ((sh & 0x80) << 24) | ((sh & 0x7F) << 16) | ((uint)middle[i] << 8) | low[i];
                            values[i] = BitConverter.IsLittleEndian ? x : BinaryPrimitives.ReverseEndianness(x);
                        }

                        return;
                    }

                case ElementKind.BF16:
                    {
                        var values = MemoryMarshal.Cast<byte, ushort>(destination);
                        var exponent = planes[..n];
                        var signMantissa = planes.Slice(n, n);
                        for (int i = 0; i < values.Length; i++)
                        {
                            uint sm = signMantissa[i];
                            ushort x = (ushort)(((uint)exponent[i] << 7) | ((sm & 0x80) << 8) | (sm & 0x7F));
                            values[i] = BitConverter.IsLittleEndian ? x : BinaryPrimitives.ReverseEndianness(x);
                        }

                        return;
                    }

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
