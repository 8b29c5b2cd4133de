using MGit.Primitives;
using MGit.Remotes;
using MGit.Storage;
using MGit.Tests.TestSupport;
using Microsoft.Data.Sqlite;
using static MGit.Tests.TestSupport.RawSafetensors;

namespace MGit.Tests.Remotes;

/// <summary>
/// Remotes (and repositories) crafted by an attacker: manifests naming paths outside the model
/// folder, lineage with cycles and self-edges. Nothing may be written outside the target, and a
/// broken graph may neither come in nor go out.
/// </summary>
public sealed class UntrustedRemoteTests
{
    /// <summary>Paths a crafted manifest may name, in the three families the issue lists.</summary>
    public static TheoryData<string> UnsafePaths => new()
    {
        "/tmp/mgit-escape-absolute",
        "../../../../mgit-escape-relative",
        "a/../../mgit-escape-inner",
        "..\\..\\mgit-escape-windows",
        "C:\\mgit-escape-drive",
        "C:/mgit-escape-drive",
        "bad\u0001name",
        "",
    };

    [Theory]
    [MemberData(nameof(UnsafePaths))]
    public void A_manifest_naming_an_unsafe_path_is_refused_on_load(string path)
    {
        foreach (var manifest in new[] { SingleFile(path), Folder(path) })
        {
            var e = Assert.Throws<MGit.Errors.MGitException>(() => Manifest.FromJson(manifest.ToJson(), "crafted"));
            Assert.DoesNotContain('\n', e.Message);
            Assert.Contains("crafted", e.Message);
        }
    }

    [Fact]
    public void Safe_paths_pass_and_a_single_file_model_must_be_a_plain_name()
    {
        Assert.Null(ModelPaths.Problem("model.safetensors"));
        Assert.Null(ModelPaths.Problem("onnx/model.onnx"));
        Assert.Null(ModelPaths.Problem("..hidden/x..y"));
        Assert.NotNull(ModelPaths.Problem(new string('a', ModelPaths.MaxNameBytes + 1)));
        Assert.NotNull(ModelPaths.Problem(string.Join('/', Enumerable.Repeat("abcdefgh", 500))));
        Assert.NotNull(ModelPaths.Problem("a//b"));
        Assert.NotNull(ModelPaths.Problem("a/./b"));
        Assert.NotNull(ModelPaths.Problem("a/"));
        Assert.Throws<MGit.Errors.MGitException>(() => Manifest.FromJson(SingleFile("sub/model.safetensors").ToJson(), "crafted"));
        Assert.Throws<MGit.Errors.MGitException>(() => Manifest.FromJson((Folder("a") with { Files = [File("a"), File("a")] }).ToJson(), "crafted"));
        Manifest.FromJson(Folder("sub/model.safetensors").ToJson(), "fine");
    }

    [Theory]
    [InlineData("/abs", true)]
    [InlineData("../../escape", true)]
    [InlineData("..\\..\\escape", true)]
    [InlineData("/abs", false)]
    [InlineData("../../escape", false)]
    [InlineData("C:\\escape", false)]
    public void A_remote_with_a_manifest_naming_an_unsafe_path_is_refused_on_clone_and_pull(string path, bool singleFile)
    {
        using var dir = new TempDirectory();
        var (remote, _) = PushedFamily(dir);
        string escapeName = Path.GetFileName(path.Replace('\\', '/'));
        string manifestId = Craft(dir, remote, "base", manifest => singleFile
            ? manifest with { Files = [manifest.Files[0] with { Path = path + "-" + Guid.NewGuid().ToString("N") }] }
            : manifest with { Kind = "folder", Files = [manifest.Files[0] with { Path = path + "/x" }] });

        string clone = dir.File("clone");
        var refused = RemoteCli.Run(dir.Path, "clone", remote.Url, clone);
        Assert.Equal(1, refused.ExitCode);
        Assert.Single(refused.Error.Trim().Split('\n'));
        Assert.Contains(manifestId, refused.Error);
        Assert.Contains("--skip-broken", refused.Error);
        Assert.False(Directory.Exists(clone));

        // An existing repository's pull refuses it too, and takes nothing in.
        string other = Models.NewRepository(dir, "other");
        RemoteCli.Ok(other, "remote", "add", "origin", remote.Url);
        Assert.Equal(1, RemoteCli.Run(other, "pull").ExitCode);
        Assert.Empty(RemoteCli.Ok(other, "ls").Out.Trim());

        // Told to, a clone takes the sound part: the fine-tune stays, without its broken parent.
        var partial = RemoteCli.Run(dir.Path, "clone", remote.Url, clone, "--skip-broken");
        Assert.True(partial.ExitCode == 0, partial.Error);
        Assert.Contains("mgit: skipped: version base@1", partial.Error);
        Assert.Equal(["tuned@1"], Models.Refs(clone));
        Models.AssertIntact(clone);
        Assert.False(System.IO.File.Exists("/" + escapeName) || System.IO.File.Exists(Path.Combine(dir.Path, "..", escapeName)));
    }

    [Fact]
    public void A_tampered_manifest_in_a_repository_writes_nothing_outside_through_checkout_test_run_or_cascade()
    {
        // As if an older mgit had imported them: the manifests are in the store and the database names them.
        using var dir = new TempDirectory();
        string repo = Models.NewRepository(dir, "repo");
        string original = Models.Base(dir, "base.safetensors", 1);
        RemoteCli.Ok(repo, "add", original, "--name", "base");
        RemoteCli.Ok(repo, "add", Models.FineTune(dir, original, "tuned.safetensors", 2), "--name", "tuned", "--parent", "base", "--recipe", "cp {parent} {output}");
        RemoteCli.Ok(repo, "add", Models.FineTune(dir, original, "base2.safetensors", 3), "--version-of", "base");
        RemoteCli.Ok(repo, "test", "add", "exists", "--cmd", "test -f {model}", "--for", "model:base");
        string victim = dir.File("victim");
        System.IO.File.WriteAllText(victim, "precious");
        using (var repository = Repository.Open(repo, RemoteCli.Options))
        {
            foreach (string reference in new[] { "base@1", "tuned@1" })
            {
                var manifest = repository.LoadManifest(repository.Resolve(reference));
                var (id, _) = repository.Objects.Put((manifest with { Files = [manifest.Files[0] with { Path = "../../victim" }] }).ToJson());
                SetManifest(repo, reference, id.ToString());
            }
        }

        string output = Path.Combine(dir.Path, "out", "deeper");
        Directory.CreateDirectory(output);
        foreach (var args in new[]
        {
            new[] { "checkout", "base@1", "-o", output, "--force" },
            ["checkout", "base@1", "tuned", "-o", output, "--force"],
            ["test", "run", "base@1"],
            ["cascade", "base@2"],
        })
        {
            var result = RemoteCli.Run(repo, args);
            Assert.True(result.ExitCode == 1, $"mgit {string.Join(' ', args)}: exit {result.ExitCode}: {result.Error}");
            Assert.Contains("'..' segment", result.Out + result.Error);
        }

        Assert.Equal("precious", System.IO.File.ReadAllText(victim));
        Assert.Empty(Directory.EnumerateFileSystemEntries(output));
        var fsck = RemoteCli.Run(repo, "fsck");
        Assert.Equal(1, fsck.ExitCode);
        Assert.Contains("base@1: manifest refused", fsck.Out + fsck.Error);
        Assert.Contains("tuned@1: manifest refused", fsck.Out + fsck.Error);
    }

    [Fact]
    public void A_remote_snapshot_with_a_cycle_is_refused_or_taken_without_the_closing_edge()
    {
        using var dir = new TempDirectory();
        var (remote, _) = PushedFamily(dir);
        RewriteSnapshot(dir, remote, snapshot =>
        {
            var tuned = snapshot.Versions.Single(v => v.Name == "tuned");
            var base1 = snapshot.Versions.Single(v => v.Name == "base");
            return snapshot with { Edges = [.. snapshot.Edges, new SnapshotEdge(tuned.Key, base1.Key, "adapted", null, "crafted")] };
        });

        var refused = RemoteCli.Run(dir.Path, "clone", remote.Url, dir.File("clone"));
        Assert.Equal(1, refused.ExitCode);
        Assert.Contains("closes a cycle", refused.Error);

        var partial = RemoteCli.Run(dir.Path, "clone", remote.Url, dir.File("clone"), "--skip-broken");
        Assert.True(partial.ExitCode == 0, partial.Error);
        Assert.Contains("skipped: the edge from", partial.Error);
        Models.AssertIntact(dir.File("clone"));
        Assert.Equal(["base@1", "tuned@1"], Models.Refs(dir.File("clone")));
    }

    [Fact]
    public void A_remote_edge_closing_a_cycle_with_local_edges_is_refused_on_pull()
    {
        using var dir = new TempDirectory();
        var (remote, repo) = PushedFamily(dir);
        string clone = dir.File("clone");
        RemoteCli.Ok(dir.Path, "clone", remote.Url, clone);
        // The remote now says base derives from tuned: each graph is acyclic, their union is not.
        RewriteSnapshot(dir, remote, snapshot =>
        {
            var tuned = snapshot.Versions.Single(v => v.Name == "tuned");
            var base1 = snapshot.Versions.Single(v => v.Name == "base");
            return snapshot with { Edges = [new SnapshotEdge(tuned.Key, base1.Key, "adapted", null, "crafted")] };
        });

        var refused = RemoteCli.Run(clone, "pull");
        Assert.Equal(1, refused.ExitCode);
        Assert.Contains("would close a cycle", refused.Error);
        var skipped = RemoteCli.Run(clone, "pull", "--skip-broken", "--json");
        Assert.True(skipped.ExitCode == 0, skipped.Error);
        Assert.Contains("would close a cycle", skipped.Out);
        Models.AssertIntact(clone);
        _ = repo;
    }

    [Fact]
    public void Push_refuses_a_local_graph_with_a_cycle_and_fsck_reports_it()
    {
        using var dir = new TempDirectory();
        var (remote, repo) = PushedFamily(dir);
        using (var connection = new SqliteConnection($"Data Source={Path.Combine(repo, ".mgit", "lineage.db")};Pooling=False"))
        {
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = """
                INSERT INTO edges (parent_id, child_id, kind) SELECT t.id, b.id, 'adapted'
                FROM versions t JOIN models mt ON mt.id = t.model_id, versions b JOIN models mb ON mb.id = b.model_id
                WHERE mt.name = 'tuned' AND mb.name = 'base'
                """;
            Assert.Equal(1, command.ExecuteNonQuery());
        }

        var push = RemoteCli.Run(repo, "push");
        Assert.Equal(1, push.ExitCode);
        Assert.Contains("nothing was pushed", push.Error);
        Assert.Contains("cycle", push.Error);
        var fsck = RemoteCli.Run(repo, "fsck");
        Assert.Equal(1, fsck.ExitCode);
        Assert.Contains("cycle", fsck.Out + fsck.Error);

        // The remote is as it was: a fresh clone works.
        RemoteCli.Ok(dir.Path, "clone", remote.Url, dir.File("clone"));
        Models.AssertIntact(dir.File("clone"));
    }

    [Fact]
    public void The_database_refuses_self_edges_and_never_reuses_a_version_id()
    {
        using var dir = new TempDirectory();
        string repo = Models.NewRepository(dir, "repo");
        string a = Models.Base(dir, "a.safetensors", 1);
        RemoteCli.Ok(repo, "add", a, "--name", "a");
        RemoteCli.Ok(repo, "add", Models.Base(dir, "b.safetensors", 5), "--name", "b");
        long removedId = IdOf(repo, "b");
        RemoteCli.Ok(repo, "rm", "b");
        RemoteCli.Ok(repo, "add", Models.Base(dir, "c.safetensors", 9), "--name", "c");
        Assert.True(IdOf(repo, "c") > removedId);

        using var connection = new SqliteConnection($"Data Source={Path.Combine(repo, ".mgit", "lineage.db")};Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = $"INSERT INTO edges (parent_id, child_id, kind) VALUES ({IdOf(repo, "a")}, {IdOf(repo, "a")}, 'adapted')";
        Assert.Throws<SqliteException>(() => command.ExecuteNonQuery());
        command.CommandText = $"INSERT INTO versions (id, model_id, version, manifest, logical_bytes, added_at) SELECT {removedId}, model_id, 9, manifest, 0, added_at FROM versions LIMIT 1";
        Assert.Throws<SqliteException>(() => command.ExecuteNonQuery());
    }

    [Fact]
    public void An_add_whose_parent_is_removed_before_it_commits_adds_nothing()
    {
        using var dir = new TempDirectory();
        string repo = Models.NewRepository(dir, "repo");
        RemoteCli.Ok(repo, "add", Models.Base(dir, "p.safetensors", 1), "--name", "p");
        using var repository = Repository.Open(repo, RemoteCli.Options);
        var parent = repository.Resolve("p");
        RemoteCli.Ok(repo, "rm", "p", "--force");
        RemoteCli.Ok(repo, "add", Models.Base(dir, "q.safetensors", 2), "--name", "q");
        using var lineage = MGit.Lineage.LineageStore.Open(Path.Combine(repo, ".mgit", "lineage.db"), create: false);
        var planned = new MGit.Lineage.NewVersion("child", null, repository.Resolve("q").ManifestId, 1, null, new Dictionary<string, string>(), [(parent.Id, MGit.Lineage.EdgeKind.Adapted, null, null)], MustBeNewModel: true, ExpectedLatestId: null)
        {
            PlannedRefs = new Dictionary<long, string> { [parent.Id] = parent.Ref },
        };
        var e = Assert.Throws<MGit.Errors.MGitException>(() => lineage.Insert(planned, DateTimeOffset.UtcNow));
        Assert.Contains("p@1 was removed", e.Message);
        Assert.DoesNotContain("child", RemoteCli.Ok(repo, "ls").Out);
    }

    /// <summary>
    /// The race the issue found (11 of 11 tries): `add --parent X` and `rm X --force` in real
    /// processes, the rm landing while the add stores its data. Whatever the order, no model is its
    /// own parent, every exit is 0 or 1 (never an internal error), and the repository stays whole.
    /// </summary>
    [Fact]
    public void Add_racing_rm_of_its_parent_never_makes_a_model_its_own_parent()
    {
        using var dir = new TempDirectory();
        string repo = Models.NewRepository(dir, "repo");
        string parentFile = Write(dir.File("p.safetensors"), [Random("w", "F32", [256, 1024], 1)]);
        string childFile = Write(dir.File("c.safetensors"), [Random("w", "F32", [4096, 4096], 2)]);
        int[] delaysMs = [0, 150, 300, 450, 600];
        foreach (int delay in delaysMs)
        {
            RemoteCli.Ok(repo, "add", parentFile, "--name", "p");
            using var add = RemoteCli.Start(repo, "add", childFile, "--name", "c", "--parent", "p", "-q");
            Thread.Sleep(delay);
            using var rm = RemoteCli.Start(repo, "rm", "p", "--force");
            foreach (var process in new[] { add, rm })
            {
                Assert.True(process.WaitForExit(TimeSpan.FromMinutes(2)));
                string error = process.StandardError.ReadToEnd();
                Assert.True(process.ExitCode is 0 or 1, $"exit {process.ExitCode}: {error}");
            }

            Models.AssertIntact(repo);
            using (var repository = Repository.Open(repo, RemoteCli.Options))
            {
                var graph = repository.Graph();
                Assert.DoesNotContain(graph.Edges, e => e.ParentId == e.ChildId);
                Assert.DoesNotContain(graph.Versions, v => v.Name == "p");
            }

            RemoteCli.Run(repo, "rm", "c", "--force");
        }
    }

    private static long IdOf(string repo, string name)
    {
        using var repository = Repository.Open(repo, RemoteCli.Options);
        return repository.Resolve(name).Id;
    }

    private static void SetManifest(string repo, string reference, string manifestId)
    {
        var parsed = MGit.Lineage.ModelRef.Parse(reference);
        using var connection = new SqliteConnection($"Data Source={Path.Combine(repo, ".mgit", "lineage.db")};Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "UPDATE versions SET manifest = $m WHERE version = $v AND model_id = (SELECT id FROM models WHERE name = $n)";
        command.Parameters.AddWithValue("$m", manifestId);
        command.Parameters.AddWithValue("$n", parsed.Name);
        command.Parameters.AddWithValue("$v", parsed.Version!.Value);
        Assert.Equal(1, command.ExecuteNonQuery());
    }

    /// <summary>A file:// remote holding base@1 and tuned@1 (a fine-tune of it), pushed from the repository returned.</summary>
    private static (TestRemote Remote, string Repo) PushedFamily(TempDirectory dir)
    {
        var remote = TestRemote.Create("file", dir);
        string repo = Models.NewRepository(dir, "origin-repo");
        string original = Models.Base(dir, "base.safetensors", 1);
        RemoteCli.Ok(repo, "add", original, "--name", "base");
        RemoteCli.Ok(repo, "add", Models.FineTune(dir, original, "tuned.safetensors", 2), "--name", "tuned", "--parent", "base");
        RemoteCli.Ok(repo, "remote", "add", "origin", remote.Url);
        RemoteCli.Ok(repo, "push");
        return (remote, repo);
    }

    /// <summary>Replaces a version's manifest on the remote by a changed copy (its key and edges follow); returns the new manifest's id.</summary>
    private static string Craft(TempDirectory dir, TestRemote remote, string name, Func<Manifest, Manifest> change)
    {
        var store = new ObjectStore(dir.File("scratch/objects"), dir.File("scratch/tmp"), flushToDisk: false);
        Directory.CreateDirectory(dir.File("scratch/tmp"));
        using var backend = remote.Open();
        string id = "";
        RewriteSnapshot(dir, remote, snapshot =>
        {
            var version = snapshot.Versions.Single(v => v.Name == name);
            string download = dir.File($"scratch/{version.Manifest}");
            Assert.True(backend.DownloadAsync(RemoteLayout.ObjectKey(ObjectId.Parse(version.Manifest)), download, 1 << 20, CancellationToken.None).GetAwaiter().GetResult());
            store.Import(ObjectId.Parse(version.Manifest), download);
            using var content = store.Read(ObjectId.Parse(version.Manifest));
            var crafted = change(Manifest.FromJson(content.Span, name));
            var (craftedId, _) = store.Put(crafted.ToJson());
            backend.PutAsync(RemoteLayout.ObjectKey(craftedId), System.IO.File.ReadAllBytes(store.PathOf(craftedId)), CancellationToken.None).GetAwaiter().GetResult();
            id = craftedId.ToString();
            string key = LineageSnapshot.KeyOf(version.Name, id, version.AddedAt);
            return snapshot with
            {
                Versions = snapshot.Versions.Select(v => v == version ? v with { Manifest = id, Key = key } : v).ToList(),
                Edges = snapshot.Edges.Select(e => e with { Parent = e.Parent == version.Key ? key : e.Parent, Child = e.Child == version.Key ? key : e.Child }).ToList(),
            };
        });
        return id;
    }

    /// <summary>Writes a changed lineage snapshot to the remote and moves its ref to it, as a crafted push would.</summary>
    private static void RewriteSnapshot(TempDirectory dir, TestRemote remote, Func<LineageSnapshot, LineageSnapshot> change)
    {
        using var backend = remote.Open();
        string refFile = dir.File($"ref-{Guid.NewGuid():N}");
        Assert.True(backend.DownloadAsync(RemoteLayout.LineageRef, refFile, 1024, CancellationToken.None).GetAwaiter().GetResult());
        var head = LineageLogHead.Parse(System.IO.File.ReadAllBytes(refFile), "test");
        Assert.Empty(head.Segments); // one push: the remote's lineage is its checkpoint alone
        var current = ObjectId.Parse(head.Checkpoint);
        string snapshotFile = dir.File($"snapshot-{Guid.NewGuid():N}");
        Assert.True(backend.DownloadAsync(RemoteLayout.SnapshotKey(current), snapshotFile, 1 << 24, CancellationToken.None).GetAwaiter().GetResult());
        var snapshot = LineageSnapshot.Parse(System.IO.File.ReadAllBytes(snapshotFile), "test");
        byte[] json = change(snapshot).ToJson();
        var id = ObjectId.Compute(json);
        backend.PutAsync(RemoteLayout.SnapshotKey(id), json, CancellationToken.None).GetAwaiter().GetResult();
        backend.PutAsync(RemoteLayout.LineageRef, System.Text.Encoding.ASCII.GetBytes(id + "\n"), CancellationToken.None).GetAwaiter().GetResult();
    }

    private static ManifestFile File(string path) => new() { Path = path, Format = "opaque", Length = 0, ChunkSize = 1024, Segments = [] };

    private static Manifest SingleFile(string path) => new() { Kind = "file", Files = [File(path)] };

    private static Manifest Folder(string path) => new() { Kind = "folder", Files = [File(path)] };
}
