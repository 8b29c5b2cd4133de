using MGit.Remotes;

namespace MGit.Tests.Remotes;

public sealed class LineageMergeTests
{
    private static SnapshotVersion Version(string name, int number, string manifestSeed, string at)
    {
        string manifest = MGit.Primitives.ObjectId.Compute(System.Text.Encoding.UTF8.GetBytes(manifestSeed)).ToString();
        return new SnapshotVersion
        {
            Key = LineageSnapshot.KeyOf(name, manifest, at),
            Name = name,
            Version = number,
            Manifest = manifest,
            LogicalBytes = 10,
            AddedAt = at,
        };
    }

    [Fact]
    public void The_remote_keeps_its_numbers_and_clashing_local_versions_move_past_both_sides()
    {
        var shared = Version("m", 1, "a", "2026-01-01T00:00:00.0000000+00:00");
        var remoteTwo = Version("m", 2, "b", "2026-01-02T00:00:00.0000000+00:00");
        var localTwo = Version("m", 2, "c", "2026-01-03T00:00:00.0000000+00:00");
        var localThree = Version("m", 3, "d", "2026-01-04T00:00:00.0000000+00:00");
        var remoteOnly = Version("n", 1, "e", "2026-01-05T00:00:00.0000000+00:00");
        var remote = new LineageSnapshot
        {
            Versions = [shared, remoteTwo, remoteOnly],
            Edges = [new SnapshotEdge(shared.Key, remoteTwo.Key, "versioned", null, null)],
        };
        var local = new LineageSnapshot
        {
            Versions = [shared, localTwo, localThree],
            Edges = [new SnapshotEdge(shared.Key, localTwo.Key, "versioned", null, null), new SnapshotEdge(localTwo.Key, localThree.Key, "versioned", null, "next")],
        };

        var result = LineageMerge.Union(remote, local);
        var numbers = result.Merged.Versions.ToDictionary(v => v.Key, v => v.Ref);
        Assert.Equal("m@1", numbers[shared.Key]);
        Assert.Equal("m@2", numbers[remoteTwo.Key]);
        Assert.Equal("m@3", numbers[localThree.Key]); // free on both sides: kept
        Assert.Equal("m@4", numbers[localTwo.Key]);   // clashed with the remote's m@2
        Assert.Equal("n@1", numbers[remoteOnly.Key]);
        Assert.Equal([new Renumbered("m", 2, 4, localTwo.Key)], result.Renumbered);
        Assert.Equal(3, result.Merged.Edges.Count);

        // Merging again changes nothing: the union is idempotent.
        var again = LineageMerge.Union(result.Merged, local);
        Assert.Empty(again.Renumbered);
        Assert.Equal(result.Merged.ToJson(), again.Merged.ToJson());
    }

    [Fact]
    public void A_snapshot_that_does_not_match_its_keys_is_refused()
    {
        var v = Version("m", 1, "a", "2026-01-01T00:00:00.0000000+00:00");
        var forged = new LineageSnapshot { Versions = [v with { Name = "other" }], Edges = [] };
        var e = Assert.Throws<MGit.Errors.MGitException>(() => LineageSnapshot.Parse(forged.ToJson(), "snapshot"));
        Assert.Contains("does not match its key", e.Message);

        var dangling = new LineageSnapshot { Versions = [v], Edges = [new SnapshotEdge(v.Key, new string('0', 64), "adapted", null, null)] };
        Assert.Throws<MGit.Errors.MGitException>(() => LineageSnapshot.Parse(dangling.ToJson(), "snapshot"));
        var parsed = LineageSnapshot.Parse(new LineageSnapshot { Versions = [v], Edges = [] }.ToJson(), "snapshot").Versions.Single();
        Assert.Equal((v.Key, v.Ref, v.Manifest, v.AddedAt), (parsed.Key, parsed.Ref, parsed.Manifest, parsed.AddedAt));
    }
}
