using System.Buffers.Binary;
using MGit.Errors;
using MGit.Primitives;

namespace MGit.Codecs;

/// <summary>
/// Opt-in lossy storage of a float chunk against its parent's chunk, as the MGit paper does it
/// (absolute error bound E per element), made exact about its promise: each element becomes
/// base + q * 2E with q = round((x - base) / 2E), the result is rounded to the element type and
/// checked against the original; any element off by more than E (or not finite) is kept exactly.
/// The stored chunk is the reconstruction, so its id is the hash of what checkout returns.
/// </summary>
/// <remarks>
/// Payload (a delta, codec 3, rule <see cref="DeltaRule.Quantized"/>): the delta header, then
/// f64 LE E, u32 LE exception count, the exceptions (u32 index, element bits), then the q values
/// (i32, zigzag) coded as byte planes.
/// </remarks>
internal static class LossyCodec
{
    public static bool Supports(ElementKind kind) => kind is ElementKind.F32 or ElementKind.F64 or ElementKind.BF16 or ElementKind.F16;

    /// <summary>Quantizes <paramref name="content"/> against the base; returns the reconstruction and the payload.</summary>
    public static (RentedBuffer Reconstruction, RentedBuffer Payload) Encode(ReadOnlySpan<byte> content, ElementKind kind, ReadOnlySpan<byte> baseContent, ObjectId baseId, int baseDepth, double errorBound)
    {
        if (!Supports(kind) || !(errorBound > 0) || double.IsInfinity(errorBound))
        {
            throw new ArgumentException("lossy coding needs a float kind and a positive error bound");
        }

        int width = kind.Width();
        int n = content.Length / width;
        int overlap = Math.Min(n, baseContent.Length / width);
        double step = 2 * errorBound;
        var reconstruction = new RentedBuffer(content.Length);
        using var quantized = new RentedBuffer(n * 4);
        var exceptions = new List<(int Index, ulong Bits)>();
        for (int i = 0; i < n; i++)
        {
            ulong bits = ReadBits(content, i, width);
            double x = ToDouble(bits, kind);
            int q = 0;
            ulong? stored = null;
            if (i < overlap && double.IsFinite(x))
            {
                ulong baseBits = ReadBits(baseContent, i, width);
                double b = ToDouble(baseBits, kind);
                double steps = Math.Round((x - b) / step);
                if (double.IsFinite(b) && Math.Abs(steps) < int.MaxValue / 2)
                {
                    // Exactly what Decode computes for this q.
                    ulong candidate = steps == 0 ? baseBits : FromDouble(b + (steps * step), kind);
                    double value = ToDouble(candidate, kind);
                    if (double.IsFinite(value) && Math.Abs(value - x) <= errorBound)
                    {
                        q = (int)steps;
                        stored = candidate;
                    }
                }
            }

            if (stored is null)
            {
                exceptions.Add((i, bits));
                stored = bits;
            }

            WriteBits(reconstruction.Span, i, width, stored.Value);
            BinaryPrimitives.WriteUInt32LittleEndian(quantized.Span[(i * 4)..], unchecked((uint)((q << 1) ^ (q >> 31))));
        }

        byte codec = ChunkCodec.Encode(quantized.Span, ElementKind.I32, out var encodedQ);
        using (encodedQ)
        {
            var qBytes = encodedQ is null ? quantized.Span : encodedQ.Span;
            int exceptionBytes = exceptions.Count * (4 + width);
            var payload = new RentedBuffer(checked(DeltaCodec.FixedLength + 12 + exceptionBytes + qBytes.Length));
            var span = payload.Span;
            baseId.WriteBytes(span);
            span[32] = (byte)Math.Min(255, baseDepth + 1);
            span[33] = (byte)DeltaRule.Quantized;
            span[34] = (byte)kind;
            span[35] = codec;
            BinaryPrimitives.WriteUInt32LittleEndian(span[36..], 0);
            BinaryPrimitives.WriteDoubleLittleEndian(span[40..], errorBound);
            BinaryPrimitives.WriteUInt32LittleEndian(span[48..], (uint)exceptions.Count);
            int position = 52;
            foreach (var (index, bits) in exceptions)
            {
                BinaryPrimitives.WriteUInt32LittleEndian(span[position..], (uint)index);
                WriteBits(span[(position + 4)..], 0, width, bits);
                position += 4 + width;
            }

            qBytes.CopyTo(span[position..]);
            payload.Truncate(position + qBytes.Length);
            return (reconstruction, payload);
        }
    }

    public static void Decode(DeltaCodec.Header header, ReadOnlySpan<byte> payload, ReadOnlySpan<byte> baseContent, Span<byte> destination, ObjectId id)
    {
        DamagedObjectException Bad(string problem) => new(id.ToString(), problem);
        var kind = header.Kind;
        if (!Supports(kind) || destination.Length % kind.Width() != 0 || payload.Length < 52)
        {
            throw Bad("invalid lossy delta");
        }

        int width = kind.Width();
        int n = destination.Length / width;
        int overlap = Math.Min(n, baseContent.Length / width);
        double errorBound = BinaryPrimitives.ReadDoubleLittleEndian(payload[40..]);
        uint exceptionCount = BinaryPrimitives.ReadUInt32LittleEndian(payload[48..]);
        if (!(errorBound > 0) || exceptionCount > (uint)n || (long)exceptionCount * (4 + width) > payload.Length - 52)
        {
            throw Bad("invalid lossy delta header");
        }

        int position = 52 + ((int)exceptionCount * (4 + width));
        using var quantized = new RentedBuffer(n * 4);
        ChunkCodec.Decode(header.ResidualCodec, payload[position..], quantized.Span, id);
        double step = 2 * errorBound;
        for (int i = 0; i < n; i++)
        {
            uint z = BinaryPrimitives.ReadUInt32LittleEndian(quantized.Span[(i * 4)..]);
            int q = unchecked((int)(z >> 1) ^ -(int)(z & 1));
            ulong value = 0;
            if (i < overlap)
            {
                ulong baseBits = ReadBits(baseContent, i, width);
                value = q == 0 ? baseBits : FromDouble(ToDouble(baseBits, kind) + (q * step), kind);
            }

            WriteBits(destination, i, width, value);
        }

        var exceptions = payload[52..position];
        for (int e = 0; e < exceptionCount; e++)
        {
            uint index = BinaryPrimitives.ReadUInt32LittleEndian(exceptions[(e * (4 + width))..]);
            if (index >= (uint)n)
            {
                throw Bad("lossy exception index out of range");
            }

            WriteBits(destination, (int)index, width, ReadBits(exceptions[((e * (4 + width)) + 4)..], 0, width));
        }
    }

    private static ulong ReadBits(ReadOnlySpan<byte> data, int index, int width) => width switch
    {
        2 => BinaryPrimitives.ReadUInt16LittleEndian(data[(index * 2)..]),
        4 => BinaryPrimitives.ReadUInt32LittleEndian(data[(index * 4)..]),
        _ => BinaryPrimitives.ReadUInt64LittleEndian(data[(index * 8)..]),
    };

    private static void WriteBits(Span<byte> data, int index, int width, ulong bits)
    {
        unchecked
        {
            switch (width)
            {
                case 2: BinaryPrimitives.WriteUInt16LittleEndian(data[(index * 2)..], (ushort)bits); break;
                case 4: BinaryPrimitives.WriteUInt32LittleEndian(data[(index * 4)..], (uint)bits); break;
                default: BinaryPrimitives.WriteUInt64LittleEndian(data[(index * 8)..], bits); break;
            }
        }
    }

    private static double ToDouble(ulong bits, ElementKind kind) => kind switch
    {
        ElementKind.F32 => BitConverter.UInt32BitsToSingle((uint)bits),
        ElementKind.F64 => BitConverter.UInt64BitsToDouble(bits),
        ElementKind.F16 => (double)BitConverter.UInt16BitsToHalf((ushort)bits),
        _ => BitConverter.UInt32BitsToSingle((uint)bits << 16),
    };

    private static ulong FromDouble(double value, ElementKind kind) => kind switch
    {
        ElementKind.F32 => BitConverter.SingleToUInt32Bits((float)value),
        ElementKind.F64 => BitConverter.DoubleToUInt64Bits(value),
        ElementKind.F16 => BitConverter.HalfToUInt16Bits((Half)value),
        _ => DeltaCodec.ToBFloat16(BitConverter.SingleToUInt32Bits((float)value)),
    };
}
