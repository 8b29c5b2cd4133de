using MGit.Ingest;
using MGit.Primitives;
using MGit.Storage;
using MGit.Tests.TestSupport;
using static MGit.Tests.TestSupport.RawSafetensors;

namespace MGit.Tests.Repo;

public sealed class MaintenanceTests
{
    /// <summary>Where the store keeps the object a manifest names.</summary>
    private static string ObjectPath(RepoFixture fx, string id) => fx.Repository.Objects.PathOf(ObjectId.Parse(id));

    [Fact]
    public void Equal_tensors_are_stored_once_as_stored_bytes_show()
    {
        using var fx = new RepoFixture(chunkSize: 64 * 1024);
        // 1 MiB, frozen: large beside the lineage database's fixed pages (about 140 KiB: one or more per table and index), which stored bytes count.
        var shared = Random("encoder.weight", "F32", [1024, 256], 1);
        var headA = Random("head.weight", "F32", [10, 256], 2);
        var headB = Random("head.weight", "F32", [10, 256], 3);
        string a = Write(fx.Model("a.safetensors"), [shared, headA]);
        string b = Write(fx.Model("b.safetensors"), [shared, headB]);
        fx.Repository.Add(a, new AddOptions());
        long afterFirst = fx.StoredBytes;
        var second = fx.Repository.Add(b, new AddOptions { Parents = ["a"], How = "finetune" });
        long growth = fx.StoredBytes - afterFirst;

        Assert.Equal(headB.Data.Length, second.NewBytes);
        Assert.True(growth < shared.Data.Length / 4, $"second model grew the store by {growth} bytes");
        var stats = fx.Repository.Stats();
        Assert.Equal(new FileInfo(a).Length + new FileInfo(b).Length, stats.LogicalBytes);
        Assert.True(stats.Ratio > 1.5, $"ratio {stats.Ratio}");
    }

    [Fact]
    public void Stored_bytes_are_the_objects_and_the_lineage_database_not_caches_logs_or_temporaries()
    {
        using var fx = new RepoFixture();
        fx.Repository.Add(Write(fx.Model("a.safetensors"), [Random("w", "F32", [64, 64], 1)]), new AddOptions());
        fx.Repository.Add(Write(fx.Model("b.safetensors"), [Random("w", "F32", [64, 64], 2)]), new AddOptions { Parents = ["a"] });
        string metadata = Path.Combine(fx.RepositoryPath, ".mgit");
        var before = fx.Repository.Stats();

        // Every kept file by a plain walk: objects two levels down, the database and settings at the top.
        var kept = Directory.EnumerateFiles(metadata, "*", SearchOption.AllDirectories)
            .Where(f => Path.GetRelativePath(metadata, f).Split(Path.DirectorySeparatorChar) is var parts && parts[0] is not ("cache" or "tmp" or "logs" or "reserve"))
            .ToList();
        Assert.Equal(kept.Sum(f => new FileInfo(f).Length), before.StoredBytes);
        Assert.Equal(kept.Count(f => Path.GetRelativePath(metadata, f).StartsWith("objects" + Path.DirectorySeparatorChar, StringComparison.Ordinal)), before.Objects);
        Assert.True(before.Objects >= 4, $"{before.Objects} objects"); // two manifests and their chunks

        // Caches, logs and temporaries (folders and files in them) are not counted, however large.
        foreach (string folder in new[] { Path.Combine("cache", "checkouts", "x"), "logs", "tmp", Path.Combine("cache", "remote-lineage", "y") })
        {
            Directory.CreateDirectory(Path.Combine(metadata, folder));
            File.WriteAllBytes(Path.Combine(metadata, folder, "big"), new byte[100_000]);
        }

        Assert.Equal(before, fx.Repository.Stats());
        Assert.Equal(2, before.Versions);
        Assert.Equal(2, before.Models);
    }

    [Fact]
    public void Fsck_finds_a_flipped_byte_and_names_the_models_that_need_it()
    {
        using var fx = new RepoFixture(chunkSize: 4096);
        var shared = Random("shared", "F32", [2048], 1);
        fx.Repository.Add(Write(fx.Model("a.safetensors"), [shared, Random("x", "F32", [64], 2)]), new AddOptions());
        fx.Repository.Add(Write(fx.Model("b.safetensors"), [shared, Random("x", "F32", [64], 3)]), new AddOptions());
        Assert.True(fx.Repository.Fsck().Intact);

        var chunk = fx.Repository.Show("a").Manifest.Files[0].Segments.First(s => s.Tensor?.Name == "shared").Chunks[0];
        string path = ObjectPath(fx, chunk);
        byte[] bytes = File.ReadAllBytes(path);
        bytes[bytes.Length / 2] ^= 0x20;
        File.WriteAllBytes(path, bytes);

        var report = fx.Repository.Fsck();
        Assert.False(report.Intact);
        string problem = Assert.Single(report.Problems);
        Assert.Contains(chunk, problem);
        Assert.Contains("a@1", problem);
        Assert.Contains("b@1", problem);

        // The damaged data is never handed out.
        Assert.Throws<MGit.Errors.DamagedObjectException>(() => fx.Repository.Checkout("a", fx.Scratch("a.out")));
        Assert.False(File.Exists(fx.Scratch("a.out")));
    }

    [LinuxFact("/proc/self/mem, whose reads at unmapped addresses fail with EIO as a failing disk's do")]
    public void An_object_the_disk_cannot_read_is_damage_that_fsck_names_while_it_verifies_the_rest()
    {
        using var fx = new RepoFixture(chunkSize: 64 * 1024);
        var weights = Random("w", "F32", [16_384], 1);
        fx.Repository.Add(Write(fx.Model("a.safetensors"), [weights]), new AddOptions());
        byte[] tuned = (byte[])weights.Data.Clone();
        tuned[100] ^= 1;
        tuned[40_000] ^= 1;
        fx.Repository.Add(Write(fx.Model("b.safetensors"), [new Tensor("w", "F32", [16_384], tuned)]), new AddOptions { Parents = ["a"], How = "finetune" });
        fx.Repository.Add(Write(fx.Model("c.safetensors"), [Random("x", "F32", [16_384], 2)]), new AddOptions());
        string ChunkOf(string model) => fx.Repository.Show(model).Manifest.Files[0].Segments.First(s => s.Tensor is not null).Chunks[0];

        // a's chunk (b's delta base) cannot be read at all; c's is damaged the ordinary way.
        string unreadable = ChunkOf("a");
        File.Delete(ObjectPath(fx, unreadable));
        File.CreateSymbolicLink(ObjectPath(fx, unreadable), "/proc/self/mem");
        string flipped = ChunkOf("c");
        byte[] bytes = File.ReadAllBytes(ObjectPath(fx, flipped));
        bytes[^10] ^= 0x20;
        File.WriteAllBytes(ObjectPath(fx, flipped), bytes);

        var report = fx.Repository.Fsck();
        Assert.False(report.Intact);
        Assert.Contains(report.Problems, p => p.Contains($"object {unreadable} is damaged: could not be read", StringComparison.Ordinal) && p.Contains("a@1") && p.Contains("b@1"));
        Assert.Contains(report.Problems, p => p.Contains(ChunkOf("b"), StringComparison.Ordinal) && p.Contains("its delta base is unusable", StringComparison.Ordinal));
        Assert.Contains(report.Problems, p => p.Contains(flipped, StringComparison.Ordinal) && p.Contains("c@1"));

        var error = Assert.Throws<MGit.Errors.DamagedObjectException>(() => fx.Repository.Checkout("b", fx.Scratch("b.out")));
        Assert.Contains(unreadable, error.Message);
        Assert.False(File.Exists(fx.Scratch("b.out")));

        // The CLI says so in one line each, as damage (exit 1), never as a bug of mgit's (exit 70).
        var fsck = CliRunner.Run(fx.RepositoryPath, "fsck");
        Assert.Equal(1, fsck.ExitCode);
        Assert.Contains("could not be read", fsck.Out + fsck.Error);
        var checkout = CliRunner.Run(fx.RepositoryPath, "checkout", "b", "-o", fx.Scratch("b.cli.out"));
        Assert.Equal(1, checkout.ExitCode);
        Assert.StartsWith($"mgit: object ", checkout.Error);
        Assert.Single(checkout.Error.Trim().Split('\n'));
    }

    [Fact]
    public void A_damaged_lineage_database_is_damage_fsck_reports_while_it_still_checks_every_object()
    {
        using var dir = new TempDirectory();
        Assert.Equal(0, CliRunner.Run(dir.Path, "init").ExitCode);
        for (int i = 0; i < 3; i++)
        {
            Assert.Equal(0, CliRunner.Run(dir.Path, "add", Write(dir.File($"m{i}.safetensors"), [Random("w", "F32", [64, 64], i)]), "-q").ExitCode);
        }

        // Pooling is off, so the last command closed the database and checkpointed its log into the file.
        string database = Path.Combine(dir.Path, ".mgit", "lineage.db");
        using (var file = new FileStream(database, FileMode.Open, FileAccess.Write))
        {
            file.Position = 4096; // page 2 onwards: the tables, past the header SQLite checks on open
            file.Write(System.Text.Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("garbage!", 512))));
        }

        var listing = CliRunner.Run(dir.Path, "ls");
        Assert.Equal(1, listing.ExitCode);
        Assert.StartsWith("mgit: lineage database error: ", listing.Error);

        var fsck = CliRunner.Run(dir.Path, "fsck");
        Assert.Equal(1, fsck.ExitCode);
        Assert.Contains("lineage database: ", fsck.Out + fsck.Error);
        Assert.Contains("the objects are checked without it", fsck.Out + fsck.Error);

        // The objects are still verified: damage to one is reported too.
        string objects = Path.Combine(dir.Path, ".mgit", "objects");
        string victim = Directory.EnumerateFiles(objects, "*", SearchOption.AllDirectories).First();
        byte[] bytes = File.ReadAllBytes(victim);
        bytes[^1] ^= 0x01;
        File.WriteAllBytes(victim, bytes);
        fsck = CliRunner.Run(dir.Path, "fsck");
        Assert.Equal(1, fsck.ExitCode);
        Assert.Contains(Path.GetFileName(Path.GetDirectoryName(victim)) + Path.GetFileName(victim), fsck.Out + fsck.Error);
    }

    [Fact]
    public void Fsck_checks_every_object_against_its_id_not_only_its_checksum()
    {
        // An object file swapped for another well-formed object passes the checksum a checkout
        // reads by; fsck hashes the content and names it.
        using var fx = new RepoFixture(chunkSize: 4096);
        fx.Repository.Add(Write(fx.Model("a.safetensors"), [Random("w", "F32", [2048], 1), Random("v", "F32", [1024], 2)]), new AddOptions());
        var segments = fx.Repository.Show("a").Manifest.Files[0].Segments;
        string swapped = segments.First(s => s.Tensor?.Name == "w").Chunks[0];
        File.Copy(ObjectPath(fx, segments.First(s => s.Tensor?.Name == "v").Chunks[0]), ObjectPath(fx, swapped), overwrite: true);

        var problem = Assert.Single(fx.Repository.Fsck().Problems);
        Assert.Contains(swapped, problem);
        Assert.Contains("does not match", problem);
    }

    [Fact]
    public void Fsck_reports_a_missing_object()
    {
        using var fx = new RepoFixture(chunkSize: 4096);
        fx.Repository.Add(Write(fx.Model("a.safetensors"), [Random("w", "F32", [4096], 1)]), new AddOptions());
        var chunk = fx.Repository.Show("a").Manifest.Files[0].Segments[1].Chunks[1];
        File.Delete(ObjectPath(fx, chunk));
        var problem = Assert.Single(fx.Repository.Fsck().Problems);
        Assert.Contains("missing", problem);
        Assert.Contains("a@1", problem);
    }

    [Fact]
    public void Gc_frees_what_rm_released_and_keeps_what_others_share()
    {
        using var fx = new RepoFixture(chunkSize: 16 * 1024);
        var shared = Random("shared", "F32", [16 * 1024], 1);
        var onlyB = Random("onlyB", "F32", [32 * 1024], 2);
        string a = Write(fx.Model("a.safetensors"), [shared]);
        fx.Repository.Add(a, new AddOptions());
        fx.Repository.Add(Write(fx.Model("b.safetensors"), [shared, onlyB]), new AddOptions());

        Assert.Equal(0, fx.Repository.Gc().ObjectsRemoved);
        long before = fx.StoredBytes;
        fx.Repository.Remove("b");
        var gc = fx.Repository.Gc();
        Assert.True(gc.BytesFreed >= onlyB.Data.Length, $"freed {gc.BytesFreed}");
        Assert.True(fx.StoredBytes < before - onlyB.Data.Length / 2);

        Assert.True(fx.Repository.Fsck().Intact);
        string output = fx.Scratch("a.out");
        fx.Repository.Checkout("a", output);
        Assert.Equal(File.ReadAllBytes(a), File.ReadAllBytes(output));
    }

    [Fact]
    public void Malformed_files_are_refused_and_leave_the_repository_unchanged()
    {
        using var fx = new RepoFixture();
        fx.Repository.Add(Write(fx.Model("ok.safetensors"), [Random("w", "F32", [64], 1)]), new AddOptions());
        var before = RepositorySnapshot.Take(fx.RepositoryPath);
        var good = Build([Random("w", "F32", [64], 2)]);
        var cases = new Dictionary<string, byte[]>
        {
            ["truncated"] = good[..^3],
            ["header-too-long"] = Assemble("{}", [], pad: false, declaredLength: 1 << 20),
            ["overlap"] = Assemble("""{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}}""", new byte[6]),
            ["unknown-dtype"] = Assemble("""{"a":{"dtype":"Q9","shape":[3],"data_offsets":[0,5]}}""", new byte[5]),
            ["size-mismatch"] = Assemble("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}""", new byte[4]),
            ["bad-json"] = Assemble("{nope", []),
            ["gap"] = Assemble("""{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[3,5]}}""", new byte[5]),
            ["duplicate-names"] = Assemble("""{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}""", new byte[2]),
            ["invalid-utf8"] = AssembleRaw([.. "{\"a"u8, 0xFF, .. "\":{}}"u8], []),
            ["count-overflow"] = Assemble("""{"a":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,4]}}""", new byte[4]),
        };
        foreach (var (name, bytes) in cases)
        {
            string path = fx.Model($"{name}.safetensors");
            File.WriteAllBytes(path, bytes);
            var e = Assert.Throws<MGit.Errors.InvalidModelFileException>(() => fx.Repository.Add(path, new AddOptions()));
            Assert.Contains($"{name}.safetensors", e.Message);
        }

        // A folder with one bad file among good ones is refused whole.
        string folder = fx.Model("folder");
        Directory.CreateDirectory(folder);
        File.WriteAllBytes(Path.Combine(folder, "a.safetensors"), good);
        File.WriteAllBytes(Path.Combine(folder, "b.safetensors"), good[..^1]);
        Assert.Throws<MGit.Errors.InvalidModelFileException>(() => fx.Repository.Add(folder, new AddOptions()));

        Assert.Equal(before, RepositorySnapshot.Take(fx.RepositoryPath));
        Assert.Single(fx.Repository.Graph().Versions);
    }

    [Fact]
    public void A_newer_repository_format_is_refused_with_a_clear_message()
    {
        using var fx = new RepoFixture();
        string formatPath = Path.Combine(fx.RepositoryPath, ".mgit", "mgit.json");
        File.WriteAllText(formatPath, System.Text.RegularExpressions.Regex.Replace(File.ReadAllText(formatPath), "\"format_version\": [0-9]+", "\"format_version\": 99"));
        var e = Assert.Throws<MGit.Errors.MGitException>(() => MGit.Repository.Open(fx.RepositoryPath));
        Assert.Contains("format version 99", e.Message);
        Assert.Contains("upgrade mgit", e.Message);
    }

    [Fact]
    public void Checkout_refuses_to_overwrite_without_force()
    {
        using var fx = new RepoFixture();
        string path = Write(fx.Model("m.safetensors"), [Random("w", "F32", [64], 1)]);
        fx.Repository.Add(path, new AddOptions());
        string output = fx.Scratch("exists.safetensors");
        File.WriteAllText(output, "keep me");
        Assert.Throws<MGit.Errors.MGitException>(() => fx.Repository.Checkout("m", output));
        Assert.Equal("keep me", File.ReadAllText(output));
        fx.Repository.Checkout("m", output, overwrite: true);
        Assert.Equal(File.ReadAllBytes(path), File.ReadAllBytes(output));
    }

    [Fact]
    public void A_lineage_database_with_a_newer_schema_is_refused()
    {
        using var fx = new RepoFixture();
        fx.Repository.Dispose();
        string db = Path.Combine(fx.RepositoryPath, ".mgit", "lineage.db");
        using (var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={db};Pooling=False"))
        {
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = "PRAGMA user_version = 42";
            command.ExecuteNonQuery();
        }

        var e = Assert.Throws<MGit.Errors.MGitException>(() => MGit.Repository.Open(fx.RepositoryPath));
        Assert.Contains("schema 42", e.Message);
        Assert.Contains("upgrade mgit", e.Message);
    }
}
