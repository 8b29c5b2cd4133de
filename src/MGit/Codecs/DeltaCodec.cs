using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using MGit.Errors;
using MGit.Primitives;

namespace MGit.Codecs;

/// <summary>How a delta chunk derives from its base.</summary>
internal enum DeltaRule : byte
{
    /// <summary>Bitwise XOR with the base (zero-extended or truncated to the chunk's length): fine-tunes, appended rows.</summary>
    Xor = 0,
    /// <summary>bfloat16 round-to-nearest-even of an F32 base, XOR a residual.</summary>
    CastBF16 = 1,
    /// <summary>float16 round-to-nearest-even of an F32 base, XOR a residual.</summary>
    CastF16 = 2,
    /// <summary>The base with the masked elements zeroed, XOR a residual.</summary>
    Prune = 3,
    /// <summary>
    /// Integer difference of the bit patterns, zigzag-coded: small weight updates become small
    /// integers even where an exponent changes, which XOR scrambles.
    /// </summary>
    Subtract = 4,
    /// <summary>
    /// Lossy: the base plus a quantized difference, q * 2E, within E of the original element;
    /// elements the grid cannot hold within E are stored exactly. See <see cref="LossyCodec"/>.
    /// </summary>
    Quantized = 5,
}

/// <summary>
/// Chunks stored against a base chunk of a parent model. The residual (what the rule does not
/// explain) is coded with the standalone codecs, so an exact derivation costs a few bytes.
/// </summary>
/// <remarks>
/// Payload (codec 3): 32-byte base id, u8 chain depth (base depth + 1), u8 rule, u8 element kind,
/// u8 residual codec, u32 LE mask length (prune only), mask bytes, residual payload.
/// </remarks>
internal static class DeltaCodec
{
    public const int FixedLength = 40;

    /// <summary>Residual codec meaning "the residual is all zeros": the rule alone rebuilds the chunk.</summary>
    public const byte ExactResidual = 0xFF;

    public readonly record struct Header(ObjectId BaseId, int Depth, DeltaRule Rule, ElementKind Kind, byte ResidualCodec, int MaskLength);

    /// <summary>The rules worth trying for a chunk of <paramref name="kind"/> against a base of <paramref name="baseKind"/>.</summary>
    public static IEnumerable<DeltaRule> RulesFor(ElementKind kind, ElementKind baseKind)
    {
        if (kind == ElementKind.BF16 && baseKind == ElementKind.F32)
        {
            yield return DeltaRule.CastBF16;
        }
        else if (kind == ElementKind.F16 && baseKind == ElementKind.F32)
        {
            yield return DeltaRule.CastF16;
        }
        else if (kind.Width() == baseKind.Width())
        {
            yield return DeltaRule.Xor;
            if (kind == baseKind && kind.Width() > 1)
            {
                yield return DeltaRule.Subtract;
            }

            if (kind == baseKind && kind.Width() > 1)
            {
                yield return DeltaRule.Prune;
            }
        }
    }

    /// <summary>Parses the fixed part; <paramref name="payloadLength"/> is the whole payload's length when only its start is in hand.</summary>
    public static Header ReadHeader(ReadOnlySpan<byte> payload, ObjectId id, int? payloadLength = null)
    {
        if (payload.Length < FixedLength)
        {
            throw new DamagedObjectException(id.ToString(), "truncated delta header");
        }

        var rule = (DeltaRule)payload[33];
        var kind = (ElementKind)payload[34];
        uint mask = BinaryPrimitives.ReadUInt32LittleEndian(payload[36..]);
        if (payload[32] == 0 || !Enum.IsDefined(rule) || !Enum.IsDefined(kind) || mask > (uint)((payloadLength ?? payload.Length) - FixedLength))
        {
            throw new DamagedObjectException(id.ToString(), "invalid delta header");
        }

        return new Header(ObjectId.FromBytes(payload[..32]), payload[32], rule, kind, payload[35], (int)mask);
    }

    /// <summary>
    /// Encodes content against a base under a rule; null when the rule does not apply. The result
    /// is checked by decoding it before it is returned, so a delta is never stored unless exact.
    /// </summary>
    public static RentedBuffer? Encode(ReadOnlySpan<byte> content, ElementKind kind, ReadOnlySpan<byte> baseContent, ElementKind baseKind, ObjectId baseId, int baseDepth, DeltaRule rule)
    {
        if (!Applies(content.Length, kind, baseContent.Length, baseKind, rule))
        {
            return null;
        }

        using var residual = new RentedBuffer(content.Length);
        content.CopyTo(residual.Span);
        RentedBuffer? mask = null;
        try
        {
            if (rule == DeltaRule.Prune)
            {
                mask = BuildPruneMask(content, baseContent, kind.Width());
                if (mask is null)
                {
                    return null;
                }
            }

            ApplyRule(residual.Span, baseContent, rule, kind, mask is null ? default : mask.Span, inverse: false);
            bool exact = residual.Span.IndexOfAnyExcept((byte)0) < 0;
            RentedBuffer? encodedResidual = null;
            byte residualCodec = exact ? ExactResidual : ChunkCodec.Encode(residual.Span, kind, out encodedResidual);
            using var maskEncoded = mask is null ? null : ChunkCodec.Encode(mask.Span, ElementKind.Opaque, out var m) == ChunkCodec.Zstd ? m : null;
            var maskBytes = mask is null ? default : maskEncoded is null ? mask.Span : maskEncoded.Span;
            using (encodedResidual)
            {
                var residualBytes = exact ? default : encodedResidual is null ? residual.Span : encodedResidual.Span;
                var output = new RentedBuffer(checked(FixedLength + 1 + maskBytes.Length + residualBytes.Length));
                var span = output.Span;
                baseId.WriteBytes(span);
                span[32] = (byte)Math.Min(255, baseDepth + 1);
                span[33] = (byte)rule;
                span[34] = (byte)kind;
                span[35] = residualCodec;
                int maskLength = mask is null ? 0 : 1 + maskBytes.Length;
                BinaryPrimitives.WriteUInt32LittleEndian(span[36..], (uint)maskLength);
                int position = FixedLength;
                if (mask is not null)
                {
                    span[position++] = maskEncoded is null ? ChunkCodec.Raw : ChunkCodec.Zstd;
                    maskBytes.CopyTo(span[position..]);
                    position += maskBytes.Length;
                }

                residualBytes.CopyTo(span[position..]);
                output.Truncate(position + residualBytes.Length);
                return output;
            }
        }
        finally
        {
            mask?.Dispose();
        }
    }

    private static bool Applies(int length, ElementKind kind, int baseLength, ElementKind baseKind, DeltaRule rule) => rule switch
    {
        DeltaRule.Xor => kind.Width() == baseKind.Width(),
        DeltaRule.Prune => kind == baseKind && kind.Width() > 1 && length == baseLength,
        DeltaRule.Subtract => kind == baseKind && kind.Width() > 1,
        DeltaRule.CastBF16 => kind == ElementKind.BF16 && baseKind == ElementKind.F32,
        DeltaRule.CastF16 => kind == ElementKind.F16 && baseKind == ElementKind.F32,
        _ => false,
    };

    /// <summary>Decodes a delta payload given its (verified) base content.</summary>
    public static void Decode(Header header, ReadOnlySpan<byte> payload, ReadOnlySpan<byte> baseContent, Span<byte> destination, ObjectId id)
    {
        if (header.Rule == DeltaRule.Quantized)
        {
            LossyCodec.Decode(header, payload, baseContent, destination, id);
            return;
        }

        var rest = payload[FixedLength..];
        RentedBuffer? mask = null;
        try
        {
            if (header.Rule == DeltaRule.Prune)
            {
                if (header.MaskLength < 1)
                {
                    throw new DamagedObjectException(id.ToString(), "prune delta without a mask");
                }

                int elements = destination.Length / header.Kind.Width();
                mask = new RentedBuffer((elements + 7) / 8);
                ChunkCodec.Decode(rest[0], rest[1..header.MaskLength], mask.Span, id);
            }

            if (header.ResidualCodec == ExactResidual)
            {
                if (rest.Length != header.MaskLength)
                {
                    throw new DamagedObjectException(id.ToString(), "exact delta with trailing bytes");
                }

                destination.Clear();
            }
            else
            {
                ChunkCodec.Decode(header.ResidualCodec, rest[header.MaskLength..], destination, id);
            }
            var baseKind = header.Rule is DeltaRule.CastBF16 or DeltaRule.CastF16 ? ElementKind.F32 : header.Kind;
            if (!Applies(destination.Length, header.Kind, baseContent.Length, baseKind, header.Rule)
                || destination.Length % header.Kind.Width() != 0
                || (header.Rule == DeltaRule.Prune && baseContent.Length != destination.Length))
            {
                throw new DamagedObjectException(id.ToString(), "delta does not fit its base");
            }

            ApplyRule(destination, baseContent, header.Rule, header.Kind, mask is null ? default : mask.Span, inverse: true);
        }
        finally
        {
            mask?.Dispose();
        }
    }

    /// <summary>
    /// Turns content into its residual against what the rule predicts from the base, or back
    /// (<paramref name="inverse"/>). Every rule but subtraction is an XOR, its own inverse.
    /// </summary>
    private static void ApplyRule(Span<byte> data, ReadOnlySpan<byte> baseContent, DeltaRule rule, ElementKind kind, ReadOnlySpan<byte> mask, bool inverse)
    {
        switch (rule)
        {
            case DeltaRule.Subtract:
                Subtract(data, baseContent[..Math.Min(data.Length, baseContent.Length)], kind.Width(), inverse);
                break;
            case DeltaRule.Xor:
                XorInto(data, baseContent[..Math.Min(data.Length, baseContent.Length)]);
                break;
            case DeltaRule.Prune:
                XorUnmasked(data, baseContent, mask, kind.Width());
                break;
            case DeltaRule.CastBF16:
                XorBFloat16Cast(MemoryMarshal.Cast<byte, ushort>(data), MemoryMarshal.Cast<byte, uint>(baseContent));
                break;
            case DeltaRule.CastF16:
                {
                    var values = MemoryMarshal.Cast<byte, ushort>(data);
                    var source = MemoryMarshal.Cast<byte, uint>(baseContent);
                    int n = Math.Min(values.Length, source.Length);
                    for (int i = 0; i < n; i++)
                    {
                        values[i] ^= BitConverter.HalfToUInt16Bits((Half)BitConverter.UInt32BitsToSingle(source[i]));
                    }

                    break;
                }
        }
    }

    /// <summary>Forward: data = zigzag(data - base); inverse: data = base + unzigzag(data); per element, wrapping.</summary>
    private static void Subtract(Span<byte> data, ReadOnlySpan<byte> baseContent, int width, bool inverse)
    {
        unchecked
        {
            switch (width)
            {
                case 2:
                    {
                        var d = MemoryMarshal.Cast<byte, ushort>(data[..baseContent.Length]);
                        var b = MemoryMarshal.Cast<byte, ushort>(baseContent);
                        int i = 0;
                        for (; Vector128.IsHardwareAccelerated && i + 8 <= d.Length; i += 8)
                        {
                            var dv = Vector128.Create(d.Slice(i, 8));
                            var bv = Vector128.Create(b.Slice(i, 8));
                            var diff = (dv - bv).AsInt16();
                            var result = inverse ? bv + ((dv >>> 1) ^ (Vector128<ushort>.Zero - (dv & Vector128<ushort>.One))) : ((diff << 1) ^ (diff >> 15)).AsUInt16();
                            result.CopyTo(d.Slice(i, 8));
                        }

                        for (; i < d.Length; i++)
                        {
                            if (inverse)
                            {
                                int z = d[i];
                                d[i] = (ushort)(b[i] + ((z >> 1) ^ -(z & 1)));
                            }
                            else
                            {
                                short diff = (short)(d[i] - b[i]);
                                d[i] = (ushort)((diff << 1) ^ (diff >> 15));
                            }
                        }

                        return;
                    }

                case 4:
                    {
                        var d = MemoryMarshal.Cast<byte, uint>(data[..baseContent.Length]);
                        var b = MemoryMarshal.Cast<byte, uint>(baseContent);
                        int i = 0;
                        for (; Vector128.IsHardwareAccelerated && i + 4 <= d.Length; i += 4)
                        {
                            var dv = Vector128.Create(d.Slice(i, 4));
                            var bv = Vector128.Create(b.Slice(i, 4));
                            var diff = (dv - bv).AsInt32();
                            var result = inverse ? bv + ((dv >>> 1) ^ (Vector128<uint>.Zero - (dv & Vector128<uint>.One))) : ((diff << 1) ^ (diff >> 31)).AsUInt32();
                            result.CopyTo(d.Slice(i, 4));
                        }

                        for (; i < d.Length; i++)
                        {
                            if (inverse)
                            {
                                uint z = d[i];
                                d[i] = b[i] + ((z >> 1) ^ (uint)-(int)(z & 1));
                            }
                            else
                            {
                                int diff = (int)(d[i] - b[i]);
                                d[i] = (uint)((diff << 1) ^ (diff >> 31));
                            }
                        }

                        return;
                    }

                default:
                    {
                        var d = MemoryMarshal.Cast<byte, ulong>(data[..baseContent.Length]);
                        var b = MemoryMarshal.Cast<byte, ulong>(baseContent);
                        for (int i = 0; i < d.Length; i++)
                        {
                            if (inverse)
                            {
                                ulong z = d[i];
                                d[i] = b[i] + ((z >> 1) ^ (ulong)-(long)(z & 1));
                            }
                            else
                            {
                                long diff = (long)(d[i] - b[i]);
                                d[i] = (ulong)((diff << 1) ^ (diff >> 63));
                            }
                        }

                        return;
                    }
            }
        }
    }

    private static void XorInto(Span<byte> data, ReadOnlySpan<byte> other)
    {
        int i = 0;
        for (; Vector128.IsHardwareAccelerated && i + 16 <= other.Length; i += 16)
        {
            (Vector128.Create(data.Slice(i, 16)) ^ Vector128.Create(other.Slice(i, 16))).CopyTo(data.Slice(i, 16));
        }

        for (; i < other.Length; i++)
        {
            data[i] ^= other[i];
        }
    }

    /// <summary>
    /// XORs the base into the elements whose mask bit is clear; where it is set the prediction is
    /// zero, so nothing is XORed. Branch-free: a magnitude-pruned mask is as good as random.
    /// </summary>
    private static void XorUnmasked(Span<byte> data, ReadOnlySpan<byte> baseContent, ReadOnlySpan<byte> mask, int width)
    {
        int elements = data.Length / width;
        int i = 0;
        if (Vector128.IsHardwareAccelerated && width is 2 or 4)
        {
            // Eight elements per mask byte: lane k keeps the base where bit k is clear.
            var bitsOf16 = Vector128.Create((ushort)1, 2, 4, 8, 16, 32, 64, 128);
            var lowBitsOf32 = Vector128.Create(1u, 2, 4, 8);
            var highBitsOf32 = Vector128.Create(16u, 32, 64, 128);
            for (; i + 8 <= elements; i += 8)
            {
                byte bits = mask[i >> 3];
                int at = i * width;
                if (width == 2)
                {
                    var keep = Vector128.Equals(Vector128.Create((ushort)bits) & bitsOf16, Vector128<ushort>.Zero).AsByte();
                    XorKept(data.Slice(at, 16), baseContent.Slice(at, 16), keep);
                }
                else
                {
                    var lanes = Vector128.Create((uint)bits);
                    XorKept(data.Slice(at, 16), baseContent.Slice(at, 16), Vector128.Equals(lanes & lowBitsOf32, Vector128<uint>.Zero).AsByte());
                    XorKept(data.Slice(at + 16, 16), baseContent.Slice(at + 16, 16), Vector128.Equals(lanes & highBitsOf32, Vector128<uint>.Zero).AsByte());
                }
            }
        }

        for (; i < elements; i++)
        {
            byte keep = unchecked((byte)(((mask[i >> 3] >> (i & 7)) & 1) - 1));
            var target = data.Slice(i * width, width);
            var source = baseContent.Slice(i * width, width);
            for (int b = 0; b < width; b++)
            {
                target[b] ^= (byte)(source[b] & keep);
            }
        }
    }

    private static void XorKept(Span<byte> data, ReadOnlySpan<byte> baseContent, Vector128<byte> keep) =>
        (Vector128.Create(data) ^ (Vector128.Create(baseContent) & keep)).CopyTo(data);

    /// <summary>Bit i set where the content is all-zero bits but the base is not; null when too few to matter.</summary>
    private static RentedBuffer? BuildPruneMask(ReadOnlySpan<byte> content, ReadOnlySpan<byte> baseContent, int width)
    {
        int elements = content.Length / width;
        var mask = new RentedBuffer((elements + 7) / 8);
        var bits = mask.Span;
        bits.Clear();
        int pruned = 0;
        int i = 0;
        if (Vector128.IsHardwareAccelerated && width is 2 or 4)
        {
            for (; i + 8 <= elements; i += 8)
            {
                int at = i * width;
                uint zeroed = width == 2
                    ? ZeroedLanes<ushort>(content.Slice(at, 16), baseContent.Slice(at, 16))
                    : ZeroedLanes<uint>(content.Slice(at, 16), baseContent.Slice(at, 16)) | (ZeroedLanes<uint>(content.Slice(at + 16, 16), baseContent.Slice(at + 16, 16)) << 4);
                bits[i >> 3] = (byte)zeroed;
                pruned += System.Numerics.BitOperations.PopCount(zeroed);
            }
        }

        for (; i < elements; i++)
        {
            if (IsZero(content.Slice(i * width, width)) && !IsZero(baseContent.Slice(i * width, width)))
            {
                bits[i >> 3] |= (byte)(1 << (i & 7));
                pruned++;
            }
        }

        if (pruned < Math.Max(1, elements / 64))
        {
            mask.Dispose();
            return null;
        }

        return mask;
    }

    /// <summary>One bit per lane: the content lane is zero and the base lane is not.</summary>
    private static uint ZeroedLanes<T>(ReadOnlySpan<byte> content, ReadOnlySpan<byte> baseContent)
        where T : unmanaged, System.Numerics.IBinaryInteger<T>
    {
        var contentZero = Vector128.Equals(Vector128.Create(content).As<byte, T>(), Vector128<T>.Zero);
        var baseZero = Vector128.Equals(Vector128.Create(baseContent).As<byte, T>(), Vector128<T>.Zero);
        return Vector128.AndNot(contentZero, baseZero).ExtractMostSignificantBits();
    }

    /// <summary>Cheap pre-check for pruning: enough elements are zero in the content but not in the base.</summary>
    public static bool WorthMasking(ReadOnlySpan<byte> content, ReadOnlySpan<byte> baseContent, int width)
    {
        using var mask = content.Length == baseContent.Length ? BuildPruneMask(content, baseContent, width) : null;
        return mask is not null;
    }

    private static bool IsZero(ReadOnlySpan<byte> element) => element.IndexOfAnyExcept((byte)0) < 0;

    /// <summary>values ^= the bfloat16 cast of each F32 in source: <c>ToBFloat16</c>, eight elements at a time.</summary>
    private static void XorBFloat16Cast(Span<ushort> values, ReadOnlySpan<uint> source)
    {
        int n = Math.Min(values.Length, source.Length);
        int i = 0;
        if (Vector128.IsHardwareAccelerated)
        {
            for (; i + 8 <= n; i += 8)
            {
                var cast = Vector128.Narrow(ToBFloat16(Vector128.Create(source.Slice(i, 4))), ToBFloat16(Vector128.Create(source.Slice(i + 4, 4))));
                (Vector128.Create(values.Slice(i, 8)) ^ cast).CopyTo(values.Slice(i, 8));
            }
        }

        for (; i < n; i++)
        {
            values[i] ^= ToBFloat16(source[i]);
        }
    }

    /// <summary><see cref="ToBFloat16(uint)"/> of four lanes, in the low half of each.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<uint> ToBFloat16(Vector128<uint> bits)
    {
        var rounded = (bits + Vector128.Create(0x7FFFu) + ((bits >>> 16) & Vector128<uint>.One)) >>> 16;
        var quietNaN = (bits >>> 16) | Vector128.Create(0x40u);
        var isNaN = Vector128.GreaterThan(bits & Vector128.Create(0x7FFFFFFFu), Vector128.Create(0x7F800000u));
        return Vector128.ConditionalSelect(isNaN, quietNaN, rounded);
    }

    /// <summary>bfloat16 bits of an F32, rounded to nearest even as PyTorch and JAX do (NaN made quiet).</summary>
    public static ushort ToBFloat16(uint bits)
    {
        unchecked
        {
            if ((bits & 0x7FFFFFFF) > 0x7F800000)
            {
                return (ushort)((bits >> 16) | 0x40);
            }

            uint rounding = 0x7FFF + ((bits >> 16) & 1);
            return (ushort)((bits + rounding) >> 16);
        }
    }
}

internal static class DeltaRuleNames
{
    public static string Name(DeltaRule rule) => rule switch
    {
        DeltaRule.Xor => "xor",
        DeltaRule.CastBF16 => "cast-bf16",
        DeltaRule.CastF16 => "cast-f16",
        DeltaRule.Prune => "prune",
        DeltaRule.Subtract => "sub",
        DeltaRule.Quantized => "lossy",
        _ => $"rule-{(byte)rule}",
    };
}
