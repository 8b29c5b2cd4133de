using MGit.Cli;
using MGit.Remotes;
using MGit.Tests.TestSupport;

namespace MGit.Tests.Remotes;

/// <summary>
/// A remote's lineage as a log (remote format 2): a push writes one segment with what it adds, a
/// pull reads only the segments it lacks, compaction folds segments into a checkpoint that an
/// up-to-date clone rebuilds itself, and a format-1 remote is read and upgraded.
/// </summary>
public sealed class LineageLogTests
{
    /// <summary>mgit in memory with the test credentials and <c>MGIT_LINEAGE_SEGMENTS</c> set (0: the default).</summary>
    private static CliResult Run(string directory, int segments, params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        string? Environment(string name) => name == "MGIT_LINEAGE_SEGMENTS" && segments > 0 ? segments.ToString(System.Globalization.CultureInfo.InvariantCulture) : RemoteCli.Environment(name);
        int code = MGitCli.Run(args, new CliContext(output, error, directory, Environment, ErrorIsTerminal: false));
        return new CliResult(code, output.ToString(), error.ToString());
    }

    private static CliResult Ok(string directory, int segments, params string[] args)
    {
        var result = Run(directory, segments, args);
        Assert.True(result.ExitCode == 0, $"mgit {string.Join(' ', args)} failed ({result.ExitCode}): {result.Error}");
        return result;
    }

    private static CliResult Ok(string directory, params string[] args) => Ok(directory, 0, args);

    /// <summary>Adds a small file as a new model (or version, with its arguments) of <paramref name="repo"/>.</summary>
    private static void Add(string repo, string name, string content, params string[] more)
    {
        string file = Path.Combine(Path.GetTempPath(), "mgit-tests", $"{name}-{Guid.NewGuid():N}.txt");
        Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        File.WriteAllText(file, content);
        try
        {
            Ok(repo, ["add", file, "--name", name, .. more]);
        }
        finally
        {
            File.Delete(file);
        }
    }

    /// <summary>Every version and edge <c>log --json</c> shows, each as its JSON text, sorted (clones may list them in another order).</summary>
    private static List<string> Lineage(string repo)
    {
        using var log = System.Text.Json.JsonDocument.Parse(Ok(repo, "log", "--json").Out);
        return [.. log.RootElement.GetProperty("nodes").EnumerateArray().Concat(log.RootElement.GetProperty("edges").EnumerateArray())
            .Select(e => e.GetRawText()).Order(StringComparer.Ordinal)];
    }

    private static LineageLogHead Head(IRemoteBackend backend)
    {
        string temp = Path.Combine(Path.GetTempPath(), "mgit-tests", $"ref-{Guid.NewGuid():N}");
        Directory.CreateDirectory(Path.GetDirectoryName(temp)!);
        try
        {
            Assert.True(backend.DownloadAsync(RemoteLayout.LineageRef, temp, 1 << 20, default).GetAwaiter().GetResult());
            return LineageLogHead.Parse(File.ReadAllBytes(temp), "test");
        }
        finally
        {
            File.Delete(temp);
        }
    }

    private static byte[] Take(IRemoteBackend backend, string id)
    {
        string temp = Path.Combine(Path.GetTempPath(), "mgit-tests", $"lineage-{Guid.NewGuid():N}");
        try
        {
            Assert.True(backend.DownloadAsync(RemoteLayout.SnapshotPrefix + id, temp, 1 << 26, default).GetAwaiter().GetResult());
            byte[] bytes = File.ReadAllBytes(temp);
            backend.DeleteAsync(RemoteLayout.SnapshotPrefix + id, default).GetAwaiter().GetResult();
            return bytes;
        }
        finally
        {
            File.Delete(temp);
        }
    }

    private static void Put(IRemoteBackend backend, string id, byte[] bytes) =>
        backend.PutAsync(RemoteLayout.SnapshotPrefix + id, bytes, default).GetAwaiter().GetResult();

    /// <summary>A repository with a base and <paramref name="tunes"/> fine-tunes of it, pushed to <paramref name="remote"/>.</summary>
    private static string Pushed(TempDirectory dir, TestRemote remote, string name, int tunes)
    {
        string repo = Models.NewRepository(dir, name);
        Add(repo, "base", "base weights");
        for (int i = 0; i < tunes; i++)
        {
            Add(repo, $"tune{i}", $"tune {i} weights", "--parent", "base@1", "-m", $"fine-tune {i}");
        }

        Ok(repo, ["remote", "add", "origin", remote.Url, .. remote.EndpointArgs]);
        Ok(repo, "push");
        return repo;
    }

    private static string Clone(TempDirectory dir, TestRemote remote, string name)
    {
        Ok(dir.Path, ["clone", remote.Url, dir.File(name), .. remote.EndpointArgs]);
        return dir.File(name);
    }

    [Theory]
    [InlineData("file")]
    [InlineData("s3")]
    public void A_push_of_one_model_writes_one_small_segment_and_an_up_to_date_clone_pulls_it_without_the_checkpoint(string kind)
    {
        if (kind == "s3" && S3Server.Endpoint is null && Environment.GetEnvironmentVariable("CI") is null)
        {
            return; // S3 runs where .ci/run started the server.
        }

        using var dir = new TempDirectory();
        var remote = TestRemote.Create(kind, dir);
        string a = Pushed(dir, remote, "a", tunes: 30);
        string b = Clone(dir, remote, "b");
        using var backend = remote.Open();
        var first = Head(backend);
        Assert.Empty(first.Segments);

        Add(a, "tune-new", "one more fine-tune", "--parent", "base@1");
        Ok(a, "push");
        var head = Head(backend);
        Assert.Equal(first.Checkpoint, head.Checkpoint);
        string segment = Assert.Single(head.Segments);
        byte[] segmentBytes = Take(backend, segment);
        byte[] checkpointBytes = Take(backend, head.Checkpoint);
        Put(backend, segment, segmentBytes);
        // One version and its edge: a fixed size, not a share of the 31 versions before it.
        Assert.True(segmentBytes.Length < 1024, $"segment of {segmentBytes.Length} bytes");
        Assert.True(checkpointBytes.Length > 10 * segmentBytes.Length, $"checkpoint {checkpointBytes.Length} B, segment {segmentBytes.Length} B");

        // With the checkpoint gone, the clone that has folded it still pulls: it reads the segment alone.
        Ok(b, "pull");
        Assert.Equal(Models.Refs(a), Models.Refs(b));

        // A new clone needs the checkpoint: refused in one line, nothing left behind.
        var refused = Run(dir.Path, 0, ["clone", remote.Url, dir.File("c"), .. remote.EndpointArgs]);
        Assert.Equal(1, refused.ExitCode);
        Assert.Contains($"the lineage snapshot {head.Checkpoint} named by refs/lineage is missing", refused.Error, StringComparison.Ordinal);
        Assert.False(Directory.Exists(dir.File("c")));

        Put(backend, head.Checkpoint, checkpointBytes);
        string c = Clone(dir, remote, "c");
        Assert.Equal(Models.Refs(a), Models.Refs(c));
        Assert.Equal(Lineage(a), Lineage(c));
    }

    [Fact]
    public void Tags_tests_recipes_results_and_reparents_each_travel_as_a_segment()
    {
        using var dir = new TempDirectory();
        var remote = TestRemote.Create("file", dir);
        string a = Pushed(dir, remote, "a", tunes: 3);
        string b = Clone(dir, remote, "b");
        using var backend = remote.Open();
        string checkpoint = Head(backend).Checkpoint;
        int pushes = 0;
        void Push(params string[] more)
        {
            Ok(a, ["push", .. more]);
            var head = Head(backend);
            // Had folding the segment not given exactly the lineage pushed, a checkpoint would have been written.
            Assert.Equal(checkpoint, head.Checkpoint);
            Assert.Equal(++pushes, head.Segments.Count);
        }

        Ok(a, "tag", "tune0@1", "production");
        Push();
        Ok(a, "test", "add", "smoke", "--cmd", "true");
        Push();
        Ok(a, "test", "run", "tune1@1");
        Push("--with-results");
        Ok(a, "reparent", "tune2@1", "--parent", "tune0@1", "-m", "it was tuned from tune0");
        Push();
        Ok(a, "recipe", "set", "tune1", "--cmd", "cp {parent} {output}");
        Push();
        Ok(a, "tag", "tune1@1", "production", "--force");
        Push();

        Ok(b, "pull", "--with-results");
        Assert.Equal(Lineage(a), Lineage(b));
        Assert.Equal(Ok(a, "tag", "--json").Out, Ok(b, "tag", "--json").Out);
        Assert.Equal(Ok(a, "test", "ls", "--json").Out, Ok(b, "test", "ls", "--json").Out);
        Assert.Equal(Ok(a, "recipe", "show", "tune1", "--json").Out, Ok(b, "recipe", "show", "tune1", "--json").Out);

        // A new clone folds the six segments onto the checkpoint to the same lineage.
        Ok(dir.Path, "clone", remote.Url, dir.File("c"), "--with-results");
        string c = dir.File("c");
        Assert.Equal(Lineage(a), Lineage(c));
        Assert.Equal(Ok(a, "tag", "--json").Out, Ok(c, "tag", "--json").Out);
    }

    [Fact]
    public void Compaction_writes_a_checkpoint_that_an_up_to_date_clone_rebuilds_from_its_segments_without_downloading_it()
    {
        using var dir = new TempDirectory();
        var remote = TestRemote.Create("file", dir);
        string a = Pushed(dir, remote, "a", tunes: 2);
        string b = Clone(dir, remote, "b");
        using var backend = remote.Open();
        string first = Head(backend).Checkpoint;

        Add(a, "x1", "x1");
        Ok(a, 2, "push");
        Add(a, "x2", "x2");
        Ok(a, 2, "push");
        Assert.Equal(2, Head(backend).Segments.Count);
        Ok(b, "pull");

        Add(a, "x3", "x3");
        Ok(a, 2, "push");
        var compacted = Head(backend);
        Assert.NotEqual(first, compacted.Checkpoint);
        Assert.Empty(compacted.Segments);
        Assert.NotNull(compacted.Compacted);
        Assert.Equal(first, compacted.Compacted.Checkpoint);
        Assert.Equal(3, compacted.Compacted.Segments.Count);

        // b holds the fold of the first two segments: it fetches the third and checks its fold against the checkpoint's id.
        byte[] checkpoint = Take(backend, compacted.Checkpoint);
        Ok(b, "pull");
        Assert.Equal(Models.Refs(a), Models.Refs(b));
        Put(backend, compacted.Checkpoint, checkpoint);

        // The checkpoint is the whole lineage: a clone made now reads it and no segment.
        foreach (string segment in compacted.Compacted.Segments)
        {
            Take(backend, segment);
        }

        string c = Clone(dir, remote, "c");
        Assert.Equal(Lineage(a), Lineage(c));
    }

    [Theory]
    [InlineData("file")]
    [InlineData("s3")]
    public async Task Pushes_from_three_clones_interleaved_with_compactions_lose_nothing(string kind)
    {
        if (kind == "s3" && S3Server.Endpoint is null && Environment.GetEnvironmentVariable("CI") is null)
        {
            return;
        }

        using var dir = new TempDirectory();
        var remote = TestRemote.Create(kind, dir);
        Pushed(dir, remote, "origin-repo", tunes: 0);
        string[] clones = [.. Enumerable.Range(0, 3).Select(i => Clone(dir, remote, $"clone{i}"))];
        const int Each = 4;
        // A checkpoint every second push: compactions race with the other clones' pushes.
        var workers = clones.Select((repo, i) => Task.Run(() =>
        {
            for (int n = 0; n < Each; n++)
            {
                Add(repo, $"m{i}-{n}", $"model {i} {n}", "--parent", "base@1");
                for (int attempt = 0; ; attempt++)
                {
                    var push = Run(repo, 2, "push");
                    if (push.ExitCode == 0)
                    {
                        break;
                    }

                    Assert.True(attempt < 50 && push.Error.Contains("pull first", StringComparison.Ordinal), $"push failed: {push.Error}");
                    Ok(repo, 2, "pull");
                }
            }
        })).ToArray();
        await Task.WhenAll(workers);

        string check = Clone(dir, remote, "check");
        var expected = Enumerable.Range(0, 3).SelectMany(i => Enumerable.Range(0, Each).Select(n => $"m{i}-{n}@1")).Append("base@1").Order(StringComparer.Ordinal);
        Assert.Equal(expected, Models.Refs(check));
        foreach (string repo in clones)
        {
            Ok(repo, "pull");
            Assert.Equal(Models.Refs(check), Models.Refs(repo));
        }

        Assert.Equal(0, Run(check, 0, "remote", "fsck").ExitCode);
    }

    [Fact]
    public void A_format_1_remote_is_read_and_becomes_format_2_on_its_next_push()
    {
        using var dir = new TempDirectory();
        RepositoryFixtures.CopyTo("remote-format1", dir.File("remote"));
        var remote = new TestRemote("file", new Uri(dir.File("remote")).AbsoluteUri, null);
        string legacyRef = File.ReadAllText(dir.File("remote/refs/lineage")).Trim();
        byte[] legacySnapshot = File.ReadAllBytes(dir.File($"remote/lineage/{legacyRef}"));

        // Read as it is: the snapshot the format-1 ref names is the whole lineage.
        string a = Clone(dir, remote, "a");
        Assert.Equal(["base@1", "base@2", "tuned@1"], Models.Refs(a));
        Assert.Contains("base@stable", Ok(a, "tag").Out, StringComparison.Ordinal);
        Assert.Contains("smoke", Ok(a, "test", "ls").Out, StringComparison.Ordinal);
        Assert.Contains("\"remote_format\": 1", File.ReadAllText(dir.File("remote/mgit-remote.json")), StringComparison.Ordinal);
        Assert.Equal(0, Run(a, 0, "remote", "fsck").ExitCode);

        Add(a, "x", "x weights", "--parent", "tuned@1");
        Ok(a, "push");
        Assert.Contains("\"remote_format\": 2", File.ReadAllText(dir.File("remote/mgit-remote.json")), StringComparison.Ordinal);
        var head = LineageLogHead.Parse(File.ReadAllBytes(dir.File("remote/refs/lineage")), "test");
        Assert.Equal(legacyRef, head.Checkpoint);
        Assert.Single(head.Segments);
        Assert.Equal(legacySnapshot, File.ReadAllBytes(dir.File($"remote/lineage/{legacyRef}")));

        string b = Clone(dir, remote, "b");
        Assert.Equal(["base@1", "base@2", "tuned@1", "x@1"], Models.Refs(b));
        Assert.Equal(Lineage(a), Lineage(b));
    }

    [Fact]
    public void A_damaged_ref_or_segment_is_refused_in_one_line_and_changes_nothing()
    {
        using var dir = new TempDirectory();
        var remote = TestRemote.Create("file", dir);
        string a = Pushed(dir, remote, "a", tunes: 1);
        Add(a, "x", "x weights");
        Ok(a, "push");
        string b = Clone(dir, remote, "b");
        string refPath = dir.File("remote/refs/lineage");
        string good = File.ReadAllText(refPath);
        var head = LineageLogHead.Parse(File.ReadAllBytes(refPath), "test");
        string segmentPath = dir.File($"remote/lineage/{head.Segments[0]}");
        byte[] segment = File.ReadAllBytes(segmentPath);

        void Refused(string expected)
        {
            var pull = Run(dir.Path, 0, "clone", remote.Url, dir.File("c"));
            Assert.Equal(1, pull.ExitCode);
            Assert.Contains(expected, pull.Error, StringComparison.Ordinal);
            Assert.Single(pull.Error.Trim().Split('\n'));
            Assert.False(Directory.Exists(dir.File("c")));
        }

        File.WriteAllText(refPath, "{\"lineage_log\":1,\"checkpoint\":\"nonsense\"}");
        Refused("refs/lineage is damaged");
        File.WriteAllText(refPath, $"{{\"lineage_log\":1,\"checkpoint\":\"{head.Checkpoint}\",\"segments\":[],\"compacted\":{{\"checkpoint\":\"{head.Checkpoint}\"}}}}");
        Refused("refs/lineage is damaged");
        File.WriteAllText(refPath, good.Replace("\"lineage_log\":1", "\"lineage_log\":9", StringComparison.Ordinal));
        Refused("lineage log version 9, newer than this mgit understands");
        File.WriteAllText(refPath, good);

        File.WriteAllBytes(segmentPath, [.. segment, (byte)' ']);
        Refused($"the lineage segment {head.Segments[0]} does not match its hash");
        File.WriteAllBytes(segmentPath, segment);

        // A segment with an edge to a version neither it nor the checkpoint holds.
        byte[] crafted = System.Text.Encoding.UTF8.GetBytes($$"""{"format":"mgit-lineage","schema":2,"versions":[],"edges":[{"parent":"{{new string('a', 64)}}","child":"{{new string('b', 64)}}","kind":"adapted"}]}""");
        string craftedId = MGit.Primitives.ObjectId.Compute(crafted).ToString();
        File.WriteAllBytes(dir.File($"remote/lineage/{craftedId}"), crafted);
        File.WriteAllBytes(refPath, (head with { Segments = [.. head.Segments, craftedId] }).ToJson());
        Refused("an edge names a version it does not hold");
        var skipped = Ok(b, "pull", "--skip-broken");
        Assert.Contains("skipped: an edge names a version it does not hold", skipped.Error, StringComparison.Ordinal);
        Assert.Equal(Models.Refs(a), Models.Refs(b));
    }
}
