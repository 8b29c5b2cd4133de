using System.Buffers.Binary;
using System.Text;
using MGit.Errors;
using MGit.Primitives;
using MGit.Storage;

namespace MGit.Diff;

/// <summary>
/// A fingerprint packed for placement: fixed-width columns (a struct of arrays) instead of an
/// object per tensor, so that hundreds of stored models load with a few block copies each and
/// compare without allocating. Per tensor: 64-bit hashes of the name, the content (the first 8
/// bytes of <see cref="TensorFingerprint.ContentHash"/>) and the shape; the element count, the
/// estimated squared norm, up to 32 samples, the dtype (an index into the model's own dtype
/// table) and a flag for constant tensors. The model-wide figures placement reads (norm,
/// precision, zero fraction) are computed once, when packing. Tensor names are not kept:
/// placement compares them by hash and never prints them.
/// The code sticks to arrays of primitives and non-generic helpers on purpose: the CLI runs
/// precompiled (ReadyToRun) with tiered compilation off, and every generic instantiation over a
/// value type that the framework did not precompile costs a full JIT compilation per process.
/// </summary>
internal sealed class IndexedFingerprint
{
    /// <summary>Record bytes before the dtype table; see <see cref="ToRecord"/> for the layout.</summary>
    public const int HeaderBytes = 104;
    private const int Samples = ModelFingerprint.SamplesPerTensor;
    private const int MaxTensors = 1_000_000;
    private const int MaxDtypes = 255;
    private const byte ConstantFlag = 1;
    private const uint Magic = 0x5250474D; // "MGPR"

    // Columns hold at least Count entries: a reading cursor reuses them from record to record.
    private ulong[] _names, _contents, _shapes;
    private long[] _elements;
    private double[] _norms;
    private float[] _samples;
    private byte[] _sampleCounts, _dtypeIndexes, _flags;
    private string[] _dtypes;
    private bool[] _dtypeIsFloat;
    // Built on first use; a reused cursor keeps their arrays and refills them.
    private HashIndex? _byName, _byContent;
    private bool _byNameBuilt, _byContentBuilt;

    private IndexedFingerprint(int count, string[] dtypes)
    {
        (_names, _contents, _shapes, _elements, _norms) = (new ulong[count], new ulong[count], new ulong[count], new long[count], new double[count]);
        (_samples, _sampleCounts, _dtypeIndexes, _flags) = (new float[count * Samples], new byte[count], new byte[count], new byte[count]);
        _dtypes = dtypes;
        _dtypeIsFloat = new bool[dtypes.Length];
        Reset(count, dtypes);
    }

    /// <summary>Makes room for <paramref name="count"/> tensors (growing the columns only when they are too small) and forgets the look-ups.</summary>
    private void Reset(int count, string[] dtypes)
    {
        Count = count;
        if (_names.Length < count)
        {
            _names = new ulong[count];
            _contents = new ulong[count];
            _shapes = new ulong[count];
            _elements = new long[count];
            _norms = new double[count];
            _samples = new float[count * Samples];
            _sampleCounts = new byte[count];
            _dtypeIndexes = new byte[count];
            _flags = new byte[count];
        }

        _dtypes = dtypes;
        if (_dtypeIsFloat.Length < dtypes.Length)
        {
            _dtypeIsFloat = new bool[dtypes.Length];
        }

        for (int d = 0; d < dtypes.Length; d++)
        {
            _dtypeIsFloat[d] = ElementValues.IsFloat(dtypes[d]);
        }

        _byNameBuilt = _byContentBuilt = false;
    }

    /// <summary>Packs a fingerprint (the new model's, or one decoded from the lineage database) for <paramref name="versionId"/>.</summary>
    public IndexedFingerprint(ModelFingerprint fingerprint, long versionId = 0, ObjectId manifestId = default)
        : this(fingerprint.Tensors.Count, DtypesOf(fingerprint))
    {
        VersionId = versionId;
        ManifestId = manifestId;
        var tensors = fingerprint.Tensors;
        long floatElements = 0, weightedPrecision = 0, zeros = 0, sampled = 0;
        Span<byte> hash = stackalloc byte[ObjectId.ByteLength];
        for (int i = 0; i < Count; i++)
        {
            var t = tensors[i];
            _names[i] = NameHash(t.Name);
            t.ContentHash.WriteBytes(hash);
            _contents[i] = BinaryPrimitives.ReadUInt64LittleEndian(hash);
            _shapes[i] = ShapeHash(t.Shape);
            _elements[i] = t.Elements;
            _norms[i] = t.EstimatedSquaredNorm;
            int kept = Math.Min(t.Samples.Length, Samples);
            Array.Copy(t.Samples, 0, _samples, i * Samples, kept);
            _sampleCounts[i] = (byte)kept;
            _dtypeIndexes[i] = (byte)Array.IndexOf(_dtypes, t.Dtype);
            _flags[i] = t.IsConstant ? ConstantFlag : (byte)0;

            // The model-wide figures the divergence and the direction rules read.
            Elements = checked(Elements + t.Elements);
            SquaredNorm += t.EstimatedSquaredNorm;
            if (!t.IsConstant)
            {
                NonConstantElements = checked(NonConstantElements + t.Elements);
                NonConstantTensors++;
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

        Precision = floatElements == 0 ? 0 : (double)weightedPrecision / floatElements;
        ZeroFraction = sampled == 0 ? 0 : (double)zeros / sampled;
    }

    public int Count { get; private set; }
    /// <summary>The version this fingerprint belongs to (0 for a model not stored yet).</summary>
    public long VersionId { get; private set; }
    /// <summary>The manifest it was made from: a cached record counts only while its version still has this manifest.</summary>
    public ObjectId ManifestId { get; private set; }
    public double SquaredNorm { get; private set; }
    public long Elements { get; private set; }
    public long NonConstantElements { get; private set; }
    public int NonConstantTensors { get; private set; }
    /// <summary>Float bits per element, averaged over float parameters (32 for F32, 16 for BF16).</summary>
    public double Precision { get; private set; }
    /// <summary>Fraction of sampled float values that are exactly zero (pruning leaves many).</summary>
    public double ZeroFraction { get; private set; }

    // Columns (the first Count entries count).
    internal ulong[] NameHashes => _names;
    internal ulong[] ContentHashes => _contents;
    internal ulong[] ShapeHashes => _shapes;
    internal long[] TensorElements => _elements;
    /// <summary>Estimated squared norm per tensor (from the samples).</summary>
    internal double[] Norms => _norms;
    /// <summary>Every tensor's samples, 32 slots each (see <see cref="SampleCount"/>).</summary>
    internal float[] SampleSlots => _samples;

    internal int SampleCount(int tensor) => _sampleCounts[tensor];

    internal bool IsConstant(int tensor) => (_flags[tensor] & ConstantFlag) != 0;

    internal string Dtype(int tensor) => _dtypes[_dtypeIndexes[tensor]];

    internal bool IsFloat(int tensor) => _dtypeIsFloat[_dtypeIndexes[tensor]];

    /// <summary>The first tensor with this name hash, or -1.</summary>
    public int IndexOfName(ulong nameHash)
    {
        if (!_byNameBuilt)
        {
            _byName = BuildIndex(_byName, _names, constantsToo: true);
            _byNameBuilt = true;
        }

        return _byName!.Find(nameHash);
    }

    /// <summary>The first non-constant tensor with this content hash, or -1.</summary>
    public int IndexOfContent(ulong contentHash)
    {
        if (!_byContentBuilt)
        {
            _byContent = BuildIndex(_byContent, _contents, constantsToo: false);
            _byContentBuilt = true;
        }

        return _byContent!.Find(contentHash);
    }

    private HashIndex BuildIndex(HashIndex? previous, ulong[] keys, bool constantsToo)
    {
        var index = previous is not null && previous.Fits(Count) ? previous.Cleared() : new HashIndex(Count);
        for (int i = 0; i < Count; i++)
        {
            if (constantsToo || !IsConstant(i))
            {
                index.TryAdd(keys[i], i);
            }
        }

        return index;
    }

    /// <summary>
    /// The record as stored in the placement cache (little-endian, 8-byte aligned): u32 magic
    /// "MGPR", i32 tensor count, i64 version id, 32-byte manifest id, i32 record length, i32
    /// non-constant tensors, i64 elements, i64 non-constant elements, f64 squared norm, f64
    /// precision, f64 zero fraction, u8 dtype count, 7 reserved; the dtype table (u8 length +
    /// ASCII each, padded to 8); the columns names, contents, shapes (u64 each), elements (i64),
    /// norms (f64), samples (32 x f32 per tensor), sample counts, dtype indexes, flags (u8 each,
    /// padded to 8); a u64 checksum of everything before it.
    /// </summary>
    public byte[] ToRecord()
    {
        int columns = ColumnsStart(_dtypes);
        int length = RecordLength(Count, _dtypes);
        var record = new byte[length];
        var span = record.AsSpan();
        BinaryPrimitives.WriteUInt32LittleEndian(span, Magic);
        BinaryPrimitives.WriteInt32LittleEndian(span[4..], Count);
        BinaryPrimitives.WriteInt64LittleEndian(span[8..], VersionId);
        ManifestId.WriteBytes(span.Slice(16, ObjectId.ByteLength));
        BinaryPrimitives.WriteInt32LittleEndian(span[48..], length);
        BinaryPrimitives.WriteInt32LittleEndian(span[52..], NonConstantTensors);
        BinaryPrimitives.WriteInt64LittleEndian(span[56..], Elements);
        BinaryPrimitives.WriteInt64LittleEndian(span[64..], NonConstantElements);
        BinaryPrimitives.WriteDoubleLittleEndian(span[72..], SquaredNorm);
        BinaryPrimitives.WriteDoubleLittleEndian(span[80..], Precision);
        BinaryPrimitives.WriteDoubleLittleEndian(span[88..], ZeroFraction);
        record[96] = (byte)_dtypes.Length;
        int at = HeaderBytes;
        foreach (string dtype in _dtypes)
        {
            record[at] = (byte)dtype.Length;
            Encoding.ASCII.GetBytes(dtype, span[(at + 1)..]);
            at += 1 + dtype.Length;
        }

        // Columns are copied as machine words: the cache is only written on little-endian machines.
        at = columns;
        foreach (var (column, width) in Columns())
        {
            Buffer.BlockCopy(column, 0, record, at, width * Count);
            at += width * Count;
        }

        BinaryPrimitives.WriteUInt64LittleEndian(span[(length - 8)..], Checksum(record, 0, length - 8, new ulong[(length / 8) - 1]));
        return record;
    }

    /// <summary>The columns in record order, with their bytes per tensor.</summary>
    private ColumnBytes[] Columns() =>
    [
        new(_names, 8), new(_contents, 8), new(_shapes, 8), new(_elements, 8), new(_norms, 8),
        new(_samples, Samples * sizeof(float)), new(_sampleCounts, 1), new(_dtypeIndexes, 1), new(_flags, 1),
    ];

    private sealed record ColumnBytes(Array Column, int Width);

    /// <summary>The record length its header declares, or -1 when these bytes do not start a record.</summary>
    public static int DeclaredLength(ReadOnlySpan<byte> header) =>
        header.Length >= HeaderBytes && BinaryPrimitives.ReadUInt32LittleEndian(header) == Magic ? BinaryPrimitives.ReadInt32LittleEndian(header[48..]) : -1;

    /// <summary>
    /// Unpacks the record in <paramref name="buffer"/>[<paramref name="offset"/>..]; null when it is
    /// damaged (lengths, counts or checksum disagree). <paramref name="scratch"/>: words for the
    /// checksum, reused between calls; <paramref name="reuse"/>: a fingerprint whose columns are
    /// overwritten (a cursor over many records) instead of allocating new ones.
    /// </summary>
    public static IndexedFingerprint? FromRecord(byte[] buffer, int offset, int length, ref ulong[] scratch, IndexedFingerprint? reuse = null)
    {
        var record = buffer.AsSpan(offset, length);
        int count = BinaryPrimitives.ReadInt32LittleEndian(record[4..]);
        int dtypeCount = record[96];
        if (DeclaredLength(record) != length || length % 8 != 0 || count < 0 || count > MaxTensors)
        {
            return null;
        }

        var dtypes = new string[dtypeCount];
        int at = HeaderBytes;
        for (int d = 0; d < dtypeCount; d++)
        {
            int size = record[at];
            if (at + 1 + size > length - 8)
            {
                return null;
            }

            dtypes[d] = KnownDtype(record.Slice(at + 1, size));
            at += 1 + size;
        }

        if (RecordLength(count, dtypes) != length)
        {
            return null;
        }

        if (scratch.Length < (length / 8) - 1)
        {
            scratch = new ulong[Math.Max((length / 8) - 1, scratch.Length * 2)];
        }

        if (Checksum(buffer, offset, length - 8, scratch) != BinaryPrimitives.ReadUInt64LittleEndian(record[(length - 8)..]))
        {
            return null;
        }

        var fingerprint = reuse ?? new IndexedFingerprint(count, dtypes);
        fingerprint.Reset(count, dtypes);
        fingerprint.VersionId = BinaryPrimitives.ReadInt64LittleEndian(record[8..]);
        fingerprint.ManifestId = ObjectId.FromBytes(record.Slice(16, ObjectId.ByteLength));
        fingerprint.NonConstantTensors = BinaryPrimitives.ReadInt32LittleEndian(record[52..]);
        fingerprint.Elements = BinaryPrimitives.ReadInt64LittleEndian(record[56..]);
        fingerprint.NonConstantElements = BinaryPrimitives.ReadInt64LittleEndian(record[64..]);
        fingerprint.SquaredNorm = BinaryPrimitives.ReadDoubleLittleEndian(record[72..]);
        fingerprint.Precision = BinaryPrimitives.ReadDoubleLittleEndian(record[80..]);
        fingerprint.ZeroFraction = BinaryPrimitives.ReadDoubleLittleEndian(record[88..]);
        at = offset + ColumnsStart(dtypes);
        foreach (var (column, width) in fingerprint.Columns())
        {
            Buffer.BlockCopy(buffer, at, column, 0, width * count);
            at += width * count;
        }

        for (int i = 0; i < count; i++)
        {
            if (fingerprint._sampleCounts[i] > Samples || fingerprint._dtypeIndexes[i] >= dtypeCount)
            {
                return null;
            }
        }

        return fingerprint;
    }

    private static int Align(int value) => (value + 7) & ~7;

    private static int ColumnsStart(string[] dtypes)
    {
        int table = 0;
        foreach (string dtype in dtypes)
        {
            table += 1 + dtype.Length;
        }

        return Align(HeaderBytes + table);
    }

    private static int RecordLength(int count, string[] dtypes) =>
        checked(ColumnsStart(dtypes) + (5 * 8 * count) + (Samples * sizeof(float) * count) + Align(3 * count) + 8);

    private static string[] DtypesOf(ModelFingerprint fingerprint)
    {
        var dtypes = new List<string>();
        foreach (var tensor in fingerprint.Tensors)
        {
            if (!dtypes.Contains(tensor.Dtype))
            {
                dtypes.Add(tensor.Dtype);
            }
        }

        if (fingerprint.Tensors.Count > MaxTensors || dtypes.Count > MaxDtypes || dtypes.Exists(d => d.Length > byte.MaxValue || !Ascii.IsValid(d)))
        {
            throw new MGitException(ErrorKind.Unsupported, "a model's fingerprint cannot be packed for placement (too many tensors or dtypes, or dtypes that are not short ASCII names)");
        }

        return [.. dtypes];
    }

    /// <summary>A 64-bit hash of a tensor name (FNV-1a over its UTF-16 code units, then a mixer): names are compared by it.</summary>
    internal static ulong NameHash(string name)
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
        for (int d = 0; d < shape.Count; d++)
        {
            hash = Mix(unchecked(hash + (ulong)shape[d] + 0x9E3779B97F4A7C15UL));
        }

        return hash;
    }

    internal static ulong Mix(ulong z)
    {
        unchecked
        {
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            return z ^ (z >> 31);
        }
    }

    /// <summary>
    /// A fast 64-bit checksum of <paramref name="length"/> bytes (a multiple of 8) at
    /// <paramref name="offset"/>: four multiply-xor lanes over little-endian words. It catches torn
    /// and interleaved writes of the cache file, not malice (the lineage database stays the truth).
    /// </summary>
    private static ulong Checksum(byte[] bytes, int offset, int length, ulong[] words)
    {
        int count = length / 8;
        Buffer.BlockCopy(bytes, offset, words, 0, length);
        ulong a = 1, b = 2, c = 3, d = (ulong)length;
        int i = 0;
        unchecked
        {
            for (; i + 4 <= count; i += 4)
            {
                a = (a ^ words[i]) * 0x9E3779B97F4A7C15UL;
                b = (b ^ words[i + 1]) * 0xC2B2AE3D27D4EB4FUL;
                c = (c ^ words[i + 2]) * 0x165667B19E3779F9UL;
                d = (d ^ words[i + 3]) * 0x27D4EB2F165667C5UL;
            }

            for (; i < count; i++)
            {
                a = (a ^ words[i]) * 0x9E3779B97F4A7C15UL;
            }
        }

        return Mix(a ^ Mix(b ^ Mix(c ^ Mix(d))));
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

/// <summary>
/// A map from 64-bit keys to the first index added under each (open addressing, linear probing),
/// without generics: placement looks tensors up by name and content hash, and versions by id.
/// </summary>
internal sealed class HashIndex
{
    private readonly ulong[] _keys;
    private readonly int[] _values; // index + 1; 0 marks an empty slot
    private readonly int _mask;

    public HashIndex(int capacity)
    {
        int size = 4;
        while (size < capacity * 2)
        {
            size *= 2;
        }

        _keys = new ulong[size];
        _values = new int[size];
        _mask = size - 1;
    }

    /// <summary>Whether <paramref name="capacity"/> keys fit without crowding the table.</summary>
    public bool Fits(int capacity) => _keys.Length >= capacity * 2;

    /// <summary>Empties the table for reuse.</summary>
    public HashIndex Cleared()
    {
        Array.Clear(_values);
        return this;
    }

    /// <summary>Adds <paramref name="key"/> unless present (the first index wins).</summary>
    public void TryAdd(ulong key, int value)
    {
        int slot = (int)(IndexedFingerprint.Mix(key) & (ulong)_mask);
        while (_values[slot] != 0)
        {
            if (_keys[slot] == key)
            {
                return;
            }

            slot = (slot + 1) & _mask;
        }

        _keys[slot] = key;
        _values[slot] = value + 1;
    }

    /// <summary>The index added under <paramref name="key"/>, or -1.</summary>
    public int Find(ulong key)
    {
        int slot = (int)(IndexedFingerprint.Mix(key) & (ulong)_mask);
        while (_values[slot] != 0)
        {
            if (_keys[slot] == key)
            {
                return _values[slot] - 1;
            }

            slot = (slot + 1) & _mask;
        }

        return -1;
    }
}

