using System.Buffers.Binary;
using System.Collections.Frozen;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using MGit.Formats.Safetensors;

namespace MGit.Quickstart;

/// <summary>Update rule used by <see cref="TinyMlp.Train"/>.</summary>
public enum TrainOptimizer
{
    /// <summary>Adam (beta1 0.9, beta2 0.999, eps 1e-8).</summary>
    Adam,

    /// <summary>SGD with momentum 0.9.</summary>
    Sgd,
}

/// <summary>Settings for one <see cref="TinyMlp.Train"/> call.</summary>
public sealed record TrainOptions
{
    /// <summary>Passes over the training rows.</summary>
    public int Epochs { get; init; } = 50;

    /// <summary>Step size.</summary>
    public float LearningRate { get; init; } = 1e-3f;

    /// <summary>Rows per step; zero or less means the whole split in one step.</summary>
    public int BatchSize { get; init; } = 32;

    /// <summary>Seeds the per-epoch shuffle.</summary>
    public int Seed { get; init; }

    /// <summary>Update rule.</summary>
    public TrainOptimizer Optimizer { get; init; } = TrainOptimizer.Adam;

    /// <summary>Tensor names (e.g. <see cref="TinyMlp.EncoderParameters"/>) left unchanged by training.</summary>
    public IReadOnlySet<string>? FrozenParameters { get; init; }
}

/// <summary>What a <see cref="TinyMlp.Train"/> call did.</summary>
public sealed record TrainSummary(int Epochs, int Steps, double FinalEpochLoss);

/// <summary>
/// A float32 MLP, 4 inputs → 256 (ReLU) → 256 (ReLU) → classes, with tensors named like the PyTorch module
/// <c>encoder = Sequential(Linear(4,256), ReLU(), Linear(256,256), ReLU()); head = Linear(256, classes)</c>.
/// Training is single-threaded and every float sum runs in a fixed order, so a seed gives the same bytes on any
/// machine and vector width: vector code is purely lane-wise (separate multiply and add, never fused, never a
/// horizontal sum), and softmax uses a hand-written exp rather than the platform's.
/// </summary>
public sealed class TinyMlp
{
    /// <summary>Input width.</summary>
    public const int InputSize = PenguinData.FeatureCount;

    /// <summary>Width of both hidden layers.</summary>
    public const int HiddenSize = 256;

    /// <summary>First linear layer's weight, [256, 4].</summary>
    public const string Encoder0Weight = "encoder.0.weight";

    /// <summary>First linear layer's bias, [256].</summary>
    public const string Encoder0Bias = "encoder.0.bias";

    /// <summary>Second linear layer's weight, [256, 256].</summary>
    public const string Encoder2Weight = "encoder.2.weight";

    /// <summary>Second linear layer's bias, [256].</summary>
    public const string Encoder2Bias = "encoder.2.bias";

    /// <summary>Classifier weight, [classes, 256].</summary>
    public const string HeadWeight = "head.weight";

    /// <summary>Classifier bias, [classes].</summary>
    public const string HeadBias = "head.bias";

    private const int W0 = 0, B0 = 1, W2 = 2, B2 = 3, WH = 4, BH = 5;
    private const int EvalChunk = 256;

    private static readonly string[] Names = [Encoder0Weight, Encoder0Bias, Encoder2Weight, Encoder2Bias, HeadWeight, HeadBias];

    // Tensors in module order; each weight is row-major [out, in] as PyTorch stores it.
    private readonly float[][] _params;

    private TinyMlp(int classes, float[][] parameters)
    {
        Classes = classes;
        _params = parameters;
    }

    /// <summary>The encoder's tensor names, for head-only fine-tuning.</summary>
    public static IReadOnlySet<string> EncoderParameters { get; } =
        new[] { Encoder0Weight, Encoder0Bias, Encoder2Weight, Encoder2Bias }.ToFrozenSet(StringComparer.Ordinal);

    /// <summary>The weight matrices (biases excluded), as pruned by <see cref="PruneMagnitude"/>.</summary>
    public static IReadOnlyList<string> WeightMatrices { get; } = [Encoder0Weight, Encoder2Weight, HeadWeight];

    /// <summary>Output classes.</summary>
    public int Classes { get; }

    /// <summary>A freshly initialized model, like PyTorch's Linear default: U(-1/√fan_in, 1/√fan_in).</summary>
    public static TinyMlp Create(int classes, int seed)
    {
        ValidateClasses(classes);
        var random = new Random(seed);
        var (w0, b0) = InitLinear(random, HiddenSize, InputSize);
        var (w2, b2) = InitLinear(random, HiddenSize, HiddenSize);
        var (wh, bh) = InitLinear(random, classes, HiddenSize);
        return new TinyMlp(classes, [w0, b0, w2, b2, wh, bh]);
    }

    /// <summary>Loads a model from F32 or BF16 tensors named as <see cref="Export"/> names them.</summary>
    /// <exception cref="ArgumentException">A tensor is missing, unexpected, or has the wrong dtype, shape or size.</exception>
    public static TinyMlp FromTensors(IReadOnlyList<TensorData> tensors)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        var byName = new Dictionary<string, TensorData>(StringComparer.Ordinal);
        foreach (var t in tensors)
        {
            if (Array.IndexOf(Names, t.Name) < 0)
            {
                throw new ArgumentException($"Unexpected tensor '{t.Name}'.", nameof(tensors));
            }

            if (!byName.TryAdd(t.Name, t))
            {
                throw new ArgumentException($"Duplicate tensor '{t.Name}'.", nameof(tensors));
            }
        }

        var head = Get(byName, HeadBias);
        if (head.Shape.Length != 1)
        {
            throw new ArgumentException($"'{HeadBias}' must be one-dimensional.", nameof(tensors));
        }

        var classes = checked((int)head.Shape[0]);
        ValidateClasses(classes);
        long[][] shapes = [[HiddenSize, InputSize], [HiddenSize], [HiddenSize, HiddenSize], [HiddenSize], [classes, HiddenSize], [classes]];
        var parameters = new float[Names.Length][];
        for (var p = 0; p < Names.Length; p++)
        {
            var t = Get(byName, Names[p]);
            if (!t.Shape.AsSpan().SequenceEqual(shapes[p]))
            {
                throw new ArgumentException($"'{t.Name}' has shape [{string.Join(',', t.Shape)}], expected [{string.Join(',', shapes[p])}].", nameof(tensors));
            }

            parameters[p] = Decode(t, checked((int)shapes[p].Aggregate(1L, (a, b) => a * b)));
        }

        return new TinyMlp(classes, parameters);
    }

    /// <summary>bfloat16 bits of <paramref name="value"/>, rounded to nearest, ties to even; NaN stays a (quiet) NaN.</summary>
    public static ushort ToBFloat16(float value)
    {
        var bits = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value))
        {
            return (ushort)((bits >> 16) | 0x0040);
        }

        // Adding 0x7FFF plus the lowest kept bit rounds half to even; finite values cannot overflow 32 bits here.
        var rounded = bits + 0x7FFFu + ((bits >> 16) & 1u);
        return (ushort)(rounded >> 16);
    }

    /// <summary>The float a bfloat16 bit pattern stands for (exact).</summary>
    public static float FromBFloat16(ushort bits) => BitConverter.UInt32BitsToSingle((uint)bits << 16);

    /// <summary>A deep copy.</summary>
    public TinyMlp Clone() => new(Classes, [.. _params.Select(p => (float[])p.Clone())]);

    /// <summary>A copy with this encoder and a freshly initialized head of <paramref name="classes"/> outputs.</summary>
    public TinyMlp WithNewHead(int classes, int seed)
    {
        ValidateClasses(classes);
        var (wh, bh) = InitLinear(new Random(seed), classes, HiddenSize);
        return new TinyMlp(classes, [(float[])_params[W0].Clone(), (float[])_params[B0].Clone(), (float[])_params[W2].Clone(), (float[])_params[B2].Clone(), wh, bh]);
    }

    /// <summary>All tensors as F32, in module order.</summary>
    public IReadOnlyList<TensorData> Export() =>
        [.. Enumerable.Range(0, Names.Length).Select(p => new TensorData(Names[p], "F32", Shape(p), SafetensorsWriter.ToBytes(_params[p])))];

    /// <summary>All tensors cast to BF16 (round to nearest even), in module order.</summary>
    public IReadOnlyList<TensorData> ExportBf16() =>
        [.. Enumerable.Range(0, Names.Length).Select(p => new TensorData(Names[p], "BF16", Shape(p), ToBf16Bytes(_params[p])))];

    /// <summary>
    /// Sets the <paramref name="fraction"/> of each weight matrix with the smallest magnitudes to exactly +0
    /// (ties broken by position so the result is deterministic); biases are untouched.
    /// </summary>
    /// <returns>How many weights were zeroed.</returns>
    public int PruneMagnitude(double fraction)
    {
        if (!(fraction >= 0 && fraction <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(fraction), fraction, "Must be between 0 and 1.");
        }

        var zeroed = 0;
        foreach (var p in (int[])[W0, W2, WH])
        {
            var w = _params[p];
            var k = (int)Math.Floor(fraction * w.Length);
            var order = Enumerable.Range(0, w.Length).ToArray();
            Array.Sort(order, (a, b) =>
            {
                var byMagnitude = MathF.Abs(w[a]).CompareTo(MathF.Abs(w[b]));
                return byMagnitude != 0 ? byMagnitude : a.CompareTo(b);
            });
            for (var i = 0; i < k; i++)
            {
                w[order[i]] = 0f;
            }

            zeroed += k;
        }

        return zeroed;
    }

    /// <summary>Share of rows in <paramref name="split"/> whose predicted class is the label.</summary>
    public double Evaluate(PenguinSplit split)
    {
        ArgumentNullException.ThrowIfNull(split);
        var predictions = Predict(split);
        var correct = 0;
        for (var i = 0; i < predictions.Length; i++)
        {
            if (predictions[i] == split.LabelArray[i])
            {
                correct++;
            }
        }

        return split.Count == 0 ? 0 : (double)correct / split.Count;
    }

    /// <summary>Most likely class of each row (the lowest index on a tie).</summary>
    public int[] Predict(PenguinSplit split)
    {
        ArgumentNullException.ThrowIfNull(split);
        var buffers = new Buffers(EvalChunk, Classes);
        var (w0T, w2T) = (Transpose(_params[W0], HiddenSize, InputSize), Transpose(_params[W2], HiddenSize, HiddenSize));
        var result = new int[split.Count];
        var x = split.FeatureArray;
        for (var start = 0; start < split.Count; start += EvalChunk)
        {
            var rows = Math.Min(EvalChunk, split.Count - start);
            Encode(x, start * InputSize, rows, w0T, w2T, buffers);
            Head(rows, buffers);
            for (var b = 0; b < rows; b++)
            {
                var logits = buffers.Logits.AsSpan(b * Classes, Classes);
                var best = 0;
                for (var c = 1; c < Classes; c++)
                {
                    if (logits[c] > logits[best])
                    {
                        best = c;
                    }
                }

                result[start + b] = best;
            }
        }

        return result;
    }

    /// <summary>Trains on <paramref name="split"/> with softmax cross-entropy (mean over each batch).</summary>
    public TrainSummary Train(PenguinSplit split, TrainOptions options)
    {
        ArgumentNullException.ThrowIfNull(split);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfNegative(options.Epochs);
        if (!(options.LearningRate > 0) || !float.IsFinite(options.LearningRate))
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.LearningRate, "Learning rate must be positive.");
        }

        foreach (var label in split.LabelArray)
        {
            if ((uint)label >= (uint)Classes)
            {
                throw new ArgumentException($"Label {label} is outside the model's {Classes} classes.", nameof(split));
            }
        }

        var frozen = options.FrozenParameters ?? FrozenSet<string>.Empty;
        foreach (var name in frozen)
        {
            if (Array.IndexOf(Names, name) < 0)
            {
                throw new ArgumentException($"Unknown parameter '{name}'.", nameof(options));
            }
        }

        var trainable = Names.Select(n => !frozen.Contains(n)).ToArray();
        var count = split.Count;
        var batchSize = options.BatchSize <= 0 || options.BatchSize > count ? count : options.BatchSize;
        var buffers = new Buffers(batchSize, Classes);
        var grads = _params.Select(p => new float[p.Length]).ToArray();
        var optimizer = new Optimizer(options.Optimizer, options.LearningRate, _params);
        var w0T = Transpose(_params[W0], HiddenSize, InputSize);
        var w2T = Transpose(_params[W2], HiddenSize, HiddenSize);
        var order = Enumerable.Range(0, count).ToArray();
        var random = new Random(options.Seed);
        var batchX = new float[batchSize * InputSize];
        var batchY = new int[batchSize];
        var steps = 0;
        var epochLoss = double.NaN;

        // With the whole encoder frozen its output never changes: encode every row once instead of every epoch.
        float[]? encoded = null;
        if (!trainable[W0] && !trainable[B0] && !trainable[W2] && !trainable[B2])
        {
            encoded = new float[count * HiddenSize];
            for (var start = 0; start < count; start += batchSize)
            {
                var rows = Math.Min(batchSize, count - start);
                Encode(split.FeatureArray, start * InputSize, rows, w0T, w2T, buffers);
                Array.Copy(buffers.A2, 0, encoded, start * HiddenSize, rows * HiddenSize);
            }
        }

        for (var epoch = 0; epoch < options.Epochs; epoch++)
        {
            for (var i = count - 1; i > 0; i--)
            {
                var j = random.Next(i + 1);
                (order[i], order[j]) = (order[j], order[i]);
            }

            double lossSum = 0;
            for (var start = 0; start < count; start += batchSize)
            {
                var rows = Math.Min(batchSize, count - start);
                for (var b = 0; b < rows; b++)
                {
                    var row = order[start + b];
                    Array.Copy(split.FeatureArray, row * InputSize, batchX, b * InputSize, InputSize);
                    batchY[b] = split.LabelArray[row];
                    if (encoded is not null)
                    {
                        Array.Copy(encoded, row * HiddenSize, buffers.A2, b * HiddenSize, HiddenSize);
                    }
                }

                foreach (var g in grads)
                {
                    Array.Clear(g);
                }

                if (encoded is null)
                {
                    Encode(batchX, 0, rows, w0T, w2T, buffers);
                }

                Head(rows, buffers);
                lossSum += Backward(batchX, batchY, rows, trainable, grads, buffers);
                optimizer.Step(_params, grads, trainable);
                steps++;
                if (trainable[W0])
                {
                    Transpose(_params[W0], HiddenSize, InputSize, w0T);
                }

                if (trainable[W2])
                {
                    Transpose(_params[W2], HiddenSize, HiddenSize, w2T);
                }
            }

            epochLoss = lossSum / count;
        }

        return new TrainSummary(options.Epochs, steps, epochLoss);
    }

    private static void ValidateClasses(int classes)
    {
        if (classes < 2)
        {
            throw new ArgumentOutOfRangeException(nameof(classes), classes, "A classifier needs at least 2 classes.");
        }
    }

    private static TensorData Get(Dictionary<string, TensorData> byName, string name) =>
        byName.TryGetValue(name, out var t) ? t : throw new ArgumentException($"Missing tensor '{name}'.", nameof(byName));

    private static float[] Decode(TensorData t, int elements)
    {
        var values = new float[elements];
        var data = t.Data.AsSpan();
        switch (t.Dtype)
        {
            case "F32" when data.Length == elements * 4:
                for (var i = 0; i < elements; i++)
                {
                    values[i] = BinaryPrimitives.ReadSingleLittleEndian(data[(i * 4)..]);
                }

                break;
            case "BF16" when data.Length == elements * 2:
                for (var i = 0; i < elements; i++)
                {
                    values[i] = FromBFloat16(BinaryPrimitives.ReadUInt16LittleEndian(data[(i * 2)..]));
                }

                break;
            default:
                throw new ArgumentException($"'{t.Name}' must be F32 or BF16 with {elements} elements (it is {t.Dtype}, {data.Length} bytes).", nameof(t));
        }

        return values;
    }

    private static byte[] ToBf16Bytes(float[] values)
    {
        var bytes = new byte[values.Length * 2];
        for (var i = 0; i < values.Length; i++)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(i * 2), ToBFloat16(values[i]));
        }

        return bytes;
    }

    private static (float[] Weight, float[] Bias) InitLinear(Random random, int outputs, int inputs)
    {
        var bound = 1.0 / Math.Sqrt(inputs);
        var weight = new float[outputs * inputs];
        for (var i = 0; i < weight.Length; i++)
        {
            weight[i] = (float)(((random.NextDouble() * 2) - 1) * bound);
        }

        var bias = new float[outputs];
        for (var i = 0; i < bias.Length; i++)
        {
            bias[i] = (float)(((random.NextDouble() * 2) - 1) * bound);
        }

        return (weight, bias);
    }

    private static float[] Transpose(float[] source, int rows, int cols)
    {
        var result = new float[source.Length];
        Transpose(source, rows, cols, result);
        return result;
    }

    // In 16x16 tiles so both sides stay in cache; this runs after every step that changes a weight.
    private static void Transpose(float[] source, int rows, int cols, float[] destination)
    {
        const int Tile = 16;
        for (var r0 = 0; r0 < rows; r0 += Tile)
        {
            for (var c0 = 0; c0 < cols; c0 += Tile)
            {
                var (rEnd, cEnd) = (Math.Min(r0 + Tile, rows), Math.Min(c0 + Tile, cols));
                for (var r = r0; r < rEnd; r++)
                {
                    for (var c = c0; c < cEnd; c++)
                    {
                        destination[(c * rows) + r] = source[(r * cols) + c];
                    }
                }
            }
        }
    }

    // y[yOffset..] += a * x[xOffset..] over count elements, lane-wise. Multiply and add stay separate operations
    // (never fused), so every element is rounded exactly as in the scalar tail whatever the vector width.
    // Loads go through refs rather than span slices because Debug builds (the default for `dotnet run`) do not
    // inline span slicing, which made training several times slower; the range check up front keeps them in bounds.
    private static void Axpy(float a, float[] x, int xOffset, float[] y, int yOffset, int count)
    {
        if (xOffset < 0 || yOffset < 0 || count < 0 || xOffset > x.Length - count || yOffset > y.Length - count)
        {
            throw new ArgumentOutOfRangeException(nameof(count));
        }

        var i = 0;
        ref var rx = ref MemoryMarshal.GetArrayDataReference(x);
        ref var ry = ref MemoryMarshal.GetArrayDataReference(y);
        if (Vector256.IsHardwareAccelerated)
        {
            var va = Vector256.Create(a);
            for (; i <= count - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                var sum = Vector256.LoadUnsafe(ref ry, (nuint)(yOffset + i)) + (va * Vector256.LoadUnsafe(ref rx, (nuint)(xOffset + i)));
                sum.StoreUnsafe(ref ry, (nuint)(yOffset + i));
            }
        }
        else if (Vector128.IsHardwareAccelerated)
        {
            var va = Vector128.Create(a);
            for (; i <= count - Vector128<float>.Count; i += Vector128<float>.Count)
            {
                var sum = Vector128.LoadUnsafe(ref ry, (nuint)(yOffset + i)) + (va * Vector128.LoadUnsafe(ref rx, (nuint)(xOffset + i)));
                sum.StoreUnsafe(ref ry, (nuint)(yOffset + i));
            }
        }

        for (; i < count; i++)
        {
            y[yOffset + i] += a * x[xOffset + i];
        }
    }

    // Deterministic e^x in double from basic IEEE operations only (the platform's exp may differ in the last bit).
    private static double Exp(double x)
    {
        if (x < -745)
        {
            return 0;
        }

        const double Ln2 = 0.6931471805599453;
        var k = Math.Round(x / Ln2);
        var r = x - (k * Ln2); // |r| <= ln2/2, where a degree-13 Taylor polynomial is accurate to ~1e-16.
        var term = 1.0;
        var sum = 1.0;
        for (var n = 1; n <= 13; n++)
        {
            term = term * r / n;
            sum += term;
        }

        return Math.ScaleB(sum, (int)k);
    }

    private long[] Shape(int p) => p switch
    {
        W0 => [HiddenSize, InputSize],
        W2 => [HiddenSize, HiddenSize],
        WH => [Classes, HiddenSize],
        BH => [Classes],
        _ => [HiddenSize],
    };

    // Batch-major activations: row b of A1/A2 is sample b's hidden vector.
    private void Encode(float[] x, int xOffset, int rows, float[] w0T, float[] w2T, Buffers buf)
    {
        float[] b0 = _params[B0], b2 = _params[B2], a1 = buf.A1, a2 = buf.A2;
        for (var b = 0; b < rows; b++)
        {
            var h = b * HiddenSize;
            Array.Copy(b0, 0, a1, h, HiddenSize);
            for (var i = 0; i < InputSize; i++)
            {
                Axpy(x[xOffset + (b * InputSize) + i], w0T, i * HiddenSize, a1, h, HiddenSize);
            }

            Relu(a1, h);
            Array.Copy(b2, 0, a2, h, HiddenSize);
            for (var i = 0; i < HiddenSize; i++)
            {
                // ReLU leaves about half the inputs at zero; skipping them halves the work.
                if (a1[h + i] != 0)
                {
                    Axpy(a1[h + i], w2T, i * HiddenSize, a2, h, HiddenSize);
                }
            }

            Relu(a2, h);
        }
    }

    private void Head(int rows, Buffers buf)
    {
        float[] wh = _params[WH], bh = _params[BH], a2 = buf.A2;
        for (var b = 0; b < rows; b++)
        {
            var h = b * HiddenSize;
            for (var c = 0; c < Classes; c++)
            {
                var w = c * HiddenSize;
                var sum = bh[c];
                for (var j = 0; j < HiddenSize; j++)
                {
                    sum += a2[h + j] * wh[w + j];
                }

                buf.Logits[(b * Classes) + c] = sum;
            }
        }
    }

    // Fills grads with the batch-mean cross-entropy gradient of the trainable tensors; returns the summed loss.
    // Every gradient element is a sum over the batch taken in row order, so the result does not depend on vector width.
    private double Backward(float[] x, int[] y, int rows, bool[] trainable, float[][] grads, Buffers buf)
    {
        var needEncoder2 = trainable[W0] || trainable[B0] || trainable[W2] || trainable[B2];
        var needEncoder0 = trainable[W0] || trainable[B0];
        float[] a1 = buf.A1, a2 = buf.A2, dz1 = buf.Dz1, dz2 = buf.Dz2, dLogits = buf.DLogits;
        float[] wh = _params[WH], w2 = _params[W2];
        double loss = 0;
        for (var b = 0; b < rows; b++)
        {
            // Softmax in double, then the gradient p - onehot scaled to a batch mean.
            var l = b * Classes;
            double max = buf.Logits[l];
            for (var c = 1; c < Classes; c++)
            {
                max = Math.Max(max, buf.Logits[l + c]);
            }

            double total = 0;
            for (var c = 0; c < Classes; c++)
            {
                buf.Exps[c] = Exp(buf.Logits[l + c] - max);
                total += buf.Exps[c];
            }

            loss -= Math.Log(buf.Exps[y[b]] / total);
            for (var c = 0; c < Classes; c++)
            {
                dLogits[l + c] = (float)(((buf.Exps[c] / total) - (c == y[b] ? 1 : 0)) / rows);
            }
        }

        for (var b = 0; b < rows; b++)
        {
            var (h, l) = (b * HiddenSize, b * Classes);
            for (var c = 0; c < Classes; c++)
            {
                grads[BH][c] += dLogits[l + c];
                Axpy(dLogits[l + c], a2, h, grads[WH], c * HiddenSize, HiddenSize);
            }

            if (!needEncoder2)
            {
                continue;
            }

            // dZ2 = (Wh^T dLogits) masked by ReLU.
            Array.Clear(dz2);
            for (var c = 0; c < Classes; c++)
            {
                Axpy(dLogits[l + c], wh, c * HiddenSize, dz2, 0, HiddenSize);
            }

            MaskRelu(a2, h, dz2);
            Axpy(1f, dz2, 0, grads[B2], 0, HiddenSize);
            if (trainable[W2])
            {
                for (var o = 0; o < HiddenSize; o++)
                {
                    if (dz2[o] != 0)
                    {
                        Axpy(dz2[o], a1, h, grads[W2], o * HiddenSize, HiddenSize);
                    }
                }
            }

            if (!needEncoder0)
            {
                continue;
            }

            // dZ1 = (W2^T dZ2) masked by ReLU.
            Array.Clear(dz1);
            for (var o = 0; o < HiddenSize; o++)
            {
                if (dz2[o] != 0)
                {
                    Axpy(dz2[o], w2, o * HiddenSize, dz1, 0, HiddenSize);
                }
            }

            MaskRelu(a1, h, dz1);
            Axpy(1f, dz1, 0, grads[B0], 0, HiddenSize);
            var gw0 = grads[W0];
            for (var o = 0; o < HiddenSize; o++)
            {
                for (var i = 0; i < InputSize; i++)
                {
                    gw0[(o * InputSize) + i] += dz1[o] * x[(b * InputSize) + i];
                }
            }
        }

        return loss;
    }

    private static void Relu(float[] values, int offset)
    {
        for (var i = offset; i < offset + HiddenSize; i++)
        {
            if (!(values[i] > 0))
            {
                values[i] = 0;
            }
        }
    }

    private static void MaskRelu(float[] activations, int offset, float[] gradient)
    {
        for (var i = 0; i < HiddenSize; i++)
        {
            if (activations[offset + i] == 0)
            {
                gradient[i] = 0;
            }
        }
    }

    private sealed class Buffers(int rows, int classes)
    {
        public float[] A1 { get; } = new float[rows * HiddenSize];

        public float[] A2 { get; } = new float[rows * HiddenSize];

        public float[] Logits { get; } = new float[rows * classes];

        public float[] DLogits { get; } = new float[rows * classes];

        public double[] Exps { get; } = new double[classes];

        public float[] Dz2 { get; } = new float[HiddenSize];

        public float[] Dz1 { get; } = new float[HiddenSize];
    }

    private sealed class Optimizer
    {
        private const double Beta1 = 0.9, Beta2 = 0.999;
        private const float Epsilon = 1e-8f, Momentum = 0.9f;

        private readonly TrainOptimizer _kind;
        private readonly float _learningRate;
        private readonly float[][] _first;
        private readonly float[][] _second;
        private double _beta1Power = 1, _beta2Power = 1;

        public Optimizer(TrainOptimizer kind, float learningRate, float[][] parameters)
        {
            _kind = kind;
            _learningRate = learningRate;
            _first = [.. parameters.Select(p => new float[p.Length])];
            _second = kind == TrainOptimizer.Adam ? [.. parameters.Select(p => new float[p.Length])] : [];
        }

        public void Step(float[][] parameters, float[][] grads, bool[] trainable)
        {
            // Powers by repeated multiplication rather than Math.Pow, whose last bit may vary by platform.
            _beta1Power *= Beta1;
            _beta2Power *= Beta2;
            for (var p = 0; p < parameters.Length; p++)
            {
                if (!trainable[p])
                {
                    continue;
                }

                if (_kind == TrainOptimizer.Sgd)
                {
                    SgdStep(parameters[p], grads[p], _first[p]);
                }
                else
                {
                    AdamStep(parameters[p], grads[p], _first[p], _second[p]);
                }
            }
        }

        private void SgdStep(float[] w, float[] g, float[] velocity)
        {
            for (var i = 0; i < w.Length; i++)
            {
                velocity[i] = (Momentum * velocity[i]) + g[i];
                w[i] -= _learningRate * velocity[i];
            }
        }

        private void AdamStep(float[] w, float[] g, float[] m, float[] v)
        {
            var (b1, b2) = ((float)Beta1, (float)Beta2);
            var (d1, d2) = (1 - b1, 1 - b2);
            var (c1, c2) = ((float)(1 / (1 - _beta1Power)), (float)(1 / (1 - _beta2Power)));
            var i = 0;
            if (Vector256.IsHardwareAccelerated)
            {
                // The same operations in the same order as the scalar loop below; IEEE sqrt and division are
                // correctly rounded, so every element comes out identical.
                const int Lanes = 8;
                var (vb1, vb2, vd1, vd2) = (Vector256.Create(b1), Vector256.Create(b2), Vector256.Create(d1), Vector256.Create(d2));
                var (vc1, vc2, vlr, veps) = (Vector256.Create(c1), Vector256.Create(c2), Vector256.Create(_learningRate), Vector256.Create(Epsilon));
                for (; i <= w.Length - Lanes; i += Lanes)
                {
                    var vg = Vector256.Create(g.AsSpan(i, Lanes));
                    var vm = (vb1 * Vector256.Create(m.AsSpan(i, Lanes))) + (vd1 * vg);
                    var vv = (vb2 * Vector256.Create(v.AsSpan(i, Lanes))) + (vd2 * vg * vg);
                    var vw = Vector256.Create(w.AsSpan(i, Lanes)) - (vlr * (vm * vc1) / (Vector256.Sqrt(vv * vc2) + veps));
                    vm.CopyTo(m.AsSpan(i, Lanes));
                    vv.CopyTo(v.AsSpan(i, Lanes));
                    vw.CopyTo(w.AsSpan(i, Lanes));
                }
            }

            for (; i < w.Length; i++)
            {
                m[i] = (b1 * m[i]) + (d1 * g[i]);
                v[i] = (b2 * v[i]) + (d2 * g[i] * g[i]);
                w[i] -= _learningRate * (m[i] * c1) / (MathF.Sqrt(v[i] * c2) + Epsilon);
            }
        }
    }
}
