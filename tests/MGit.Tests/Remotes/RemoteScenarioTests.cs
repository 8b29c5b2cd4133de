using MGit.Primitives;
using MGit.Remotes;
using MGit.Storage;
using MGit.Tests.TestSupport;
using static MGit.Tests.Remotes.Models;

namespace MGit.Tests.Remotes;

/// <summary>Push, pull and clone against a file:// remote and a real S3 server: each scenario runs on both.</summary>
public sealed class RemoteScenarioTests
{
    [Fact] public void File_round_trip_is_byte_exact_and_a_second_push_sends_nothing() => Round_trip("file");
    [S3Fact] public void S3_round_trip_is_byte_exact_and_a_second_push_sends_nothing() => Round_trip("s3");

    private static void Round_trip(string kind)
    {
        using var dir = new TempDirectory();
        var remote = TestRemote.Create(kind, dir);
        string a = NewRepository(dir, "a");
        string base1 = Base(dir, "base.safetensors", 1);
        string tuned = FineTune(dir, base1, "tuned.safetensors", 2);
        string base2 = FineTune(dir, base1, "base2.safetensors", 3);
        RemoteCli.Ok(a, "add", base1, "--name", "base", "--meta", "lr=0.1");
        RemoteCli.Ok(a, "add", tuned, "--name", "tuned", "--parent", "base", "--how", "finetune", "-m", "nudged");
        RemoteCli.Ok(a, "add", base2, "--version-of", "base");
        RemoteCli.Ok(a, ["remote", "add", "origin", remote.Url, .. remote.EndpointArgs]);

        var (sent, bytes) = Json(RemoteCli.Ok(a, "push", "--json"), "objects_sent", "bytes_sent");
        Assert.Equal(ObjectFiles(a), sent);
        Assert.Equal(ObjectBytes(a), bytes);
        Assert.Equal((0, 0), Json(RemoteCli.Ok(a, "push", "--json"), "objects_sent", "bytes_sent"));

        string b = dir.File("b");
        RemoteCli.Ok(dir.Path, ["clone", remote.Url, b, .. remote.EndpointArgs]);
        Assert.Equal(Refs(a), Refs(b));
        Assert.Equal(ObjectFiles(a), ObjectFiles(b));
        AssertChecksOut(b, "base@1", base1);
        AssertChecksOut(b, "base@2", base2);
        AssertChecksOut(b, "tuned@1", tuned);
        AssertIntact(b);
        Assert.Equal(RemoteCli.Ok(a, "show", "tuned", "--json").Out, RemoteCli.Ok(b, "show", "tuned", "--json").Out);
        Assert.Equal((0, 0), Json(RemoteCli.Ok(b, "pull", "--json"), "objects_received", "bytes_received"));

        // A new version in a: a pull in b receives exactly its new objects.
        string base3 = FineTune(dir, base2, "base3.safetensors", 4);
        int before = ObjectFiles(a);
        RemoteCli.Ok(a, "add", base3, "--version-of", "base");
        Assert.Equal(ObjectFiles(a) - before, Json(RemoteCli.Ok(a, "push", "--json"), "objects_sent", "bytes_sent").Count);
        var (received, _) = Json(RemoteCli.Ok(b, "pull", "--json"), "objects_received", "bytes_received");
        Assert.Equal(ObjectFiles(a) - before, received);
        AssertChecksOut(b, "base@3", base3);
    }

    [Fact]
    public void Pushing_named_refs_sends_them_with_their_ancestors_only()
    {
        using var dir = new TempDirectory();
        var remote = TestRemote.Create("file", dir);
        string a = NewRepository(dir, "a");
        string base1 = Base(dir, "base.safetensors", 1);
        RemoteCli.Ok(a, "add", base1, "--name", "base");
        RemoteCli.Ok(a, "add", FineTune(dir, base1, "t.safetensors", 2), "--name", "tuned", "--parent", "base");
        RemoteCli.Ok(a, "add", Base(dir, "other.safetensors", 60), "--name", "other");
        RemoteCli.Ok(a, ["remote", "add", "origin", remote.Url]);

        RemoteCli.Ok(a, "push", "origin", "tuned");
        string b = dir.File("b");
        RemoteCli.Ok(dir.Path, ["clone", remote.Url, b]);
        Assert.Equal(["base@1", "tuned@1"], Refs(b));
        AssertIntact(b);

        // The rest follows with a plain push, which sends only other's objects.
        int before = ObjectFiles(b);
        var (sent, _) = Json(RemoteCli.Ok(a, "push", "--json"), "objects_sent", "bytes_sent");
        Assert.Equal(ObjectFiles(a) - before, sent);
        RemoteCli.Ok(b, "pull");
        Assert.Equal(["base@1", "other@1", "tuned@1"], Refs(b));
    }

    [Fact] public void File_independent_adds_merge_and_a_clashing_version_is_renumbered() => Independent_adds_merge("file");
    [S3Fact] public void S3_independent_adds_merge_and_a_clashing_version_is_renumbered() => Independent_adds_merge("s3");

    private static void Independent_adds_merge(string kind)
    {
        using var dir = new TempDirectory();
        var remote = TestRemote.Create(kind, dir);
        string alice = NewRepository(dir, "alice");
        string base1 = Base(dir, "base.safetensors", 1);
        RemoteCli.Ok(alice, "add", base1, "--name", "base");
        RemoteCli.Ok(alice, ["remote", "add", "origin", remote.Url, .. remote.EndpointArgs]);
        RemoteCli.Ok(alice, "push");
        string bob = dir.File("bob");
        RemoteCli.Ok(dir.Path, ["clone", remote.Url, bob, .. remote.EndpointArgs]);

        // Both make base@2 (different content) and a model of their own.
        string aliceNext = FineTune(dir, base1, "alice2.safetensors", 10);
        string bobNext = FineTune(dir, base1, "bob2.safetensors", 20);
        string aliceTask = FineTune(dir, base1, "x.safetensors", 11);
        string bobTask = FineTune(dir, base1, "y.safetensors", 21);
        RemoteCli.Ok(alice, "add", aliceNext, "--version-of", "base");
        RemoteCli.Ok(alice, "add", aliceTask, "--name", "x", "--parent", "base@2");
        RemoteCli.Ok(bob, "add", bobNext, "--version-of", "base");
        RemoteCli.Ok(bob, "add", bobTask, "--name", "y", "--parent", "base@2");
        RemoteCli.Ok(alice, "push");

        var refused = RemoteCli.Run(bob, "push");
        Assert.Equal(1, refused.ExitCode);
        Assert.Contains("pull first", refused.Error);
        Assert.Single(refused.Error.Trim().Split('\n'));

        var pulled = RemoteCli.Ok(bob, "pull");
        Assert.Contains("renumbered local base@2 to base@3", pulled.Error);
        RemoteCli.Ok(bob, "push");
        RemoteCli.Ok(alice, "pull");

        // Same refs with the same content on both sides; nothing lost, lineage kept.
        string[] expected = ["base@1", "base@2", "base@3", "x@1", "y@1"];
        Assert.Equal(expected, Refs(alice));
        Assert.Equal(expected, Refs(bob));
        foreach (string repo in new[] { alice, bob })
        {
            AssertChecksOut(repo, "base@2", aliceNext);
            AssertChecksOut(repo, "base@3", bobNext);
            AssertChecksOut(repo, "x", aliceTask);
            AssertChecksOut(repo, "y", bobTask);
            AssertIntact(repo);
        }

        Assert.Contains("base@3", RemoteCli.Ok(alice, "show", "y", "--json").Out); // y's parent followed the renumbering
        Assert.Equal(ListingByRef(alice), ListingByRef(bob));
    }

    [Fact]
    public void Recipes_travel_with_their_versions_so_a_clone_can_cascade()
    {
        using var dir = new TempDirectory();
        var remote = TestRemote.Create("file", dir);
        string alice = NewRepository(dir, "alice");
        string base1 = Base(dir, "base.safetensors", 1);
        string tuned = FineTune(dir, base1, "tuned.safetensors", 2);
        RemoteCli.Ok(alice, "add", base1, "--name", "base");
        RemoteCli.Ok(alice, "add", tuned, "--name", "tuned", "--parent", "base", "--recipe", "cp {parent} {output}");
        RemoteCli.Ok(alice, "add", tuned, "--name", "later", "--parent", "base");
        RemoteCli.Ok(alice, ["remote", "add", "origin", remote.Url, .. remote.EndpointArgs]);
        RemoteCli.Ok(alice, "push");
        string bob = dir.File("bob");
        RemoteCli.Ok(dir.Path, ["clone", remote.Url, bob, .. remote.EndpointArgs]);

        Assert.Equal("cp {parent} {output}", RemoteCli.Ok(bob, "recipe", "show", "tuned").Out.Trim());

        // A recipe set later on one side reaches the other on the next push and pull.
        RemoteCli.Ok(bob, "recipe", "set", "later", "--cmd", "cp {parent} {output}");
        RemoteCli.Ok(bob, "push");
        RemoteCli.Ok(alice, "pull");
        Assert.Equal("cp {parent} {output}", RemoteCli.Ok(alice, "recipe", "show", "later").Out.Trim());

        // Bob updates the base and cascades with the recipes that came with the clone.
        RemoteCli.Ok(bob, "add", FineTune(dir, base1, "base2.safetensors", 3), "--version-of", "base");
        RemoteCli.Ok(bob, "cascade", "base@2");
        AssertChecksOut(bob, "tuned@2", dir.File("base2.safetensors"));
    }

    /// <summary>Each version's ls --json entry by ref (rows are listed in local add order, which differs between repositories).</summary>
    private static SortedDictionary<string, string> ListingByRef(string repo)
    {
        using var document = System.Text.Json.JsonDocument.Parse(RemoteCli.Ok(repo, "ls", "--json").Out);
        return new SortedDictionary<string, string>(
            document.RootElement.EnumerateArray().ToDictionary(e => e.GetProperty("ref").GetString()!, e => e.GetRawText()),
            StringComparer.Ordinal);
    }

    [Fact] public void File_a_damaged_remote_object_is_refused_and_reported() => Damaged_object_refused("file");
    [S3Fact] public void S3_a_damaged_remote_object_is_refused_and_reported() => Damaged_object_refused("s3");

    private static void Damaged_object_refused(string kind)
    {
        using var dir = new TempDirectory();
        var remote = TestRemote.Create(kind, dir);
        string a = NewRepository(dir, "a");
        RemoteCli.Ok(a, "add", Base(dir, "base.safetensors", 1), "--name", "base");
        RemoteCli.Ok(a, ["remote", "add", "origin", remote.Url, .. remote.EndpointArgs]);
        RemoteCli.Ok(a, "push");

        // Flip one payload byte of one stored object on the remote.
        using (var backend = remote.Open())
        {
            string key = backend.ListAsync(RemoteLayout.ObjectPrefix, default).Result.Select(f => f.Key).Order(StringComparer.Ordinal).First();
            string local = dir.File("object");
            Assert.True(backend.DownloadAsync(key, local, long.MaxValue, default).Result);
            byte[] bytes = File.ReadAllBytes(local);
            bytes[^1] ^= 0x40;
            backend.PutAsync(key, bytes, default).Wait();
        }

        var clone = RemoteCli.Run(dir.Path, ["clone", remote.Url, dir.File("b"), .. remote.EndpointArgs]);
        Assert.Equal(1, clone.ExitCode);
        Assert.Matches("^mgit: remote .*(damaged|does not match).*refused\n$", clone.Error.ReplaceLineEndings("\n"));
        Assert.False(Directory.Exists(dir.File("b")), "a failed clone left a folder behind");

        // A pull into an existing repository refuses it too, and leaves the repository as it was.
        string c = NewRepository(dir, "c");
        RemoteCli.Ok(c, ["remote", "add", "origin", remote.Url, .. remote.EndpointArgs]);
        var pull = RemoteCli.Run(c, "pull");
        Assert.Equal(1, pull.ExitCode);
        Assert.Contains("refused", pull.Error);
        Assert.Empty(Refs(c));
        AssertIntact(c);
    }

    [Fact]
    public async Task A_remote_object_swapped_for_another_well_formed_object_is_refused()
    {
        // Each object carries a checksum of its own content, so a swapped object is whole; only
        // its id (BLAKE3, checked on arrival) shows that it is not the object asked for.
        using var dir = new TempDirectory();
        var remote = TestRemote.Create("file", dir);
        string a = NewRepository(dir, "a");
        RemoteCli.Ok(a, "add", Base(dir, "base.safetensors", 1), "--name", "base");
        RemoteCli.Ok(a, ["remote", "add", "origin", remote.Url, .. remote.EndpointArgs]);
        RemoteCli.Ok(a, "push");

        using (var backend = remote.Open())
        {
            var keys = (await backend.ListAsync(RemoteLayout.ObjectPrefix, default)).Select(f => f.Key).Order(StringComparer.Ordinal).ToList();
            Assert.True(keys.Count >= 2);
            string other = dir.File("other");
            Assert.True(await backend.DownloadAsync(keys[1], other, long.MaxValue, default));
            await backend.PutAsync(keys[0], await File.ReadAllBytesAsync(other), default);
        }

        var clone = RemoteCli.Run(dir.Path, ["clone", remote.Url, dir.File("b"), .. remote.EndpointArgs]);
        Assert.Equal(1, clone.ExitCode);
        Assert.Matches("^mgit: remote .*does not match.*refused\n$", clone.Error.ReplaceLineEndings("\n"));
        Assert.False(Directory.Exists(dir.File("b")), "a failed clone left a folder behind");
    }

    [Fact] public void File_an_interrupted_push_completes_on_rerun_without_resending() => Interrupted_push("file");
    [S3Fact] public void S3_an_interrupted_push_completes_on_rerun_without_resending() => Interrupted_push("s3");

    private static void Interrupted_push(string kind)
    {
        using var dir = new TempDirectory();
        var remote = TestRemote.Create(kind, dir);
        string a = NewRepository(dir, "a");
        string base1 = Base(dir, "base.safetensors", 1);
        RemoteCli.Ok(a, "add", base1, "--name", "base");
        RemoteCli.Ok(a, "add", FineTune(dir, base1, "t.safetensors", 2), "--name", "tuned", "--parent", "base");
        int total = ObjectFiles(a);
        Assert.True(total > 20, $"only {total} objects");

        using (var repository = Repository.Open(a, RemoteCli.Options))
        using (var failing = new FailingRemote(remote.Open(), failAfter: total / 2))
        {
            var e = Assert.Throws<IOException>(() => repository.Push(failing, "origin"));
            Assert.Contains("connection lost", e.Message);
            // Uploads in flight when the connection dropped may have landed too: count what the remote holds.
            using var probe = remote.Open();
            int arrived = probe.ListAsync(RemoteLayout.ObjectPrefix, default).Result.Count;
            Assert.True(arrived > 0 && arrived < total, $"{arrived} of {total} objects arrived");

            // The remote's lineage did not move: a clone finds no versions, and is consistent.
            string empty = dir.File("empty");
            RemoteCli.Ok(dir.Path, ["clone", remote.Url, empty, .. remote.EndpointArgs]);
            Assert.Empty(Refs(empty));

            var rerun = repository.Push(remote.Open(), "origin");
            Assert.Equal(total - arrived, rerun.ObjectsSent);
        }

        string b = dir.File("b");
        RemoteCli.Ok(dir.Path, ["clone", remote.Url, b, .. remote.EndpointArgs]);
        AssertChecksOut(b, "base", base1);
        AssertIntact(b);
    }

    /// <summary>
    /// A real push process killed while objects are going up: the remote's lineage has not moved
    /// (a clone sees the old state, whole), and the next push sends only what had not arrived.
    /// (file:// only: s3rver, unlike S3, keeps the partial body of a PUT cut short.)
    /// </summary>
    [Fact]
    public void File_a_push_killed_midway_leaves_both_sides_consistent()
    {
        using var dir = new TempDirectory();
        var remote = TestRemote.Create("file", dir);
        string a = NewRepository(dir, "a");
        RemoteCli.Ok(a, "add", Base(dir, "small.safetensors", 1), "--name", "small");
        RemoteCli.Ok(a, ["remote", "add", "origin", remote.Url, .. remote.EndpointArgs]);
        RemoteCli.Ok(a, "push");
        string big = RawSafetensors.Write(dir.File("big.safetensors"), [RawSafetensors.Random("w", "F32", [1024, 1024], 7)]);
        RemoteCli.Ok(a, "add", big, "--name", "big");
        int total = ObjectFiles(a);

        string remoteObjects = Path.Combine(dir.File("remote"), "objects");
        int before = Directory.EnumerateFiles(remoteObjects, "*", SearchOption.AllDirectories).Count();
        using (var push = RemoteCli.Start(a, "push", "-q"))
        {
            var deadline = DateTime.UtcNow.AddMinutes(1);
            while (Directory.EnumerateFiles(remoteObjects, "*", SearchOption.AllDirectories).Count() < before + 20 && !push.HasExited && DateTime.UtcNow < deadline)
            {
                Thread.Sleep(5);
            }

            Assert.False(push.HasExited, "the push finished before it could be killed; the timing assumption failed");
            push.Kill(entireProcessTree: true);
            push.WaitForExit();
        }

        int arrived = Directory.EnumerateFiles(remoteObjects, "*", SearchOption.AllDirectories).Count();
        string early = dir.File("early");
        RemoteCli.Ok(dir.Path, ["clone", remote.Url, early, .. remote.EndpointArgs]);
        Assert.Equal(["small@1"], Refs(early));
        AssertIntact(early);
        AssertIntact(a);

        var (sent, _) = Json(RemoteCli.Ok(a, "push", "--json"), "objects_sent", "bytes_sent");
        Assert.Equal(total - arrived, sent);
        string late = dir.File("late");
        RemoteCli.Ok(dir.Path, ["clone", remote.Url, late, .. remote.EndpointArgs]);
        AssertChecksOut(late, "big", big);
    }

    [Fact] public void File_an_interrupted_pull_completes_on_rerun_without_refetching() => Interrupted_pull("file");
    [S3Fact] public void S3_an_interrupted_pull_completes_on_rerun_without_refetching() => Interrupted_pull("s3");

    private static void Interrupted_pull(string kind)
    {
        using var dir = new TempDirectory();
        var remote = TestRemote.Create(kind, dir);
        string a = NewRepository(dir, "a");
        string base1 = Base(dir, "base.safetensors", 1);
        string tuned = FineTune(dir, base1, "t.safetensors", 2);
        RemoteCli.Ok(a, "add", base1, "--name", "base");
        RemoteCli.Ok(a, "add", tuned, "--name", "tuned", "--parent", "base");
        RemoteCli.Ok(a, ["remote", "add", "origin", remote.Url, .. remote.EndpointArgs]);
        RemoteCli.Ok(a, "push");
        int total = ObjectFiles(a);

        string b = NewRepository(dir, "b");
        RemoteCli.Ok(b, ["remote", "add", "origin", remote.Url, .. remote.EndpointArgs]);
        using (var repository = Repository.Open(b, RemoteCli.Options))
        {
            Assert.Throws<IOException>(() => repository.Pull(new FailingRemote(remote.Open(), int.MaxValue, failDownloadsAfter: total / 2)));
        }

        // Nothing half-merged: no versions yet, only verified objects, no leftovers that fsck minds.
        Assert.Empty(Refs(b));
        AssertIntact(b);
        int kept = ObjectFiles(b);
        Assert.True(kept > 2, $"only {kept} objects were kept: what arrived before the break is fetched again");
        var (received, _) = Json(RemoteCli.Ok(b, "pull", "--json"), "objects_received", "bytes_received");
        Assert.Equal(total - kept, received);
        AssertChecksOut(b, "tuned", tuned);
        AssertChecksOut(b, "base", base1);
    }

    [Fact] public void File_a_lazy_clone_fetches_only_what_checkout_needs() => Lazy_clone("file");
    [S3Fact] public void S3_a_lazy_clone_fetches_only_what_checkout_needs() => Lazy_clone("s3");

    private static void Lazy_clone(string kind)
    {
        using var dir = new TempDirectory();
        var remote = TestRemote.Create(kind, dir);
        string a = NewRepository(dir, "a");
        string one = Base(dir, "one.safetensors", 1);
        string other = Base(dir, "other.safetensors", 50);
        string tuned = FineTune(dir, one, "tuned.safetensors", 2);
        RemoteCli.Ok(a, "add", one, "--name", "one");
        RemoteCli.Ok(a, "add", other, "--name", "other");
        RemoteCli.Ok(a, "add", tuned, "--name", "tuned", "--parent", "one");
        RemoteCli.Ok(a, ["remote", "add", "origin", remote.Url, .. remote.EndpointArgs]);
        RemoteCli.Ok(a, "push");

        string b = dir.File("b");
        RemoteCli.Ok(dir.Path, ["clone", remote.Url, b, "--lazy", .. remote.EndpointArgs]);
        Assert.Equal(Refs(a), Refs(b));
        Assert.Equal(3, ObjectFiles(b)); // the three manifests
        RemoteCli.Ok(b, "show", "tuned");

        // tuned is stored as deltas against one: its checkout fetches its chunks and their bases, nothing of other.
        AssertChecksOut(b, "tuned", tuned);
        using (var source = Repository.Open(a, RemoteCli.Options))
        {
            var needed = new HashSet<ObjectId>();
            foreach (var reference in new[] { "tuned" })
            {
                var manifest = source.LoadManifest(source.Resolve(reference));
                foreach (var id in manifest.ChunkIds)
                {
                    for (ObjectId? at = id; at is { } current && needed.Add(current);)
                    {
                        at = source.Objects.TryInspect(current)?.BaseId;
                    }
                }
            }

            var otherChunks = source.LoadManifest(source.Resolve("other")).ChunkIds.ToHashSet();
            Assert.Equal(3 + needed.Count, ObjectFiles(b));
            var tunedChunks = source.LoadManifest(source.Resolve("tuned")).ChunkIds.ToHashSet();
            Assert.True(needed.Count > tunedChunks.Count, "tuned has no delta bases outside its own chunks; the test proves less than it should");
            using var clone = Repository.Open(b, RemoteCli.Options);
            Assert.DoesNotContain(otherChunks.Except(needed), clone.Objects.Contains); // (they share one header chunk)
        }

        AssertIntact(b); // objects not fetched yet are not damage in a lazy clone
        AssertChecksOut(b, "other", other);
    }

    [Fact] public void File_racing_pushes_lose_no_update() => Racing_pushes("file");
    [S3Fact] public void S3_racing_pushes_lose_no_update() => Racing_pushes("s3");

    /// <summary>Two real mgit processes push at once, round after round: every model ends on the remote.</summary>
    private static void Racing_pushes(string kind)
    {
        using var dir = new TempDirectory();
        var remote = TestRemote.Create(kind, dir);
        string seed = NewRepository(dir, "seed");
        RemoteCli.Ok(seed, "add", Base(dir, "base.safetensors", 1), "--name", "base");
        RemoteCli.Ok(seed, ["remote", "add", "origin", remote.Url, .. remote.EndpointArgs]);
        RemoteCli.Ok(seed, "push");
        string[] repos = [dir.File("r0"), dir.File("r1")];
        foreach (string repo in repos)
        {
            RemoteCli.Ok(dir.Path, ["clone", remote.Url, repo, .. remote.EndpointArgs]);
        }

        var expected = new List<string> { "base@1" };
        int refusals = 0;
        for (int round = 0; round < 2; round++)
        {
            for (int i = 0; i < repos.Length; i++)
            {
                string name = $"m{round}-{i}";
                RemoteCli.Ok(repos[i], "add", Base(dir, $"{name}.safetensors", 100 + (round * 10) + i), "--name", name, "-q");
                expected.Add($"{name}@1");
            }

            var processes = repos.Select(r => RemoteCli.Start(r, "push", "-q")).ToList();
            for (int i = 0; i < repos.Length; i++)
            {
                using var process = processes[i];
                string error = process.StandardError.ReadToEnd();
                Assert.True(process.WaitForExit(TimeSpan.FromMinutes(2)));
                if (process.ExitCode != 0)
                {
                    Assert.Contains("pull first", error);
                    refusals++;
                    RemoteCli.Ok(repos[i], "pull", "-q");
                    RemoteCli.Ok(repos[i], "push", "-q");
                }
            }

            foreach (string repo in repos)
            {
                RemoteCli.Ok(repo, "pull", "-q");
            }
        }

        string check = dir.File("check");
        RemoteCli.Ok(dir.Path, ["clone", remote.Url, check, .. remote.EndpointArgs]);
        Assert.Equal(expected.Order(StringComparer.Ordinal), Refs(check));
        Assert.True(refusals > 0, "no push was ever refused: the pushes never raced");
        AssertIntact(check);
    }
}

/// <summary>A remote whose connection drops after some uploads: an interrupted push, deterministically.</summary>
internal sealed class FailingRemote(IRemoteBackend inner, int failAfter, int failDownloadsAfter = int.MaxValue) : IRemoteBackend
{
    private int _attempts;
    private int _downloads;

    public string Url => inner.Url;

    public Task<IReadOnlyList<RemoteFile>> ListAsync(string prefix, CancellationToken cancel) => inner.ListAsync(prefix, cancel);

    public Task<bool> DownloadAsync(string key, string localPath, long maxBytes, CancellationToken cancel) =>
        key.StartsWith(RemoteLayout.ObjectPrefix, StringComparison.Ordinal) && Interlocked.Increment(ref _downloads) > failDownloadsAfter
            ? throw new IOException("connection lost")
            : inner.DownloadAsync(key, localPath, maxBytes, cancel);

    public async Task UploadAsync(string key, string localPath, CancellationToken cancel)
    {
        if (Interlocked.Increment(ref _attempts) > failAfter)
        {
            throw new IOException("connection lost");
        }

        await inner.UploadAsync(key, localPath, cancel);
    }

    public Task PutAsync(string key, ReadOnlyMemory<byte> content, CancellationToken cancel) => inner.PutAsync(key, content, cancel);

    public Task DeleteAsync(string key, CancellationToken cancel) => inner.DeleteAsync(key, cancel);

    public Task<IAsyncDisposable> LockAsync(string name, TimeSpan wait, CancellationToken cancel) => inner.LockAsync(name, wait, cancel);

    public void Dispose() => inner.Dispose();
}
