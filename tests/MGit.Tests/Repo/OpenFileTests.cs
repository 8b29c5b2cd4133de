using MGit.Errors;
using MGit.Formats.Safetensors;
using MGit.Ingest;
using MGit.Storage;
using MGit.Tests.TestSupport;

namespace MGit.Tests.Repo;

/// <summary>Repository.OpenFile: a stored file read back as a verified, seekable stream, without a checkout.</summary>
public sealed class OpenFileTests
{
    /// <summary>
    /// A safetensors file of a few hundred KiB (several 64 KiB chunks per tensor); with a
    /// <paramref name="shift"/>, every tenth element is moved by it, as a light fine-tune would.
    /// </summary>
    private static string Model(RepoFixture fixture, string name, int seed, float shift = 0)
    {
        var random = new Random(seed);
        float[] Values(int count) => Enumerable.Range(0, count).Select(i => (float)(0.05 * (random.NextDouble() - 0.5)) + (i % 10 == 0 ? shift : 0)).ToArray();
        string path = fixture.Model(name);
        SafetensorsWriter.WriteFile(path,
        [
            new TensorData("encoder.weight", "F32", [256, 200], SafetensorsWriter.ToBytes(Values(256 * 200))),
            new TensorData("encoder.bias", "F32", [200], SafetensorsWriter.ToBytes(Values(200))),
            new TensorData("head.weight", "F32", [200, 10], SafetensorsWriter.ToBytes(Values(2000))),
        ]);
        return path;
    }

    private static byte[] ReadAll(Stream stream)
    {
        var bytes = new byte[stream.Length];
        stream.ReadExactly(bytes);
        Assert.Equal(0, stream.Read(new byte[1]));
        return bytes;
    }

    [Fact]
    public void A_single_file_model_reads_back_byte_for_byte_sequentially_and_at_random_positions()
    {
        using var fixture = new RepoFixture();
        string path = Model(fixture, "m.safetensors", 1);
        fixture.Repository.Add(path, new AddOptions());
        byte[] original = File.ReadAllBytes(path);

        using var stream = fixture.Repository.OpenFile("m");
        Assert.True(stream.CanRead);
        Assert.True(stream.CanSeek);
        Assert.False(stream.CanWrite);
        Assert.Equal(original.Length, stream.Length);
        Assert.Equal(original, ReadAll(stream));

        // Reads that start anywhere and cross chunk boundaries (64 KiB here), backwards too.
        var random = new Random(3);
        for (int i = 0; i < 200; i++)
        {
            int start = random.Next(original.Length);
            int count = Math.Min(random.Next(1, 300_000), original.Length - start);
            stream.Seek(start - stream.Position, SeekOrigin.Current);
            var buffer = new byte[count];
            stream.ReadExactly(buffer);
            Assert.True(original.AsSpan(start, count).SequenceEqual(buffer), $"read {i}: {count} bytes at {start}");
        }

        stream.Position = original.Length + 10;
        Assert.Equal(0, stream.Read(new byte[16]));
        Assert.Throws<NotSupportedException>(() => stream.Write(new byte[1]));
        Assert.Throws<NotSupportedException>(() => stream.SetLength(1));
    }

    [Fact]
    public void Delta_coded_and_lossy_versions_read_back_as_their_checkouts()
    {
        using var fixture = new RepoFixture();
        fixture.Repository.Add(Model(fixture, "base.safetensors", 1), new AddOptions());
        // The same values, nudged: stored as deltas against the parent (exactly, then lossily).
        string tuned = Model(fixture, "tuned.safetensors", 1, shift: 1e-3f);
        fixture.Repository.Add(tuned, new AddOptions { Parents = ["base"] });
        fixture.Repository.Add(tuned, new AddOptions { Name = "lossy", Parents = ["base"], LossyErrorBound = 1e-4 });
        Assert.Contains(fixture.Repository.TensorStorageOf("tuned"), t => t.Codecs.Keys.Any(c => c.StartsWith("delta:", StringComparison.Ordinal)));
        Assert.Contains(fixture.Repository.TensorStorageOf("lossy"), t => t.Codecs.ContainsKey("delta:lossy"));

        using (var exact = fixture.Repository.OpenFile("tuned@1"))
        {
            Assert.Equal(File.ReadAllBytes(tuned), ReadAll(exact));
        }

        string checkout = fixture.Repository.Checkout("lossy", fixture.Scratch("lossy.safetensors"));
        using var lossy = fixture.Repository.OpenFile("lossy", "tuned.safetensors");
        byte[] read = ReadAll(lossy);
        Assert.Equal(File.ReadAllBytes(checkout), read);
        Assert.NotEqual(File.ReadAllBytes(tuned), read);
    }

    [Fact]
    public void A_folder_model_opens_each_file_by_its_path_and_refuses_missing_or_unnamed_files_in_one_line()
    {
        using var fixture = new RepoFixture();
        string folder = fixture.Model("bert");
        Directory.CreateDirectory(Path.Combine(folder, "tokenizer"));
        File.Copy(Model(fixture, "w.safetensors", 2), Path.Combine(folder, "model.safetensors"));
        File.WriteAllText(Path.Combine(folder, "config.json"), "{\"hidden\": 200}");
        File.WriteAllText(Path.Combine(folder, "tokenizer", "vocab.txt"), "a\nb\nc\n");
        fixture.Repository.Add(folder, new AddOptions());

        foreach (string file in new[] { "model.safetensors", "config.json", "tokenizer/vocab.txt" })
        {
            using var stream = fixture.Repository.OpenFile("bert@1", file);
            Assert.Equal(File.ReadAllBytes(Path.Combine(folder, file)), ReadAll(stream));
        }

        var unnamed = Assert.Throws<MGitException>(() => fixture.Repository.OpenFile("bert"));
        Assert.Equal("bert@1 has 3 files; name one (e.g. 'config.json')", unnamed.Message);
        var missing = Assert.Throws<MGitException>(() => fixture.Repository.OpenFile("bert", "tokenizer/merges.txt"));
        Assert.Equal("bert@1 has no file 'tokenizer/merges.txt'", missing.Message);
        Assert.Throws<MGitException>(() => fixture.Repository.OpenFile("bert@2", "config.json"));
    }

    [LinuxFact("symbolic links without privileges")]
    public void A_link_of_a_folder_model_opens_the_file_it_points_to()
    {
        using var fixture = new RepoFixture();
        string folder = fixture.Model("linked");
        Directory.CreateDirectory(Path.Combine(folder, "shared"));
        File.WriteAllText(Path.Combine(folder, "shared", "tokenizer.json"), "{\"vocab\": [1, 2, 3]}");
        File.CreateSymbolicLink(Path.Combine(folder, "tokenizer.json"), "shared/tokenizer.json");
        File.CreateSymbolicLink(Path.Combine(folder, "alias"), "shared");
        fixture.Repository.Add(folder, new AddOptions { FollowSymlinks = true });

        using (var viaFileLink = fixture.Repository.OpenFile("linked", "tokenizer.json"))
        {
            Assert.Equal("{\"vocab\": [1, 2, 3]}"u8.ToArray(), ReadAll(viaFileLink));
        }

        using var viaFolderLink = fixture.Repository.OpenFile("linked", "alias/tokenizer.json");
        Assert.Equal("{\"vocab\": [1, 2, 3]}"u8.ToArray(), ReadAll(viaFolderLink));
    }

    [Fact]
    public void A_damaged_chunk_is_reported_by_the_read_that_meets_it_and_never_returned()
    {
        using var fixture = new RepoFixture();
        string path = Model(fixture, "m.safetensors", 4);
        fixture.Repository.Add(path, new AddOptions());
        var file = fixture.Repository.Show("m").Manifest.Files.Single();
        var chunks = FileMaterializer.Chunks(file).ToList();
        // Damage the last chunk of the file: everything before it still reads, intact.
        var damaged = chunks[^1];
        long damagedStart = file.Length - damaged.Length;
        string objectPath = fixture.Repository.Objects.PathOf(damaged.Id);
        byte[] stored = File.ReadAllBytes(objectPath);
        stored[^5] ^= 0x40;
        File.WriteAllBytes(objectPath, stored);

        using var stream = fixture.Repository.OpenFile("m");
        var before = new byte[damagedStart];
        stream.ReadExactly(before);
        Assert.True(File.ReadAllBytes(path).AsSpan(0, (int)damagedStart).SequenceEqual(before));
        var e = Assert.Throws<DamagedObjectException>(() => stream.ReadExactly(new byte[1]));
        Assert.Equal(damaged.Id.ToString(), e.ObjectId);
    }

    [Fact]
    public void Gc_waits_for_an_open_stream_instead_of_deleting_what_it_reads()
    {
        using var fixture = new RepoFixture();
        fixture.Repository.Add(Model(fixture, "m.safetensors", 5), new AddOptions());
        using var impatient = Repository.Open(fixture.RepositoryPath, RepoFixture.Options with { LockWait = TimeSpan.Zero });

        using (var stream = fixture.Repository.OpenFile("m"))
        {
            fixture.Repository.Remove("m");
            var refused = Assert.Throws<MGitException>(() => impatient.Gc());
            Assert.Contains("gc needs it alone", refused.Message);
            ReadAll(stream); // every object is still there
        }

        Assert.True(impatient.Gc().ObjectsRemoved > 0);
    }
}
