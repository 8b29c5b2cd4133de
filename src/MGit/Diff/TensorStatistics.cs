using System.Numerics;
using System.Runtime.Intrinsics;
using MGit.Primitives;
using MGit.Storage;

namespace MGit.Diff;

/// <summary>
/// How much a tensor changed, computed in double over every element:
/// l2_delta = ||b - a||, relative_change = ||b - a|| / ||a||, cosine = a.b / (||a|| ||b||),
/// max_abs_delta = max |b - a|, fraction_changed = elements whose value differs / elements.
/// Elements where either side is NaN or infinite are counted in <see cref="NonFinite"/> and left
/// out of the sums (they would make every other number meaningless).
/// </summary>
public sealed record TensorStatistics(double L2Delta, double? RelativeChange, double? Cosine, double MaxAbsDelta, double FractionChanged, long ChangedElements, long NonFinite);

/// <summary>
/// Streams two tensors of equal element count block by block, never holding either whole.
/// Quantized ggml tensors are dequantised block by block (a block is the smallest unit with a value).
/// </summary>
internal static class TensorStatisticsCalculator
{
    /// <summary>Values per read: a multiple of every block size (32 and 256 elements), so reads start on whole blocks.</summary>
    private const int BlockElements = 1 << 16;

    /// <summary>Whether both tensors' values can be read, so statistics can be computed.</summary>
    public static bool CanCompute(DiffTensor a, DiffTensor b) =>
        ElementValues.Decoder(a.Dtype) is { } da && ElementValues.Decoder(b.Dtype) is { } db
        && a.Elements % da.BlockElements == 0 && b.Elements % db.BlockElements == 0;

    /// <summary>
    /// Compares <paramref name="a"/> and <paramref name="b"/> (same element count; dtypes may
    /// differ). Where both are stored chunk for chunk alike, equal chunk ids mean equal bytes:
    /// those blocks are read from one side only. Also counts the bytes that differ when both have
    /// the same dtype (null otherwise), so a change that leaves every value equal still shows.
    /// </summary>
    public static (TensorStatistics Statistics, long? ChangedBytes) Compute(DiffTensor a, DiffTensor b)
    {
        var da = ElementValues.Decoder(a.Dtype) ?? throw new ArgumentException($"{a.Dtype} is not numeric");
        var db = ElementValues.Decoder(b.Dtype) ?? throw new ArgumentException($"{b.Dtype} is not numeric");
        long n = a.Elements;
        bool sameDtype = a.Dtype == b.Dtype;
        long chunkElements = sameDtype && a.ChunkBytes == b.ChunkBytes && a.Chunks.Count == b.Chunks.Count && a.Chunks.Count > 0 && a.ChunkBytes % da.BlockBytes == 0
            ? (long)(a.ChunkBytes / da.BlockBytes) * da.BlockElements
            : 0;

        using var streamA = a.Open();
        using var streamB = b.Open();
        using var bytesA = new RentedBuffer(BlockElements / da.BlockElements * da.BlockBytes);
        using var bytesB = new RentedBuffer(BlockElements / db.BlockElements * db.BlockBytes);
        var valuesA = new double[BlockElements];
        var valuesB = new double[BlockElements];
        var sums = new Sums();
        long changedBytes = 0;
        for (long position = 0; position < n;)
        {
            long end = Math.Min(n, position + BlockElements);
            if (chunkElements > 0)
            {
                end = Math.Min(end, ((position / chunkElements) + 1) * chunkElements);
            }

            int count = (int)(end - position);
            var spanA = Read(streamA, a.Offset, da, position, count, bytesA);
            da.Decode(spanA, valuesA.AsSpan(0, count));
            if (chunkElements > 0 && a.Chunks[(int)(position / chunkElements)] == b.Chunks[(int)(position / chunkElements)])
            {
                sums.AddEqual(valuesA.AsSpan(0, count));
            }
            else
            {
                var spanB = Read(streamB, b.Offset, db, position, count, bytesB);
                db.Decode(spanB, valuesB.AsSpan(0, count));
                sums.Add(valuesA.AsSpan(0, count), valuesB.AsSpan(0, count));
                if (sameDtype)
                {
                    changedBytes += ByteComparison.CountDifferent(spanA, spanB);
                }
            }

            position = end;
        }

        return (sums.Result(n), sameDtype ? changedBytes : null);
    }

    /// <summary>Reads the bytes of elements [position, position + count) (whole blocks) into <paramref name="buffer"/>.</summary>
    private static ReadOnlySpan<byte> Read(Stream stream, long offset, ElementDecoder decoder, long position, int count, RentedBuffer buffer)
    {
        int length = count / decoder.BlockElements * decoder.BlockBytes;
        stream.Position = offset + (position / decoder.BlockElements * decoder.BlockBytes);
        var span = buffer.Span[..length];
        stream.ReadExactly(span);
        return span;
    }

    /// <summary>Running sums; each block is summed on its own first, which keeps rounding error per block small.</summary>
    private sealed class Sums
    {
        private double _a2, _b2, _ab, _d2, _maxAbs;
        private long _changed, _nonFinite;

        public void Add(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
        {
            double a2 = 0, b2 = 0, ab = 0, d2 = 0;
            for (int i = 0; i < a.Length; i++)
            {
                double x = a[i], y = b[i];
                if (x != y && !(double.IsNaN(x) && double.IsNaN(y)))
                {
                    _changed++;
                }

                if (!double.IsFinite(x) || !double.IsFinite(y))
                {
                    _nonFinite++;
                    continue;
                }

                double d = y - x;
                a2 += x * x;
                b2 += y * y;
                ab += x * y;
                d2 += d * d;
                _maxAbs = Math.Max(_maxAbs, Math.Abs(d));
            }

            (_a2, _b2, _ab, _d2) = (_a2 + a2, _b2 + b2, _ab + ab, _d2 + d2);
        }

        public void AddEqual(ReadOnlySpan<double> a)
        {
            double a2 = 0;
            foreach (double x in a)
            {
                if (!double.IsFinite(x))
                {
                    _nonFinite++;
                    continue;
                }

                a2 += x * x;
            }

            (_a2, _b2, _ab) = (_a2 + a2, _b2 + a2, _ab + a2);
        }

        public TensorStatistics Result(long elements)
        {
            double l2 = Math.Sqrt(_d2);
            double? relative = _a2 > 0 ? l2 / Math.Sqrt(_a2) : _d2 == 0 ? 0 : null;
            double? cosine = _a2 > 0 && _b2 > 0 ? Math.Clamp(_ab / Math.Sqrt(_a2 * _b2), -1, 1) : null;
            return new TensorStatistics(l2, relative, cosine, _maxAbs, elements == 0 ? 0 : (double)_changed / elements, _changed, _nonFinite);
        }
    }
}

/// <summary>Counts differing bytes between two tensors of one dtype whose values cannot be read (their change is still named).</summary>
internal static class ByteComparison
{
    private const int ReadBytes = 1 << 20;

    /// <summary>Bytes that differ between the tensors (same dtype and shape, so same length); equal chunks are not read.</summary>
    public static long ChangedBytes(DiffTensor a, DiffTensor b, long length)
    {
        bool alike = a.ChunkBytes == b.ChunkBytes && a.Chunks.Count == b.Chunks.Count && a.ChunkBytes > 0;
        long step = alike ? a.ChunkBytes : ReadBytes;
        using var streamA = a.Open();
        using var streamB = b.Open();
        using var bufferA = new RentedBuffer((int)Math.Min(step, ReadBytes));
        using var bufferB = new RentedBuffer((int)Math.Min(step, ReadBytes));
        long changed = 0;
        for (long position = 0; position < length; position += step)
        {
            if (alike && a.Chunks[(int)(position / step)] == b.Chunks[(int)(position / step)])
            {
                continue;
            }

            long end = Math.Min(length, position + step);
            for (long at = position; at < end; at += ReadBytes)
            {
                int count = (int)Math.Min(ReadBytes, end - at);
                streamA.Position = a.Offset + at;
                streamB.Position = b.Offset + at;
                streamA.ReadExactly(bufferA.Span[..count]);
                streamB.ReadExactly(bufferB.Span[..count]);
                changed += CountDifferent(bufferA.Span[..count], bufferB.Span[..count]);
            }
        }

        return changed;
    }

    public static long CountDifferent(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b)
    {
        if (a.SequenceEqual(b))
        {
            return 0;
        }

        // 16 bytes at a time: one equality mask, its set bits counted.
        long count = 0;
        int i = 0;
        for (; i + Vector128<byte>.Count <= a.Length; i += Vector128<byte>.Count)
        {
            uint equal = Vector128.Equals(Vector128.Create(a[i..]), Vector128.Create(b[i..])).ExtractMostSignificantBits();
            count += Vector128<byte>.Count - BitOperations.PopCount(equal);
        }

        for (; i < a.Length; i++)
        {
            count += a[i] != b[i] ? 1 : 0;
        }

        return count;
    }
}
