using MGit.Codecs;
using MGit.Ingest;
using MGit.Maintenance;
using MGit.Primitives;
using MGit.Storage;
using MGit.Tests.TestSupport;
using static MGit.Tests.TestSupport.RawSafetensors;

namespace MGit.Tests.Codecs;

public sealed class DeltaTests
{
    private static float[] Gaussian(int n, int seed, double scale = 0.02)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => (float)(scale * Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble()))).ToArray();
    }

    private static byte[] Bytes(float[] values) => values.SelectMany(BitConverter.GetBytes).ToArray();

    private static byte[] BFloat16(float[] values, bool roundToNearestEven) =>
        values.SelectMany(v =>
        {
            uint bits = BitConverter.SingleToUInt32Bits(v);
            ushort b = roundToNearestEven ? DeltaCodec.ToBFloat16(bits) : (ushort)(bits >> 16);
            return BitConverter.GetBytes(b);
        }).ToArray();

    private static Tensor T(string name, string dtype, long[] shape, byte[] data) => new(name, dtype, shape, data);

    private static IReadOnlyList<TensorStorage> Storage(RepoFixture fx, string reference) => fx.Repository.TensorStorageOf(reference);

    private static void AssertChecksOut(RepoFixture fx, string reference, string original)
    {
        string output = fx.Scratch($"{Guid.NewGuid():N}.out");
        fx.Repository.Checkout(reference, output);
        Assert.Equal(File.ReadAllBytes(original), File.ReadAllBytes(output));
    }

    public static TheoryData<string, int> RuleCases()
    {
        var data = new TheoryData<string, int>();
        foreach (string rule in new[] { "xor", "sub", "prune", "cast-bf16", "cast-f16" })
        {
            foreach (int n in new[] { 0, 1, 7, 64, 1001, 70_000 })
            {
                data.Add(rule, n);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(RuleCases))]
    public void Every_rule_round_trips_bit_exactly(string ruleName, int n)
    {
        var parent = Gaussian(n, 1);
        var child = parent.Select((v, i) => i % 3 == 0 ? 0f : v + (i % 5 == 0 ? 1e-4f : 0f)).ToArray();
        var (rule, kind, content) = ruleName switch
        {
            "xor" => (DeltaRule.Xor, ElementKind.F32, Bytes(child)),
            "sub" => (DeltaRule.Subtract, ElementKind.F32, Bytes(child)),
            "prune" => (DeltaRule.Prune, ElementKind.F32, Bytes(child)),
            "cast-bf16" => (DeltaRule.CastBF16, ElementKind.BF16, BFloat16(child, true)),
            _ => (DeltaRule.CastF16, ElementKind.F16, child.SelectMany(v => BitConverter.GetBytes((Half)v)).ToArray()),
        };
        var baseBytes = Bytes(parent);
        var baseId = ObjectId.Compute(baseBytes);
        using var encoded = DeltaCodec.Encode(content, kind, baseBytes, ElementKind.F32, baseId, 0, rule);
        if (encoded is null)
        {
            // Only pruning may decline: too few zeroed elements to be worth a mask.
            Assert.Equal(DeltaRule.Prune, rule);
            Assert.True(n < 64);
            return;
        }

        var id = ObjectId.Compute(content);
        var header = DeltaCodec.ReadHeader(encoded.Span, id);
        Assert.Equal(baseId, header.BaseId);
        Assert.Equal(1, header.Depth);
        var decoded = new byte[content.Length];
        DeltaCodec.Decode(header, encoded.Span, baseBytes, decoded, id);
        Assert.Equal(content, decoded);
    }

    public static TheoryData<string, int> PruneCases()
    {
        var data = new TheoryData<string, int>();
        foreach (var kind in new[] { ElementKind.BF16, ElementKind.F16, ElementKind.F32, ElementKind.F64 })
        {
            foreach (int n in new[] { 64, 71, 1001, 70_001 })
            {
                data.Add(kind.ToString(), n);
            }
        }

        return data;
    }

    /// <summary>
    /// The mask must name exactly the zeroed elements: any bit wrong leaves a residual, so an
    /// exact prune (and a base that already had zeros) must come out as the bare rule.
    /// </summary>
    [Theory]
    [MemberData(nameof(PruneCases))]
    public void A_prune_mask_names_exactly_the_zeroed_elements_at_every_width_and_tail(string kindName, int n)
    {
        var kind = Enum.Parse<ElementKind>(kindName);
        int width = kind.Width();
        var random = new Random(n * width);
        var parent = new byte[n * width];
        random.NextBytes(parent);
        var child = (byte[])parent.Clone();
        for (int i = 0; i < n; i++)
        {
            switch (random.Next(8))
            {
                case 0:
                    // Zero in the parent already: not pruned, and the mask must leave it clear.
                    Array.Clear(parent, i * width, width);
                    Array.Clear(child, i * width, width);
                    break;
                case < 5:
                    parent[i * width] |= 1;
                    Array.Clear(child, i * width, width);
                    break;
            }
        }

        Assert.Equal(DeltaCodec.ExactResidual, RoundTrip(child, kind, parent, kind, DeltaRule.Prune).ResidualCodec);

        // One element changed besides the pruning: a residual, and still exact on decode.
        child[^1] ^= 0x10;
        Assert.NotEqual(DeltaCodec.ExactResidual, RoundTrip(child, kind, parent, kind, DeltaRule.Prune).ResidualCodec);
    }

    /// <summary>Encodes under the rule, checks the decode is bit-exact, and returns the delta's header.</summary>
    private static DeltaCodec.Header RoundTrip(byte[] content, ElementKind kind, byte[] baseBytes, ElementKind baseKind, DeltaRule rule)
    {
        var baseId = ObjectId.Compute(baseBytes);
        var id = ObjectId.Compute(content);
        using var encoded = DeltaCodec.Encode(content, kind, baseBytes, baseKind, baseId, 0, rule);
        Assert.NotNull(encoded);
        var header = DeltaCodec.ReadHeader(encoded.Span, id);
        var decoded = new byte[content.Length];
        DeltaCodec.Decode(header, encoded.Span, baseBytes, decoded, id);
        Assert.Equal(content, decoded);
        return header;
    }

    /// <summary>
    /// The cast rule (vectorized) must agree with the scalar round-to-nearest-even on every bit
    /// pattern that matters: ties both ways, NaNs (made quiet), infinities, subnormals, the largest
    /// finite values, and tails shorter than a vector.
    /// </summary>
    [Theory]
    [InlineData(9)]
    [InlineData(15)]
    [InlineData(4099)]
    public void The_bf16_cast_rule_is_exact_on_ties_nans_infinities_and_subnormals(int n)
    {
        uint[] special = [0x3F808000, 0x3F818000, 0x3F80_7FFF, 0x7F80_0000, 0xFF80_0000, 0x7F80_0001, 0xFFC0_1234, 0x7FFF_FFFF, 0x0000_8000, 0x0001_8000, 0x8000_0001, 0x7F7F_FFFF, 0xFF7F_8000, 0, 0x8000_0000];
        var random = new Random(n);
        var source = Enumerable.Range(0, n).Select(i => i % 2 == 0 ? special[(i / 2) % special.Length] : (uint)random.NextInt64(0, 1L << 32)).ToArray();
        var baseBytes = source.SelectMany(BitConverter.GetBytes).ToArray();
        var cast = source.SelectMany(bits => BitConverter.GetBytes(DeltaCodec.ToBFloat16(bits))).ToArray();
        Assert.Equal(DeltaCodec.ExactResidual, RoundTrip(cast, ElementKind.BF16, baseBytes, ElementKind.F32, DeltaRule.CastBF16).ResidualCodec);
    }

    [Fact]
    public void An_exact_bf16_cast_is_stored_as_a_rule_and_a_truncated_one_is_not_called_exact()
    {
        using var fx = new RepoFixture(chunkSize: 64 * 1024);
        var weights = Gaussian(64 * 1024, 2);
        fx.Repository.Add(Write(fx.Model("f32.safetensors"), [T("w", "F32", [256, 256], Bytes(weights))]), new AddOptions());

        string exact = Write(fx.Model("bf16.safetensors"), [T("w", "BF16", [256, 256], BFloat16(weights, true))]);
        var added = fx.Repository.Add(exact, new AddOptions { Parents = ["f32"], How = "quantize" });
        var storage = Assert.Single(Storage(fx, "bf16"));
        Assert.Equal(["delta:cast-bf16-exact"], storage.Codecs.Keys);
        Assert.Equal("f32@1:w", storage.Base);
        Assert.True(added.StoredBytes < 1024, $"an exact cast stored {added.StoredBytes} bytes");
        AssertChecksOut(fx, "bf16", exact);

        // Truncation instead of rounding: close, but not the rule; stored exactly all the same.
        string close = Write(fx.Model("bf16-trunc.safetensors"), [T("w", "BF16", [256, 256], BFloat16(weights, false))]);
        fx.Repository.Add(close, new AddOptions { Parents = ["f32"], How = "quantize" });
        Assert.DoesNotContain(Storage(fx, "bf16-trunc").Single().Codecs.Keys, c => c.EndsWith("-exact", StringComparison.Ordinal));
        AssertChecksOut(fx, "bf16-trunc", close);
    }

    [Fact]
    public void An_exact_f16_cast_is_recognised()
    {
        using var fx = new RepoFixture(chunkSize: 64 * 1024);
        var weights = Gaussian(20_000, 3);
        fx.Repository.Add(Write(fx.Model("f32.safetensors"), [T("w", "F32", [20_000], Bytes(weights))]), new AddOptions());
        string half = Write(fx.Model("f16.safetensors"), [T("w", "F16", [20_000], weights.SelectMany(v => BitConverter.GetBytes((Half)v)).ToArray())]);
        fx.Repository.Add(half, new AddOptions { Parents = ["f32"] });
        Assert.All(Storage(fx, "f16").Single().Codecs.Keys, c => Assert.Equal("delta:cast-f16-exact", c));
        AssertChecksOut(fx, "f16", half);
    }

    [Fact]
    public void A_pruned_copy_is_a_mask_and_merely_small_values_are_not_pruning()
    {
        using var fx = new RepoFixture(chunkSize: 64 * 1024);
        var weights = Gaussian(50_000, 4);
        fx.Repository.Add(Write(fx.Model("dense.safetensors"), [T("w", "F32", [50_000], Bytes(weights))]), new AddOptions());
        float threshold = weights.Select(Math.Abs).Order().ElementAt(weights.Length / 2);

        string pruned = Write(fx.Model("pruned.safetensors"), [T("w", "F32", [50_000], Bytes(weights.Select(v => Math.Abs(v) < threshold ? 0f : v).ToArray()))]);
        var added = fx.Repository.Add(pruned, new AddOptions { Parents = ["dense"], How = "prune" });
        Assert.All(Storage(fx, "pruned").Single().Codecs.Keys, c => Assert.Equal("delta:prune-exact", c));
        Assert.True(added.StoredBytes < 50_000 * 4 / 20, $"50% pruning stored {added.StoredBytes} bytes");
        AssertChecksOut(fx, "pruned", pruned);

        string tiny = Write(fx.Model("tiny.safetensors"), [T("w", "F32", [50_000], Bytes(weights.Select(v => Math.Abs(v) < threshold ? 1e-30f : v).ToArray()))]);
        fx.Repository.Add(tiny, new AddOptions { Parents = ["dense"] });
        Assert.DoesNotContain(Storage(fx, "tiny").Single().Codecs.Keys, c => c.StartsWith("delta:prune", StringComparison.Ordinal));
        AssertChecksOut(fx, "tiny", tiny);
    }

    [Fact]
    public void Appended_rows_cost_only_the_new_rows()
    {
        using var fx = new RepoFixture(chunkSize: 1024 * 1024);
        var rows = Gaussian(1000 * 64, 5);
        var extra = Gaussian(50 * 64, 6);
        fx.Repository.Add(Write(fx.Model("vocab.safetensors"), [T("embed", "F32", [1000, 64], Bytes(rows))]), new AddOptions());
        string grown = Write(fx.Model("grown.safetensors"), [T("embed", "F32", [1050, 64], Bytes([.. rows, .. extra]))]);
        var added = fx.Repository.Add(grown, new AddOptions { Parents = ["vocab"] });
        Assert.StartsWith("delta:", Storage(fx, "grown").Single().Codecs.Keys.Single(), StringComparison.Ordinal);
        Assert.True(added.StoredBytes < extra.Length * 4 + 2048, $"50 new rows of 64 floats stored in {added.StoredBytes} bytes");
        AssertChecksOut(fx, "grown", grown);
    }

    [Fact]
    public void Renamed_tensors_are_aligned_by_shape_and_order()
    {
        using var fx = new RepoFixture(chunkSize: 64 * 1024);
        var a = Gaussian(4096, 7);
        var b = Gaussian(8192, 8);
        fx.Repository.Add(Write(fx.Model("old-names.safetensors"), [T("layer.0.w", "F32", [64, 64], Bytes(a)), T("layer.1.w", "F32", [128, 64], Bytes(b))]), new AddOptions());
        string renamed = Write(fx.Model("new-names.safetensors"),
        [
            T("blocks.0.weight", "F32", [64, 64], Bytes(a.Select(v => v + 1e-5f).ToArray())),
            T("blocks.1.weight", "F32", [128, 64], Bytes(b.Select(v => v + 1e-5f).ToArray())),
        ]);
        fx.Repository.Add(renamed, new AddOptions { Parents = ["old-names"], How = "finetune" });
        var storage = Storage(fx, "new-names");
        Assert.Equal("old-names@1:layer.0.w", storage.Single(s => s.Name == "blocks.0.weight").Base);
        Assert.Equal("old-names@1:layer.1.w", storage.Single(s => s.Name == "blocks.1.weight").Base);
        AssertChecksOut(fx, "new-names", renamed);
    }

    [Fact]
    public void A_tensor_is_stored_against_the_parent_it_is_closest_to_not_the_first_one_named()
    {
        using var fx = new RepoFixture(chunkSize: 1024 * 1024);
        var first = Gaussian(50_000, 20);
        var second = Gaussian(50_000, 21);
        fx.Repository.Add(Write(fx.Model("first.safetensors"), [T("w", "F32", [50_000], Bytes(first))]), new AddOptions());
        fx.Repository.Add(Write(fx.Model("second.safetensors"), [T("w", "F32", [50_000], Bytes(second))]), new AddOptions());

        // Each child is a small change of one parent; both name the parents in the same order.
        foreach (var (name, closest, weights) in new[] { ("of-second", "second", second), ("of-first", "first", first) })
        {
            string child = Write(fx.Model($"{name}.safetensors"), [T("w", "F32", [50_000], Bytes(weights.Select(v => v + 1e-5f).ToArray()))]);
            var added = fx.Repository.Add(child, new AddOptions { Parents = ["first", "second"], How = "merge" });
            Assert.Equal($"{closest}@1:w", Storage(fx, name).Single().Base);
            Assert.True(added.StoredBytes < 50_000 * 4 / 3, $"a small change of {closest} stored in {added.StoredBytes} bytes");
            AssertChecksOut(fx, name, child);
        }
    }

    [Fact]
    public void A_tensor_may_be_stored_against_an_earlier_version_of_its_parent()
    {
        using var fx = new RepoFixture(chunkSize: 1024 * 1024);
        var original = Gaussian(50_000, 30);
        fx.Repository.Add(Write(fx.Model("base-v1.safetensors"), [T("w", "F32", [50_000], Bytes(original))]), new AddOptions { Name = "base" });
        fx.Repository.Add(Write(fx.Model("base-v2.safetensors"), [T("w", "F32", [50_000], Bytes(Gaussian(50_000, 31)))]), new AddOptions { VersionOf = "base" });

        // Fine-tuned from base@1, but recorded against the latest base (base@2, retrained from scratch).
        string tuned = Write(fx.Model("tuned.safetensors"), [T("w", "F32", [50_000], Bytes(original.Select(v => v + 1e-5f).ToArray()))]);
        var added = fx.Repository.Add(tuned, new AddOptions { Parents = ["base"], How = "finetune" });
        Assert.Equal("base@1:w", Storage(fx, "tuned").Single().Base);
        Assert.True(added.StoredBytes < 50_000 * 4 / 3, $"a small change of base@1 stored in {added.StoredBytes} bytes");
        AssertChecksOut(fx, "tuned", tuned);
    }

    [Fact]
    public void Delta_chains_stop_at_the_configured_depth()
    {
        using var dir = new TempDirectory();
        using var repository = MGit.Repository.Init(dir.File("repo"), RepoFixture.Options, chunkSize: 64 * 1024, maxDeltaDepth: 3);
        var weights = Gaussian(16_384, 9);
        var files = new List<string>();
        for (int version = 1; version <= 10; version++)
        {
            weights = weights.Select((v, i) => i % 7 == version % 7 ? v * 1.001f : v).ToArray();
            string path = Write(dir.File($"v{version}.safetensors"), [T("w", "F32", [16_384], Bytes(weights))]);
            files.Add(path);
            repository.Add(path, new AddOptions { Name = "chain", VersionOf = version == 1 ? null : "chain" });
        }

        for (int version = 1; version <= 10; version++)
        {
            var storage = repository.TensorStorageOf($"chain@{version}").Single();
            Assert.InRange(storage.MaxDepth, 0, 3);
            string output = dir.File($"out{version}");
            repository.Checkout($"chain@{version}", output);
            Assert.Equal(File.ReadAllBytes(files[version - 1]), File.ReadAllBytes(output));
        }

        Assert.Contains(Enumerable.Range(2, 9), v => repository.TensorStorageOf($"chain@{v}").Single().MaxDepth == 3);
    }

    [Fact]
    public void A_damaged_delta_base_is_reported_for_every_model_that_depends_on_it_and_gc_keeps_bases()
    {
        using var fx = new RepoFixture(chunkSize: 64 * 1024);
        var weights = Gaussian(16_384, 10);
        fx.Repository.Add(Write(fx.Model("base.safetensors"), [T("w", "F32", [16_384], Bytes(weights))]), new AddOptions());
        string tunedPath = Write(fx.Model("tuned.safetensors"), [T("w", "F32", [16_384], Bytes(weights.Select(v => v + 1e-4f).ToArray()))]);
        fx.Repository.Add(tunedPath, new AddOptions { Parents = ["base"] });
        string castPath = Write(fx.Model("cast.safetensors"), [T("w", "BF16", [16_384], BFloat16(weights.Select(v => v + 1e-4f).ToArray(), true))]);
        fx.Repository.Add(castPath, new AddOptions { Parents = ["tuned"] });
        Assert.StartsWith("delta:", Storage(fx, "tuned").Single().Codecs.Keys.Single(), StringComparison.Ordinal);

        // Removing the parents and collecting garbage must keep the chunks the children are stored against.
        fx.Repository.Remove("base", force: true);
        fx.Repository.Remove("tuned", force: true);
        var before = fx.Repository.Objects.Enumerate().ToDictionary(id => id, id => fx.Repository.Objects.TryInspect(id)!.CodecName + "/" + fx.Repository.Objects.TryInspect(id)!.Length);
        var gc = fx.Repository.Gc();
        var removed = before.Keys.Except(fx.Repository.Objects.Enumerate()).Select(id => before[id]).ToList();
        // Only the two manifests and the shared F32 header go; the weights stay, as the cast's delta chain.
        Assert.Equal(3, gc.ObjectsRemoved);
        Assert.All(removed, r => Assert.True(int.Parse(r.Split('/')[1], System.Globalization.CultureInfo.InvariantCulture) < 1024, r));
        AssertChecksOut(fx, "cast", castPath);
        Assert.True(fx.Repository.Fsck().Intact);

        // Now damage the root of the chain: the one model that depends on it is named.
        fx.Repository.Add(tunedPath, new AddOptions { Name = "tuned-again" });
        string baseChunk = Storage(fx, "cast").Single().Base!;
        var rootInfo = fx.Repository.Objects.TryInspect(ObjectId.Parse(fx.Repository.Show("cast").Manifest.Files[0].Segments[1].Chunks[0]))!;
        var root = rootInfo.BaseId!.Value;
        while (fx.Repository.Objects.TryInspect(root) is { BaseId: { } deeper })
        {
            root = deeper;
        }

        string path = fx.Repository.Objects.PathOf(root);
        byte[] bytes = File.ReadAllBytes(path);
        bytes[^5] ^= 0x10;
        File.WriteAllBytes(path, bytes);
        var problems = fx.Repository.Fsck().Problems;
        Assert.Contains(problems, p => p.Contains("cast@1", StringComparison.Ordinal));
        Assert.NotEmpty(baseChunk);

        // Bases inside a chain are verified through the chain's end. The flipped bit is below
        // BF16 precision, so the cast still rebuilds exactly (its own hash says so) ...
        AssertChecksOut(fx, "cast", castPath);

        // ... while the fine-tune stored against the damaged chunk does not, and the damaged base is named.
        var error = Assert.ThrowsAny<MGit.Errors.MGitException>(() => fx.Repository.Checkout("tuned-again", fx.Scratch("damaged-tuned")));
        Assert.Contains("delta base is unusable", error.Message, StringComparison.Ordinal);
        Assert.Contains(root.ToString(), error.Message, StringComparison.Ordinal);
    }
}
