using System.Text.Json;
using MGit.Remotes;
using MGit.Tests.TestSupport;

namespace MGit.Tests.Remotes;

/// <summary>
/// A push after nothing but adds sends only the new versions, and a pull of nothing but new
/// versions into an unchanged repository imports only those, both without reading either whole
/// lineage, and each leaves both sides exactly as the whole comparison would; any other change,
/// or a remote that moved otherwise, makes them compare whole lineages again.
/// </summary>
public sealed class AddsOnlySyncTests
{
    private static void Add(string repo, string name, string content, params string[] more)
    {
        string file = Path.Combine(Path.GetTempPath(), "mgit-tests", $"{name}-{Guid.NewGuid():N}.txt");
        Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        File.WriteAllText(file, content);
        try
        {
            RemoteCli.Ok(repo, more.Contains("--version-of") ? ["add", file, .. more] : ["add", file, "--name", name, .. more]);
        }
        finally
        {
            File.Delete(file);
        }
    }

    /// <summary>Pushes and says whether the push found only adds (and how many versions it published).</summary>
    private static (bool FromAddsOnly, long Published) Push(string repo, params string[] more)
    {
        using var json = JsonDocument.Parse(RemoteCli.Ok(repo, ["push", "--json", .. more]).Out);
        return (json.RootElement.GetProperty("from_adds_only").GetBoolean(), json.RootElement.GetProperty("versions_published").GetInt64());
    }

    private static string Ref(string remoteDirectory) => File.ReadAllText(Path.Combine(remoteDirectory, "refs", "lineage"));

    /// <summary>Every version and edge, tag, test and recipe a repository shows, as text: what two repositories must agree on.</summary>
    private static string Everything(string repo)
    {
        using var log = JsonDocument.Parse(RemoteCli.Ok(repo, "log", "--json").Out);
        var parts = log.RootElement.GetProperty("nodes").EnumerateArray().Concat(log.RootElement.GetProperty("edges").EnumerateArray())
            .Select(e => e.GetRawText()).Order(StringComparer.Ordinal);
        return string.Join('\n', parts) + RemoteCli.Ok(repo, "tag", "--json").Out + RemoteCli.Ok(repo, "test", "ls", "--json").Out;
    }

    private static void CopyDirectory(string from, string to)
    {
        foreach (string directory in Directory.EnumerateDirectories(from, "*", SearchOption.AllDirectories))
        {
            Directory.CreateDirectory(Path.Combine(to, Path.GetRelativePath(from, directory)));
        }

        Directory.CreateDirectory(to);
        foreach (string file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            File.Copy(file, Path.Combine(to, Path.GetRelativePath(from, file)));
        }
    }

    /// <summary>A repository 'a' holding base@1, pushed to a new file:// remote: the repository and the remote's URL.</summary>
    private static (string Repo, string Url) PushedBase(TempDirectory dir)
    {
        string a = Models.NewRepository(dir, "a");
        Add(a, "base", "base weights");
        string url = new Uri(dir.File("remote")).AbsoluteUri;
        RemoteCli.Ok(a, "remote", "add", "origin", url);
        Push(a);
        return (a, url);
    }

    private static void ForgetPushMarks(string repo)
    {
        foreach (string mark in Directory.EnumerateFiles(Path.Combine(repo, ".mgit", "cache"), "push-mark.json", SearchOption.AllDirectories))
        {
            File.Delete(mark);
        }
    }

    [Fact]
    public void A_push_after_only_adds_writes_the_same_segment_as_comparing_whole_lineages()
    {
        using var dir = new TempDirectory();
        string a = Models.NewRepository(dir, "a");
        Add(a, "base", "base weights");
        Add(a, "tune", "tune weights", "--parent", "base@1", "--how", "finetune", "-m", "first");
        RemoteCli.Ok(a, "tag", "tune@1", "production");
        RemoteCli.Ok(a, "test", "add", "smoke", "--cmd", "true");
        RemoteCli.Ok(a, "remote", "add", "origin", new Uri(dir.File("remote")).AbsoluteUri);
        Assert.False(Push(a).FromAddsOnly); // the first push compares whole lineages, and leaves the mark

        // Adds only: a new model, a fine-tune of it with metadata, a new version of an old model, a merge.
        Add(a, "other", "other weights");
        Add(a, "other-tune", "other tune weights", "--parent", "other@1", "--how", "distill", "--meta", "task=qa", "--meta", "lr=1e-4");
        Add(a, "base", "base weights, version 2", "--version-of", "base");
        Add(a, "merged", "merged weights", "--parent", "tune@1", "--parent", "other-tune@1", "--how", "merge");

        // The same repository and remote, copied, pushed by comparing whole lineages.
        CopyDirectory(a, dir.File("a-whole"));
        CopyDirectory(dir.File("remote"), dir.File("remote-whole"));
        string whole = dir.File("a-whole");
        ForgetPushMarks(whole);
        RemoteCli.Ok(whole, "remote", "rm", "origin");
        RemoteCli.Ok(whole, "remote", "add", "origin", new Uri(dir.File("remote-whole")).AbsoluteUri);

        Assert.Equal((true, 4), Push(a));
        Assert.Equal((false, 4), Push(whole));
        // The same ref: the same checkpoint and the same segment id, so byte for byte the same segment.
        Assert.Equal(Ref(dir.File("remote-whole")), Ref(dir.File("remote")));
        Assert.Single(JsonDocument.Parse(Ref(dir.File("remote"))).RootElement.GetProperty("segments").EnumerateArray());

        // Nothing new: still the shortcut, nothing written.
        Assert.Equal((true, 0), Push(a));
        Assert.Equal(Ref(dir.File("remote-whole")), Ref(dir.File("remote")));

        // A clone reads the segment like any other.
        RemoteCli.Ok(dir.Path, "clone", new Uri(dir.File("remote")).AbsoluteUri, dir.File("b"));
        Assert.Equal(Everything(a), Everything(dir.File("b")));
        Models.AssertIntact(dir.File("b"));
        RemoteCli.Ok(dir.File("b"), "checkout", "merged", "-o", dir.File("merged.txt"));
        Assert.Equal("merged weights", File.ReadAllText(dir.File("merged.txt")));
    }

    [Fact]
    public void Any_change_but_an_add_or_a_remote_that_moved_makes_the_push_compare_whole_lineages()
    {
        using var dir = new TempDirectory();
        string a = Models.NewRepository(dir, "a");
        Add(a, "base", "base weights");
        for (int i = 0; i < 3; i++)
        {
            Add(a, $"tune{i}", $"tune {i} weights", "--parent", "base@1");
        }

        string url = new Uri(dir.File("remote")).AbsoluteUri;
        RemoteCli.Ok(a, "remote", "add", "origin", url);
        Push(a);
        RemoteCli.Ok(dir.Path, "clone", url, dir.File("b"));
        string b = dir.File("b");

        // Each change that is not an add is seen, so the push compares; the next add-only push takes the shortcut again.
        var changes = new (string What, Action Change, string[] PushArgs)[]
        {
            ("a tag", () => RemoteCli.Ok(a, "tag", "tune0@1", "production"), []),
            ("a tag moved", () => RemoteCli.Ok(a, "tag", "tune1@1", "production", "--force"), []),
            ("a test", () => RemoteCli.Ok(a, "test", "add", "smoke", "--cmd", "true"), []),
            ("a recipe", () => RemoteCli.Ok(a, "recipe", "set", "tune1", "--cmd", "cp {parent} {output}"), []),
            ("a reparent", () => RemoteCli.Ok(a, "reparent", "tune2@1", "--parent", "tune0@1", "-m", "tuned from tune0"), []),
            ("results pushed", () => RemoteCli.Ok(a, "test", "run", "tune1@1"), ["--with-results"]),
            ("a removal", () => { Add(a, "scratch", "scratch weights"); RemoteCli.Ok(a, "rm", "scratch@1"); }, []),
        };
        int n = 0;
        foreach (var (what, change, pushArgs) in changes)
        {
            change();
            Add(a, $"added{n}", $"added {n}", "--parent", "base@1");
            var (fromAdds, _) = Push(a, pushArgs);
            Assert.False(fromAdds, $"after {what}, the push took the shortcut");
            Add(a, $"after{n}", $"after {n}", "--parent", $"added{n}@1");
            Assert.True(Push(a, pushArgs).FromAddsOnly, $"after {what} and a push, the next add was not pushed by the shortcut");
            n++;
        }

        // Another clone pushed: the remote moved, so a's push compares whole lineages and is refused;
        // a's pull of only b's adds imports them by the shortcut, and then a's push is one again.
        RemoteCli.Ok(b, "pull");
        Add(b, "from-b", "b's weights", "--parent", "base@1");
        Push(b);
        Add(a, "behind", "a's weights", "--parent", "base@1");
        var refused = RemoteCli.Run(a, "push");
        Assert.Equal(1, refused.ExitCode);
        Assert.Contains("pull first", refused.Error, StringComparison.Ordinal);
        Assert.False(Pull(a).FromAddsOnly); // a has an add of its own since its mark
        Assert.False(Push(a).FromAddsOnly); // and the pull that merged it left no mark
        Add(a, "ahead", "a's later weights", "--parent", "behind@1");
        Assert.True(Push(a).FromAddsOnly);
        Add(b, "from-b-2", "b's later weights", "--parent", "from-b@1");
        Assert.False(Pull(b).FromAddsOnly); // b's own add since its mark: the whole merge

        // The remote's lineage is the local one, as a fresh clone reads it (the removed version aside: deletions do not travel).
        RemoteCli.Ok(dir.Path, "clone", url, dir.File("c"), "--with-results");
        RemoteCli.Ok(a, "pull");
        Assert.Equal(Everything(a), Everything(dir.File("c")));
    }

    /// <summary>What <c>status --json</c> says of the remote: versions to push and to pull, or its problem.</summary>
    private static (int? Ahead, int? Behind, string? Problem) Status(string repo)
    {
        using var json = JsonDocument.Parse(RemoteCli.Ok(repo, "status", "--json").Out);
        var remote = json.RootElement.GetProperty("remotes")[0];
        int? Count(string name) => remote.GetProperty(name).ValueKind == JsonValueKind.Number ? remote.GetProperty(name).GetInt32() : null;
        return (Count("ahead"), Count("behind"), remote.GetProperty("problem").ValueKind == JsonValueKind.String ? remote.GetProperty("problem").GetString() : null);
    }

    [Fact]
    public void Status_counts_from_the_push_mark_what_comparing_whole_lineages_counts()
    {
        using var dir = new TempDirectory();
        var (a, url) = PushedBase(dir);
        string b = dir.File("b");
        RemoteCli.Ok(dir.Path, "clone", url, b);
        Assert.Equal((0, 0, null), Status(a));
        Add(a, "one", "one's weights", "--parent", "base@1");
        Add(a, "two", "two's weights", "--parent", "one@1");
        Add(b, "from-b", "b's weights", "--parent", "base@1");
        Push(b);

        // a added two since its push; the remote took one segment from b since.
        string unmarked = dir.File("a-unmarked");
        CopyDirectory(a, unmarked);
        Directory.Delete(Path.Combine(unmarked, ".mgit", "cache"), recursive: true);
        Assert.Equal((2, 1, null), Status(a));
        Assert.Equal((2, 1, null), Status(unmarked));
        Assert.Equal((0, 0, null), Status(b));

        // The counts came from the mark: with the remote's checkpoint gone, a still counts (it reads
        // only the ref and the new segment), while the copy without a mark must read the checkpoint.
        string checkpoint = JsonDocument.Parse(Ref(dir.File("remote"))).RootElement.GetProperty("checkpoint").GetString()!;
        File.Delete(Path.Combine(dir.File("remote"), "lineage", checkpoint));
        foreach (string cached in Directory.EnumerateFiles(Path.Combine(a, ".mgit", "cache"), "*", SearchOption.AllDirectories).Where(f => Path.GetFileName(f) != "push-mark.json"))
        {
            File.Delete(cached); // what a cached of the remote's lineage, which would spare the whole comparison the checkpoint too
        }

        Assert.Equal((2, 1, null), Status(a));
        Directory.Delete(Path.Combine(unmarked, ".mgit", "cache"), recursive: true); // what its status cached of the remote
        Assert.Contains("is missing", Status(unmarked).Problem, StringComparison.Ordinal);

        // Any change but an add: a compares whole lineages, and so meets the missing checkpoint too.
        RemoteCli.Ok(a, "tag", "one@1", "first");
        Assert.Contains("is missing", Status(a).Problem, StringComparison.Ordinal);
    }

    /// <summary>Pulls and says whether the pull found only adds, and the versions it brought.</summary>
    private static (bool FromAddsOnly, string[] NewVersions) Pull(string repo)
    {
        using var json = JsonDocument.Parse(RemoteCli.Ok(repo, "pull", "--json").Out);
        return (json.RootElement.GetProperty("from_adds_only").GetBoolean(), json.RootElement.GetProperty("new_versions").EnumerateArray().Select(v => v.GetString()!).ToArray());
    }

    [Fact]
    public void A_pull_of_only_new_versions_imports_them_as_the_whole_merge_would()
    {
        using var dir = new TempDirectory();
        string a = Models.NewRepository(dir, "a");
        Add(a, "base", "base weights");
        Add(a, "tune", "tune weights", "--parent", "base@1");
        RemoteCli.Ok(a, "tag", "tune@1", "production");
        string url = new Uri(dir.File("remote")).AbsoluteUri;
        RemoteCli.Ok(a, "remote", "add", "origin", url);
        Push(a);
        RemoteCli.Ok(dir.Path, "clone", url, dir.File("b")); // a clone holds exactly the remote: it leaves a mark
        string b = dir.File("b");

        // Two pushes of adds: a chain, a new version, a merge with metadata, a fine-tune of a version new to b.
        Add(a, "other", "other weights");
        Add(a, "other-tune", "other tune weights", "--parent", "other@1", "--meta", "task=qa");
        Assert.True(Push(a).FromAddsOnly);
        Add(a, "base", "base weights, version 2", "--version-of", "base");
        Add(a, "merged", "merged weights", "--parent", "tune@1", "--parent", "other-tune@1", "--how", "merge", "-m", "a merge");
        Add(a, "merged-tune", "merged tune weights", "--parent", "merged@1");
        Assert.True(Push(a).FromAddsOnly);

        CopyDirectory(b, dir.File("b-whole"));
        string whole = dir.File("b-whole");
        ForgetPushMarks(whole);

        var (fromAdds, received) = Pull(b);
        Assert.True(fromAdds);
        Assert.Equal(["other@1", "other-tune@1", "base@2", "merged@1", "merged-tune@1"], received);
        var (wholeFromAdds, wholeReceived) = Pull(whole);
        Assert.False(wholeFromAdds);
        Assert.Equal(received, wholeReceived);
        // The same versions in the same order, the same edges, tags and tests.
        Assert.Equal(RemoteCli.Ok(whole, "ls", "--json").Out, RemoteCli.Ok(b, "ls", "--json").Out);
        Assert.Equal(Everything(whole), Everything(b));
        Assert.Equal(Everything(a), Everything(b));
        Models.AssertIntact(b);
        RemoteCli.Ok(b, "checkout", "merged-tune", "-o", dir.File("merged-tune.txt"));
        Assert.Equal("merged tune weights", File.ReadAllText(dir.File("merged-tune.txt")));

        // Nothing new: the shortcut again, nothing brought. And b's own adds now push by the shortcut too.
        Assert.Equal((true, []), Pull(b));
        Add(b, "from-b", "b's weights", "--parent", "merged-tune@1");
        Assert.True(Push(b).FromAddsOnly);
        Assert.True(Pull(a).FromAddsOnly);
        Assert.Equal(Everything(a), Everything(b));
    }

    [Fact]
    public void A_pull_merges_whole_lineages_when_the_remote_had_more_than_adds_or_this_repository_changed()
    {
        using var dir = new TempDirectory();
        var (a, url) = PushedBase(dir);
        RemoteCli.Ok(dir.Path, "clone", url, dir.File("b"));
        string b = dir.File("b");

        // A tag travels in the segment: merged with b's tags by the whole merge.
        RemoteCli.Ok(a, "tag", "base@1", "production");
        Add(a, "tune", "tune weights", "--parent", "base@1");
        Push(a);
        Assert.False(Pull(b).FromAddsOnly);
        Assert.Equal(RemoteCli.Ok(a, "tag", "--json").Out, RemoteCli.Ok(b, "tag", "--json").Out);

        // b added a version of its own: a version of 'tune' arrives too, so numbers are the whole merge's to settle.
        Add(a, "tune", "tune weights, version 2", "--version-of", "tune");
        Push(a);
        Add(b, "tune", "b's version of tune", "--version-of", "tune");
        var (fromAdds, _) = Pull(b);
        Assert.False(fromAdds);
        Assert.Contains("tune@3", Models.Refs(b));

        // After a pull that leaves b holding more than the remote, no mark: b's next pull merges whole lineages too.
        Add(a, "later", "later weights");
        Push(a);
        Assert.False(Pull(b).FromAddsOnly);
        Push(b);
        Pull(a);
        Assert.Equal(Everything(a), Everything(b));
    }

    [Fact]
    public void A_push_of_refs_takes_the_shortcut_only_when_they_hold_every_added_version()
    {
        using var dir = new TempDirectory();
        var (a, _) = PushedBase(dir);

        Add(a, "tune", "tune weights", "--parent", "base@1");
        Add(a, "tune-of-tune", "tune of tune weights", "--parent", "tune@1");
        Assert.Equal((true, 2), Push(a, "origin", "tune-of-tune")); // its ancestors hold every added version

        Add(a, "left", "left weights", "--parent", "base@1");
        Add(a, "right", "right weights", "--parent", "base@1");
        Assert.Equal((false, 1), Push(a, "origin", "left")); // 'right' stays here: the push compares
        Assert.Equal((false, 1), Push(a)); // and so does the next: the remote moved without a mark

        // A ref that names nothing is refused as before, in one line.
        var refused = RemoteCli.Run(a, "push", "origin", "no-such-model");
        Assert.NotEqual(0, refused.ExitCode);
        Assert.Contains("no-such-model", refused.Error, StringComparison.Ordinal);
        Add(a, "last", "last weights", "--parent", "right@1");
        Assert.Equal((true, 1), Push(a, "origin", "last"));
    }
}
