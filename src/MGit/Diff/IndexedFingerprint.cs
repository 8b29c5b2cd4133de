using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using MGit.Errors;
using MGit.Storage;

namespace MGit.Diff;

/// <summary>
/// A fingerprint packed for placement: one flat record per model with fixed-width columns (a
/// struct of arrays) instead of an object per tensor, so that hundreds of stored models load as
/// one byte buffer and compare without allocation. Per tensor: 64-bit hashes of the name, the
/// content (the first 8 bytes of <see cref="TensorFingerprint.ContentHash"/>) and the shape; the
/// element count, the estimated squared norm, up to 32 samples, the dtype (an index into the
/// record's own dtype table) and a flag for constant tensors. Model-wide figures placement reads
/// (norm, precision, zero fraction) are computed once, when packing.
/// Record layout (little-endian, 8-byte aligned, see <see cref="HeaderBytes"/>): u32 magic
/// "MGPR", i32 tensor count, i64 version id, 32-byte manifest id, i32 record length, i32
/// non-constant tensors, i64 elements, i64 non-constant elements, f64 squared norm, f64
/// precision, f64 zero fraction, u8 dtype count, 7 reserved; the dtype table (u8 length + ASCII
/// each, padded to 8); columns names, contents, shapes (u64 each), elements (i64), norms (f64),
/// samples (32 x f32 per tensor), sample counts, dtype indexes, flags (u8 each, padded to 8); a
/// u64 checksum of everything before it.
/// </summary>
public sealed class IndexedFingerprint
{
    public const int HeaderBytes = 104;
    private const int Samples = ModelFingerprint.SamplesPerTensor;
    private const int MaxTensors = 1_000_000;
    private const int MaxDtypes = 255;
    private const byte ConstantFlag = 1;
    private const uint Magic = 0x5250474D; // "MGPR"

    private readonly byte[] _buffer;
    private readonly int _offset, _length;
    private readonly int _names, _contents, _shapes, _elements, _norms, _samples, _sampleCounts, _dtypeIndexes, _flags;
    private readonly string[] _dtypes;
    private readonly bool[] _dtypeIsFloat;
    private Dictionary<ulong, int>? _byName;
    private Dictionary<ulong, int>? _byContent;

    private IndexedFingerprint(byte[] buffer, int offset, int count, string[] dtypes, int columns)
    {
        _buffer = buffer;
        _offset = offset;
        Count = count;
        var header = buffer.AsSpan(offset, HeaderBytes);
        VersionId = BinaryPrimitives.ReadInt64LittleEndian(header[8..]);
        ManifestId = ObjectId.FromBytes(header.Slice(16, ObjectId.ByteLength));
        NonConstantTensors = BinaryPrimitives.ReadInt32LittleEndian(header[52..]);
        Elements = BinaryPrimitives.ReadInt64LittleEndian(header[56..]);
        NonConstantElements = BinaryPrimitives.ReadInt64LittleEndian(header[64..]);
        SquaredNorm = BinaryPrimitives.ReadDoubleLittleEndian(header[72..]);
        Precision = BinaryPrimitives.ReadDoubleLittleEndian(header[80..]);
        ZeroFraction = BinaryPrimitives.ReadDoubleLittleEndian(header[88..]);
        _length = BinaryPrimitives.ReadInt32LittleEndian(header[48..]);
        _dtypes = dtypes;
        _dtypeIsFloat = Array.ConvertAll(dtypes, ElementValues.IsFloat);
        _names = columns;
        _contents = _names + (8 * count);
        _shapes = _contents + (8 * count);
        _elements = _shapes + (8 * count);
        _norms = _elements + (8 * count);
        _samples = _norms + (8 * count);
        _sampleCounts = _samples + (4 * Samples * count);
        _dtypeIndexes = _sampleCounts + count;
        _flags = _dtypeIndexes + count;
    }

    /// <summary>Packs a fingerprint (the new model's, or one decoded from the lineage database) as a record for <paramref name="versionId"/>.</summary>
    public IndexedFingerprint(ModelFingerprint fingerprint, long versionId = 0, ObjectId manifestId = default)
        : this(Pack(fingerprint, versionId, manifestId, out var dtypes, out int columns), 0, fingerprint.Tensors.Count, dtypes, columns)
    {
    }

    public int Count { get; }
    /// <summary>The version this record describes (0 for a model not stored yet).</summary>
    public long VersionId { get; }
    /// <summary>The manifest the record was made from: a cached record counts only while its version still has this manifest.</summary>
    public ObjectId ManifestId { get; }
    public double SquaredNorm { get; }
    public long Elements { get; }
    public long NonConstantElements { get; }
    public int NonConstantTensors { get; }
    /// <summary>Float bits per element, averaged over float parameters (32 for F32, 16 for BF16).</summary>
    public double Precision { get; }
    /// <summary>Fraction of sampled float values that are exactly zero (pruning leaves many).</summary>
    public double ZeroFraction { get; }

    /// <summary>The packed record (header, columns, checksum), as stored in the placement cache.</summary>
    public ReadOnlySpan<byte> Record => _buffer.AsSpan(_offset, _length);

    internal ReadOnlySpan<ulong> NameHashes => Column<ulong>(_names);
    internal ReadOnlySpan<ulong> ContentHashes => Column<ulong>(_contents);
    internal ReadOnlySpan<ulong> ShapeHashes => Column<ulong>(_shapes);
    internal ReadOnlySpan<long> TensorElements => Column<long>(_elements);
    /// <summary>Estimated squared norm per tensor (from the samples).</summary>
    internal ReadOnlySpan<double> Norms => Column<double>(_norms);
    internal ReadOnlySpan<byte> SampleCounts => _buffer.AsSpan(_sampleCounts, Count);
    internal ReadOnlySpan<byte> DtypeIndexes => _buffer.AsSpan(_dtypeIndexes, Count);
    internal ReadOnlySpan<byte> Flags => _buffer.AsSpan(_flags, Count);

    internal bool IsConstant(int tensor) => (_buffer[_flags + tensor] & ConstantFlag) != 0;

    internal string Dtype(int tensor) => _dtypes[_buffer[_dtypeIndexes + tensor]];

    internal bool IsFloat(int tensor) => _dtypeIsFloat[_buffer[_dtypeIndexes + tensor]];

    /// <summary>The samples of one tensor (fewer than 32 for small or non-numeric tensors).</summary>
    internal ReadOnlySpan<float> SamplesOf(int tensor) =>
        MemoryMarshal.Cast<byte, float>(_buffer.AsSpan(_samples + (tensor * Samples * sizeof(float)), _buffer[_sampleCounts + tensor] * sizeof(float)));

    private ReadOnlySpan<T> Column<T>(int start)
        where T : struct => MemoryMarshal.Cast<byte, T>(_buffer.AsSpan(start, Count * 8));

    /// <summary>The first tensor with this name hash, or -1.</summary>
    public int IndexOfName(ulong nameHash)
    {
        _byName ??= BuildIndex(NameHashes, constantsToo: true);
        return _byName.TryGetValue(nameHash, out int i) ? i : -1;
    }

    /// <summary>The first non-constant tensor with this content hash, or -1.</summary>
    public int IndexOfContent(ulong contentHash)
    {
        _byContent ??= BuildIndex(ContentHashes, constantsToo: false);
        return _byContent.TryGetValue(contentHash, out int i) ? i : -1;
    }

    private Dictionary<ulong, int> BuildIndex(ReadOnlySpan<ulong> keys, bool constantsToo)
    {
        var index = new Dictionary<ulong, int>(Count);
        for (int i = 0; i < keys.Length; i++)
        {
            if (constantsToo || !IsConstant(i))
            {
                index.TryAdd(keys[i], i);
            }
        }

        return index;
    }

    /// <summary>
    /// Reads the record at <paramref name="offset"/> of <paramref name="buffer"/> without copying;
    /// null (and <paramref name="length"/> 0) when it is truncated, damaged or not a record.
    /// </summary>
    public static IndexedFingerprint? TryRead(byte[] buffer, int offset, out int length)
    {
        length = 0;
        var rest = buffer.AsSpan(offset);
        if (rest.Length < HeaderBytes + 8 || BinaryPrimitives.ReadUInt32LittleEndian(rest) != Magic)
        {
            return null;
        }

        int count = BinaryPrimitives.ReadInt32LittleEndian(rest[4..]);
        int declared = BinaryPrimitives.ReadInt32LittleEndian(rest[48..]);
        int dtypeCount = rest[96];
        if (count < 0 || count > MaxTensors || declared < HeaderBytes + 8 || declared > rest.Length || declared % 8 != 0)
        {
            return null;
        }

        var dtypes = new string[dtypeCount];
        int at = HeaderBytes;
        for (int d = 0; d < dtypeCount; d++)
        {
            int size = rest[at];
            if (at + 1 + size > declared)
            {
                return null;
            }

            dtypes[d] = KnownDtype(rest.Slice(at + 1, size));
            at += 1 + size;
        }

        if (RecordLength(count, dtypes) != declared
            || Checksum(rest[..(declared - 8)]) != BinaryPrimitives.ReadUInt64LittleEndian(rest[(declared - 8)..]))
        {
            return null;
        }

        var record = new IndexedFingerprint(buffer, offset, count, dtypes, offset + ColumnsStart(dtypes));
        var sampleCounts = record.SampleCounts;
        var dtypeIndexes = record.DtypeIndexes;
        for (int i = 0; i < count; i++)
        {
            if (sampleCounts[i] > Samples || dtypeIndexes[i] >= dtypeCount)
            {
                return null;
            }
        }

        length = declared;
        return record;
    }

    private static int Align(int value) => (value + 7) & ~7;

    private static int ColumnsStart(string[] dtypes) => Align(HeaderBytes + dtypes.Sum(d => 1 + d.Length));

    private static int RecordLength(int count, string[] dtypes) =>
        checked(ColumnsStart(dtypes) + (5 * 8 * count) + (Samples * sizeof(float) * count) + Align(3 * count) + 8);

    private static byte[] Pack(ModelFingerprint fingerprint, long versionId, ObjectId manifestId, out string[] dtypes, out int columns)
    {
        var tensors = fingerprint.Tensors;
        int count = tensors.Count;
        if (count > MaxTensors)
        {
            throw new MGitException($"a model of {count} tensors is too large to place");
        }

        dtypes = tensors.Select(t => t.Dtype).Distinct(StringComparer.Ordinal).ToArray();
        if (dtypes.Length > MaxDtypes || dtypes.Any(d => d.Length > byte.MaxValue || !Ascii.IsValid(d)))
        {
            throw new MGitException("a model's dtypes cannot be packed for placement (too many, or not short ASCII names)");
        }

        int length = RecordLength(count, dtypes);
        var buffer = new byte[length];
        var span = buffer.AsSpan();
        columns = ColumnsStart(dtypes);
        int names = columns, contents = names + (8 * count), shapes = contents + (8 * count), elements = shapes + (8 * count);
        int norms = elements + (8 * count), samples = norms + (8 * count), sampleCounts = samples + (Samples * sizeof(float) * count);
        int dtypeIndexes = sampleCounts + count, flags = dtypeIndexes + count;

        long totalElements = 0, nonConstantElements = 0, floatElements = 0, weightedPrecision = 0, zeros = 0, sampled = 0;
        int nonConstantTensors = 0;
        double squaredNorm = 0;
        // Columns in native order: they are read back as spans (the cache file is only used on little-endian machines).
        var nameColumn = MemoryMarshal.Cast<byte, ulong>(span.Slice(names, 8 * count));
        var contentColumn = MemoryMarshal.Cast<byte, ulong>(span.Slice(contents, 8 * count));
        var shapeColumn = MemoryMarshal.Cast<byte, ulong>(span.Slice(shapes, 8 * count));
        var elementColumn = MemoryMarshal.Cast<byte, long>(span.Slice(elements, 8 * count));
        var normColumn = MemoryMarshal.Cast<byte, double>(span.Slice(norms, 8 * count));
        var sampleColumn = MemoryMarshal.Cast<byte, float>(span.Slice(samples, Samples * sizeof(float) * count));
        Span<byte> hash = stackalloc byte[ObjectId.ByteLength];
        for (int i = 0; i < count; i++)
        {
            var t = tensors[i];
            nameColumn[i] = NameHash(t.Name);
            t.ContentHash.WriteBytes(hash);
            contentColumn[i] = BinaryPrimitives.ReadUInt64LittleEndian(hash);
            shapeColumn[i] = ShapeHash(t.Shape);
            elementColumn[i] = t.Elements;
            normColumn[i] = t.EstimatedSquaredNorm;
            int kept = Math.Min(t.Samples.Length, Samples);
            t.Samples.AsSpan(0, kept).CopyTo(sampleColumn.Slice(i * Samples, kept));
            buffer[sampleCounts + i] = (byte)kept;
            buffer[dtypeIndexes + i] = (byte)Array.IndexOf(dtypes, t.Dtype);
            buffer[flags + i] = t.IsConstant ? ConstantFlag : (byte)0;

            // The same model-wide figures the direction rules and divergence read.
            totalElements = checked(totalElements + t.Elements);
            squaredNorm += t.EstimatedSquaredNorm;
            if (!t.IsConstant)
            {
                nonConstantElements = checked(nonConstantElements + t.Elements);
                nonConstantTensors++;
            }

            if (ElementValues.IsFloat(t.Dtype))
            {
                floatElements = checked(floatElements + t.Elements);
                weightedPrecision = checked(weightedPrecision + (t.Elements * ElementValues.Precision(t.Dtype)));
                sampled += t.Samples.Length;
                foreach (float v in t.Samples)
                {
                    zeros += v == 0 ? 1 : 0;
                }
            }
        }

        BinaryPrimitives.WriteUInt32LittleEndian(span, Magic);
        BinaryPrimitives.WriteInt32LittleEndian(span[4..], count);
        BinaryPrimitives.WriteInt64LittleEndian(span[8..], versionId);
        manifestId.WriteBytes(span.Slice(16, ObjectId.ByteLength));
        BinaryPrimitives.WriteInt32LittleEndian(span[48..], length);
        BinaryPrimitives.WriteInt32LittleEndian(span[52..], nonConstantTensors);
        BinaryPrimitives.WriteInt64LittleEndian(span[56..], totalElements);
        BinaryPrimitives.WriteInt64LittleEndian(span[64..], nonConstantElements);
        BinaryPrimitives.WriteDoubleLittleEndian(span[72..], squaredNorm);
        BinaryPrimitives.WriteDoubleLittleEndian(span[80..], floatElements == 0 ? 0 : (double)weightedPrecision / floatElements);
        BinaryPrimitives.WriteDoubleLittleEndian(span[88..], sampled == 0 ? 0 : (double)zeros / sampled);
        buffer[96] = (byte)dtypes.Length;
        int at = HeaderBytes;
        foreach (string dtype in dtypes)
        {
            buffer[at] = (byte)dtype.Length;
            Encoding.ASCII.GetBytes(dtype, span[(at + 1)..]);
            at += 1 + dtype.Length;
        }

        BinaryPrimitives.WriteUInt64LittleEndian(span[(length - 8)..], Checksum(span[..(length - 8)]));
        return buffer;
    }

    /// <summary>A 64-bit hash of a tensor name (FNV-1a over its UTF-16 code units, then a mixer): names are compared by it.</summary>
    public static ulong NameHash(string name)
    {
        ulong hash = 14695981039346656037UL;
        foreach (char c in name)
        {
            hash = unchecked((hash ^ c) * 1099511628211UL);
        }

        return Mix(hash);
    }

    private static ulong ShapeHash(IReadOnlyList<long> shape)
    {
        ulong hash = Mix((ulong)shape.Count);
        foreach (long dim in shape)
        {
            hash = Mix(unchecked(hash + (ulong)dim + 0x9E3779B97F4A7C15UL));
        }

        return hash;
    }

    private static ulong Mix(ulong z)
    {
        unchecked
        {
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            return z ^ (z >> 31);
        }
    }

    /// <summary>
    /// A fast 64-bit checksum (four interleaved multiply-xor lanes over 8-byte words): it catches
    /// torn and interleaved writes of the cache file, not malice (the lineage database stays the truth).
    /// </summary>
    public static ulong Checksum(ReadOnlySpan<byte> data)
    {
        var words = MemoryMarshal.Cast<byte, ulong>(data[..(data.Length & ~7)]);
        ulong a = 1, b = 2, c = 3, d = (ulong)data.Length;
        int i = 0;
        unchecked
        {
            for (; i + 4 <= words.Length; i += 4)
            {
                a = (a ^ words[i]) * 0x9E3779B97F4A7C15UL;
                b = (b ^ words[i + 1]) * 0xC2B2AE3D27D4EB4FUL;
                c = (c ^ words[i + 2]) * 0x165667B19E3779F9UL;
                d = (d ^ words[i + 3]) * 0x27D4EB2F165667C5UL;
            }

            for (; i < words.Length; i++)
            {
                a = (a ^ words[i]) * 0x9E3779B97F4A7C15UL;
            }

            foreach (byte tail in data[(words.Length * 8)..])
            {
                b = (b ^ tail) * 0xC2B2AE3D27D4EB4FUL;
            }

            return Mix(a ^ Mix(b ^ Mix(c ^ Mix(d))));
        }
    }

    /// <summary>The common dtypes as shared strings (every record names a few of them).</summary>
    private static string KnownDtype(ReadOnlySpan<byte> ascii) => ascii switch
    {
        [(byte)'F', (byte)'3', (byte)'2'] => "F32",
        [(byte)'F', (byte)'1', (byte)'6'] => "F16",
        [(byte)'B', (byte)'F', (byte)'1', (byte)'6'] => "BF16",
        [(byte)'F', (byte)'6', (byte)'4'] => "F64",
        _ => Encoding.ASCII.GetString(ascii),
    };
}
