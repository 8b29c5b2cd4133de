using MGit.Diff;
using MGit.Ingest;
using MGit.Primitives;
using MGit.Storage;
using MGit.Tests.TestSupport;

namespace MGit.Tests.Diff;

/// <summary>
/// The placement cache (<c>.mgit/cache/placement.bin</c>) is derived from the lineage database:
/// deleting, damaging or outdating it must never change where a model goes.
/// </summary>
public sealed class PlacementCacheTests
{
    private static string CachePath(RepoFixture fixture) => Path.Combine(fixture.RepositoryPath, ".mgit", "cache", PlacementCache.FileName);

    /// <summary>Adds the family with --auto in a fixed order and returns each placement's parent and reason.</summary>
    private static List<string> AddFamily(RepoFixture fixture, ModelFamily family, Action? beforeEach = null)
    {
        var log = new List<string>();
        foreach (var member in family.Members)
        {
            beforeEach?.Invoke();
            var placement = fixture.Repository.Add(ModelFamily.Write(fixture.Models, member), new AddOptions { Auto = true }).Placement!;
            log.Add($"{member.Name}: {placement.Parent ?? "(root)"} | {placement.Reason} | {placement.Score:R}");
        }

        return log;
    }

    [Fact]
    public void Placement_is_the_same_with_the_cache_without_it_and_with_a_damaged_one()
    {
        var family = new ModelFamily();
        using var cached = new RepoFixture();
        var withCache = AddFamily(cached, family);
        Assert.True(File.Exists(CachePath(cached)));

        // No cache at all: every placement reads the database.
        using var uncached = new RepoFixture();
        var withoutCache = AddFamily(uncached, family, () =>
        {
            if (File.Exists(CachePath(uncached)))
            {
                File.Delete(CachePath(uncached));
            }
        });
        Assert.Equal(withCache, withoutCache);

        // Garbage where records should be: ignored, then the file is rewritten whole.
        using var damaged = new RepoFixture();
        var withDamage = AddFamily(damaged, family, () =>
        {
            string path = CachePath(damaged);
            if (File.Exists(path))
            {
                var bytes = File.ReadAllBytes(path);
                bytes[bytes.Length / 2] ^= 0x5A;
                File.WriteAllBytes(path, [.. bytes, 1, 2, 3]);
            }
        });
        Assert.Equal(withCache, withDamage);

        // A record cut short (a crash mid-append, or one still being written): the rest is fetched again.
        using var truncated = new RepoFixture();
        var withTruncation = AddFamily(truncated, family, () =>
        {
            if (File.Exists(CachePath(truncated)))
            {
                using var file = new FileStream(CachePath(truncated), FileMode.Open);
                file.SetLength(file.Length - 100);
            }
        });
        Assert.Equal(withCache, withTruncation);
    }

    [Fact]
    public void The_cache_holds_every_version_after_adds_and_its_records_match_the_database()
    {
        var family = new ModelFamily();
        using var fixture = new RepoFixture();
        AddFamily(fixture, family);
        var graph = fixture.Repository.Graph();

        // LoadFingerprints reads the cache; a fresh repository without it reads the database.
        var fromCache = fixture.Repository.LoadFingerprints(graph);
        long cacheLength = new FileInfo(CachePath(fixture)).Length;
        File.Delete(CachePath(fixture));
        var fromDatabase = fixture.Repository.LoadFingerprints(graph);
        Assert.Equal(cacheLength, new FileInfo(CachePath(fixture)).Length);
        Assert.Equal(graph.Versions.Count, fromCache.Count);
        foreach (var version in graph.Versions)
        {
            var a = fromCache[version.Id];
            var b = fromDatabase[version.Id];
            Assert.Equal(version.ManifestId, a.ManifestId.ToString());
            Assert.Equal(b.ToRecord(), a.ToRecord());
        }
    }

    [Fact]
    public void A_removed_version_is_not_taken_from_the_cache_and_its_id_is_not_reused()
    {
        var family = new ModelFamily();
        using var fixture = new RepoFixture();
        var repository = fixture.Repository;
        repository.Add(ModelFamily.Write(fixture.Models, family["base"]), new AddOptions { Auto = true });
        var pruned = repository.Add(ModelFamily.Write(fixture.Models, family["base-pruned"]), new AddOptions { Auto = true });
        Assert.Equal("base@1", pruned.Placement!.Parent);

        // Remove the newest version: its id is never handed to the next one (schema 5), whose content differs.
        repository.Remove("base-pruned@1");
        long lengthBefore = new FileInfo(CachePath(fixture)).Length;
        var other = repository.Add(ModelFamily.Write(fixture.Models, family["other"]), new AddOptions { Auto = true });
        Assert.Null(other.Placement!.Parent);
        Assert.True(other.Version.Id > pruned.Version.Id);

        // Drop the new version's record: the file's last record is now the removed model's.
        using (var file = new FileStream(CachePath(fixture), FileMode.Open))
        {
            file.SetLength(lengthBefore);
        }

        var ft = repository.Add(ModelFamily.Write(fixture.Models, family["base-ft"]), new AddOptions { Auto = true });
        Assert.Equal("base@1", ft.Placement!.Parent);
        Assert.Equal(2, ft.Placement.Compared);

        var graph = repository.Graph();
        var fingerprints = repository.LoadFingerprints(graph);
        Assert.Equal(graph.Versions.Select(v => v.Id).Order(), fingerprints.Keys.Order());
        Assert.All(graph.Versions, v => Assert.Equal(v.ManifestId, fingerprints[v.Id].ManifestId.ToString()));
    }

    [Fact]
    public void While_another_process_holds_the_cache_lock_placement_goes_on_and_the_record_is_added_later()
    {
        var family = new ModelFamily();
        using var fixture = new RepoFixture();
        var repository = fixture.Repository;
        repository.Add(ModelFamily.Write(fixture.Models, family["base"]), new AddOptions { Auto = true });
        repository.Add(ModelFamily.Write(fixture.Models, family["base-headswap"]), new AddOptions { Auto = true });
        long before = new FileInfo(CachePath(fixture)).Length;

        // flock on Unix, a share mode on Windows: the writer's lock is taken, so nothing is written.
        using (new FileStream(CachePath(fixture) + ".lock", FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None))
        {
            var ft = repository.Add(ModelFamily.Write(fixture.Models, family["base-ft"]), new AddOptions { Auto = true });
            Assert.Equal("base@1", ft.Placement!.Parent);
            Assert.Equal(before, new FileInfo(CachePath(fixture)).Length);
        }

        var pruned = repository.Add(ModelFamily.Write(fixture.Models, family["base-pruned"]), new AddOptions { Auto = true });
        Assert.Equal("base@1", pruned.Placement!.Parent);
        long after = new FileInfo(CachePath(fixture)).Length;
        Assert.True(after > before + (2 * IndexedFingerprint.HeaderBytes), $"{before} -> {after}: the missed record and the new one are appended");

        var graph = repository.Graph();
        var fingerprints = repository.LoadFingerprints(graph);
        Assert.Equal(4, fingerprints.Count);
        Assert.Equal(after, new FileInfo(CachePath(fixture)).Length);
    }

    [Fact]
    public void Packed_records_round_trip_and_damaged_ones_are_refused()
    {
        var fingerprint = new ModelFingerprint(
        [
            new TensorFingerprint("w", "F32", [4, 8], ObjectId.Compute([1, 2, 3]), [1.5f, -2f, 0f, 4f]),
            new TensorFingerprint("b", "F32", [4], ObjectId.Compute([4]), [0f, 0f, 0f, 0f]),
            new TensorFingerprint("ü-name", "Q4_K", [3], ObjectId.Compute([5]), []),
        ]);
        var manifest = ObjectId.Compute([9]);
        var packed = new IndexedFingerprint(fingerprint, versionId: 42, manifest);
        byte[] record = packed.ToRecord();
        Assert.Equal(0, record.Length % 8);
        Assert.Equal(record.Length, IndexedFingerprint.DeclaredLength(record));

        ulong[] scratch = [];
        var back = IndexedFingerprint.FromRecord(record, 0, record.Length, ref scratch)!;
        Assert.Equal(42, back.VersionId);
        Assert.Equal(manifest, back.ManifestId);
        Assert.Equal(3, back.Count);
        Assert.Equal(packed.Elements, back.Elements);
        Assert.Equal(32 + 4 + 3, back.Elements);
        Assert.Equal(1, back.NonConstantTensors); // "b" is all zeros, the Q4_K tensor has no samples
        Assert.Equal(32, back.NonConstantElements);
        Assert.Equal(32, back.Precision); // only F32 counts as float
        Assert.Equal(record, back.ToRecord());

        // Every relation to itself: all shared, nothing diverges.
        var self = Kinship.Compare(packed, back);
        Assert.Equal(1, self.SharedFraction);
        Assert.Equal(0, self.Divergence);

        // Any flipped byte (header, dtype table, columns, checksum) refuses the record.
        foreach (int at in new[] { 5, 60, IndexedFingerprint.HeaderBytes + 1, record.Length / 2, record.Length - 1 })
        {
            var damaged = (byte[])record.Clone();
            damaged[at] ^= 0x10;
            Assert.Null(IndexedFingerprint.FromRecord(damaged, 0, damaged.Length, ref scratch));
        }

        Assert.Equal(-1, IndexedFingerprint.DeclaredLength(record.AsSpan(1)));
    }
}
