using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using MGit.Errors;
using MGit.Primitives;
using MGit.Storage;

namespace MGit.Diff;

/// <summary>
/// What placement knows about one tensor: identity (name, dtype, shape, a hash of its content)
/// and a small deterministic sketch of its values (the elements at fixed pseudo-random
/// positions that depend only on the element count, so two tensors of one shape are sampled at
/// the same positions and their sketches compare element for element).
/// </summary>
internal sealed record TensorFingerprint(string Name, string Dtype, IReadOnlyList<long> Shape, ObjectId ContentHash, float[] Samples)
{
    // Computed once: placement reads them for every candidate of every placement.
    public long Elements { get; } = Product(Shape);

    /// <summary>Every sampled value equal (zeros, ones): such a tensor is no evidence of kinship.</summary>
    public bool IsConstant { get; } = AllEqual(Samples);

    /// <summary>Estimated sum of squares over the whole tensor, scaled up from the samples.</summary>
    public double EstimatedSquaredNorm { get; } = SquaredNorm(Samples, Product(Shape));

    private static long Product(IReadOnlyList<long> shape)
    {
        long product = 1;
        for (int i = 0; i < shape.Count; i++)
        {
            product = checked(product * shape[i]);
        }

        return product;
    }

    private static bool AllEqual(float[] samples)
    {
        for (int i = 1; i < samples.Length; i++)
        {
            if (!samples[i].Equals(samples[0]))
            {
                return false;
            }
        }

        return true;
    }

    private static double SquaredNorm(float[] samples, long elements)
    {
        if (samples.Length == 0)
        {
            return 0;
        }

        double sum = 0;
        foreach (float s in samples)
        {
            if (float.IsFinite(s))
            {
                sum += (double)s * s;
            }
        }

        return sum * elements / samples.Length;
    }
}

/// <summary>
/// A model's fingerprint: one entry per tensor, stored compactly in the lineage database at add
/// time so that placement never re-reads stored models. Binary layout (little-endian):
/// "MGFP", u8 version (1), u8 reserved, u16 reserved, u32 tensor count; per tensor u16 name
/// length + UTF-8 name, u8 dtype length + ASCII dtype, u8 rank + rank x i64 dims, 32-byte content
/// hash, u8 sample count + that many f32 samples. Readers check every length before allocating.
/// </summary>
internal sealed record ModelFingerprint(IReadOnlyList<TensorFingerprint> Tensors)
{
    public const byte FormatVersion = 1;
    /// <summary>Samples per tensor: enough to tell a fine-tune (small relative change) from unrelated weights (about sqrt 2).</summary>
    public const int SamplesPerTensor = 32;
    private const int MaxTensors = 10_000_000;
    private const int MaxRank = 32;
    private static ReadOnlySpan<byte> Magic => "MGFP"u8;

    public long Elements => Tensors.Sum(t => t.Elements);

    public byte[] Serialize()
    {
        using var buffer = new MemoryStream();
        Span<byte> scratch = stackalloc byte[8];
        buffer.Write(Magic);
        buffer.WriteByte(FormatVersion);
        buffer.WriteByte(0);
        buffer.Write([0, 0]);
        Span<byte> hash = stackalloc byte[ObjectId.ByteLength];
        BinaryPrimitives.WriteUInt32LittleEndian(scratch, checked((uint)Tensors.Count));
        buffer.Write(scratch[..4]);
        foreach (var tensor in Tensors)
        {
            byte[] name = Encoding.UTF8.GetBytes(tensor.Name);
            byte[] dtype = Encoding.ASCII.GetBytes(tensor.Dtype);
            BinaryPrimitives.WriteUInt16LittleEndian(scratch, checked((ushort)name.Length));
            buffer.Write(scratch[..2]);
            buffer.Write(name);
            buffer.WriteByte(checked((byte)dtype.Length));
            buffer.Write(dtype);
            buffer.WriteByte(checked((byte)tensor.Shape.Count));
            foreach (long dim in tensor.Shape)
            {
                BinaryPrimitives.WriteInt64LittleEndian(scratch, dim);
                buffer.Write(scratch);
            }

            tensor.ContentHash.WriteBytes(hash);
            buffer.Write(hash);
            buffer.WriteByte(checked((byte)tensor.Samples.Length));
            foreach (float sample in tensor.Samples)
            {
                BinaryPrimitives.WriteSingleLittleEndian(scratch, sample);
                buffer.Write(scratch[..4]);
            }
        }

        return buffer.ToArray();
    }

    public static ModelFingerprint Deserialize(ReadOnlySpan<byte> data, string what)
    {
        var reader = new SpanReader(data, what);
        if (!reader.Take(4).SequenceEqual(Magic))
        {
            throw new MGitException(ErrorKind.Damaged, $"fingerprint of {what} is damaged (bad magic)");
        }

        byte version = reader.Byte();
        if (version != FormatVersion)
        {
            throw new MGitException(ErrorKind.Unsupported, $"fingerprint of {what} has format {version}, which this mgit does not read; upgrade mgit");
        }

        reader.Take(3);
        uint count = reader.UInt32();
        if (count > MaxTensors || count > (uint)data.Length)
        {
            throw new MGitException(ErrorKind.Damaged, $"fingerprint of {what} is damaged (claims {count} tensors)");
        }

        var tensors = new List<TensorFingerprint>((int)count);
        for (int i = 0; i < count; i++)
        {
            string name = Encoding.UTF8.GetString(reader.Take(reader.UInt16()));
            string dtype = Dtype(reader.Take(reader.Byte()));
            int rank = reader.Byte();
            if (rank > MaxRank)
            {
                throw new MGitException(ErrorKind.Damaged, $"fingerprint of {what} is damaged (rank {rank})");
            }

            var shape = new long[rank];
            for (int d = 0; d < rank; d++)
            {
                shape[d] = reader.Int64();
                if (shape[d] < 0)
                {
                    throw new MGitException(ErrorKind.Damaged, $"fingerprint of {what} is damaged (negative dimension)");
                }
            }

            var hash = ObjectId.FromBytes(reader.Take(ObjectId.ByteLength));
            var samples = new float[reader.Byte()];
            var sampleBytes = reader.Take(samples.Length * sizeof(float));
            if (BitConverter.IsLittleEndian)
            {
                // One copy rather than a checked read per value: decoding is most of a large placement's cost.
                MemoryMarshal.Cast<byte, float>(sampleBytes).CopyTo(samples);
            }
            else
            {
                for (int s = 0; s < samples.Length; s++)
                {
                    samples[s] = BinaryPrimitives.ReadSingleLittleEndian(sampleBytes[(s * sizeof(float))..]);
                }
            }

            tensors.Add(new TensorFingerprint(name, dtype, shape, hash, samples));
        }

        return new ModelFingerprint(tensors);
    }

    /// <summary>The common dtypes as shared strings (a model repeats a few of them hundreds of times).</summary>
    private static string Dtype(ReadOnlySpan<byte> ascii) => ascii switch
    {
        [(byte)'F', (byte)'3', (byte)'2'] => "F32",
        [(byte)'F', (byte)'1', (byte)'6'] => "F16",
        [(byte)'B', (byte)'F', (byte)'1', (byte)'6'] => "BF16",
        [(byte)'F', (byte)'6', (byte)'4'] => "F64",
        _ => Encoding.ASCII.GetString(ascii),
    };

    /// <summary>A forward-only reader that fails with a clear message instead of reading past the end.</summary>
    private ref struct SpanReader(ReadOnlySpan<byte> data, string what)
    {
        private readonly ReadOnlySpan<byte> _data = data;
        private int _position;

        public ReadOnlySpan<byte> Take(int length)
        {
            if (length > _data.Length - _position)
            {
                throw new MGitException(ErrorKind.Damaged, $"fingerprint of {what} is damaged (truncated)");
            }

            var slice = _data.Slice(_position, length);
            _position += length;
            return slice;
        }

        public byte Byte() => Take(1)[0];
        public ushort UInt16() => BinaryPrimitives.ReadUInt16LittleEndian(Take(2));
        public uint UInt32() => BinaryPrimitives.ReadUInt32LittleEndian(Take(4));
        public long Int64() => BinaryPrimitives.ReadInt64LittleEndian(Take(8));
    }
}
