using System.IO.Compression;
using MGit.Errors;
using MGit.Formats.Safetensors;
using MGit.Ingest;
using MGit.Tests.TestSupport;

namespace MGit.Tests.Repo;

/// <summary>Repository.Add from streams: the same model as the same bytes added from disk, and nothing left behind.</summary>
public sealed class AddFromStreamsTests
{
    private static byte[] Weights(int seed, int count = 60_000)
    {
        var random = new Random(seed);
        return SafetensorsWriter.ToBytes(Enumerable.Range(0, count).Select(_ => (float)(0.05 * (random.NextDouble() - 0.5))).ToArray());
    }

    private static string WriteModel(string path, int seed)
    {
        SafetensorsWriter.WriteFile(path, [new TensorData("w", "F32", [300, 200], Weights(seed)), new TensorData("b", "F32", [200], Weights(seed + 1, 200))]);
        return path;
    }

    /// <summary>What a repository holds besides its lineage: every object id, in order.</summary>
    private static List<string> ObjectIds(Repository repository) => repository.Objects.Enumerate().Select(id => id.ToString()).Order(StringComparer.Ordinal).ToList();

    private static bool TempIsEmpty(RepoFixture fixture) =>
        !Directory.EnumerateFileSystemEntries(Path.Combine(fixture.RepositoryPath, Repository.DirectoryName, "tmp")).Any();

    /// <summary>A stream that cannot seek (as one from the network): the file's bytes, gzip-compressed in memory and read back through GZipStream.</summary>
    private static GZipStream Unseekable(string path)
    {
        var compressed = new MemoryStream();
        using (var gzip = new GZipStream(compressed, CompressionLevel.Fastest, leaveOpen: true))
        {
            gzip.Write(File.ReadAllBytes(path));
        }

        compressed.Position = 0;
        return new GZipStream(compressed, CompressionMode.Decompress);
    }

    [Fact]
    public void A_single_file_from_a_stream_is_stored_as_the_same_file_added_from_disk()
    {
        using var fromDisk = new RepoFixture();
        using var fromStream = new RepoFixture();
        string path = WriteModel(fromDisk.Model("bert.safetensors"), 1);
        var expected = fromDisk.Repository.Add(path, new AddOptions { Message = "m" });

        using var content = Unseekable(path);
        Assert.False(content.CanSeek);
        var added = fromStream.Repository.Add("bert", new ModelFileContent("bert.safetensors", content), new AddOptions { Message = "m" });

        Assert.Equal("bert@1", added.Version.Ref);
        Assert.Equal(expected.Version.ManifestId, added.Version.ManifestId);
        Assert.Equal(ObjectIds(fromDisk.Repository), ObjectIds(fromStream.Repository));
        Assert.Equal(expected.Tensors, added.Tensors);
        Assert.Equal("file", fromStream.Repository.Show("bert").Manifest.Kind);
        Assert.True(TempIsEmpty(fromStream));
        using var stored = fromStream.Repository.OpenFile("bert");
        var bytes = new byte[stored.Length];
        stored.ReadExactly(bytes);
        Assert.Equal(File.ReadAllBytes(path), bytes);
    }

    [Fact]
    public void A_folder_from_streams_is_stored_as_the_same_folder_added_from_disk_with_lineage_and_lossy_options()
    {
        using var fromDisk = new RepoFixture();
        using var fromStream = new RepoFixture();
        string folder = fromDisk.Model("bert");
        Directory.CreateDirectory(Path.Combine(folder, "tokenizer"));
        WriteModel(Path.Combine(folder, "model.safetensors"), 2);
        File.WriteAllText(Path.Combine(folder, "config.json"), "{\"hidden\": 200}");
        File.WriteAllText(Path.Combine(folder, "tokenizer", "vocab.txt"), "a\nb\n");
        string[] paths = ["tokenizer/vocab.txt", "model.safetensors", "config.json"]; // any order
        string parent = WriteModel(fromDisk.Model("parent.safetensors"), 2);
        foreach (var repository in new[] { fromDisk.Repository, fromStream.Repository })
        {
            repository.Add(parent, new AddOptions());
        }

        var options = new AddOptions { Parents = ["parent"], How = "finetune", LossyErrorBound = 1e-4 };
        var expected = fromDisk.Repository.Add(folder, options);
        var streams = paths.Select(p => File.OpenRead(Path.Combine(folder, p))).ToList();
        try
        {
            var added = fromStream.Repository.Add("bert", paths.Zip(streams, (p, s) => new ModelFileContent(p, s)).ToList(), options);
            Assert.Equal(expected.Version.ManifestId, added.Version.ManifestId);
            Assert.Equal(expected.Version.ErrorBound, added.Version.ErrorBound);
            Assert.Equal(["parent@1"], fromStream.Repository.Show("bert").Parents.Select(p => p.Ref));
        }
        finally
        {
            streams.ForEach(s => s.Dispose());
        }

        Assert.Equal(ObjectIds(fromDisk.Repository), ObjectIds(fromStream.Repository));
        Assert.True(TempIsEmpty(fromStream));

        // A list of one file is still a folder model.
        using var config = new MemoryStream("{}"u8.ToArray());
        fromStream.Repository.Add("configs", [new ModelFileContent("config.json", config)], new AddOptions());
        Assert.Equal("folder", fromStream.Repository.Show("configs").Manifest.Kind);
    }

    [Fact]
    public void A_bad_file_is_named_by_its_path_in_the_model_and_leaves_nothing_behind()
    {
        using var fixture = new RepoFixture();
        fixture.Repository.Add(WriteModel(fixture.Model("base.safetensors"), 3), new AddOptions());
        long objects = fixture.Repository.Stats().Objects;
        byte[] broken = File.ReadAllBytes(WriteModel(fixture.Model("broken.safetensors"), 4))[..5000];

        using var good = new MemoryStream(File.ReadAllBytes(fixture.Model("base.safetensors")));
        using var bad = new MemoryStream(broken);
        var e = Assert.Throws<InvalidModelFileException>(() => fixture.Repository.Add(
            "pair",
            [new ModelFileContent("a/model.safetensors", good), new ModelFileContent("b/model.safetensors", bad)],
            new AddOptions()));
        Assert.StartsWith("b/model.safetensors: ", e.Message);
        Assert.DoesNotContain(Repository.DirectoryName, e.Message);

        Assert.True(TempIsEmpty(fixture));
        Assert.Equal(["base@1"], fixture.Repository.Graph().Versions.Select(v => v.Ref));
        Assert.Equal(objects, fixture.Repository.Stats().Objects);
    }

    /// <summary>A stream whose source fails midway, as a dropped download does.</summary>
    private sealed class FailingStream(int failAfter) : Stream
    {
        private int _read;

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => _read; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count)
        {
            if (_read >= failAfter)
            {
                throw new IOException("connection reset by peer");
            }

            int take = Math.Min(count, failAfter - _read);
            Array.Fill(buffer, (byte)7, offset, take);
            _read += take;
            return take;
        }

        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    [Fact]
    public void A_stream_that_fails_midway_fails_the_add_with_its_own_error_and_leaves_nothing_behind()
    {
        using var fixture = new RepoFixture();
        using var first = new MemoryStream(File.ReadAllBytes(WriteModel(fixture.Model("m.safetensors"), 5)));
        using var failing = new FailingStream(3 << 20);

        var e = Assert.Throws<IOException>(() => fixture.Repository.Add(
            "m", [new ModelFileContent("model.safetensors", first), new ModelFileContent("big.bin", failing)], new AddOptions()));
        Assert.Equal("connection reset by peer", e.Message);
        Assert.True(TempIsEmpty(fixture));
        Assert.Empty(fixture.Repository.Graph().Versions);
        Assert.Equal(0, fixture.Repository.Stats().Objects);
    }

    [Fact]
    public void Names_and_paths_a_folder_could_not_hold_are_refused_before_anything_is_read()
    {
        using var fixture = new RepoFixture();
        var repository = fixture.Repository;
        using var content = new MemoryStream([1, 2, 3]);
        using var other = new MemoryStream([4, 5, 6]);

        string Refusal(string name, params (string Path, Stream Content)[] files) =>
            Assert.Throws<MGitException>(() => repository.Add(name, files.Select(f => new ModelFileContent(f.Path, f.Content)).ToList(), new AddOptions())).Message;

        Assert.Equal("give at least one file to add", Refusal("m"));
        Assert.Contains("mgit cannot store this name", Refusal("m", ("../escape.bin", content)));
        Assert.Contains("mgit cannot store this name", Refusal("m", ("/etc/passwd", content)));
        Assert.Equal("'a.bin' is given twice", Refusal("m", ("a.bin", content), ("a.bin", other)));
        Assert.Equal("'a' is given as a file and as the folder of 'a/b.bin'", Refusal("m", ("a", content), ("a/b.bin", other)));
        Assert.Equal("'sub/.mgit/x' is inside a folder named .mgit, which an add skips", Refusal("m", ("sub/.mgit/x", content)));
        Assert.Equal("model name 'm@2' cannot contain '@' (it separates name and version)", Refusal("m@2", ("a.bin", content)));
        Assert.Contains("is not a file name", Assert.Throws<MGitException>(() => repository.Add("m", new ModelFileContent("sub/a.bin", content), new AddOptions())).Message);
        Assert.Equal("the model is named 'm' and also 'n' in its options; give one name",
            Assert.Throws<MGitException>(() => repository.Add("m", new ModelFileContent("a.bin", content), new AddOptions { Name = "n" })).Message);
        Assert.Equal(0, content.Position);
        Assert.Empty(repository.Graph().Versions);
        Assert.True(TempIsEmpty(fixture));
    }
}
