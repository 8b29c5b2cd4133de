namespace MGit.Bench;

/// <summary>
/// Distribution statistics of one weight tensor, the candidates for orienting a lineage edge
/// (MoTHer orients by excess kurtosis), and the Pearson correlation of two tensors of one shape.
/// All sums in double: a float running sum over 65k elements loses the digits these ratios need.
/// </summary>
internal static class WeightStatistics
{
    /// <summary>Statistic names, in report order.</summary>
    public static readonly string[] Names = ["excess kurtosis", "std", "mean |w|", "near-zero fraction", "max |w| / std"];

    /// <summary>
    /// The statistics of <paramref name="values"/> in <see cref="Names"/> order. "Near zero" is
    /// |w| below 5% of the tensor's own std, so it follows the shape of the distribution, not its scale.
    /// </summary>
    public static double[] Describe(ReadOnlySpan<float> values)
    {
        double mean = 0;
        foreach (float v in values)
        {
            mean += v;
        }

        mean /= values.Length;
        double m2 = 0, m4 = 0, absSum = 0, max = 0;
        foreach (float v in values)
        {
            double d = v - mean;
            double d2 = d * d;
            m2 += d2;
            m4 += d2 * d2;
            absSum += Math.Abs(v);
            max = Math.Max(max, Math.Abs(v));
        }

        m2 /= values.Length;
        m4 /= values.Length;
        double std = Math.Sqrt(m2);
        double nearZeroBound = 0.05 * std;
        int nearZero = 0;
        foreach (float v in values)
        {
            if (Math.Abs(v) < nearZeroBound)
            {
                nearZero++;
            }
        }

        double kurtosis = m2 > 0 ? (m4 / (m2 * m2)) - 3 : 0;
        return [kurtosis, std, absSum / values.Length, (double)nearZero / values.Length, std > 0 ? max / std : 0];
    }

    /// <summary>Pearson correlation of corresponding elements; 0 when either side is constant.</summary>
    public static double Pearson(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        if (a.Length != b.Length)
        {
            throw new ArgumentException("tensors of different sizes");
        }

        double meanA = 0, meanB = 0;
        for (int i = 0; i < a.Length; i++)
        {
            meanA += a[i];
            meanB += b[i];
        }

        meanA /= a.Length;
        meanB /= b.Length;
        double ab = 0, aa = 0, bb = 0;
        for (int i = 0; i < a.Length; i++)
        {
            double da = a[i] - meanA, db = b[i] - meanB;
            ab += da * db;
            aa += da * da;
            bb += db * db;
        }

        return aa > 0 && bb > 0 ? ab / Math.Sqrt(aa * bb) : 0;
    }

    /// <summary>
    /// Pearson correlation after subtracting each row's mean from both [rows, cols] matrices: training
    /// with non-negative inputs (ReLU activations) moves whole rows one way, and rows learnt for the same
    /// classes then correlate between unrelated models; row-centring removes that shared structure.
    /// </summary>
    public static double RowCentredPearson(ReadOnlySpan<float> a, ReadOnlySpan<float> b, int cols)
    {
        if (a.Length != b.Length || cols <= 0 || a.Length % cols != 0)
        {
            throw new ArgumentException("tensors of different sizes, or not whole rows");
        }

        double ab = 0, aa = 0, bb = 0;
        for (int start = 0; start < a.Length; start += cols)
        {
            double meanA = 0, meanB = 0;
            for (int i = start; i < start + cols; i++)
            {
                meanA += a[i];
                meanB += b[i];
            }

            meanA /= cols;
            meanB /= cols;
            for (int i = start; i < start + cols; i++)
            {
                double da = a[i] - meanA, db = b[i] - meanB;
                ab += da * db;
                aa += da * da;
                bb += db * db;
            }
        }

        return aa > 0 && bb > 0 ? ab / Math.Sqrt(aa * bb) : 0;
    }

    /// <summary>‖child − parent‖ / ‖parent‖: the per-tensor relative change the regimes are stated in.</summary>
    public static double RelativeChange(ReadOnlySpan<float> parent, ReadOnlySpan<float> child)
    {
        double diff = 0, norm = 0;
        for (int i = 0; i < parent.Length; i++)
        {
            double d = (double)child[i] - parent[i];
            diff += d * d;
            norm += (double)parent[i] * parent[i];
        }

        return norm > 0 ? Math.Sqrt(diff / norm) : double.PositiveInfinity;
    }

    /// <summary>The value at quantile <paramref name="q"/> (0..1) by linear interpolation; NaN for none.</summary>
    public static double Quantile(IReadOnlyList<double> values, double q)
    {
        if (values.Count == 0)
        {
            return double.NaN;
        }

        var sorted = values.Order().ToArray();
        double position = q * (sorted.Length - 1);
        int low = (int)Math.Floor(position);
        int high = Math.Min(low + 1, sorted.Length - 1);
        return sorted[low] + ((position - low) * (sorted[high] - sorted[low]));
    }
}
