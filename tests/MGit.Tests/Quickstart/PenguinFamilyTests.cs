using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using MGit.Formats.Safetensors;
using MGit.Quickstart;

namespace MGit.Tests.Quickstart;

/// <summary>Builds the quickstart family once (seed 7) for the tests that only read it.</summary>
public sealed class PenguinFamilyFixture : IDisposable
{
    public PenguinFamilyFixture()
    {
        Directory = Path.Combine(Path.GetTempPath(), $"mgit-penguins-{Guid.NewGuid():N}");
        Members = PenguinFamily.Build(Directory, seed: 7);
    }

    public string Directory { get; }

    public IReadOnlyList<FamilyMember> Members { get; }

    public FamilyMember Member(string name, int version = 1) => Members.Where(m => m.Name == name).ElementAt(version - 1);

    public void Dispose() => System.IO.Directory.Delete(Directory, recursive: true);
}

public sealed class PenguinFamilyTests(PenguinFamilyFixture family) : IClassFixture<PenguinFamilyFixture>
{
    [Fact]
    public void FamilyHasTheDocumentedMembersInInsertionOrder()
    {
        Assert.Equal(
            ["penguin-base", "penguin-sex", "penguin-island", "penguin-base", "penguin-sex-pruned", "penguin-island-bf16"],
            family.Members.Select(m => m.Name));
        Assert.Equal(["species", "sex", "island", "species", "sex", "island"], family.Members.Select(m => m.Type));
        Assert.Equal([null, "finetune", "finetune", null, "prune", "quantize"], family.Members.Select(m => m.How));
        Assert.Equal([[], ["penguin-base"], ["penguin-base"], [], ["penguin-sex"], ["penguin-island"]], family.Members.Select(m => m.Parents.ToArray()));
        Assert.Equal([null, null, null, "penguin-base@1", null, null], family.Members.Select(m => m.VersionOf));

        foreach (var member in family.Members)
        {
            Assert.Contains("accuracy", member.Message, StringComparison.Ordinal);
            Assert.InRange(member.TestAccuracy, 0.0, 1.0);
        }

        foreach (var folder in new[] { family.Member("penguin-base", 1), family.Member("penguin-base", 2) })
        {
            Assert.True(Directory.Exists(folder.Path));
            Assert.Equal(["README.md", "config.json", "model.safetensors"], Directory.GetFiles(folder.Path).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        }

        foreach (var single in family.Members.Where(m => m.Name != "penguin-base"))
        {
            Assert.True(File.Exists(single.Path), single.Path);
            Assert.EndsWith(".safetensors", single.Path, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void AccuraciesAreReal()
    {
        Assert.True(family.Member("penguin-base", 1).TestAccuracy > 0.9);
        Assert.True(family.Member("penguin-base", 2).TestAccuracy > 0.9);
        Assert.True(family.Member("penguin-sex").TestAccuracy > 0.75);
        Assert.True(family.Member("penguin-sex-pruned").TestAccuracy > 0.7);
        // Island is only partly predictable from body size (Adelie live on all three), but well above chance.
        Assert.True(family.Member("penguin-island").TestAccuracy > 0.5);
    }

    [Fact]
    public void SameSeedGivesTheSameBytes()
    {
        string again = Path.Combine(Path.GetTempPath(), $"mgit-penguins-{Guid.NewGuid():N}");
        try
        {
            var members = PenguinFamily.Build(again, seed: 7);
            Assert.Equal(family.Members.Select(m => m with { Path = "" }), members.Select(m => m with { Path = "" }), new MemberComparer());
            Assert.Equal(Snapshot(family.Directory), Snapshot(again));
        }
        finally
        {
            Directory.Delete(again, recursive: true);
        }
    }

    [Fact]
    public void HeadOnlyFineTuneKeepsEncoderBytesIdentical()
    {
        var baseTensors = ReadTensors(Path.Combine(family.Member("penguin-base").Path, PenguinFamily.WeightsFileName));
        var sex = ReadTensors(family.Member("penguin-sex").Path);
        var island = ReadTensors(family.Member("penguin-island").Path);

        foreach (var name in TinyMlp.EncoderParameters)
        {
            Assert.Equal(baseTensors[name].Data, sex[name].Data);
            // The full fine-tune moved every layer.
            Assert.NotEqual(baseTensors[name].Data, island[name].Data);
        }

        Assert.Equal([2, 256], sex[TinyMlp.HeadWeight].Shape);
        Assert.Equal([3, 256], island[TinyMlp.HeadWeight].Shape);
    }

    [Fact]
    public void PrunedModelHasHalfOfEachWeightMatrixZeroAndBiasesUntouched()
    {
        var sex = ReadTensors(family.Member("penguin-sex").Path);
        var pruned = ReadTensors(family.Member("penguin-sex-pruned").Path);
        foreach (var name in TinyMlp.WeightMatrices)
        {
            float[] before = Floats(sex[name]);
            float[] after = Floats(pruned[name]);
            int zeros = after.Count(v => BitConverter.SingleToUInt32Bits(v) == 0);
            Assert.InRange((double)zeros / after.Length, 0.5, 0.51);

            // Survivors are unchanged and at least as large as anything removed.
            float smallestKept = after.Where(v => v != 0).Min(MathF.Abs);
            float largestRemoved = before.Where((_, i) => after[i] == 0).Max(MathF.Abs);
            Assert.True(smallestKept >= largestRemoved);
            Assert.All(Enumerable.Range(0, after.Length).Where(i => after[i] != 0), i => Assert.Equal(before[i], after[i]));
        }

        foreach (var name in new[] { TinyMlp.Encoder0Bias, TinyMlp.Encoder2Bias, TinyMlp.HeadBias })
        {
            Assert.Equal(sex[name].Data, pruned[name].Data);
        }
    }

    [Fact]
    public void Bf16ModelIsTheRoundedIsland()
    {
        var island = ReadTensors(family.Member("penguin-island").Path);
        var bf16 = ReadTensors(family.Member("penguin-island-bf16").Path);
        Assert.Equal(island.Keys.Order(StringComparer.Ordinal), bf16.Keys.Order(StringComparer.Ordinal));
        foreach (var (name, tensor) in bf16)
        {
            Assert.Equal("BF16", tensor.Dtype);
            Assert.Equal(island[name].Shape, tensor.Shape);
            float[] source = Floats(island[name]);
            for (int i = 0; i < source.Length; i++)
            {
                Assert.Equal(TinyMlp.ToBFloat16(source[i]), BinaryPrimitives.ReadUInt16LittleEndian(tensor.Data.AsSpan(i * 2)));
            }
        }

        Assert.True(new FileInfo(family.Member("penguin-island-bf16").Path).Length < new FileInfo(family.Member("penguin-island").Path).Length * 0.51);
    }

    [Fact]
    public void FilesAreReferenceStyleSafetensors()
    {
        byte[] file = File.ReadAllBytes(family.Member("penguin-sex").Path);
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(file);
        Assert.Equal(0ul, headerLength % 8);
        string header = Encoding.UTF8.GetString(file, 8, (int)headerLength);
        Assert.StartsWith("""{"__metadata__":{"format":"pt"},"encoder.0.bias":{"dtype":"F32","shape":[256],"data_offsets":[0,1024]},""", header, StringComparison.Ordinal);
    }

    [Fact]
    public void FolderHasConfigAndModelCard()
    {
        string folder = family.Member("penguin-base").Path;
        using var config = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(folder, "config.json")));
        var root = config.RootElement;
        Assert.Equal("species", root.GetProperty("task").GetString());
        Assert.Equal(3, root.GetProperty("num_labels").GetInt32());
        Assert.Equal("Chinstrap", root.GetProperty("id2label").GetProperty("1").GetString());
        Assert.Equal([256, 256], root.GetProperty("hidden_sizes").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal(4, root.GetProperty("feature_mean").GetArrayLength());
        Assert.Equal(4, root.GetProperty("feature_std").GetArrayLength());

        string card = File.ReadAllText(Path.Combine(folder, "README.md"));
        Assert.StartsWith("---\n", card, StringComparison.Ordinal);
        Assert.DoesNotContain("\r", card, StringComparison.Ordinal);
        Assert.Contains("Palmer", card, StringComparison.Ordinal);
    }

    private static Dictionary<string, string> Snapshot(string root) =>
        Directory.GetFiles(root, "*", SearchOption.AllDirectories).ToDictionary(
            f => Path.GetRelativePath(root, f),
            f => Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(f))));

    private static float[] Floats(StoredTensor tensor)
    {
        Assert.Equal("F32", tensor.Dtype);
        float[] values = new float[tensor.Data.Length / 4];
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = BinaryPrimitives.ReadSingleLittleEndian(tensor.Data.AsSpan(i * 4));
        }

        return values;
    }

    // A minimal independent reader, so these tests do not depend on the library's own reader.
    private static Dictionary<string, StoredTensor> ReadTensors(string path)
    {
        byte[] file = File.ReadAllBytes(path);
        int headerLength = checked((int)BinaryPrimitives.ReadUInt64LittleEndian(file));
        using var header = JsonDocument.Parse(file.AsMemory(8, headerLength));
        var tensors = new Dictionary<string, StoredTensor>(StringComparer.Ordinal);
        foreach (var property in header.RootElement.EnumerateObject().Where(p => p.Name != "__metadata__"))
        {
            var offsets = property.Value.GetProperty("data_offsets");
            int begin = 8 + headerLength + offsets[0].GetInt32();
            int end = 8 + headerLength + offsets[1].GetInt32();
            tensors.Add(property.Name, new StoredTensor(
                property.Value.GetProperty("dtype").GetString()!,
                [.. property.Value.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64())],
                file[begin..end]));
        }

        return tensors;
    }

    private sealed record StoredTensor(string Dtype, long[] Shape, byte[] Data);

    private sealed class MemberComparer : IEqualityComparer<FamilyMember>
    {
        public bool Equals(FamilyMember? x, FamilyMember? y) =>
            x is not null && y is not null && x.Name == y.Name && x.Parents.SequenceEqual(y.Parents) && x.How == y.How
            && x.VersionOf == y.VersionOf && x.Type == y.Type && x.Message == y.Message && x.TestAccuracy.Equals(y.TestAccuracy);

        public int GetHashCode(FamilyMember obj) => obj.Name.GetHashCode(StringComparison.Ordinal);
    }
}

public sealed class PenguinDataTests
{
    [Fact]
    public void EmbeddedCsvHasAllRows()
    {
        var records = PenguinData.ReadRecords();
        Assert.Equal(344, records.Count);
        Assert.Equal(152, records.Count(r => r.Species == "Adelie"));
        Assert.Equal(68, records.Count(r => r.Species == "Chinstrap"));
        Assert.Equal(124, records.Count(r => r.Species == "Gentoo"));
        Assert.Equal(2, records.Count(r => r.BodyMassG is null));
        Assert.Equal(11, records.Count(r => r.Sex is null));
        Assert.Equal(new PenguinRecord("Adelie", "Torgersen", 39.1, 18.7, 181, 3750, "MALE"), records[0]);
    }

    [Fact]
    public void SplitIsSeededStandardizedAndSharedAcrossTasks()
    {
        var records = PenguinData.ReadRecords();
        var species = PenguinData.FromRecords(records, PenguinTask.Species, seed: 3);
        var again = PenguinData.FromRecords(records, PenguinTask.Species, seed: 3);
        var other = PenguinData.FromRecords(records, PenguinTask.Species, seed: 4);
        var sex = PenguinData.FromRecords(records, PenguinTask.Sex, seed: 3);

        Assert.Equal(342, species.Train.Count + species.Test.Count);
        Assert.Equal(333, sex.Train.Count + sex.Test.Count);
        Assert.Equal(species.Train.Features.ToArray(), again.Train.Features.ToArray());
        Assert.NotEqual(species.Train.Features.ToArray(), other.Train.Features.ToArray());
        Assert.Equal(["Adelie", "Chinstrap", "Gentoo"], species.Labels);

        // Standardized on the training rows: mean 0 and unit variance per feature.
        float[] x = species.Train.Features.ToArray();
        for (int f = 0; f < PenguinData.FeatureCount; f++)
        {
            double[] column = [.. Enumerable.Range(0, species.Train.Count).Select(i => (double)x[(i * PenguinData.FeatureCount) + f])];
            Assert.InRange(column.Average(), -1e-4, 1e-4);
            Assert.InRange(Math.Sqrt(column.Select(v => v * v).Average()), 0.999, 1.001);
        }

        // Same penguins held out whatever the task: the sex test rows are a subset of the species test rows.
        var speciesTest = Rows(species.Test);
        Assert.All(Rows(PenguinData.FromRecords(records, PenguinTask.Sex, seed: 3, species.Scaler).Test), row => Assert.Contains(row, speciesTest));
    }

    [Fact]
    public void ReadsFromAStreamAndRejectsBadCsv()
    {
        const string Csv = "species,island,beak_length_mm,beak_depth_mm,flipper_length_mm,body_mass_g,sex\nGentoo,Biscoe,46.1,13.2,211,4500,FEMALE\nAdelie,Dream,,,,,\n";
        var records = PenguinData.ReadRecords(new MemoryStream(Encoding.UTF8.GetBytes(Csv)));
        Assert.Equal(2, records.Count);
        Assert.Null(records[1].BeakLengthMm);

        Assert.Throws<InvalidDataException>(() => PenguinData.ReadRecords(new MemoryStream("a,b\n1,2\n"u8.ToArray())));
        Assert.Throws<InvalidDataException>(() => PenguinData.ReadRecords(new MemoryStream(Encoding.UTF8.GetBytes(Csv.Replace("Gentoo", "Emperor", StringComparison.Ordinal)))));
        Assert.Throws<InvalidDataException>(() => PenguinData.ReadRecords(new MemoryStream(Encoding.UTF8.GetBytes(Csv.Replace("46.1", "x", StringComparison.Ordinal)))));
    }

    private static HashSet<string> Rows(PenguinSplit split)
    {
        float[] x = split.Features.ToArray();
        return [.. Enumerable.Range(0, split.Count).Select(i => string.Join(',', x.Skip(i * PenguinData.FeatureCount).Take(PenguinData.FeatureCount)))];
    }
}

public sealed class TinyMlpTests
{
    [Theory]
    [InlineData(0x3F800000u, (ushort)0x3F80)] // 1.0
    [InlineData(0x3F808000u, (ushort)0x3F80)] // halfway, lower neighbour even: down
    [InlineData(0x3F818000u, (ushort)0x3F82)] // halfway, lower neighbour odd: up
    [InlineData(0x3F808001u, (ushort)0x3F81)] // above halfway: up
    [InlineData(0xBF807FFFu, (ushort)0xBF80)] // below halfway: down
    [InlineData(0x7F7FFFFFu, (ushort)0x7F80)] // float max rounds to +inf
    [InlineData(0xFF800000u, (ushort)0xFF80)] // -inf
    [InlineData(0x80000000u, (ushort)0x8000)] // -0
    public void Bf16RoundsToNearestEven(uint bits, ushort expected) =>
        Assert.Equal(expected, TinyMlp.ToBFloat16(BitConverter.UInt32BitsToSingle(bits)));

    [Fact]
    public void Bf16KeepsNaN() => Assert.True(float.IsNaN(TinyMlp.FromBFloat16(TinyMlp.ToBFloat16(BitConverter.UInt32BitsToSingle(0x7F800001u)))));

    [Fact]
    public void ExportAndLoadRoundTrip()
    {
        var model = TinyMlp.Create(classes: 3, seed: 1);
        var exported = model.Export();
        Assert.Equal(
            [TinyMlp.Encoder0Weight, TinyMlp.Encoder0Bias, TinyMlp.Encoder2Weight, TinyMlp.Encoder2Bias, TinyMlp.HeadWeight, TinyMlp.HeadBias],
            exported.Select(t => t.Name));
        Assert.Equal([256, 4], exported[0].Shape);
        Assert.All(exported, t => Assert.Equal("F32", t.Dtype));

        var loaded = TinyMlp.FromTensors(exported);
        Assert.Equal(3, loaded.Classes);
        Assert.Equal(exported.Select(t => t.Data), loaded.Export().Select(t => t.Data));

        var fromBf16 = TinyMlp.FromTensors(model.ExportBf16());
        Assert.Equal(model.ExportBf16().Select(t => t.Data), fromBf16.ExportBf16().Select(t => t.Data));

        Assert.Throws<ArgumentException>(() => TinyMlp.FromTensors(exported.Take(5).ToArray()));
        Assert.Throws<ArgumentException>(() => TinyMlp.FromTensors([.. exported, new TensorData("extra", "F32", [1], new byte[4])]));
    }

    [Fact]
    public void FrozenParametersDoNotMove()
    {
        var data = PenguinData.Load(PenguinTask.Species, seed: 1);
        var model = TinyMlp.Create(3, seed: 2);
        var before = model.Export();
        model.Train(data.Train, new TrainOptions { Epochs = 2, FrozenParameters = TinyMlp.EncoderParameters });
        var after = model.Export();
        for (int i = 0; i < before.Count; i++)
        {
            if (TinyMlp.EncoderParameters.Contains(before[i].Name))
            {
                Assert.Equal(before[i].Data, after[i].Data);
            }
            else
            {
                Assert.NotEqual(before[i].Data, after[i].Data);
            }
        }
    }

    [Fact]
    public void SgdAndFullBatchTrainingLearnSpecies()
    {
        var data = PenguinData.Load(PenguinTask.Species, seed: 5);
        var model = TinyMlp.Create(3, seed: 6);
        model.Train(data.Train, new TrainOptions { Epochs = 40, BatchSize = 0, LearningRate = 0.05f, Optimizer = TrainOptimizer.Sgd });
        Assert.True(model.Evaluate(data.Test) > 0.9);
    }
}
