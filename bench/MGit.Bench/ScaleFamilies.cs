using System.Globalization;
using System.Runtime.InteropServices;

namespace MGit.Bench;

/// <summary>The shape of a family's lineage: which members its new models derive from.</summary>
internal enum FamilyKind
{
    /// <summary>One name, version after version (versioned edges), now and then a fine-tune of a version.</summary>
    Chain,

    /// <summary>Fine-tunes of fine-tunes: each new model derives from the one before, so ancestries are deep.</summary>
    Deep,

    /// <summary>Many fine-tunes of one base (and a few of its fine-tunes), merges of two siblings.</summary>
    Star,
}

/// <summary>One family of the plan: its kind, how many versions it holds, and the seed of its weights and edges.</summary>
internal sealed record ScaleFamily(int Index, FamilyKind Kind, int Size, int Architecture)
{
    public string Prefix => string.Create(CultureInfo.InvariantCulture, $"f{Index:D5}");

    /// <summary>The first model's name (the base of a star, the chain's name, the top of a deep chain).</summary>
    public string RootName => $"{Prefix}-{(Kind == FamilyKind.Chain ? "chain" : "base")}";
}

/// <summary>One model version to add: its name, what it derives from, and its tensors' values.</summary>
internal sealed record ScaleModel(string Name, int Version, string? VersionOf, IReadOnlyList<string> Parents, string? How, float[][] Values)
{
    public string Ref => string.Create(CultureInfo.InvariantCulture, $"{Name}@{Version}");
}

/// <summary>A tensor layout shared by the families that use it: names and shapes, a few hundred elements each.</summary>
internal sealed record ScaleArchitecture(string[] Names, long[][] Shapes)
{
    public long Elements(int tensor) => Shapes[tensor].Aggregate(1L, (a, b) => checked(a * b));
}

/// <summary>
/// The seeded plan of a hub of N tiny models, and each family's models, computed (never read back):
/// the same (N, seed) gives the same names, edges and bytes, so a family can be regenerated in
/// memory to derive new models from any member without reading the repository.
/// </summary>
internal sealed class ScaleFamilies
{
    /// <summary>Bumped whenever the plan or the bytes change, so cached repositories are not reused across generators.</summary>
    public const int GeneratorVersion = 2;

    private static readonly string[][] NameSchemes =
    [
        ["embed.weight", "encoder.0.weight", "encoder.1.weight", "head.weight"],
        ["conv1.weight", "conv2.weight", "fc.weight", "fc.bias"],
        ["blocks.0.attn.qkv.weight", "blocks.0.mlp.fc1.weight", "blocks.0.mlp.fc2.weight", "lm_head.weight"],
        ["layers.0.weight", "layers.1.weight", "layers.2.weight", "classifier.weight"],
        ["model.embed_tokens.weight", "model.layers.0.self_attn.q_proj.weight", "model.norm.weight", "score.weight"],
    ];

    private static readonly int[] Dimensions = [4, 8, 12, 16, 24, 32];

    private readonly ulong _seed;
    private readonly List<ScaleArchitecture> _architectures = [];

    public ScaleFamilies(int models, ulong seed)
    {
        _seed = seed;
        var random = new Xoshiro256(seed, 0, 0);
        for (int a = 0; a < 64; a++)
        {
            string[] scheme = NameSchemes[random.NextInt(NameSchemes.Length)];
            int tensors = 2 + random.NextInt(3);
            var names = new string[tensors];
            var shapes = new long[tensors][];
            for (int t = 0; t < tensors; t++)
            {
                // The last tensor is the head; architectures of one naming scheme differ in shapes.
                names[t] = t == tensors - 1 ? scheme[^1] : scheme[t];
                long rows = Dimensions[random.NextInt(Dimensions.Length)];
                long columns = Dimensions[random.NextInt(Dimensions.Length)];
                shapes[t] = names[t].EndsWith(".bias", StringComparison.Ordinal) ? [rows * columns] : [rows, columns];
            }

            _architectures.Add(new ScaleArchitecture(names, shapes));
        }

        int left = models;
        while (left > 0)
        {
            int index = Families.Count;
            var kind = (FamilyKind)random.NextInt(3);
            int size = kind switch
            {
                FamilyKind.Chain => 5 + random.NextInt(56),
                FamilyKind.Deep => 10 + random.NextInt(71),
                _ => 20 + random.NextInt(381),
            };
            size = Math.Min(size, left);
            // A few popular architectures carry most families (as many fine-tunes share a few bases).
            int architecture = random.NextDouble() < 0.5 ? random.NextInt(8) : random.NextInt(_architectures.Count);
            Families.Add(new ScaleFamily(index, kind, size, architecture));
            left -= size;
        }
    }

    public List<ScaleFamily> Families { get; } = [];

    public ScaleArchitecture ArchitectureOf(ScaleFamily family) => _architectures[family.Architecture];

    /// <summary>The family's models in the order they are added (a model's parents always come before it).</summary>
    public IEnumerable<ScaleModel> Models(ScaleFamily family)
    {
        var architecture = ArchitectureOf(family);
        var random = new Xoshiro256(_seed, 1, (ulong)family.Index);
        var members = new List<ScaleModel>();
        var latest = new Dictionary<string, int>(StringComparer.Ordinal);
        int named = 0;

        ScaleModel Next(string name, string? versionOf, string[] parents, string? how, float[][] values)
        {
            int version = latest.TryGetValue(name, out int v) ? v + 1 : 1;
            latest[name] = version;
            var model = new ScaleModel(name, version, versionOf, parents, how, values);
            members.Add(model);
            return model;
        }

        string NewName() => string.Create(CultureInfo.InvariantCulture, $"{family.Prefix}-m{++named:D3}");

        var rootValues = new float[architecture.Names.Length][];
        for (int t = 0; t < rootValues.Length; t++)
        {
            rootValues[t] = new float[architecture.Elements(t)];
            random.FillNormal(rootValues[t], 0, 0.02f);
        }

        yield return Next(family.RootName, null, [], null, rootValues);
        while (members.Count < family.Size)
        {
            double roll = random.NextDouble();
            ScaleModel model;
            switch (family.Kind)
            {
                case FamilyKind.Chain when roll < 0.8:
                    {
                        var last = members.Last(m => m.Name == family.RootName);
                        model = Next(family.RootName, family.RootName, [], null, Derive(last.Values, ref random, 1.0, 0.01f));
                        break;
                    }

                case FamilyKind.Deep when roll < 0.85:
                    {
                        var last = members[^1];
                        model = Next(NewName(), null, [last.Ref], "finetune", Derive(last.Values, ref random, 0.5, 0.01f));
                        break;
                    }

                case FamilyKind.Star when roll < 0.75:
                    model = Next(NewName(), null, [members[0].Ref], "finetune", Derive(members[0].Values, ref random, 0.5, 0.02f));
                    break;
                default:
                    {
                        var a = members[random.NextInt(members.Count)];
                        var b = members[random.NextInt(members.Count)];
                        if (roll > 0.92 && a.Ref != b.Ref)
                        {
                            model = Next(NewName(), null, [a.Ref, b.Ref], "merge", Merge(a.Values, b.Values));
                        }
                        else if (roll > 0.86 && a.Name != family.RootName)
                        {
                            model = Next(a.Name, a.Name, [], null, Derive(members.Last(m => m.Name == a.Name).Values, ref random, 1.0, 0.01f));
                        }
                        else
                        {
                            model = Next(NewName(), null, [a.Ref], "finetune", Derive(a.Values, ref random, 0.5, 0.01f));
                        }

                        break;
                    }
            }

            yield return model;
        }
    }

    /// <summary>A child of <paramref name="parent"/>: each tensor perturbed with probability <paramref name="fraction"/> (at least one), the rest byte-identical.</summary>
    public static float[][] Derive(float[][] parent, ref Xoshiro256 random, double fraction, float scale)
    {
        var child = new float[parent.Length][];
        int forced = random.NextInt(parent.Length);
        for (int t = 0; t < parent.Length; t++)
        {
            child[t] = (float[])parent[t].Clone();
            if (t == forced || random.NextDouble() < fraction)
            {
                var noise = new float[child[t].Length];
                random.FillNormal(noise, 0, 0.02f * scale);
                for (int i = 0; i < noise.Length; i++)
                {
                    child[t][i] += noise[i];
                }
            }
        }

        return child;
    }

    private static float[][] Merge(float[][] a, float[][] b)
    {
        var merged = new float[a.Length][];
        for (int t = 0; t < a.Length; t++)
        {
            merged[t] = new float[a[t].Length];
            for (int i = 0; i < merged[t].Length; i++)
            {
                merged[t][i] = (a[t][i] + b[t][i]) / 2;
            }
        }

        return merged;
    }

    /// <summary>Writes the model as one safetensors file (F32, tensors in the architecture's order).</summary>
    public void Write(string path, ScaleFamily family, float[][] values)
    {
        var architecture = ArchitectureOf(family);
        var specs = architecture.Names.Select((name, t) => new TensorSpec(name, architecture.Shapes[t], 0, 0.02f));
        var entries = Safetensors.Layout(specs, Dtype.F32);
        using var file = File.Create(path);
        file.Write(Safetensors.Header(entries));
        foreach (float[] tensor in values)
        {
            file.Write(MemoryMarshal.AsBytes(tensor.AsSpan()));
        }
    }
}
