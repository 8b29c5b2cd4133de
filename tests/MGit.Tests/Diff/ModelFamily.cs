using System.Buffers.Binary;
using MGit.Tests.TestSupport;

namespace MGit.Tests.Diff;

/// <summary>
/// A small model family with a known truth, made by known operations on float arrays held here
/// (independently of the library), written as safetensors by the test's own raw writer.
/// </summary>
public sealed class ModelFamily
{
    public sealed record Weights(string Name, long[] Shape, float[] Values);

    public sealed record Member(string Name, string? Parent, IReadOnlyList<Weights> Tensors, string Dtype = "F32");

    /// <summary>Name and true parent (null: a root) of each member.</summary>
    public IReadOnlyList<Member> Members { get; }

    public ModelFamily(string prefix = "base")
    {
        var random = new Random(42);
        var b = new List<Weights>
        {
            Normal(random, "embed.weight", [64, 32], 0.1),
            Normal(random, "enc.0.weight", [32, 32], 0.1),
            Normal(random, "enc.0.bias", [32], 0.1),
            Normal(random, "enc.1.weight", [32, 32], 0.1),
            Normal(random, "enc.1.bias", [32], 0.1),
            Normal(random, "head.weight", [3, 32], 0.1),
            Normal(random, "head.bias", [3], 0.1),
        };
        var headSwap = b.Take(5).Concat([Normal(random, "head.weight", [2, 32], 0.1), Normal(random, "head.bias", [2], 0.1)]).ToList();
        var fineTune = b.Select(t => Perturb(random, t, 0.01)).ToList();
        var nextVersion = b.Select(t => Perturb(random, t, 0.01)).ToList();
        var pruned = b.Select(t => t.Shape.Length == 2 ? Prune(t, 0.5) : t).ToList();
        var unrelated = new List<Weights> { Normal(random, "conv.weight", [16, 3, 3, 3], 0.2), Normal(random, "fc.weight", [10, 144], 0.2), Normal(random, "fc.bias", [10], 0.2) };
        Members =
        [
            new Member(prefix, null, b),
            new Member($"{prefix}-headswap", prefix, headSwap),
            new Member($"{prefix}-ft", prefix, fineTune),
            new Member($"{prefix}-v2", prefix, nextVersion),
            new Member($"{prefix}-ft-bf16", $"{prefix}-ft", fineTune.Select(t => t with { Values = t.Values.Select(RoundToBf16).ToArray() }).ToList(), "BF16"),
            new Member($"{prefix}-pruned", prefix, pruned),
            new Member("other", null, unrelated),
        ];
    }

    public Member this[string name] => Members.Single(m => m.Name == name);

    public static string Write(string directory, Member member, string? fileName = null) =>
        RawSafetensors.Write(Path.Combine(directory, fileName ?? $"{member.Name}.safetensors"), member.Tensors.Select(t => ToRaw(t, member.Dtype)).ToList());

    public static RawSafetensors.Tensor ToRaw(Weights t, string dtype)
    {
        int width = dtype == "BF16" ? 2 : 4;
        var data = new byte[t.Values.Length * width];
        for (int i = 0; i < t.Values.Length; i++)
        {
            if (dtype == "BF16")
            {
                BinaryPrimitives.WriteUInt16LittleEndian(data.AsSpan(i * 2), (ushort)(BitConverter.SingleToUInt32Bits(t.Values[i]) >> 16));
            }
            else
            {
                BinaryPrimitives.WriteSingleLittleEndian(data.AsSpan(i * 4), t.Values[i]);
            }
        }

        return new RawSafetensors.Tensor(t.Name, dtype, t.Shape, data);
    }

    public static Weights Normal(Random random, string name, long[] shape, double std)
    {
        long n = shape.Aggregate(1L, (x, y) => x * y);
        return new Weights(name, shape, Enumerable.Range(0, (int)n).Select(_ => (float)(Gaussian(random) * std)).ToArray());
    }

    public static Weights Perturb(Random random, Weights t, double std) =>
        t with { Values = t.Values.Select(v => (float)(v + (Gaussian(random) * std))).ToArray() };

    /// <summary>Zeroes the given fraction of smallest-magnitude values.</summary>
    public static Weights Prune(Weights t, double fraction)
    {
        var threshold = t.Values.Select(Math.Abs).Order().ElementAt((int)(t.Values.Length * fraction));
        return t with { Values = t.Values.Select(v => Math.Abs(v) < threshold ? 0f : v).ToArray() };
    }

    /// <summary>float32 to bfloat16 by round to nearest even, returned as the float it stands for.</summary>
    public static float RoundToBf16(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        uint rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000;
        return BitConverter.UInt32BitsToSingle(rounded);
    }

    private static double Gaussian(Random random) =>
        Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
}
