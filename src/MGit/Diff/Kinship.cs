namespace MGit.Diff;

/// <summary>How close one model is to another, from fingerprints alone.</summary>
/// <param name="SharedFraction">Parameters of the first model found with identical content in the second (constant tensors do not count).</param>
/// <param name="Structure">Weighted Jaccard of parameters that line up (shared content, or same name and shape with a castable dtype).</param>
/// <param name="Divergence">Estimated ||a - b|| / rms(||a||, ||b||) over all parameters, tensors without a counterpart counting whole: 0 for equal models, about sqrt 2 for unrelated ones.</param>
/// <param name="FirstInSecond">Every non-constant tensor of the first model is in the second with equal content, and the second has more tensors.</param>
/// <param name="SharedTensors">Tensors of the first model found with identical content in the second.</param>
/// <param name="MatchedTensors">Tensors that line up: the shared ones plus those of equal name and shape with a castable dtype.</param>
/// <param name="CastFrom">The second model's float dtype of a lined-up tensor whose dtype differs between the two, or null when none does.</param>
/// <param name="CastTo">The first model's dtype of that tensor, or null when none differs.</param>
/// <param name="SecondInFirst">Every non-constant tensor of the second model is in the first with equal content, and the first has more tensors.</param>
/// <param name="SameTensorSet">Every tensor of each model lines up with one of the other (names, shapes, castable dtypes): the same architecture, not one with a head more or less.</param>
/// <param name="CorrelationZ">How far the sampled values of the lined-up, changed weight tensors correlate beyond chance: the pooled correlation of per-tensor standardised samples times the square root of their count (about N(0, 1) for independent weights).</param>
/// <param name="Correlation">That pooled correlation itself (0 when no weights were compared).</param>
internal sealed record Relation(double SharedFraction, int SharedTensors, double Structure, int MatchedTensors, double Divergence, string? CastFrom, string? CastTo, bool FirstInSecond = false, bool SecondInFirst = false, bool SameTensorSet = false, double CorrelationZ = 0, double Correlation = 0)
{
    /// <summary>Independent weights of equal scale sit at sqrt 2; derived models well below.</summary>
    public const double RelatedDivergence = 1.0;
    /// <summary>Sharing at least this fraction of parameters makes a model related whatever its divergence.</summary>
    public const double MinShared = 0.01;
    /// <summary>
    /// Correlation beyond chance that makes models related whatever their divergence (a model
    /// trained on from another for long, moved by 30-150% per tensor, still correlates with it):
    /// under independence the score is about N(0, 1), so 5 is a one-in-three-million accident.
    /// </summary>
    public const double RelatedCorrelationZ = 5;

    public bool Related => SharedFraction >= MinShared || (MatchedTensors > 0 && Divergence < RelatedDivergence) || CorrelationZ >= RelatedCorrelationZ;

    /// <summary>1 for identical models, 0 for models as far apart as unrelated weights.</summary>
    public double Similarity => Math.Clamp(1 - (Divergence / Math.Sqrt(2)), 0, 1);
}

/// <summary>Which of two related models the direction rules make the parent (<see cref="Kinship.Direction"/>), how it was derived, and why.</summary>
/// <param name="Sign">Positive: the first model is the parent; negative: the second; zero: undecided.</param>
/// <param name="How">The derivation the rule that decided implies (<c>"quantize"</c>, <c>"prune"</c>), or null.</param>
/// <param name="Why">The decisive rule in words, for users, or null when undecided.</param>
internal sealed record Orientation(int Sign, string? How, string? Why)
{
    public static readonly Orientation Undecided = new(0, null, null);
}

/// <summary>Compares fingerprints: the measures placement and infer rank candidates by.</summary>
internal static class Kinship
{
    /// <summary>
    /// Relates <paramref name="x"/> (looked up by name and content) to <paramref name="y"/>
    /// (walked tensor by tensor): placement compares one new model with every stored one, so
    /// only the new model is indexed.
    /// </summary>
    public static Relation Compare(IndexedFingerprint x, IndexedFingerprint y)
    {
        // The new model is x: looked up by hashed name and content; each stored y is walked
        // column by column, with no per-tensor objects.
        Span<bool> matchedX = x.Count <= 4096 ? stackalloc bool[x.Count] : new bool[x.Count];
        var yNames = y.NameHashes;
        var yContents = y.ContentHashes;
        var yShapes = y.ShapeHashes;
        var yElements = y.TensorElements;
        var yNorms = y.Norms;
        var xShapes = x.ShapeHashes;
        var xContents = x.ContentHashes;
        var xElements = x.TensorElements;
        var xNorms = x.Norms;
        var xSamples = x.SampleSlots;
        var ySamples = y.SampleSlots;
        long sharedElements = 0, matchedElements = 0;
        int sharedTensors = 0, matchedTensors = 0, sharedNonConstantY = 0;
        double difference = 0, matchedXNorm = 0;
        int castX = -1, castY = -1;
        var correlated = default(PooledCorrelation);
        for (int j = 0; j < y.Count; j++)
        {
            int i = y.IsConstant(j) ? -1 : x.IndexOfContent(yContents[j]);
            if (i >= 0 && !matchedX[i])
            {
                matchedX[i] = true;
                matchedXNorm += xNorms[i];
                sharedElements += yElements[j];
                sharedTensors++;
                sharedNonConstantY++;
                continue;
            }

            i = x.IndexOfName(yNames[j]);
            if (i >= 0 && !matchedX[i] && xShapes[i] == yShapes[j] && Castable(x, i, y, j, out bool cast))
            {
                matchedX[i] = true;
                matchedXNorm += xNorms[i];
                matchedElements += xElements[i];
                matchedTensors++;
                if (cast)
                {
                    (castX, castY) = (i, j);
                }

                if (xContents[i] != yContents[j])
                {
                    difference += SampledSquaredDistance(xSamples, i, x.SampleCount(i), ySamples, j, y.SampleCount(j), xElements[i]);
                    if (xElements[i] >= MinCorrelatedElements)
                    {
                        correlated.Add(xSamples, i, x.SampleCount(i), ySamples, j, y.SampleCount(j));
                    }
                }

                continue;
            }

            difference += yNorms[j];
        }

        difference += x.SquaredNorm - matchedXNorm;
        double scale = (x.SquaredNorm + y.SquaredNorm) / 2;
        double divergence = scale > 0 ? Math.Sqrt(difference / scale) : difference > 0 ? Math.Sqrt(2) : 0;
        long lined = sharedElements + matchedElements;
        long union = x.Elements + y.Elements - lined;
        return new Relation(
            x.NonConstantElements == 0 ? 0 : (double)sharedElements / x.NonConstantElements,
            sharedTensors,
            union <= 0 ? 1 : (double)lined / union,
            sharedTensors + matchedTensors,
            Math.Min(divergence, Math.Sqrt(2) * 2),
            castY >= 0 ? y.Dtype(castY) : null,
            castX >= 0 ? x.Dtype(castX) : null,
            FirstInSecond: x.NonConstantTensors > 0 && sharedTensors == x.NonConstantTensors && y.Count > x.Count,
            SecondInFirst: y.NonConstantTensors > 0 && sharedNonConstantY == y.NonConstantTensors && x.Count > y.Count,
            SameTensorSet: sharedTensors + matchedTensors == x.Count && x.Count == y.Count,
            CorrelationZ: correlated.Z,
            Correlation: correlated.R);
    }

    /// <summary>Tensors smaller than this (biases, norms, small heads) may correlate between independently trained models by their role; weight matrices do not (hidden units can be permuted).</summary>
    private const long MinCorrelatedElements = 256;

    /// <summary>
    /// The correlation of two models' weights, pooled over tensors: each tensor's samples are
    /// standardised on their own (so scale and offset changes do not count), then the products
    /// are summed over every tensor. Independent weights give about N(0, 1/n) for n samples.
    /// </summary>
    private struct PooledCorrelation
    {
        private double _products;
        private int _samples;

        public readonly double R => _samples == 0 ? 0 : _products / _samples;

        public readonly double Z => _samples == 0 ? 0 : _products / Math.Sqrt(_samples);

        public void Add(float[] x, int i, int xCount, float[] y, int j, int yCount)
        {
            int count = Math.Min(xCount, yCount);
            if (count < 8)
            {
                return;
            }

            int xStart = i * ModelFingerprint.SamplesPerTensor, yStart = j * ModelFingerprint.SamplesPerTensor;
            double sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
            for (int k = 0; k < count; k++)
            {
                double a = x[xStart + k], b = y[yStart + k];
                if (!double.IsFinite(a) || !double.IsFinite(b))
                {
                    return;
                }

                sx += a;
                sy += b;
                sxx += a * a;
                syy += b * b;
                sxy += a * b;
            }

            double vx = sxx - (sx * sx / count), vy = syy - (sy * sy / count);
            if (vx <= 0 || vy <= 0)
            {
                return;
            }

            // count times the tensor's sample correlation: its standardised products, summed.
            _products += (sxy - (sx * sy / count)) / Math.Sqrt(vx * vy) * count;
            _samples += count;
        }
    }

    /// <summary>Tensor <paramref name="i"/> of x and <paramref name="j"/> of y have equal dtypes, or both float dtypes (<paramref name="cast"/>: not equal).</summary>
    private static bool Castable(IndexedFingerprint x, int i, IndexedFingerprint y, int j, out bool cast)
    {
        string a = x.Dtype(i), b = y.Dtype(j);
        cast = !ReferenceEquals(a, b) && a != b;
        return !cast || (x.IsFloat(i) && y.IsFloat(j));
    }

    /// <summary>||x - y||² over the whole tensor, estimated from the samples at equal positions (tensor <paramref name="i"/> of x, <paramref name="j"/> of y).</summary>
    private static double SampledSquaredDistance(float[] x, int i, int xCount, float[] y, int j, int yCount, long elements)
    {
        int count = Math.Min(xCount, yCount);
        if (count == 0)
        {
            return 0;
        }

        int xStart = i * ModelFingerprint.SamplesPerTensor, yStart = j * ModelFingerprint.SamplesPerTensor;
        double sum = 0;
        for (int k = 0; k < count; k++)
        {
            double d = (double)x[xStart + k] - y[yStart + k];
            if (double.IsFinite(d))
            {
                sum += d * d;
            }
        }

        return sum * elements / count;
    }

    /// <summary>
    /// Which of two related models is the parent, when their content says so: the higher float
    /// precision (a cast loses bits), the model whose every tensor the other holds too (the other
    /// added tensors), the denser (pruning zeroes weights), and, last, the shorter name that the
    /// other extends ("bert" and "bert-sst2"). Positive: <paramref name="a"/> is the parent;
    /// negative: <paramref name="b"/>; zero: undecided. The rules hold between any related
    /// models (a lower-precision or sparser model is not an ancestor of a full one), so a model
    /// placed under a more distant relative by them moves when its real parent arrives.
    /// </summary>
    /// <param name="relation">The comparison of <paramref name="a"/> with <paramref name="b"/> (containment comes from it).</param>
    /// <param name="a">The first model's fingerprint.</param>
    /// <param name="aName">The first model's name.</param>
    /// <param name="b">The second model's fingerprint.</param>
    /// <param name="bName">The second model's name.</param>
    public static Orientation Direction(IndexedFingerprint a, string aName, IndexedFingerprint b, string bName, Relation relation)
    {
        if (Math.Abs(a.Precision - b.Precision) >= 4)
        {
            int sign = a.Precision > b.Precision ? 1 : -1;
            return new Orientation(sign, "quantize", "a cast to lower precision");
        }

        bool aInB = relation.FirstInSecond, bInA = relation.SecondInFirst;
        if (aInB != bInA)
        {
            return new Orientation(aInB ? 1 : -1, null, "holds all of the parent's tensors and adds its own");
        }

        if (Math.Abs(a.ZeroFraction - b.ZeroFraction) >= 0.1)
        {
            return new Orientation(a.ZeroFraction < b.ZeroFraction ? 1 : -1, "prune", "sparser: pruned");
        }

        if (Extends(bName, aName))
        {
            return new Orientation(1, null, "its name extends the parent's");
        }

        if (Extends(aName, bName))
        {
            return new Orientation(-1, null, "its name extends the parent's");
        }

        return Orientation.Undecided;
    }

    private static bool Extends(string longer, string shorter) =>
        longer.Length > shorter.Length + 1
        && longer.StartsWith(shorter, StringComparison.Ordinal)
        && !char.IsLetterOrDigit(longer[shorter.Length]);
}
