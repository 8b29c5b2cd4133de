using System.Text.Json;
using MGit.Primitives;
using MGit.Remotes;
using MGit.Storage;
using MGit.Tests.TestSupport;

namespace MGit.Tests.Remotes;

/// <summary>remote fsck and remote gc: what a remote holds that nothing needs, what it lacks, and taking out the first safely.</summary>
public sealed class RemoteMaintenanceTests
{
    private static (TestRemote Remote, string Repo, string Folder) PushedTwice(TempDirectory dir)
    {
        var remote = TestRemote.Create("file", dir);
        string repo = Models.NewRepository(dir, "repo");
        string original = Models.Base(dir, "base.safetensors", 1);
        RemoteCli.Ok(repo, "add", original, "--name", "base");
        RemoteCli.Ok(repo, "remote", "add", "origin", remote.Url);
        RemoteCli.Ok(repo, "push");
        RemoteCli.Ok(repo, "add", Models.FineTune(dir, original, "tuned.safetensors", 2), "--name", "tuned", "--parent", "base");
        RemoteCli.Ok(repo, "push");
        return (remote, repo, new Uri(remote.Url).LocalPath);
    }

    private static JsonElement Json(CliResult result) => JsonDocument.Parse(result.Out).RootElement;

    private static void Age(string path, TimeSpan age) => File.SetLastWriteTimeUtc(path, DateTime.UtcNow - age);

    [Fact]
    public void Remote_fsck_reports_leftovers_and_remote_gc_prunes_only_what_is_old_enough()
    {
        using var dir = new TempDirectory();
        var (_, repo, folder) = PushedTwice(dir);
        var clean = Json(RemoteCli.Ok(repo, "remote", "fsck", "--json"));
        Assert.Equal(2, clean.GetProperty("versions").GetInt32());
        Assert.Equal(0, clean.GetProperty("unreferenced").GetProperty("count").GetInt32());
        Assert.Equal(0, clean.GetProperty("old_snapshots").GetProperty("count").GetInt32()); // the checkpoint and the second push's segment are live
        Assert.Equal(0, clean.GetProperty("problems").GetArrayLength());

        // What killed pushes leave: an object never named by the lineage, a temporary file, an object cut short.
        var store = new ObjectStore(dir.File("scratch/objects"), dir.File("scratch/tmp"), flushToDisk: false);
        Directory.CreateDirectory(dir.File("scratch/tmp"));
        var (orphan, _) = store.Put("an object no version needs"u8);
        string orphanPath = Path.Combine(folder, RemoteLayout.ObjectKey(orphan));
        Directory.CreateDirectory(Path.GetDirectoryName(orphanPath)!);
        File.Copy(store.PathOf(orphan), orphanPath);
        Directory.CreateDirectory(Path.Combine(folder, "tmp"));
        string temp = Path.Combine(folder, "tmp", "0123abcd.4242.tmp");
        File.WriteAllBytes(temp, new byte[100]);
        var (cut, _) = store.Put("cut short"u8);
        string cutPath = Path.Combine(folder, RemoteLayout.ObjectKey(cut));
        Directory.CreateDirectory(Path.GetDirectoryName(cutPath)!);
        File.WriteAllBytes(cutPath, new byte[5]);
        // A push killed between writing its segment and moving the ref.
        string strayPath = Path.Combine(folder, "lineage", new string('7', 64));
        File.WriteAllText(strayPath, """{"format":"mgit-lineage","schema":2,"versions":[],"edges":[]}""");

        var found = Json(RemoteCli.Ok(repo, "remote", "fsck", "--json"));
        Assert.Equal(1, found.GetProperty("unreferenced").GetProperty("count").GetInt32());
        Assert.Equal(2, found.GetProperty("temp_files").GetProperty("count").GetInt32());
        Assert.Equal(1, found.GetProperty("old_snapshots").GetProperty("count").GetInt32());
        Assert.Equal(0, found.GetProperty("problems").GetArrayLength());

        // Reporting deletes nothing; pruning leaves what is younger than --expire.
        RemoteCli.Ok(repo, "remote", "gc");
        var young = Json(RemoteCli.Ok(repo, "remote", "gc", "--prune", "--json"));
        Assert.Equal(0, young.GetProperty("removed").GetProperty("count").GetInt32());
        Assert.True(File.Exists(orphanPath) && File.Exists(temp) && File.Exists(strayPath));

        foreach (string path in new[] { orphanPath, temp, cutPath }.Concat(Directory.EnumerateFiles(Path.Combine(folder, "lineage"))))
        {
            Age(path, TimeSpan.FromHours(2));
        }

        var pruned = Json(RemoteCli.Ok(repo, "remote", "gc", "--prune", "--json"));
        Assert.Equal(4, pruned.GetProperty("removed").GetProperty("count").GetInt32());
        Assert.False(File.Exists(orphanPath) || File.Exists(temp) || File.Exists(cutPath) || File.Exists(strayPath));
        Assert.Equal(2, Directory.EnumerateFiles(Path.Combine(folder, "lineage")).Count()); // the checkpoint and the segment

        string clone = dir.File("clone");
        RemoteCli.Ok(dir.Path, "clone", new Uri(folder).AbsoluteUri, clone);
        Models.AssertIntact(clone);
        Assert.Equal(["base@1", "tuned@1"], Models.Refs(clone));
        Assert.Equal(0, RemoteCli.Run(repo, "remote", "fsck").ExitCode);
    }

    [Fact]
    public void Remote_fsck_names_a_missing_object_and_gc_will_not_prune_without_every_manifest()
    {
        using var dir = new TempDirectory();
        var (_, repo, folder) = PushedTwice(dir);
        using var repository = Repository.Open(repo, RemoteCli.Options);
        var manifest = repository.LoadManifest(repository.Resolve("tuned"));
        var chunk = manifest.ChunkIds.First();
        File.Delete(Path.Combine(folder, RemoteLayout.ObjectKey(chunk)));

        var missing = RemoteCli.Run(repo, "remote", "fsck");
        Assert.Equal(1, missing.ExitCode);
        Assert.Matches($@"problem: object {chunk} is missing \(needed by [^)]*tuned@1\)", missing.Out);
        RemoteCli.Ok(repo, "remote", "gc", "--prune", "--expire", "0");

        File.Delete(Path.Combine(folder, RemoteLayout.ObjectKey(ObjectId.Parse(repository.Resolve("base").ManifestId))));
        var refused = RemoteCli.Run(repo, "remote", "gc", "--prune", "--expire", "0");
        Assert.Equal(1, refused.ExitCode);
        Assert.Contains("nothing was deleted", refused.Error);
    }

    [Fact]
    public void A_push_whose_objects_a_gc_pruned_before_it_took_the_lock_sends_them_again()
    {
        using var dir = new TempDirectory();
        var (remote, repo, _) = PushedTwice(dir);
        string other = Models.NewRepository(dir, "other");
        RemoteCli.Ok(other, "remote", "add", "origin", remote.Url);
        RemoteCli.Ok(repo, "add", Models.Base(dir, "new.safetensors", 7), "--name", "new");

        using (var repository = Repository.Open(repo, RemoteCli.Options))
        using (var gcFirst = new BeforeLock(remote.Open(), () =>
        {
            using var gcRepository = Repository.Open(other, RemoteCli.Options);
            Assert.True(gcRepository.RemoteGc(prune: true, expire: TimeSpan.Zero).Removed!.Count > 0);
        }))
        {
            repository.Push(gcFirst, "origin");
        }

        string clone = dir.File("clone");
        RemoteCli.Ok(dir.Path, "clone", remote.Url, clone);
        Models.AssertIntact(clone);
        Assert.Contains("new@1", Models.Refs(clone));
    }

    [Fact]
    public void A_push_removes_the_remotes_temporary_files_of_dead_processes_here_and_any_older_than_a_day()
    {
        using var dir = new TempDirectory();
        var (_, repo, folder) = PushedTwice(dir);
        Directory.CreateDirectory(Path.Combine(folder, "tmp"));
        string old = Path.Combine(folder, "tmp", "host-elsewhere.4242.aaaa.tmp");
        string recent = Path.Combine(folder, "tmp", "host-elsewhere.4243.bbbb.tmp");
        string deadHere = Path.Combine(folder, "tmp", $"{TemporaryFiles.HostStem}.2147483647.cccc.tmp");
        string liveHere = Path.Combine(folder, "tmp", $"{TemporaryFiles.HostStem}.{Environment.ProcessId}.dddd.tmp");
        foreach (string file in new[] { old, recent, deadHere, liveHere })
        {
            File.WriteAllText(file, "x");
        }

        Age(old, TimeSpan.FromDays(2));
        RemoteCli.Ok(repo, "add", Models.Base(dir, "more.safetensors", 9), "--name", "more");
        RemoteCli.Ok(repo, "push");
        Assert.False(File.Exists(old));
        Assert.False(File.Exists(deadHere));
        Assert.True(File.Exists(recent), "another machine's recent file may be a push in progress");
        Assert.True(File.Exists(liveHere), "a running process's file is left alone");
    }

    /// <summary>Runs <paramref name="before"/> once, when the first lock is asked for (after a push's uploads).</summary>
    private sealed class BeforeLock(IRemoteBackend inner, Action before) : IRemoteBackend
    {
        private int _locks;

        public string Url => inner.Url;

        public Task<IReadOnlyList<RemoteFile>> ListAsync(string prefix, CancellationToken cancel) => inner.ListAsync(prefix, cancel);

        public Task<bool> DownloadAsync(string key, string localPath, long maxBytes, CancellationToken cancel) => inner.DownloadAsync(key, localPath, maxBytes, cancel);

        public Task UploadAsync(string key, string localPath, CancellationToken cancel) => inner.UploadAsync(key, localPath, cancel);

        public Task PutAsync(string key, ReadOnlyMemory<byte> content, CancellationToken cancel) => inner.PutAsync(key, content, cancel);

        public Task DeleteAsync(string key, CancellationToken cancel) => inner.DeleteAsync(key, cancel);

        public Task<IAsyncDisposable> LockAsync(string name, TimeSpan wait, CancellationToken cancel)
        {
            if (Interlocked.Increment(ref _locks) == 1)
            {
                before();
            }

            return inner.LockAsync(name, wait, cancel);
        }

        public void Dispose() => inner.Dispose();
    }
}
