using MGit.Ingest;
using MGit.Tests.TestSupport;
using MGit.Workspace;
using static MGit.Tests.TestSupport.RawSafetensors;

namespace MGit.Tests.Repo;

public sealed class RoundTripTests
{
    private static void AssertRoundTrip(RepoFixture fx, string path, string? name = null)
    {
        var added = fx.Repository.Add(path, new AddOptions { Name = name });
        string output = fx.Scratch(Guid.NewGuid().ToString("N"));
        fx.Repository.Checkout(added.Version.Ref, output);
        Assert.Equal(File.ReadAllBytes(path), File.ReadAllBytes(output));
    }

    public static TheoryData<string> Dtypes() => new(AllDtypes);

    [Theory]
    [MemberData(nameof(Dtypes))]
    public void Every_dtype_round_trips_byte_for_byte(string dtype)
    {
        using var fx = new RepoFixture(chunkSize: 4096);
        // 1000 elements of any dtype do not divide the 4096-byte chunk: the last chunk is partial.
        var tensors = new[] { Random("big", dtype, [10, 100], 1), Random("scalar", dtype, [], 2), new Tensor("empty", dtype, [3, 0], []) };
        string path = Write(fx.Model($"{dtype}.safetensors"), tensors);
        AssertRoundTrip(fx, path);
        var show = fx.Repository.Show(dtype);
        Assert.Equal(3, show.Tensors.Count());
        Assert.All(show.Tensors, t => Assert.Equal(dtype, t.Dtype));
    }

    [Fact]
    public void With_fsync_on_every_chunk_is_published_before_add_returns_duplicates_and_deltas_included()
    {
        // The default (fsync on) flushes and renames chunk objects on sync threads; the add must
        // still return only when every object its manifest names is in place, and leave no temp file.
        using var dir = new TempDirectory();
        var options = new RepositoryOptions { FlushToDisk = true };
        using var repository = Repository.Init(dir.File("repo"), options, chunkSize: 4096);
        var weights = Random("w", "F32", [64, 256], 5);
        var tensors = new[] { weights, weights with { Name = "tied" }, Random("head", "F32", [16, 64], 6) };
        string basePath = Write(dir.File("base.safetensors"), tensors);
        repository.Add(basePath, new AddOptions { Name = "base" });
        byte[] tuned = File.ReadAllBytes(basePath);
        for (int i = 8 + (int)BitConverter.ToUInt64(tuned, 0); i < tuned.Length; i += 97)
        {
            tuned[i] ^= 1; // low mantissa bits: stored as deltas against the base
        }

        File.WriteAllBytes(dir.File("tuned.safetensors"), tuned);
        repository.Add(dir.File("tuned.safetensors"), new AddOptions { Name = "tuned", Parents = ["base"] });

        Assert.Contains(repository.StorageByVersion().Single(v => v.Ref == "tuned@1").CodecBytes.Keys, codec => codec.StartsWith("delta:", StringComparison.Ordinal));
        Assert.True(repository.Fsck().Intact);
        Assert.Empty(Directory.EnumerateFiles(dir.File(Path.Combine("repo", ".mgit", "tmp")), "*", SearchOption.AllDirectories));
        foreach (var (name, expected) in new[] { ("base", File.ReadAllBytes(basePath)), ("tuned", tuned) })
        {
            string output = dir.File($"out-{name}");
            repository.Checkout(name, output);
            Assert.Equal(expected, File.ReadAllBytes(output));
        }
    }

    [Fact]
    public void A_folder_of_small_files_with_fsync_on_is_wholly_published_when_add_returns()
    {
        // One-chunk files are stored on the reading thread, and the sync threads are shared by
        // every file of the add: the add must still return only when every object is in place.
        using var dir = new TempDirectory();
        using var repository = Repository.Init(dir.File("repo"), new RepositoryOptions { FlushToDisk = true }, chunkSize: 4096);
        string folder = dir.File("model");
        Directory.CreateDirectory(Path.Combine(folder, "shards"));
        var random = new Random(7);
        var expected = new Dictionary<string, byte[]>();
        for (int i = 0; i < 60; i++)
        {
            var bytes = new byte[i % 3 == 0 ? 100 : 1000 + i];
            random.NextBytes(bytes);
            expected[Path.Combine("shards", $"part-{i:D2}.bin")] = bytes;
        }

        expected["copy-of-part-01.bin"] = expected[Path.Combine("shards", "part-01.bin")];
        expected["empty.txt"] = [];
        var large = new byte[3 * 4096 + 5];
        random.NextBytes(large);
        expected["large.bin"] = large;
        foreach (var (relative, bytes) in expected)
        {
            File.WriteAllBytes(Path.Combine(folder, relative), bytes);
        }

        repository.Add(folder, new AddOptions { Name = "folder" });

        Assert.True(repository.Fsck().Intact);
        Assert.Empty(Directory.EnumerateFiles(dir.File(Path.Combine("repo", ".mgit", "tmp")), "*", SearchOption.AllDirectories));
        string output = dir.File("out");
        repository.Checkout("folder", output);
        foreach (var (relative, bytes) in expected)
        {
            Assert.Equal(bytes, File.ReadAllBytes(Path.Combine(output, relative)));
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Padded_and_unpadded_headers_round_trip(bool pad)
    {
        using var fx = new RepoFixture();
        var tensors = new[] { Random("w", "F16", [33, 7], 3), Random("b", "F32", [5], 4) };
        string path = Write(fx.Model("m.safetensors"), tensors, pad, new Dictionary<string, string> { ["format"] = "pt" });
        AssertRoundTrip(fx, path);
    }

    [Fact]
    public void Shuffled_tensor_order_round_trips_and_still_dedups()
    {
        using var fx = new RepoFixture(chunkSize: 4096);
        var tensors = Enumerable.Range(0, 12).Select(i => Random($"layer.{i}.weight", "F32", [64, 256 + i], 10 + i)).ToArray();
        string ordered = Write(fx.Model("ordered.safetensors"), tensors);
        var shuffled = tensors.OrderBy(t => t.Name.GetHashCode(StringComparison.Ordinal) ^ 0x5bd1e995).ToArray();
        Assert.NotEqual(tensors.Select(t => t.Name), shuffled.Select(t => t.Name));
        string other = Write(fx.Model("shuffled.safetensors"), shuffled, pad: false);

        AssertRoundTrip(fx, ordered);
        long before = fx.StoredBytes;
        AssertRoundTrip(fx, other);
        long growth = fx.StoredBytes - before;
        long tensorBytes = tensors.Sum(t => t.Data.Length);
        // Same tensors in another order: only a header and a manifest are new.
        Assert.True(growth < tensorBytes / 10, $"grew {growth} bytes for {tensorBytes} bytes of repeated tensors");
    }

    [Fact]
    public void Any_file_is_stored_as_a_blob_and_round_trips()
    {
        using var fx = new RepoFixture(chunkSize: 1024);
        string path = fx.Model("tokenizer.model");
        var bytes = new byte[5000];
        new Random(9).NextBytes(bytes);
        File.WriteAllBytes(path, bytes);
        AssertRoundTrip(fx, path);
        Assert.Equal("blob", fx.Repository.Show("tokenizer").Manifest.Files.Single().Format);
    }

    [Fact]
    public void Hugging_face_folder_with_shards_nested_folders_and_empty_dirs_round_trips()
    {
        using var fx = new RepoFixture(chunkSize: 2048);
        string folder = fx.Model("tiny-llm");
        Directory.CreateDirectory(Path.Combine(folder, "tokenizer"));
        Directory.CreateDirectory(Path.Combine(folder, "empty"));
        var shard1 = new[] { Random("embed.weight", "BF16", [64, 16], 1), Random("layers.0.w", "BF16", [16, 16], 2) };
        var shard2 = new[] { Random("layers.1.w", "BF16", [16, 16], 3), Random("lm_head.weight", "BF16", [64, 16], 4) };
        Write(Path.Combine(folder, "model-00001-of-00002.safetensors"), shard1);
        Write(Path.Combine(folder, "model-00002-of-00002.safetensors"), shard2);
        File.WriteAllText(Path.Combine(folder, "model.safetensors.index.json"), """
            {"metadata": {"total_size": 5120}, "weight_map": {
              "embed.weight": "model-00001-of-00002.safetensors", "layers.0.w": "model-00001-of-00002.safetensors",
              "layers.1.w": "model-00002-of-00002.safetensors", "lm_head.weight": "model-00002-of-00002.safetensors"}}
            """);
        File.WriteAllText(Path.Combine(folder, "config.json"), """{"model_type": "llama", "hidden_size": 16}""");
        File.WriteAllText(Path.Combine(folder, "tokenizer", "tokenizer.json"), """{"version": "1.0"}""");

        var added = fx.Repository.Add(folder, new AddOptions());
        Assert.Equal("tiny-llm@1", added.Version.Ref);
        Assert.Equal(4, added.Tensors);
        Assert.Equal(5, added.Files);

        string output = fx.Scratch("out");
        fx.Repository.Checkout("tiny-llm", output);
        foreach (string file in Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories))
        {
            Assert.Equal(File.ReadAllBytes(file), File.ReadAllBytes(Path.Combine(output, Path.GetRelativePath(folder, file))));
        }

        Assert.Equal(
            Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories).Count(),
            Directory.EnumerateFiles(output, "*", SearchOption.AllDirectories).Count());
        Assert.True(Directory.Exists(Path.Combine(output, "empty")));
    }

    [Fact]
    public void A_shard_index_naming_a_missing_shard_is_refused()
    {
        using var fx = new RepoFixture();
        string folder = fx.Model("broken");
        Directory.CreateDirectory(folder);
        Write(Path.Combine(folder, "model-00001-of-00002.safetensors"), [Random("a", "F32", [4], 1)]);
        File.WriteAllText(Path.Combine(folder, "model.safetensors.index.json"), """{"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}""");
        var before = RepositorySnapshot.Take(fx.RepositoryPath);
        var e = Assert.Throws<MGit.Errors.InvalidModelFileException>(() => fx.Repository.Add(folder, new AddOptions()));
        Assert.Contains("model-00002-of-00002.safetensors", e.Message);
        Assert.Equal(before, RepositorySnapshot.Take(fx.RepositoryPath));
    }

    [Fact]
    public void One_tensor_streams_without_a_checkout()
    {
        using var fx = new RepoFixture(chunkSize: 1024);
        var tensors = new[] { Random("a", "F32", [3], 1), Random("big", "U8", [5000], 2), Random("c", "I64", [2], 3) };
        fx.Repository.Add(Write(fx.Model("m.safetensors"), tensors), new AddOptions());
        using var stream = fx.Repository.OpenTensor("m", "big");
        Assert.Equal(5000, stream.Length);
        stream.Position = 1500;
        var part = new byte[2000];
        stream.ReadExactly(part);
        Assert.Equal(tensors[1].Data.AsSpan(1500, 2000).ToArray(), part);
        Assert.Throws<MGit.Errors.MGitException>(() => fx.Repository.OpenTensor("m", "nope"));
    }

    [Fact]
    public void Reopened_repository_reads_the_same_models()
    {
        using var fx = new RepoFixture();
        string path = Write(fx.Model("m.safetensors"), [Random("a", "F32", [30], 1)]);
        fx.Repository.Add(path, new AddOptions());
        fx.Reopen();
        string output = fx.Scratch("m.out");
        fx.Repository.Checkout("m@1", output);
        Assert.Equal(File.ReadAllBytes(path), File.ReadAllBytes(output));
    }
}
