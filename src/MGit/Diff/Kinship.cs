using MGit.Storage;

namespace MGit.Diff;

/// <summary>
/// A fingerprint with what placement reads of it, computed once per model. The name and content
/// look-ups are built only when first used: placement builds them for the new model alone and
/// walks every candidate's tensors against them.
/// </summary>
public sealed class IndexedFingerprint
{
    private Dictionary<string, int>? _byName;
    private Dictionary<ObjectId, int>? _byHash;

    public IndexedFingerprint(ModelFingerprint fingerprint)
    {
        Fingerprint = fingerprint;
        var tensors = fingerprint.Tensors;
        Norms = new double[tensors.Count];
        long floatElements = 0, weightedPrecision = 0, zeros = 0, samples = 0;
        for (int i = 0; i < tensors.Count; i++)
        {
            var t = tensors[i];
            if (!t.IsConstant)
            {
                NonConstantElements += t.Elements;
                NonConstantTensors++;
            }

            Norms[i] = t.EstimatedSquaredNorm;
            SquaredNorm += Norms[i];
            Elements += t.Elements;
            if (ElementValues.IsFloat(t.Dtype))
            {
                floatElements += t.Elements;
                weightedPrecision += t.Elements * ElementValues.Precision(t.Dtype);
                samples += t.Samples.Length;
                foreach (float v in t.Samples)
                {
                    zeros += v == 0 ? 1 : 0;
                }
            }
        }

        Precision = floatElements == 0 ? 0 : (double)weightedPrecision / floatElements;
        ZeroFraction = samples == 0 ? 0 : (double)zeros / samples;
    }

    public ModelFingerprint Fingerprint { get; }
    public IReadOnlyList<TensorFingerprint> Tensors => Fingerprint.Tensors;
    /// <summary>Estimated squared norm per tensor (from the samples).</summary>
    public double[] Norms { get; }
    public double SquaredNorm { get; }
    public long Elements { get; }
    public long NonConstantElements { get; }
    public int NonConstantTensors { get; }
    /// <summary>Float bits per element, averaged over float parameters (32 for F32, 16 for BF16).</summary>
    public double Precision { get; }
    /// <summary>Fraction of sampled float values that are exactly zero (pruning leaves many).</summary>
    public double ZeroFraction { get; }

    public int IndexOfName(string name)
    {
        _byName ??= BuildIndex(t => t.Name, _ => true, StringComparer.Ordinal);
        return _byName.TryGetValue(name, out int i) ? i : -1;
    }

    public int IndexOfContent(ObjectId hash)
    {
        _byHash ??= BuildIndex(t => t.ContentHash, t => !t.IsConstant, EqualityComparer<ObjectId>.Default);
        return _byHash.TryGetValue(hash, out int i) ? i : -1;
    }

    private Dictionary<TKey, int> BuildIndex<TKey>(Func<TensorFingerprint, TKey> key, Func<TensorFingerprint, bool> include, IEqualityComparer<TKey> comparer)
        where TKey : notnull
    {
        var index = new Dictionary<TKey, int>(Tensors.Count, comparer);
        for (int i = 0; i < Tensors.Count; i++)
        {
            if (include(Tensors[i]))
            {
                index.TryAdd(key(Tensors[i]), i);
            }
        }

        return index;
    }
}

/// <summary>How close one model is to another, from fingerprints alone.</summary>
/// <param name="SharedFraction">Parameters of the first model found with identical content in the second (constant tensors do not count).</param>
/// <param name="Structure">Weighted Jaccard of parameters that line up (shared content, or same name and shape with a castable dtype).</param>
/// <param name="Divergence">Estimated ||a - b|| / rms(||a||, ||b||) over all parameters, tensors without a counterpart counting whole: 0 for equal models, about sqrt 2 for unrelated ones.</param>
/// <param name="FirstInSecond">Every non-constant tensor of the first model is in the second with equal content, and the second has more tensors.</param>
public sealed record Relation(double SharedFraction, int SharedTensors, double Structure, int MatchedTensors, double Divergence, string? CastFrom, string? CastTo, bool FirstInSecond = false, bool SecondInFirst = false)
{
    /// <summary>Independent weights of equal scale sit at sqrt 2; derived models well below.</summary>
    public const double RelatedDivergence = 1.0;
    /// <summary>Sharing at least this fraction of parameters makes a model related whatever its divergence.</summary>
    public const double MinShared = 0.01;

    public bool Related => SharedFraction >= MinShared || (MatchedTensors > 0 && Divergence < RelatedDivergence);

    /// <summary>1 for identical models, 0 for models as far apart as unrelated weights.</summary>
    public double Similarity => Math.Clamp(1 - (Divergence / Math.Sqrt(2)), 0, 1);
}

/// <summary>Compares fingerprints: the measures placement and infer rank candidates by.</summary>
public static class Kinship
{
    /// <summary>
    /// Relates <paramref name="x"/> (looked up by name and content) to <paramref name="y"/>
    /// (walked tensor by tensor): placement compares one new model with every stored one, so
    /// only the new model is indexed.
    /// </summary>
    public static Relation Compare(IndexedFingerprint x, IndexedFingerprint y)
    {
        var matchedX = new bool[x.Tensors.Count];
        long sharedElements = 0, matchedElements = 0;
        int sharedTensors = 0, matchedTensors = 0, sharedNonConstantY = 0;
        double difference = 0, matchedXNorm = 0;
        string? castFrom = null, castTo = null;
        for (int j = 0; j < y.Tensors.Count; j++)
        {
            var ty = y.Tensors[j];
            int i = ty.IsConstant ? -1 : x.IndexOfContent(ty.ContentHash);
            if (i >= 0 && !matchedX[i])
            {
                matchedX[i] = true;
                matchedXNorm += x.Norms[i];
                sharedElements += ty.Elements;
                sharedTensors++;
                sharedNonConstantY++;
                continue;
            }

            i = x.IndexOfName(ty.Name);
            if (i >= 0 && !matchedX[i] && x.Tensors[i] is var tx && tx.SameShape(ty) && Castable(tx.Dtype, ty.Dtype))
            {
                matchedX[i] = true;
                matchedXNorm += x.Norms[i];
                matchedElements += tx.Elements;
                matchedTensors++;
                if (tx.Dtype != ty.Dtype)
                {
                    (castFrom, castTo) = (ty.Dtype, tx.Dtype);
                }

                if (tx.ContentHash != ty.ContentHash)
                {
                    difference += SampledSquaredDistance(tx, ty);
                }

                continue;
            }

            difference += y.Norms[j];
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
            castFrom,
            castTo,
            FirstInSecond: x.NonConstantTensors > 0 && sharedTensors == x.NonConstantTensors && y.Tensors.Count > x.Tensors.Count,
            SecondInFirst: y.NonConstantTensors > 0 && sharedNonConstantY == y.NonConstantTensors && x.Tensors.Count > y.Tensors.Count);
    }

    /// <summary>Equal dtypes, or two float dtypes (a cast relates them).</summary>
    public static bool Castable(string a, string b) => a == b || (ElementValues.IsFloat(a) && ElementValues.IsFloat(b));

    /// <summary>||x - y||² over the whole tensor, estimated from the samples at equal positions.</summary>
    private static double SampledSquaredDistance(TensorFingerprint x, TensorFingerprint y)
    {
        int count = Math.Min(x.Samples.Length, y.Samples.Length);
        if (count == 0)
        {
            return 0;
        }

        double sum = 0;
        for (int k = 0; k < count; k++)
        {
            double d = (double)x.Samples[k] - y.Samples[k];
            if (double.IsFinite(d))
            {
                sum += d * d;
            }
        }

        return sum * x.Elements / count;
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
    public static (int Sign, string? How, string? Why) Direction(IndexedFingerprint a, string aName, IndexedFingerprint b, string bName, Relation relation)
    {
        if (Math.Abs(a.Precision - b.Precision) >= 4)
        {
            int sign = a.Precision > b.Precision ? 1 : -1;
            return (sign, "quantize", "a cast to lower precision");
        }

        bool aInB = relation.FirstInSecond, bInA = relation.SecondInFirst;
        if (aInB != bInA)
        {
            return (aInB ? 1 : -1, null, "holds all of the parent's tensors and adds its own");
        }

        if (Math.Abs(a.ZeroFraction - b.ZeroFraction) >= 0.1)
        {
            return (a.ZeroFraction < b.ZeroFraction ? 1 : -1, "prune", "sparser: pruned");
        }

        if (Extends(bName, aName))
        {
            return (1, null, "its name extends the parent's");
        }

        if (Extends(aName, bName))
        {
            return (-1, null, "its name extends the parent's");
        }

        return (0, null, null);
    }

    private static bool Extends(string longer, string shorter) =>
        longer.Length > shorter.Length + 1
        && longer.StartsWith(shorter, StringComparison.Ordinal)
        && !char.IsLetterOrDigit(longer[shorter.Length]);
}
