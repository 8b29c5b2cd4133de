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

/// <summary>Streams two tensors of equal element count block by block, never holding either whole.</summary>
internal static class TensorStatisticsCalculator
{
    private const int BlockElements = 1 << 16;

    /// <summary>
    /// Compares <paramref name="a"/> and <paramref name="b"/> (same element count; dtypes may
    /// differ). Where both are stored chunk for chunk alike, equal chunk ids mean equal bytes:
    /// those blocks are read from one side only.
    /// </summary>
    public static TensorStatistics Compute(DiffTensor a, DiffTensor b)
    {
        int wa = ElementValues.Width(a.Dtype) ?? throw new ArgumentException($"{a.Dtype} is not numeric");
        int wb = ElementValues.Width(b.Dtype) ?? throw new ArgumentException($"{b.Dtype} is not numeric");
        long n = a.Elements;
        long chunkElements = a.Dtype == b.Dtype && a.ChunkBytes == b.ChunkBytes && a.Chunks.Count == b.Chunks.Count && a.Chunks.Count > 0 ? a.ChunkBytes / wa : 0;

        using var streamA = a.Open();
        using var streamB = b.Open();
        using var bytesA = new RentedBuffer(BlockElements * wa);
        using var bytesB = new RentedBuffer(BlockElements * wb);
        var valuesA = new double[BlockElements];
        var valuesB = new double[BlockElements];
        var sums = new Sums();
        for (long position = 0; position < n;)
        {
            long end = Math.Min(n, position + BlockElements);
            if (chunkElements > 0)
            {
                end = Math.Min(end, ((position / chunkElements) + 1) * chunkElements);
            }

            int count = (int)(end - position);
            streamA.Position = a.Offset + (position * wa);
            streamA.ReadExactly(bytesA.Span[..(count * wa)]);
            ElementValues.Decode(a.Dtype, bytesA.Span[..(count * wa)], valuesA.AsSpan(0, count));
            if (chunkElements > 0 && a.Chunks[(int)(position / chunkElements)] == b.Chunks[(int)(position / chunkElements)])
            {
                sums.AddEqual(valuesA.AsSpan(0, count));
            }
            else
            {
                streamB.Position = b.Offset + (position * wb);
                streamB.ReadExactly(bytesB.Span[..(count * wb)]);
                ElementValues.Decode(b.Dtype, bytesB.Span[..(count * wb)], valuesB.AsSpan(0, count));
                sums.Add(valuesA.AsSpan(0, count), valuesB.AsSpan(0, count));
            }

            position = end;
        }

        return sums.Result(n);
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
