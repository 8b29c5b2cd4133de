using MGit.Codecs;
using MGit.Errors;
using MGit.Ingest;
using MGit.Primitives;
using MGit.Storage;
using MGit.Testing;
using MGit.Tests.TestSupport;
using static MGit.Tests.TestSupport.RawSafetensors;

namespace MGit.Tests.Repo;

/// <summary>Checking out several models at once, sharing decoded chunks between them.</summary>
public sealed class FamilyCheckoutTests
{
    private static float[] Gaussian(int n, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => (float)(0.02 * Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble()))).ToArray();
    }

    private static byte[] Bytes(float[] values) => values.SelectMany(BitConverter.GetBytes).ToArray();

    private static byte[] BFloat16(float[] values) => values.SelectMany(v => BitConverter.GetBytes(DeltaCodec.ToBFloat16(BitConverter.SingleToUInt32Bits(v)))).ToArray();

    /// <summary>
    /// A base and what derives from it, over several 64 KiB chunks: a BF16 cast of the base, a
    /// fine-tune and its next version (deltas), a BF16 cast of the fine-tune, a pruned copy and a head-only fine-tune
    /// (its body the base's own chunks). Returns each ref with the file it was added from.
    /// </summary>
    private static Dictionary<string, string> AddFamily(RepoFixture fx)
    {
        var weights = Gaussian(70_001, 1);
        var head = Gaussian(1000, 2);
        var tuned = weights.Select((v, i) => v + (i % 3 == 0 ? 1e-4f : 0f)).ToArray();
        var tunedAgain = tuned.Select((v, i) => i % 5 == 0 ? v * 1.001f : v).ToArray();
        float threshold = weights.Select(Math.Abs).Order().ElementAt(weights.Length / 2);
        var files = new Dictionary<string, string>
        {
            ["base@1"] = Write(fx.Model("base.safetensors"), [new("w", "F32", [70_001], Bytes(weights)), new("head", "F32", [1000], Bytes(head))]),
            ["bf16@1"] = Write(fx.Model("bf16.safetensors"), [new("w", "BF16", [70_001], BFloat16(weights)), new("head", "BF16", [1000], BFloat16(head))]),
            ["tuned@1"] = Write(fx.Model("tuned.safetensors"), [new("w", "F32", [70_001], Bytes(tuned)), new("head", "F32", [1000], Bytes(head))]),
            ["tuned@2"] = Write(fx.Model("tuned2.safetensors"), [new("w", "F32", [70_001], Bytes(tunedAgain)), new("head", "F32", [1000], Bytes(head))]),
            ["cast@1"] = Write(fx.Model("cast.safetensors"), [new("w", "BF16", [70_001], BFloat16(tuned)), new("head", "BF16", [1000], BFloat16(head))]),
            ["pruned@1"] = Write(fx.Model("pruned.safetensors"), [new("w", "F32", [70_001], Bytes(weights.Select(v => Math.Abs(v) < threshold ? 0f : v).ToArray())), new("head", "F32", [1000], Bytes(head))]),
            ["head@1"] = Write(fx.Model("head.safetensors"), [new("w", "F32", [70_001], Bytes(weights)), new("head", "F32", [1000], Bytes(Gaussian(1000, 3)))]),
        };
        fx.Repository.Add(files["base@1"], new AddOptions());
        fx.Repository.Add(files["bf16@1"], new AddOptions { Parents = ["base"], How = "quantize" });
        fx.Repository.Add(files["tuned@1"], new AddOptions { Parents = ["base"] });
        fx.Repository.Add(files["tuned@2"], new AddOptions { Name = "tuned", VersionOf = "tuned" });
        fx.Repository.Add(files["cast@1"], new AddOptions { Parents = ["tuned@1"], How = "quantize" });
        fx.Repository.Add(files["pruned@1"], new AddOptions { Parents = ["base"], How = "prune" });
        fx.Repository.Add(files["head@1"], new AddOptions { Parents = ["base"] });
        return files;
    }

    private static void AssertAllCheckedOut(IReadOnlyList<(string Ref, string Path)> written, Dictionary<string, string> files)
    {
        Assert.Equal(files.Keys.Order(StringComparer.Ordinal), written.Select(w => w.Ref).Order(StringComparer.Ordinal));
        foreach (var (reference, path) in written)
        {
            Assert.Equal(Path.GetFileName(files[reference]), Path.GetFileName(path));
            Assert.Equal(reference, Path.GetFileName(Path.GetDirectoryName(path)));
            Assert.Equal(File.ReadAllBytes(files[reference]), File.ReadAllBytes(path));
        }
    }

    /// <summary>The base of the first chunk of <paramref name="reference"/> stored as a delta.</summary>
    private static ObjectId FirstDeltaBase(RepoFixture fx, string reference) =>
        FileMaterializer.Chunks(fx.Repository.Show(reference).Manifest.Files[0])
            .Select(c => fx.Repository.Objects.TryInspect(c.Id)!.BaseId)
            .First(b => b is not null)!.Value;

    [Theory]
    [InlineData(512L << 20)]
    [InlineData(150_000L)]
    [InlineData(0L)]
    public void A_family_checked_out_together_is_byte_identical_whatever_the_cache_budget(long budget)
    {
        using var fx = new RepoFixture();
        var files = AddFamily(fx);
        Assert.Contains(fx.Repository.TensorStorageOf("cast").Single(t => t.Name == "w").Codecs.Keys, c => c.StartsWith("delta:", StringComparison.Ordinal));

        using var repository = MGit.Repository.Open(fx.RepositoryPath, RepoFixture.Options with { CheckoutCacheBytes = budget });
        // In an order unlike the one they were added in, and one named twice.
        string[] refs = ["cast", "head", "bf16", "pruned@1", "tuned@2", "tuned@1", "base", "base@1"];
        AssertAllCheckedOut(repository.Checkout(refs, fx.Scratch("out")), files);
    }

    [Fact]
    public void Chunks_read_through_the_cache_are_the_stored_chunks_and_shared_ones_are_decoded_once()
    {
        using var fx = new RepoFixture();
        AddFamily(fx);
        var store = fx.Repository.Objects;
        var chunks = new[] { "base", "bf16", "tuned@1", "tuned@2", "cast", "pruned", "head" }
            .SelectMany(r => fx.Repository.Show(r).Manifest.Files)
            .SelectMany(FileMaterializer.Chunks)
            .Select(c => c.Id)
            .ToList();
        const long budget = 300_000;
        using var cache = DecodedChunkCache.ForChunks(chunks, id => store.TryInspect(id)?.BaseId, budget);
        foreach (var id in chunks)
        {
            using var cached = store.Read(id, cache);
            using var plain = store.Read(id);
            Assert.True(cached.Span.SequenceEqual(plain.Span));
            Assert.InRange(cache.HeldBytes, 0, budget);
        }

        // The base's weight chunks serve the base itself, the head-only fine-tune (same chunks),
        // and as delta bases the fine-tune and the pruned copy.
        Assert.True(cache.Hits >= 8, $"{cache.Hits} hits");
        Assert.True(chunks.Count > cache.Hits);
    }

    [Fact]
    public void A_damaged_base_fails_the_checkout_naming_it_and_leaves_no_partial_file()
    {
        using var fx = new RepoFixture();
        AddFamily(fx);
        var store = fx.Repository.Objects;
        var root = FirstDeltaBase(fx, "tuned@1");
        string path = store.PathOf(root);
        byte[] bytes = File.ReadAllBytes(path);
        bytes[^3] ^= 0x40;
        File.WriteAllBytes(path, bytes);

        // A name with a '/' checks out into a folder inside a folder (out/org/head@1).
        fx.Repository.Add(fx.Model("head.safetensors"), new AddOptions { Name = "org/head" });
        string output = fx.Scratch("out");
        var error = Assert.ThrowsAny<MGitException>(() => fx.Repository.Checkout(["tuned@1", "pruned", "org/head"], output));
        Assert.Contains(root.ToString(), error.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(output), "the folders the failed checkout made are taken back");

        // A folder that was there before stays, with nothing left in it.
        string existing = Directory.CreateDirectory(fx.Scratch("existing")).FullName;
        Assert.ThrowsAny<MGitException>(() => fx.Repository.Checkout(["tuned@1", "pruned", "head"], existing));
        Assert.True(Directory.Exists(existing));
        Assert.Empty(Directory.EnumerateFileSystemEntries(existing));
    }

    /// <summary>
    /// A base read inside a delta chain is not verified on its own (the chain's end is). Kept for
    /// a later direct read it must be: damage below BF16 precision lets the cast rebuild exactly,
    /// and the head-only fine-tune, whose weights are that very chunk, must not be written from it.
    /// </summary>
    [Fact]
    public void A_base_kept_from_inside_a_chain_is_verified_before_it_serves_a_direct_read()
    {
        using var fx = new RepoFixture();
        AddFamily(fx);
        var store = fx.Repository.Objects;
        var root = FirstDeltaBase(fx, "bf16");
        Assert.Contains(FileMaterializer.Chunks(fx.Repository.Show("head").Manifest.Files[0]), c => c.Id == root);

        string path = store.PathOf(root);
        byte[] original = File.ReadAllBytes(path);
        bool belowPrecision = false;
        for (int back = 1; back <= 256 && !belowPrecision; back++)
        {
            byte[] damaged = (byte[])original.Clone();
            damaged[^back] ^= 0x01;
            File.WriteAllBytes(path, damaged);
            belowPrecision = Succeeds(() => fx.Repository.Checkout("bf16", fx.Scratch($"bf16-{back}")))
                && !Succeeds(() => fx.Repository.Checkout("head", fx.Scratch($"head-{back}")));
        }

        Assert.True(belowPrecision, "no one-bit damage of the root that the cast rounds away");
        var error = Assert.ThrowsAny<MGitException>(() => fx.Repository.Checkout(["bf16", "head"], fx.Scratch("out")));
        Assert.Contains(root.ToString(), error.Message, StringComparison.Ordinal);
    }

    private static bool Succeeds(Action action)
    {
        try
        {
            action();
            return true;
        }
        catch (MGitException)
        {
            return false;
        }
    }

    [Fact]
    public void Nothing_is_written_when_a_ref_does_not_resolve_or_a_target_is_taken()
    {
        using var fx = new RepoFixture();
        AddFamily(fx);
        string output = fx.Scratch("out");
        Assert.ThrowsAny<MGitException>(() => fx.Repository.Checkout(["base", "nope"], output));
        Assert.False(Directory.Exists(output));

        Directory.CreateDirectory(Path.Combine(output, "tuned@1"));
        File.WriteAllText(Path.Combine(output, "tuned@1", "notes.txt"), "mine");
        var taken = Assert.ThrowsAny<MGitException>(() => fx.Repository.Checkout(["base", "tuned@1"], output));
        Assert.Contains("--force", taken.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(output, "base@1")));
        Assert.Equal("mine", File.ReadAllText(Path.Combine(output, "tuned@1", "notes.txt")));

        File.WriteAllText(fx.Scratch("a-file"), "x");
        Assert.ThrowsAny<MGitException>(() => fx.Repository.Checkout(["base", "tuned"], fx.Scratch("a-file")));
    }

    /// <summary>
    /// Files written side by side, each generation a few chunk indices behind its parents: a
    /// parent's chunk is held only until the children's chunks on it are done, so a budget of a
    /// dozen chunks serves every child, where writing model after model would hold all the
    /// parent's chunks (40 here) and fit only a third of them.
    /// </summary>
    [Fact]
    public void Interleaved_files_hold_a_parent_chunk_briefly_so_a_small_budget_serves_every_child()
    {
        using var fx = new RepoFixture();
        var weights = Gaussian(640_000, 11);
        float threshold = weights.Select(Math.Abs).Order().ElementAt(weights.Length / 2);
        var files = new Dictionary<string, string>
        {
            ["base"] = Write(fx.Model("base.safetensors"), [new("w", "F32", [640_000], Bytes(weights))]),
            ["tuned"] = Write(fx.Model("tuned.safetensors"), [new("w", "F32", [640_000], Bytes(weights.Select((v, i) => v + (i % 3 == 0 ? 1e-4f : 0f)).ToArray()))]),
            ["pruned"] = Write(fx.Model("pruned.safetensors"), [new("w", "F32", [640_000], Bytes(weights.Select(v => Math.Abs(v) < threshold ? 0f : v).ToArray()))]),
            ["bf16"] = Write(fx.Model("bf16.safetensors"), [new("w", "BF16", [640_000], BFloat16(weights))]),
        };
        fx.Repository.Add(files["base"], new AddOptions());
        foreach (string child in new[] { "tuned", "pruned", "bf16" })
        {
            fx.Repository.Add(files[child], new AddOptions { Parents = ["base"] });
        }

        var store = fx.Repository.Objects;
        var manifests = files.Keys.Select(r => fx.Repository.Show(r).Manifest.Files.Single()).ToList();
        var baseChunks = FileMaterializer.Chunks(manifests[0]).Select(c => c.Id).ToHashSet();
        Assert.True(baseChunks.Count >= 40, $"{baseChunks.Count} chunks");
        int childChunksOnBase = manifests.Skip(1).SelectMany(FileMaterializer.Chunks).Count(c => store.TryInspect(c.Id)?.BaseId is { } b && baseChunks.Contains(b));
        Assert.True(childChunksOnBase >= 3 * 38, $"{childChunksOnBase} child chunks stand on the base's");

        using var cache = DecodedChunkCache.ForChunks(manifests.SelectMany(FileMaterializer.Chunks).Select(c => c.Id), id => store.TryInspect(id)?.BaseId, budgetBytes: 12 * 64 * 1024);
        var streams = manifests.Select(m => new FileStream(fx.Scratch(m.Path), FileMode.Create, FileAccess.ReadWrite)).ToList();
        try
        {
            for (int i = 0; i < streams.Count; i++)
            {
                streams[i].SetLength(manifests[i].Length);
            }

            var outputs = manifests.Select((m, i) => new FileMaterializer.Output(m, new CheckoutFile(streams[i].SafeFileHandle, streams[i].Name, writer: null), Generation: i == 0 ? 0 : 1)).ToList();
            new FileMaterializer(store, workers: 2, cache).Write(outputs);
        }
        finally
        {
            streams.ForEach(s => s.Dispose());
        }

        foreach (string original in files.Values)
        {
            Assert.Equal(File.ReadAllBytes(original), File.ReadAllBytes(fx.Scratch(Path.GetFileName(original))));
        }

        Assert.True(cache.Hits >= childChunksOnBase * 9 / 10, $"{cache.Hits} hits for {childChunksOnBase} child chunks on the base's");
    }

    [Fact]
    public void An_empty_folder_model_checks_out_as_an_empty_folder_alone_and_with_others()
    {
        using var fx = new RepoFixture();
        var files = AddFamily(fx);
        string empty = fx.Model("empty");
        Directory.CreateDirectory(empty);
        fx.Repository.Add(empty, new AddOptions { Name = "empty" });

        string alone = fx.Repository.Checkout("empty", fx.Scratch("alone"));
        Assert.True(Directory.Exists(alone));
        Assert.Empty(Directory.EnumerateFileSystemEntries(alone));

        var written = fx.Repository.Checkout(["empty", "base"], fx.Scratch("together"));
        Assert.True(Directory.Exists(written.Single(w => w.Ref == "empty@1").Path));
        Assert.Equal(File.ReadAllBytes(files["base@1"]), File.ReadAllBytes(written.Single(w => w.Ref == "base@1").Path));
    }

    [Fact]
    public void A_test_run_over_the_family_gets_every_model_exactly_from_one_shared_checkout_pass()
    {
        using var fx = new RepoFixture();
        var files = AddFamily(fx);
        // The test compares the checkout it is given with the file the version was added from.
        string expected = fx.Scratch("expected");
        File.WriteAllLines(expected, files.Select(f => $"{f.Key} {f.Value}"));
        string script = Scripts.Write(fx.Scratch("exact.sh"), $"""
            original=$(grep "^$2 " {Scripts.Quote(expected)} | cut -d' ' -f2-)
            cmp "$1" "$original"
            """);
        fx.Repository.RegisterTest(new MGit.Testing.TestDefinition("exact", $"{Scripts.Command(script)} {{model}} {{ref}}", MGit.Testing.TestScope.All, null, 60));

        var progress = new RecordedProgress();
        using var repository = MGit.Repository.Open(fx.RepositoryPath, RepoFixture.Options with { Progress = progress });
        var results = repository.RunTests(repository.Graph().Versions, new TestRunOptions { Jobs = 2 });

        // One pass wrote them all (a checkout per model would report one per model).
        Assert.Equal([$"checking out {files.Count} models"], progress.Begun.Where(d => d.StartsWith("checking out", StringComparison.Ordinal)));

        Assert.Equal(files.Count, results.Count);
        Assert.All(results, r => Assert.True(r.Passed, $"{r.Ref}: {r.Reason} {r.LogTail}"));
        string cache = Path.Combine(fx.RepositoryPath, ".mgit", "cache", "checkouts");
        Assert.Equal(files.Count, Directory.GetDirectories(cache).Length);
        Assert.DoesNotContain(Directory.GetDirectories(cache), d => d.Contains(".partial-", StringComparison.Ordinal));
    }

    private sealed class RecordedProgress : IProgressSink
    {
        public List<string> Begun { get; } = [];

        public IProgressTask Begin(string description, long totalBytes)
        {
            lock (Begun)
            {
                Begun.Add(description);
            }

            return NoProgress.Instance;
        }
    }
}
