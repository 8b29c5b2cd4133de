using System.Buffers.Binary;
using System.Runtime.InteropServices;
using MGit.Lineage;

namespace MGit.Diff;

/// <summary>
/// The prefilter of automatic placement at size. Each stored version's fingerprint is reduced to
/// a sketch of <see cref="Dimensions"/> floats: a random projection (Johnson-Lindenstrauss) of its
/// sampled values, each tensor's samples weighted as <see cref="Kinship.Compare"/> weighs them and
/// sent along pseudo-random ±1 directions drawn from the tensor's name and shape. Tensors that line
/// up in two models (same name and shape) share directions, so the squared distance of two sketches
/// estimates the squared difference Kinship sums (tensors without a counterpart count whole), and
/// divided by the mean squared norm it estimates the squared divergence, within about
/// ±sqrt(2/64) relative. Placement reads every sketch (a fixed 296-byte record, nothing decoded),
/// keeps the nearest few and every model estimated within <see cref="NearDivergence"/> (a new
/// base may adopt many), and ranks only those, with their graph neighbours, by the full
/// fingerprints: the answer of the full scan wherever the models that decide it are among them,
/// at a cost per stored model of one 64-float distance instead of a decoded fingerprint.
/// The file, <c>.mgit/cache/placement-sketch.bin</c>, is derived from the placement cache
/// (<see cref="PlacementCache"/>) and changes with it under its lock: records appended to one are
/// appended to the other, and a rewritten placement cache drops it (the next placement rebuilds
/// it). It is used only while it covers the placement cache exactly (the end of its last record
/// is the cache file's length) and every version of the graph; otherwise placement scans
/// everything, as without it.
/// File: "MGPK", i32 format (1), i32 dimensions, 4 reserved bytes, then fixed-size records: i64
/// version id, 8 bytes of the manifest id, i64 offset and i32 length of the version's record in
/// the placement cache, 4 reserved bytes, f64 squared norm, and the sketch as f32s.
/// </summary>
internal static class PlacementSketches
{
    public const string FileName = "placement-sketch.bin";
    public const int Dimensions = 64;
    public const int FormatVersion = 1;
    private const int FileHeaderBytes = 16;
    private const int RecordBytes = 40 + (Dimensions * sizeof(float));
    private const uint Magic = 0x4B50474D; // "MGPK"

    /// <summary>
    /// Models estimated nearer than this are always ranked (up to <see cref="MaxNear"/>): well
    /// inside the related range (below 1), and with 64 directions over 4 standard deviations
    /// below where unrelated weights sit (sqrt 2), so few strangers come along.
    /// </summary>
    public const double NearDivergence = 0.7;
    public const int MaxNear = 256;

    /// <summary>The sketch of a fingerprint (see the class summary).</summary>
    public static float[] Sketch(IndexedFingerprint fingerprint)
    {
        var sketch = new float[Dimensions];
        var names = fingerprint.NameHashes;
        var shapes = fingerprint.ShapeHashes;
        var elements = fingerprint.TensorElements;
        var samples = fingerprint.SampleSlots;
        for (int t = 0; t < fingerprint.Count; t++)
        {
            int count = fingerprint.SampleCount(t);
            if (count == 0)
            {
                continue;
            }

            // Kinship weighs each sampled squared difference by elements / count; ±1 / sqrt(D) keeps squared lengths.
            double weight = Math.Sqrt((double)elements[t] / count / Dimensions);
            ulong key = unchecked(names[t] ^ (shapes[t] * 0x9E3779B97F4A7C15UL));
            int start = t * ModelFingerprint.SamplesPerTensor;
            for (int k = 0; k < count; k++)
            {
                float value = samples[start + k];
                if (!float.IsFinite(value))
                {
                    continue;
                }

                float w = (float)(value * weight);
                ulong signs = IndexedFingerprint.Mix(unchecked(key + ((ulong)(k + 1) * 0xD1B54A32D192ED03UL)));
                for (int d = 0; d < Dimensions; d++)
                {
                    sketch[d] += ((signs >> d) & 1) == 0 ? w : -w;
                }
            }
        }

        return sketch;
    }

    /// <summary>The file's header, for a new file.</summary>
    public static byte[] FileHeader()
    {
        var header = new byte[FileHeaderBytes];
        BinaryPrimitives.WriteUInt32LittleEndian(header, Magic);
        BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(4), FormatVersion);
        BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(8), Dimensions);
        return header;
    }

    /// <summary>The sketch record of a placement-cache record written at <paramref name="offset"/>.</summary>
    public static byte[] ToRecord(IndexedFingerprint fingerprint, long offset, int length)
    {
        var record = new byte[RecordBytes];
        var span = record.AsSpan();
        BinaryPrimitives.WriteInt64LittleEndian(span, fingerprint.VersionId);
        Span<byte> manifest = stackalloc byte[Primitives.ObjectId.ByteLength];
        fingerprint.ManifestId.WriteBytes(manifest);
        manifest[..8].CopyTo(span[8..]);
        BinaryPrimitives.WriteInt64LittleEndian(span[16..], offset);
        BinaryPrimitives.WriteInt32LittleEndian(span[24..], length);
        BinaryPrimitives.WriteDoubleLittleEndian(span[32..], fingerprint.SquaredNorm);
        MemoryMarshal.AsBytes(Sketch(fingerprint).AsSpan()).CopyTo(span[40..]);
        return record;
    }

    /// <summary>
    /// Where the sketch file's records end in the placement cache (the end of the last one named;
    /// the cache header's length when it names none), or -1 when it is missing or not whole.
    /// </summary>
    public static long CoveredEnd(FileStream sketches)
    {
        long length = sketches.Length;
        if (length < FileHeaderBytes || (length - FileHeaderBytes) % RecordBytes != 0)
        {
            return -1;
        }

        Span<byte> header = stackalloc byte[FileHeaderBytes];
        if (RandomAccess.Read(sketches.SafeFileHandle, header, 0) != FileHeaderBytes
            || BinaryPrimitives.ReadUInt32LittleEndian(header) != Magic
            || BinaryPrimitives.ReadInt32LittleEndian(header[4..]) != FormatVersion
            || BinaryPrimitives.ReadInt32LittleEndian(header[8..]) != Dimensions)
        {
            return -1;
        }

        if (length == FileHeaderBytes)
        {
            return PlacementCache.FileHeaderBytes;
        }

        Span<byte> last = stackalloc byte[RecordBytes];
        return RandomAccess.Read(sketches.SafeFileHandle, last, length - RecordBytes) == RecordBytes
            ? BinaryPrimitives.ReadInt64LittleEndian(last[16..]) + BinaryPrimitives.ReadInt32LittleEndian(last[24..])
            : -1;
    }

    /// <summary>
    /// The stored versions nearest <paramref name="model"/> by sketch (at most
    /// <paramref name="keep"/>, nearest first), with where every version's record lies in the
    /// placement cache; null when the sketch file does not cover the placement cache
    /// (<paramref name="placementLength"/> bytes) and every version.
    /// </summary>
    public static SketchMatch? Nearest(string directory, IReadOnlyList<ModelVersion> versions, HashIndex positions, long placementLength, IndexedFingerprint model, int keep)
    {
        string path = Path.Combine(directory, FileName);
        int n = versions.Count;
        FileStream stream;
        try
        {
            stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, bufferSize: 0);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }

        using (stream)
        {
            if (CoveredEnd(stream) != placementLength)
            {
                return null;
            }

            var offsets = new long[n];
            Array.Fill(offsets, -1);
            var lengths = new int[n];
            int covered = 0;
            var target = Sketch(model);
            var nearest = new NearestList(keep);
            var near = new NearestList(MaxNear);
            var buffer = new byte[RecordBytes * 512];
            long position = FileHeaderBytes, end = stream.Length;
            while (position < end)
            {
                int wanted = (int)Math.Min(buffer.Length, end - position);
                if (RandomAccess.Read(stream.SafeFileHandle, buffer.AsSpan(0, wanted), position) != wanted)
                {
                    return null;
                }

                position += wanted;
                for (int at = 0; at < wanted; at += RecordBytes)
                {
                    var record = buffer.AsSpan(at, RecordBytes);
                    int p = positions.Find((ulong)BinaryPrimitives.ReadInt64LittleEndian(record));
                    if (p < 0)
                    {
                        continue; // a removed version's record
                    }

                    bool first = offsets[p] < 0;
                    offsets[p] = BinaryPrimitives.ReadInt64LittleEndian(record[16..]);
                    lengths[p] = BinaryPrimitives.ReadInt32LittleEndian(record[24..]);
                    if (!first)
                    {
                        continue; // a repeated record: the same fingerprint, already ranked
                    }

                    covered++;
                    double squaredNorm = BinaryPrimitives.ReadDoubleLittleEndian(record[32..]);
                    double distance = SquaredDistance(target, MemoryMarshal.Cast<byte, float>(record[40..]));
                    double scale = (model.SquaredNorm + squaredNorm) / 2;
                    double estimate = scale > 0 ? distance / scale : distance > 0 ? 2 : 0;
                    nearest.Offer(p, estimate);
                    if (estimate <= NearDivergence * NearDivergence)
                    {
                        near.Offer(p, estimate);
                    }
                }
            }

            return covered == n ? new SketchMatch(offsets, lengths, [.. nearest.Positions(), .. near.Positions()]) : null;
        }
    }

    private static double SquaredDistance(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        var sum = System.Numerics.Vector<float>.Zero;
        int width = System.Numerics.Vector<float>.Count, d = 0;
        for (; d + width <= Dimensions; d += width)
        {
            var difference = new System.Numerics.Vector<float>(a[d..]) - new System.Numerics.Vector<float>(b[d..]);
            sum += difference * difference;
        }

        double total = System.Numerics.Vector.Sum(sum);
        for (; d < Dimensions; d++)
        {
            double difference = a[d] - b[d];
            total += difference * difference;
        }

        return total;
    }

    /// <summary>The <c>keep</c> smallest estimates offered, in a sorted array (no generics: see <see cref="IndexedFingerprint"/>).</summary>
    private sealed class NearestList(int keep)
    {
        private readonly int[] _positions = new int[keep];
        private readonly double[] _estimates = new double[keep];
        private int _count;

        public void Offer(int position, double estimate)
        {
            if (_count == keep && estimate >= _estimates[_count - 1])
            {
                return;
            }

            int at = _count < keep ? _count++ : _count - 1;
            while (at > 0 && _estimates[at - 1] > estimate)
            {
                _positions[at] = _positions[at - 1];
                _estimates[at] = _estimates[at - 1];
                at--;
            }

            _positions[at] = position;
            _estimates[at] = estimate;
        }

        public int[] Positions() => _positions.AsSpan(0, _count).ToArray();
    }
}

/// <summary>What <see cref="PlacementSketches.Nearest"/> found: each version's record in the placement cache (by position), and the nearest positions.</summary>
internal sealed record SketchMatch(long[] Offsets, int[] Lengths, int[] Nearest);
