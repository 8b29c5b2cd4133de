using MGit.Codecs;
using MGit.Primitives;
using MGit.Storage;

namespace MGit.Tests.Codecs;

public sealed class ChunkCodecTests
{
    /// <summary>Trained-weight-like floats: normal values of small scale, so exponents repeat.</summary>
    private static byte[] Weights(ElementKind kind, int elements, int seed)
    {
        var random = new Random(seed);
        var bytes = new byte[elements * kind.Width()];
        for (int i = 0; i < elements; i++)
        {
            double value = 0.02 * Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
            switch (kind)
            {
                case ElementKind.F32: BitConverter.TryWriteBytes(bytes.AsSpan(i * 4), (float)value); break;
                case ElementKind.F64: BitConverter.TryWriteBytes(bytes.AsSpan(i * 8), value); break;
                case ElementKind.F16: BitConverter.TryWriteBytes(bytes.AsSpan(i * 2), (Half)value); break;
                case ElementKind.BF16: BitConverter.TryWriteBytes(bytes.AsSpan(i * 2), (ushort)(BitConverter.SingleToUInt32Bits((float)value) >> 16)); break;
                default: bytes[i] = (byte)random.Next(4); break;
            }
        }

        return bytes;
    }

    private static byte[] RoundTrip(byte[] content, ElementKind kind, out byte codec, out int stored)
    {
        codec = ChunkCodec.Encode(content, kind, out var payload);
        using (payload)
        {
            var encoded = payload is null ? content : payload.Span.ToArray();
            stored = encoded.Length;
            var decoded = new byte[content.Length];
            ChunkCodec.Decode(codec, encoded, decoded, ObjectId.Compute(content));
            return decoded;
        }
    }

    public static TheoryData<string, int> Cases()
    {
        var data = new TheoryData<string, int>();
        foreach (var kind in new[] { ElementKind.F32, ElementKind.BF16, ElementKind.F16, ElementKind.F64, ElementKind.Opaque })
        {
            foreach (int elements in new[] { 0, 1, 3, 63, 64, 65, 1000, 100_003 })
            {
                data.Add(kind.ToString(), elements);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Every_kind_and_length_round_trips_bit_exactly_and_never_grows(string kindName, int elements)
    {
        var kind = Enum.Parse<ElementKind>(kindName);
        var content = Weights(kind, elements, elements);
        var decoded = RoundTrip(content, kind, out _, out int stored);
        Assert.Equal(content, decoded);
        Assert.True(stored <= content.Length, $"stored {stored} > raw {content.Length}");
    }

    [Theory]
    [InlineData("F32", 1.12)]
    [InlineData("BF16", 1.35)]
    public void Float_weights_use_byte_planes_and_beat_raw(string kindName, double minimumRatio)
    {
        var kind = Enum.Parse<ElementKind>(kindName);
        var content = Weights(kind, 1 << 18, 7);
        RoundTrip(content, kind, out byte codec, out int stored);
        Assert.Equal(ChunkCodec.Planes, codec);
        double ratio = (double)content.Length / stored;
        Assert.True(ratio >= minimumRatio, $"{kind}: ratio {ratio:0.000}");
    }

    [Fact]
    public void Planes_split_and_join_are_inverse_for_every_bit_pattern()
    {
        var random = new Random(3);
        foreach (var kind in new[] { ElementKind.F32, ElementKind.BF16, ElementKind.F16, ElementKind.F64 })
        {
            var content = new byte[kind.Width() * 4099];
            random.NextBytes(content);
            var planes = new byte[content.Length];
            var back = new byte[content.Length];
            BytePlanes.Split(content, kind, planes);
            BytePlanes.Join(planes, kind, back);
            Assert.Equal(content, back);
        }

        // F32 plane 0 is exactly the exponent.
        var one = BitConverter.GetBytes(1.5f);
        var split = new byte[4];
        BytePlanes.Split(one, ElementKind.F32, split);
        Assert.Equal(127, split[0]);
    }

    [Fact]
    public void Plane_layout_is_the_stored_one_at_every_length_vectorized_or_not()
    {
        // The layout is part of the repository format: computed here element by element, it must
        // match what the (vectorized) splitter writes and what the joiner reads, at lengths that
        // leave every possible tail after the 16-element vector loop.
        var random = new Random(11);
        foreach (int n in Enumerable.Range(0, 40).Append(4099))
        {
            var f32 = new byte[n * 4];
            random.NextBytes(f32);
            var expected = new byte[f32.Length];
            for (int i = 0; i < n; i++)
            {
                uint x = BitConverter.ToUInt32(f32, i * 4);
                expected[i] = unchecked((byte)(x >> 23));
                expected[n + i] = unchecked((byte)(((x >> 24) & 0x80) | ((x >> 16) & 0x7F)));
                expected[(2 * n) + i] = unchecked((byte)(x >> 8));
                expected[(3 * n) + i] = unchecked((byte)x);
            }

            AssertLayout(f32, ElementKind.F32, expected);

            var bf16 = new byte[n * 2];
            random.NextBytes(bf16);
            expected = new byte[bf16.Length];
            for (int i = 0; i < n; i++)
            {
                int x = BitConverter.ToUInt16(bf16, i * 2);
                expected[i] = unchecked((byte)(x >> 7));
                expected[n + i] = unchecked((byte)(((x >> 8) & 0x80) | (x & 0x7F)));
            }

            AssertLayout(bf16, ElementKind.BF16, expected);

            // F16: plain byte planes, most significant byte first.
            for (int i = 0; i < n; i++)
            {
                expected[i] = bf16[(i * 2) + 1];
                expected[n + i] = bf16[i * 2];
            }

            AssertLayout(bf16, ElementKind.F16, expected);
        }

        static void AssertLayout(byte[] content, ElementKind kind, byte[] expected)
        {
            var planes = new byte[content.Length];
            BytePlanes.Split(content, kind, planes);
            Assert.Equal(expected, planes);
            var back = new byte[content.Length];
            BytePlanes.Join(planes, kind, back);
            Assert.Equal(content, back);
        }
    }

    [Fact]
    public void Random_bytes_are_stored_raw()
    {
        var content = new byte[1 << 16];
        new Random(1).NextBytes(content);
        Assert.Equal(ChunkCodec.Raw, ChunkCodec.Encode(content, ElementKind.F32, out var payload));
        Assert.Null(payload);
    }

    [Fact]
    public void A_damaged_planes_payload_is_reported()
    {
        var content = Weights(ElementKind.F32, 10_000, 1);
        Assert.Equal(ChunkCodec.Planes, ChunkCodec.Encode(content, ElementKind.F32, out var payload));
        using (payload)
        {
            var encoded = payload!.Span.ToArray();
            var decoded = new byte[content.Length];
            var id = ObjectId.Compute(content);
            encoded[3] ^= 0xFF; // a plane length
            Assert.Throws<MGit.Errors.DamagedObjectException>(() => ChunkCodec.Decode(ChunkCodec.Planes, encoded, decoded, id));
            Assert.Throws<MGit.Errors.DamagedObjectException>(() => ChunkCodec.Decode(ChunkCodec.Planes, encoded.AsSpan(0, 4), decoded, id));
        }
    }
}
