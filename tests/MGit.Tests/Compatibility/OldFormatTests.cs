using MGit.Ingest;
using MGit.Testing;
using MGit.Tests.TestSupport;
using MGit.Workspace;

namespace MGit.Tests.Compatibility;

/// <summary>
/// Repositories written by earlier format versions, kept verbatim under Fixtures/, must still
/// open, list, verify and check out byte for byte.
/// </summary>
public sealed class OldFormatTests
{
    [Fact]
    public void Manifests_written_by_the_reflection_serializer_read_and_new_ones_hold_only_declared_fields()
    {
        // Until the JSON source generator, manifests also carried the derived LogicalBytes and
        // ChunkIds properties; readers ignore them, and writers no longer add them.
        using var dir = new TempDirectory();
        RepositoryFixtures.CopyTo("repo-v2", dir.Path);
        using var repository = Repository.Open(dir.Path);
        foreach (var version in repository.Graph().Versions)
        {
            var manifest = repository.Show(version.Ref).Manifest;
            Assert.Equal(version.LogicalBytes, manifest.LogicalBytes);
            byte[] json = manifest.ToJson();
            using var document = System.Text.Json.JsonDocument.Parse(json);
            Assert.Equal(["schema", "kind", "files", "directories"], document.RootElement.EnumerateObject().Select(p => p.Name));
            Assert.Equal(json, MGit.Storage.Manifest.FromJson(json, version.Ref).ToJson());
        }

        Assert.True(repository.Fsck().Intact);
    }

    [Fact]
    public void A_format_1_repository_opens_verifies_and_checks_out_byte_for_byte()
    {
        using var dir = new TempDirectory();
        RepositoryFixtures.CopyTo("repo-v1", dir.Path);
        string originals = Path.Combine(dir.Path, "originals");

        using var repository = Repository.Open(dir.Path);
        var graph = repository.Graph();
        Assert.Equal(["base@1", "tuned@1", "folder@1", "tuned@2"], graph.Versions.Select(v => v.Ref));
        Assert.Equal("demo", graph.Resolve("base").Type);
        Assert.Equal("v1", graph.Resolve("folder").Metadata["note"]);
        Assert.True(repository.Fsck().Intact);

        foreach (var (reference, original) in new[] { ("base@1", "base.safetensors"), ("tuned@1", "tuned.safetensors"), ("tuned@2", "tuned.safetensors") })
        {
            string output = dir.File($"out-{reference}");
            repository.Checkout(reference, output);
            Assert.Equal(File.ReadAllBytes(Path.Combine(originals, original)), File.ReadAllBytes(output));
        }

        string folder = dir.File("out-folder");
        repository.Checkout("folder", folder);
        foreach (string name in new[] { "model.safetensors", "config.json" })
        {
            Assert.Equal(File.ReadAllBytes(Path.Combine(originals, "folder", name)), File.ReadAllBytes(Path.Combine(folder, name)));
        }

        Assert.Equal(["encoder.weight", "scalar", "empty"], repository.Show("folder").Tensors.Select(t => t.Name));
    }

    [Fact]
    public void Adding_to_a_format_1_repository_moves_it_to_the_current_format_and_keeps_the_old_data()
    {
        using var dir = new TempDirectory();
        RepositoryFixtures.CopyTo("repo-v1", dir.Path);
        string originals = Path.Combine(dir.Path, "originals");
        using (var repository = Repository.Open(dir.Path))
        {
            Assert.Equal(1, repository.Format.FormatVersion);
            // A new version of an old model: stored against the format-1 chunks of its parent.
            repository.Add(Path.Combine(originals, "base.safetensors"), new AddOptions { VersionOf = "tuned" });
            Assert.Equal(MGit.Storage.RepositoryFormat.CurrentVersion, repository.Format.FormatVersion);
            Assert.True(repository.Fsck().Intact);
        }

        using var reopened = Repository.Open(dir.Path);
        Assert.Equal(MGit.Storage.RepositoryFormat.CurrentVersion, reopened.Format.FormatVersion);
        foreach (var (reference, original) in new[] { ("tuned@1", "tuned.safetensors"), ("tuned@3", "base.safetensors") })
        {
            string output = dir.File($"out-{reference}");
            reopened.Checkout(reference, output);
            Assert.Equal(File.ReadAllBytes(Path.Combine(originals, original)), File.ReadAllBytes(output));
        }
    }

    [Fact]
    public void A_format_2_repository_reads_its_checksumless_objects_and_moves_to_format_3_on_its_first_add()
    {
        // Format 2 wrote object format 1 (a 16-byte header, no content checksum): those objects
        // are checked against their ids as before, new ones carry a checksum, and both mix.
        using var dir = new TempDirectory();
        RepositoryFixtures.CopyTo("repo-v2", dir.Path);
        string originals = Path.Combine(dir.Path, "originals");
        string objects = Path.Combine(dir.Path, ".mgit", "objects");
        var oldObjects = Directory.EnumerateFiles(objects, "*", SearchOption.AllDirectories).ToHashSet();
        Assert.All(oldObjects, path => Assert.Equal(1, ObjectFormatOf(path)));

        using (var repository = Repository.Open(dir.Path))
        {
            Assert.Equal(2, repository.Format.FormatVersion);
            // The tuned model with one element's lowest bit changed: new chunks, stored against old ones.
            byte[] retuned = File.ReadAllBytes(Path.Combine(originals, "tuned.safetensors"));
            retuned[^4] ^= 0x01;
            File.WriteAllBytes(dir.File("retuned.safetensors"), retuned);
            repository.Add(dir.File("retuned.safetensors"), new AddOptions { Parents = ["tuned@1"] });
            Assert.Equal(3, repository.Format.FormatVersion);
            Assert.True(repository.Fsck().Intact);
        }

        var newObjects = Directory.EnumerateFiles(objects, "*", SearchOption.AllDirectories).Where(p => !oldObjects.Contains(p)).ToList();
        Assert.NotEmpty(newObjects);
        Assert.All(newObjects, path => Assert.Equal(2, ObjectFormatOf(path)));
        Assert.All(oldObjects, path => Assert.Equal(1, ObjectFormatOf(path)));

        using var reopened = Repository.Open(dir.Path);
        Assert.Equal(3, reopened.Format.FormatVersion);
        Assert.Contains(reopened.TensorStorageOf("retuned"), t => t.Codecs.Keys.Any(c => c.StartsWith("delta", StringComparison.Ordinal)));
        foreach (var (reference, original) in new[] { ("base@1", Path.Combine(originals, "base.safetensors")), ("tuned@1", Path.Combine(originals, "tuned.safetensors")), ("retuned@1", dir.File("retuned.safetensors")) })
        {
            string output = dir.File($"out-{reference}");
            reopened.Checkout(reference, output);
            Assert.Equal(File.ReadAllBytes(original), File.ReadAllBytes(output));
        }

        // Damage to an old object is still found by its id, on checkout and by fsck.
        string damaged = oldObjects.OrderByDescending(p => new FileInfo(p).Length).First();
        byte[] bytes = File.ReadAllBytes(damaged);
        bytes[^1] ^= 0x01;
        File.WriteAllBytes(damaged, bytes);
        Assert.False(reopened.Fsck().Intact);
        Assert.Throws<MGit.Errors.DamagedObjectException>(() => reopened.Checkout("base@1", dir.File("out-damaged")));
    }

    [Fact]
    public void Pulling_into_a_format_2_repository_moves_it_to_format_3_before_the_new_objects_arrive()
    {
        using var dir = new TempDirectory();
        RepositoryFixtures.CopyTo("repo-v2", dir.Path);
        string originals = Path.Combine(dir.Path, "originals");
        string url = new Uri(dir.File("remote")).AbsoluteUri;
        byte[] other = File.ReadAllBytes(Path.Combine(originals, "base.safetensors"));
        other[^4] ^= 0x01;
        File.WriteAllBytes(dir.File("other.safetensors"), other);
        using (var source = Repository.Init(dir.File("source"), new RepositoryOptions { FlushToDisk = false }))
        {
            source.Add(dir.File("other.safetensors"), new AddOptions { Name = "other" });
            using var backend = MGit.Remotes.RemoteBackends.Open(url, null, _ => null, create: true);
            source.Push(backend, "origin");
        }

        using (var repository = Repository.Open(dir.Path))
        {
            Assert.Equal(2, repository.Format.FormatVersion);
            using var backend = MGit.Remotes.RemoteBackends.Open(url, null, _ => null);
            Assert.Equal(["other@1"], repository.Pull(backend).NewVersions);
            Assert.Equal(3, repository.Format.FormatVersion);
            Assert.True(repository.Fsck().Intact);
        }

        using var reopened = Repository.Open(dir.Path);
        Assert.Equal(3, reopened.Format.FormatVersion);
        reopened.Checkout("other", dir.File("out-other"));
        Assert.Equal(other, File.ReadAllBytes(dir.File("out-other")));
    }

    private static int ObjectFormatOf(string path)
    {
        using var stream = File.OpenRead(path);
        Span<byte> head = stackalloc byte[5];
        stream.ReadExactly(head);
        return head[4];
    }

    /// <summary>The schema-2 database (before tests and recipes) of a format-2 repository written by mgit at f0e57a4.</summary>
    [Fact]
    public void A_schema_2_repository_reads_as_having_no_tests_and_migrates_on_its_first_test_registration()
    {
        using var dir = new TempDirectory();
        RepositoryFixtures.CopyTo("repo-v2", dir.Path);
        string originals = Path.Combine(dir.Path, "originals");
        using (var repository = Repository.Open(dir.Path))
        {
            var graph = repository.Graph();
            Assert.Equal(["base@1", "tuned@1", "tuned@2"], graph.Versions.Select(v => v.Ref));
            Assert.True(graph.Resolve("tuned@2").Lossy);
            Assert.Empty(repository.Tests.All());
            Assert.Empty(repository.Tests.Latest(graph));
            Assert.Null(repository.RecipeOf("tuned@1").Recipe);
            foreach (var (reference, original) in new[] { ("base@1", "base.safetensors"), ("tuned@1", "tuned.safetensors") })
            {
                string output = dir.File($"out-{reference}");
                repository.Checkout(reference, output);
                Assert.Equal(File.ReadAllBytes(Path.Combine(originals, original)), File.ReadAllBytes(output));
            }

            repository.RegisterTest(new MGit.Testing.TestDefinition("readable", "test -s {model}", MGit.Testing.TestScope.All, null, 60));
            repository.SetRecipe("tuned@1", "cp {parent} {output}");
            var results = repository.RunTests(repository.Graph().Versions, new TestRunOptions());
            Assert.Equal(3, results.Count(r => r.Passed));
            Assert.True(repository.Fsck().Intact);
        }

        using var reopened = Repository.Open(dir.Path);
        Assert.Equal(3, reopened.Tests.Latest(reopened.Graph()).Count);
        Assert.Equal("cp {parent} {output}", reopened.RecipeOf("tuned@1").Recipe);
        Assert.True(reopened.Graph().Resolve("tuned@2").Lossy);
    }

    [Fact]
    public void An_older_lineage_schema_is_read_as_is_and_its_first_write_adds_the_integrity_guards()
    {
        using var dir = new TempDirectory();
        RepositoryFixtures.CopyTo("repo-v1", dir.Path);
        long before = RepositoryFixtures.LineageSchema(dir.Path);
        Assert.True(before < MGit.Lineage.LineageStore.SchemaVersion);

        long removedId;
        using (var repository = Repository.Open(dir.Path))
        {
            Assert.Equal(4, repository.Graph().Versions.Count);
            Assert.Equal(before, RepositoryFixtures.LineageSchema(dir.Path)); // reading changes nothing

            // The newest version goes: the first write migrates, remembering its id before it is freed.
            removedId = repository.Resolve("tuned@2").Id;
            repository.Remove("tuned@2");
        }

        Assert.Equal(MGit.Lineage.LineageStore.SchemaVersion, RepositoryFixtures.LineageSchema(dir.Path));
        using (var repository = Repository.Open(dir.Path))
        {
            string model = MGit.Tests.TestSupport.RawSafetensors.Write(dir.File("new.safetensors"), [MGit.Tests.TestSupport.RawSafetensors.Random("w", "F32", [8, 8], 3)]);
            var added = repository.Add(model, new AddOptions { Name = "new" });
            Assert.True(added.Version.Id > removedId);
            Assert.True(repository.Fsck().Intact);
        }
    }
}
