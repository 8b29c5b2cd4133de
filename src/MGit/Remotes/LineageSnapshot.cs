using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using MGit.Errors;
using MGit.Lineage;
using MGit.Primitives;
using MGit.Storage;
using MGit.Testing;

namespace MGit.Remotes;

/// <summary>One version as it travels between repositories.</summary>
internal sealed record SnapshotVersion
{
    /// <summary>The version's identity across repositories: see <see cref="LineageSnapshot.KeyOf(string, string, string)"/>.</summary>
    [JsonPropertyName("key")] public required string Key { get; init; }
    [JsonPropertyName("name")] public required string Name { get; init; }
    [JsonPropertyName("version")] public required int Version { get; init; }
    [JsonPropertyName("type")] public string? Type { get; init; }
    [JsonPropertyName("manifest")] public required string Manifest { get; init; }
    [JsonPropertyName("logical_bytes")] public required long LogicalBytes { get; init; }
    [JsonPropertyName("added_at")] public required string AddedAt { get; init; }
    [JsonPropertyName("message")] public string? Message { get; init; }
    [JsonPropertyName("error_bound")] public double? ErrorBound { get; init; }
    [JsonPropertyName("metadata")] public IReadOnlyDictionary<string, string> Metadata { get; init; } = new Dictionary<string, string>();
    /// <summary>How the version was derived (schema 2), so a clone can run the cascade.</summary>
    [JsonPropertyName("recipe")] public string? Recipe { get; init; }

    public string Ref => $"{Name}@{Version}";
}

/// <summary>One edge, its ends named by version keys.</summary>
internal sealed record SnapshotEdge(
    [property: JsonPropertyName("parent")] string Parent,
    [property: JsonPropertyName("child")] string Child,
    [property: JsonPropertyName("kind")] string Kind,
    [property: JsonPropertyName("how")] string? How,
    [property: JsonPropertyName("message")] string? Message);

/// <summary>A tag as it travels: the change (in <see cref="LineageSnapshot.TagEvents"/>) it follows.</summary>
internal sealed record SnapshotTag(
    [property: JsonPropertyName("model")] string Model,
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("head")] string Head);

/// <summary>One change of a tag as it travels (see <see cref="TagEvent"/>): its target is a version key, null for a delete.</summary>
internal sealed record SnapshotTagEvent(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("model")] string Model,
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("target")] string? Target,
    [property: JsonPropertyName("target_ref")] string? TargetRef,
    [property: JsonPropertyName("by")] string MovedBy,
    [property: JsonPropertyName("at")] string MovedAt,
    [property: JsonPropertyName("parents")] IReadOnlyList<string> Parents)
{
    public TagEvent ToEvent() => new(Id, Model, Name, Target, TargetRef, MovedBy, MovedAt, Parents);

    public static SnapshotTagEvent Of(TagEvent e) => new(e.Id, e.Model, e.Name, e.TargetKey, e.TargetRef, e.MovedBy, e.MovedAt, e.Parents);
}

/// <summary>One change of a version's adapted parents (<c>mgit reparent</c>) as it travels (see <see cref="EdgeEvent"/>): the child and parents by version key.</summary>
internal sealed record SnapshotEdgeEvent(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("child")] string Child,
    [property: JsonPropertyName("child_ref")] string ChildRef,
    [property: JsonPropertyName("parents")] IReadOnlyList<string> Parents,
    [property: JsonPropertyName("parent_refs")] IReadOnlyList<string> ParentRefs,
    [property: JsonPropertyName("previous_refs")] IReadOnlyList<string> PreviousRefs,
    [property: JsonPropertyName("how")] string? How,
    [property: JsonPropertyName("message")] string? Message,
    [property: JsonPropertyName("by")] string ChangedBy,
    [property: JsonPropertyName("at")] string ChangedAt,
    [property: JsonPropertyName("supersedes")] IReadOnlyList<string> Supersedes)
{
    public EdgeEvent ToEvent(bool conflict) => new(Id, Child, ChildRef, Parents, ParentRefs, PreviousRefs, How, Message, ChangedBy, ChangedAt, Supersedes, conflict);

    public static SnapshotEdgeEvent Of(EdgeEvent e) => new(e.Id, e.ChildKey, e.ChildRef, e.ParentKeys, e.ParentRefs, e.PreviousRefs, e.How, e.Message, e.ChangedBy, e.ChangedAt, e.Supersedes);
}

/// <summary>A registered test as it travels, with the definitions (by hash) it supersedes.</summary>
internal sealed record SnapshotTest(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("command")] string Command,
    [property: JsonPropertyName("scope")] string Scope,
    [property: JsonPropertyName("pass")] string? Pass,
    [property: JsonPropertyName("timeout_s")] double TimeoutSeconds,
    [property: JsonPropertyName("added_at")] string AddedAt,
    [property: JsonPropertyName("supersedes")] IReadOnlyList<string> Supersedes)
{
    /// <summary>The definition, checked (a test that would be refused at registration is refused here too).</summary>
    public TestDefinition Definition() => new TestDefinition(Name, Command, TestScope.Parse(Scope), Pass, TimeoutSeconds).Validated();

    public string Hash() => TestRegistry.Hash(new TestDefinition(Name, Command, TestScope.Parse(Scope), Pass, TimeoutSeconds));

    public static SnapshotTest Of(TestRegistry.StoredDefinition d) =>
        new(d.Test.Name, d.Test.Command, d.Test.Scope.ToString(), d.Test.Pass, d.Test.TimeoutSeconds, d.AddedAt, d.Supersedes);
}

/// <summary>One recorded test result as it travels (with <c>--with-results</c>): its version by key; the log file stays local.</summary>
internal sealed record SnapshotTestResult(
    [property: JsonPropertyName("version")] string Version,
    [property: JsonPropertyName("test")] string Test,
    [property: JsonPropertyName("passed")] bool Passed,
    [property: JsonPropertyName("exit_code")] int? ExitCode,
    [property: JsonPropertyName("metrics")] string Metrics,
    [property: JsonPropertyName("duration_s")] double DurationSeconds,
    [property: JsonPropertyName("reason")] string Reason,
    [property: JsonPropertyName("log_tail")] string LogTail,
    [property: JsonPropertyName("ran_at")] string RanAt)
{
    public (string, string, string) Identity => (Version, Test, RanAt);
}

/// <summary>
/// The lineage graph as a remote stores it: a JSON document named by its BLAKE3, so it is verified
/// like every object and never changes once written. Exported table by table from the lineage
/// database (models and versions, edges, metadata); tables added later travel only once they are
/// listed here, with their own schema bump.
/// </summary>
internal sealed record LineageSnapshot
{
    /// <summary>
    /// 1: versions (with metadata) and edges. 2: versions carry their recipe. 3: tags and their
    /// history. 4: registered tests (and, pushed with <c>--with-results</c>, their results). 5: the
    /// history of hand-made changes of adapted parents (<c>mgit reparent</c>), so a clone holding
    /// the old edge takes the new one (an older mgit refuses such a remote instead of bringing the
    /// old edge back). A snapshot is written with the lowest schema that holds what it carries (one
    /// without tags or tests stays schema 2), so older mgits keep reading remotes that use nothing newer.
    /// </summary>
    public const int CurrentSchema = 5;

    [JsonPropertyName("format")] public string Format { get; init; } = "mgit-lineage";
    [JsonPropertyName("schema")] public int Schema { get; init; } = CurrentSchema;
    [JsonPropertyName("versions")] public required IReadOnlyList<SnapshotVersion> Versions { get; init; }
    [JsonPropertyName("edges")] public required IReadOnlyList<SnapshotEdge> Edges { get; init; }
    /// <summary>Schema 3: every tag's head (null, and so left out, when there are none).</summary>
    [JsonPropertyName("tags")] public IReadOnlyList<SnapshotTag>? Tags { get; init; }
    /// <summary>Schema 3: every change of those tags.</summary>
    [JsonPropertyName("tag_events")] public IReadOnlyList<SnapshotTagEvent>? TagEvents { get; init; }

    /// <summary>Schema 4: registered tests.</summary>
    [JsonPropertyName("tests")] public IReadOnlyList<SnapshotTest>? Tests { get; init; }
    /// <summary>Schema 4: recorded test results (only what was pushed with <c>--with-results</c>).</summary>
    [JsonPropertyName("test_results")] public IReadOnlyList<SnapshotTestResult>? TestResults { get; init; }

    /// <summary>Schema 5: every change of adapted parents made by hand (null, and so left out, when there are none).</summary>
    [JsonPropertyName("edge_events")] public IReadOnlyList<SnapshotEdgeEvent>? EdgeEvents { get; init; }

    /// <summary>The changes of adapted parents, empty when none.</summary>
    [JsonIgnore] public IReadOnlyList<SnapshotEdgeEvent> EdgeEventList => EdgeEvents ?? [];

    /// <summary>The tests, empty when none.</summary>
    [JsonIgnore] public IReadOnlyList<SnapshotTest> TestList => Tests ?? [];

    /// <summary>The test results, empty when none.</summary>
    [JsonIgnore] public IReadOnlyList<SnapshotTestResult> TestResultList => TestResults ?? [];

    /// <summary>The tags, empty when none.</summary>
    [JsonIgnore] public IReadOnlyList<SnapshotTag> TagList => Tags ?? [];

    /// <summary>The tags' history, empty when none.</summary>
    [JsonIgnore] public IReadOnlyList<SnapshotTagEvent> TagEventList => TagEvents ?? [];

    /// <summary>The lowest schema that holds this snapshot's content.</summary>
    private int NeededSchema() => EdgeEventList.Count > 0 ? 5 : TestList.Count > 0 || TestResultList.Count > 0 ? 4 : TagList.Count > 0 || TagEventList.Count > 0 ? 3 : 2;

    public static LineageSnapshot Empty { get; } = new() { Versions = [], Edges = [] };

    /// <summary>
    /// A version's identity in every repository: the BLAKE3 of its name, manifest id (its exact
    /// content) and the instant it was added (to 100 ns). The same file added under the same name
    /// in two repositories is two versions (both are kept); a version copied by push or pull keeps
    /// its key whatever number it ends up with.
    /// </summary>
    public static string KeyOf(string name, string manifest, string addedAt) => VersionKeys.Of(name, manifest, addedAt);

    public static string AddedAtText(DateTimeOffset addedAt) => VersionKeys.AddedAtText(addedAt);

    public static string KeyOf(ModelVersion version) => VersionKeys.Of(version);

    /// <summary>
    /// The versions given (every version by default) and the edges between them, with the tags
    /// of <paramref name="tags"/> that point at one of them or are deleted, and those tags' history.
    /// </summary>
    public static LineageSnapshot FromGraph(
        LineageGraph graph,
        IReadOnlyCollection<ModelVersion>? selection = null,
        IReadOnlyDictionary<long, string>? recipes = null,
        TagState? tags = null,
        IReadOnlyList<TestRegistry.StoredDefinition>? tests = null,
        IReadOnlyList<TestRegistry.StoredResult>? results = null,
        IReadOnlyList<EdgeEvent>? edgeEvents = null)
    {
        var versions = selection ?? graph.Versions;
        var keys = versions.ToDictionary(v => v.Id, KeyOf);
        var heads = (tags?.Heads ?? []).Where(h => h.VersionId is not long id || keys.ContainsKey(id)).ToList();
        var sent = heads.Select(h => (h.Model, h.Name)).ToHashSet();
        var events = (tags?.Events ?? []).Where(e => sent.Contains((e.Model, e.Name))).Select(SnapshotTagEvent.Of).ToList();
        return new LineageSnapshot
        {
            Versions = versions.Select(v => VersionOf(v, keys[v.Id], recipes?.GetValueOrDefault(v.Id))).ToList(),
            Edges = graph.Edges
                .Where(e => keys.ContainsKey(e.ParentId) && keys.ContainsKey(e.ChildId))
                .Select(e => new SnapshotEdge(keys[e.ParentId], keys[e.ChildId], e.Kind.ToName(), e.How, e.Message))
                .ToList(),
            Tags = heads.Count == 0 ? null : heads.Select(h => new SnapshotTag(h.Model, h.Name, h.Head)).ToList(),
            TagEvents = events.Count == 0 ? null : events,
            Tests = tests is { Count: > 0 } ? tests.Select(SnapshotTest.Of).ToList() : null,
            TestResults = results?.Where(r => keys.ContainsKey(r.VersionId))
                .Select(r => new SnapshotTestResult(keys[r.VersionId], r.Test, r.Passed, r.ExitCode, r.Metrics, r.DurationSeconds, r.Reason, r.LogTail, r.RanAt))
                .ToList() is { Count: > 0 } shipped ? shipped : null,
            // Of the versions sent; a change a pull left in conflict stays here until a reparent settles it.
            EdgeEvents = edgeEvents?.Where(e => !e.Conflict && keys.ContainsValue(e.ChildKey)).Select(SnapshotEdgeEvent.Of).ToList() is { Count: > 0 } changes ? changes : null,
        };
    }

    /// <summary>
    /// What a push of versions only added sends, without the rest of the lineage: the versions
    /// <paramref name="added"/> names and every edge into them (their parents, new or already on
    /// the remote, are in <paramref name="graph"/>). They have no recipes, tags, tests or changes
    /// of parents yet (writing any of those is not an add).
    /// </summary>
    public static LineageSnapshot OfAdded(LineageGraph graph, IReadOnlyCollection<long> added)
    {
        var keys = graph.Versions.ToDictionary(v => v.Id, KeyOf);
        var ids = added.ToHashSet();
        return new LineageSnapshot
        {
            Versions = graph.Versions.Where(v => ids.Contains(v.Id)).Select(v => VersionOf(v, keys[v.Id], recipe: null)).ToList(),
            Edges = graph.Edges
                .Where(e => ids.Contains(e.ChildId))
                .Select(e => new SnapshotEdge(keys[e.ParentId], keys[e.ChildId], e.Kind.ToName(), e.How, e.Message))
                .ToList(),
        };
    }

    private static SnapshotVersion VersionOf(ModelVersion v, string key, string? recipe) => new()
    {
        Key = key,
        Name = v.Name,
        Version = v.Version,
        Type = v.Type,
        Manifest = v.ManifestId,
        LogicalBytes = v.LogicalBytes,
        AddedAt = AddedAtText(v.AddedAt),
        Message = v.Message,
        ErrorBound = v.ErrorBound,
        Metadata = new SortedDictionary<string, string>(v.Metadata.ToDictionary(), StringComparer.Ordinal),
        Recipe = recipe,
    };

    /// <summary>Sorted so that equal graphs give equal bytes (and so equal ids): an unchanged push writes nothing.</summary>
    public byte[] ToJson()
    {
        var canonical = this with
        {
            Schema = NeededSchema(),
            Versions = Versions.OrderBy(v => v.Name, StringComparer.Ordinal).ThenBy(v => v.Version).ToList(),
            Edges = Edges.OrderBy(e => e.Child, StringComparer.Ordinal).ThenBy(e => e.Parent, StringComparer.Ordinal).ThenBy(e => e.Kind, StringComparer.Ordinal).ToList(),
            Tags = TagList.Count == 0 ? null : TagList.OrderBy(t => t.Model, StringComparer.Ordinal).ThenBy(t => t.Name, StringComparer.Ordinal).ToList(),
            TagEvents = TagEventList.Count == 0 ? null : TagEventList.OrderBy(e => e.Id, StringComparer.Ordinal).ToList(),
            Tests = TestList.Count == 0 ? null : TestList.OrderBy(t => t.Name, StringComparer.Ordinal).ToList(),
            TestResults = TestResultList.Count == 0 ? null : TestResultList.OrderBy(r => r.Version, StringComparer.Ordinal).ThenBy(r => r.Test, StringComparer.Ordinal).ThenBy(r => r.RanAt, StringComparer.Ordinal).ToList(),
            EdgeEvents = EdgeEventList.Count == 0 ? null : EdgeEventList.OrderBy(e => e.Id, StringComparer.Ordinal).ToList(),
        };
        return JsonSerializer.SerializeToUtf8Bytes(canonical, RemoteJson.Default.LineageSnapshot);
    }

    /// <summary>
    /// Parses a snapshot and refuses it, naming the first problem, unless every part is sound:
    /// versions (names, numbers, ids, keys, each once) and edges (known kinds, both ends held, no
    /// cycle). <see cref="ParseSkippingBroken"/> leaves the broken parts out instead.
    /// </summary>
    public static LineageSnapshot Parse(ReadOnlySpan<byte> json, string what)
    {
        var (sound, problems) = ParseSkippingBroken(json, what);
        if (problems.Count > 0)
        {
            throw new MGitException(ErrorKind.Damaged, $"{what}: {problems[0]}{(problems.Count > 1 ? $" (and {problems.Count - 1} more problem(s))" : "")}");
        }

        return sound;
    }

    /// <summary>
    /// Parses a snapshot (a document that is not one, or of a newer schema, is refused whole) and
    /// returns its sound part with what was left out: a malformed version with every edge touching
    /// it, an edge with an unknown kind or an end it does not hold, an edge that closes a cycle.
    /// </summary>
    public static (LineageSnapshot Sound, IReadOnlyList<string> Problems) ParseSkippingBroken(ReadOnlySpan<byte> json, string what) =>
        ParseUnchecked(json, what).WithoutBrokenParts();

    /// <summary>
    /// Parses a snapshot, refusing a document that is not one or is of a newer schema, without
    /// checking its parts (a segment's edges name versions of the lineage it is folded onto).
    /// </summary>
    public static LineageSnapshot ParseUnchecked(ReadOnlySpan<byte> json, string what)
    {
        LineageSnapshot? snapshot;
        try
        {
            snapshot = JsonSerializer.Deserialize(json, RemoteJson.Default.LineageSnapshot);
        }
        catch (JsonException e)
        {
            throw new MGitException(ErrorKind.Damaged, $"{what} is unreadable: {e.Message}");
        }

        if (snapshot is null || snapshot.Format != "mgit-lineage" || snapshot.Versions is null || snapshot.Edges is null)
        {
            throw new MGitException(ErrorKind.Damaged, $"{what} is not an mgit lineage snapshot");
        }

        if (snapshot.Schema > CurrentSchema)
        {
            throw new MGitException(ErrorKind.Unsupported, $"{what} uses lineage snapshot schema {snapshot.Schema}, newer than this mgit understands ({CurrentSchema}); upgrade mgit");
        }

        return snapshot;
    }

    /// <summary>
    /// This snapshot without its broken parts (see <see cref="ParseSkippingBroken"/>), and a line for
    /// each part left out. Given <paramref name="heldElsewhere"/> (the lineage a segment is folded
    /// onto), what that holds counts as held too: the versions an edge, tag or result names, the
    /// change a tag follows.
    /// </summary>
    public (LineageSnapshot Sound, IReadOnlyList<string> Problems) WithoutBrokenParts(LineageSnapshot? heldElsewhere = null)
    {
        var problems = new List<string>();
        var versions = new List<SnapshotVersion>();
        var keys = new HashSet<string>(StringComparer.Ordinal);
        var refs = new HashSet<(string, int)>();
        foreach (var v in Versions)
        {
            string? problem = v is null ? "a version is null"
                : ModelRef.NameProblem(v.Name) is { } name ? $"a version has an invalid name ({name})"
                : v.Version < 1 || !ObjectId.TryParse(v.Manifest, out _) || v.LogicalBytes < 0 || v.Metadata is null || v.Metadata.Any(m => m.Value is null) ? $"version {v.Ref} is malformed"
                : v.AddedAt is null || !DateTimeOffset.TryParse(v.AddedAt, CultureInfo.InvariantCulture, DateTimeStyles.None, out _) || KeyOf(v.Name, v.Manifest, v.AddedAt) != v.Key ? $"version {v.Ref} does not match its key"
                : !keys.Add(v.Key) || !refs.Add((v.Name, v.Version)) ? $"version {v.Ref} appears twice"
                : null;
            if (problem is null)
            {
                versions.Add(v!);
            }
            else
            {
                problems.Add(problem);
            }
        }

        // An edge is kept when its kind is known and both its ends are kept.
        var held = versions.Select(v => v.Key).ToHashSet(StringComparer.Ordinal);
        held.UnionWith(heldElsewhere?.Versions.Select(v => v.Key) ?? []);
        var edges = new List<SnapshotEdge>();
        foreach (var e in Edges)
        {
            if (e is null || !EdgeKindNames.TryParse(e.Kind, out _))
            {
                problems.Add($"an edge has an unknown kind '{e?.Kind}'");
            }
            else if (e.Parent == e.Child)
            {
                problems.Add($"an edge joins version {RefOf(e.Parent)} to itself");
            }
            else if (!held.Contains(e.Parent) || !held.Contains(e.Child))
            {
                problems.Add($"an edge names a version it does not hold ({RefOf(held.Contains(e.Parent) ? e.Child : e.Parent)})");
            }
            else
            {
                edges.Add(e);
            }
        }

        var closing = Acyclic.CycleClosingEdges(edges.Select(e => (e.Parent, e.Child)).ToList());
        foreach (int i in closing)
        {
            problems.Add($"the edge from {RefOf(edges[i].Parent)} to {RefOf(edges[i].Child)} closes a cycle");
        }

        var closed = closing.ToHashSet();
        var elsewhere = heldElsewhere?.Versions ?? [];
        var (tags, tagEvents) = SoundTags([.. versions, .. elsewhere], heldElsewhere?.TagEventList ?? [], problems);
        var (tests, results) = SoundTests([.. versions, .. elsewhere], problems);
        var edgeEvents = SoundEdgeEvents(problems);
        var sound = this with { Versions = versions, Edges = edges.Where((_, i) => !closed.Contains(i)).ToList(), Tags = tags, TagEvents = tagEvents, Tests = tests, TestResults = results, EdgeEvents = edgeEvents };
        return (sound, problems);

        string RefOf(string key) => Versions.FirstOrDefault(v => v?.Key == key) is { } v ? v.Ref : $"key {key[..Math.Min(key.Length, 12)]}";
    }

    /// <summary>
    /// The sound tag changes (well formed, each id once; a change may name versions not held, as
    /// history) and the sound tags: valid names, each once, following a held change whose version
    /// (unless a delete) is held and of the tag's model.
    /// </summary>
    private (IReadOnlyList<SnapshotTag>? Tags, IReadOnlyList<SnapshotTagEvent>? Events) SoundTags(List<SnapshotVersion> versions, IReadOnlyList<SnapshotTagEvent> eventsElsewhere, List<string> problems)
    {
        if (Tags is null && TagEvents is null)
        {
            return (null, null);
        }

        var events = new Dictionary<string, SnapshotTagEvent>(StringComparer.Ordinal);
        foreach (var e in TagEventList)
        {
            string? problem = e is null || e.Id is null ? "a tag change is null or has no id"
                : ModelRef.NameProblem(e.Model) is not null || TagNames.Problem(e.Name) is not null ? $"tag change {e.Id} names an invalid tag"
                : e.MovedBy is null || e.MovedAt is null || !DateTimeOffset.TryParse(e.MovedAt, CultureInfo.InvariantCulture, DateTimeStyles.None, out _) || e.Parents is null || e.Parents.Any(p => p is null) ? $"tag change {e.Id} of {e.Model}@{e.Name} is malformed"
                : !events.TryAdd(e.Id, e) ? $"tag change {e.Id} appears twice"
                : null;
            if (problem is not null)
            {
                problems.Add(problem);
            }
        }

        var held = new Dictionary<string, SnapshotVersion>(StringComparer.Ordinal);
        foreach (var v in versions)
        {
            held.TryAdd(v.Key, v);
        }

        var known = new Dictionary<string, SnapshotTagEvent>(events, StringComparer.Ordinal);
        foreach (var e in eventsElsewhere)
        {
            known.TryAdd(e.Id, e);
        }

        var tags = new List<SnapshotTag>();
        var seen = new HashSet<(string, string)>();
        foreach (var t in TagList)
        {
            string? problem = t is null ? "a tag is null"
                : ModelRef.NameProblem(t.Model) is { } model ? $"a tag has an invalid model name ({model})"
                : TagNames.Problem(t.Name) is { } name ? $"a tag has an invalid name ({name})"
                : !seen.Add((t.Model, t.Name)) ? $"tag {t.Model}@{t.Name} appears twice"
                : t.Head is null || !known.TryGetValue(t.Head, out var head) || head.Model != t.Model || head.Name != t.Name ? $"tag {t.Model}@{t.Name} follows a change the snapshot does not hold"
                : head.Target is { } target && (!held.TryGetValue(target, out var version) || version.Name != t.Model) ? $"tag {t.Model}@{t.Name} points at a version of its model the snapshot does not hold"
                : null;
            if (problem is null)
            {
                tags.Add(t!);
            }
            else
            {
                problems.Add(problem);
            }
        }

        return (tags, events.Values.ToList());
    }

    /// <summary>The sound changes of adapted parents: well formed, each id once (they may name versions not held: they are history).</summary>
    private List<SnapshotEdgeEvent>? SoundEdgeEvents(List<string> problems)
    {
        if (EdgeEvents is null)
        {
            return null;
        }

        var ids = new HashSet<string>(StringComparer.Ordinal);
        var sound = new List<SnapshotEdgeEvent>();
        foreach (var e in EdgeEvents)
        {
            string? problem = e is null || e.Id is null || e.Child is null ? "a change of parents is null or has no id"
                : e.ChildRef is null || e.ChangedBy is null || e.ChangedAt is null || !DateTimeOffset.TryParse(e.ChangedAt, CultureInfo.InvariantCulture, DateTimeStyles.None, out _)
                    || e.Parents is null || e.ParentRefs is null || e.PreviousRefs is null || e.Supersedes is null
                    || e.Parents.Concat(e.ParentRefs).Concat(e.PreviousRefs).Concat(e.Supersedes).Any(x => x is null) ? $"change {e.Id} of the parents of {e.ChildRef} is malformed"
                : !ids.Add(e.Id) ? $"change {e.Id} of the parents of {e.ChildRef} appears twice"
                : null;
            if (problem is null)
            {
                sound.Add(e!);
            }
            else
            {
                problems.Add(problem);
            }
        }

        return sound;
    }

    /// <summary>The sound tests (each a definition registration would take, each name once) and results (of a held version, well formed).</summary>
    private (IReadOnlyList<SnapshotTest>? Tests, IReadOnlyList<SnapshotTestResult>? Results) SoundTests(List<SnapshotVersion> versions, List<string> problems)
    {
        if (Tests is null && TestResults is null)
        {
            return (null, null);
        }

        var tests = new List<SnapshotTest>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var t in TestList)
        {
            string? problem = t is null ? "a test is null"
                : t.AddedAt is null || t.Supersedes is null || t.Supersedes.Any(h => h is null) ? $"test '{t.Name}' is malformed"
                : DefinitionProblem(t) is { } bad ? $"test '{t.Name}' is invalid ({bad})"
                : !names.Add(t.Name) ? $"test '{t.Name}' appears twice"
                : null;
            if (problem is null)
            {
                tests.Add(t!);
            }
            else
            {
                problems.Add(problem);
            }
        }

        var held = versions.Select(v => v.Key).ToHashSet(StringComparer.Ordinal);
        var results = new List<SnapshotTestResult>();
        foreach (var r in TestResultList)
        {
            string? problem = r is null || r.Test is null || r.Metrics is null || r.Reason is null || r.LogTail is null || r.RanAt is null
                || !DateTimeOffset.TryParse(r.RanAt, CultureInfo.InvariantCulture, DateTimeStyles.None, out _) ? "a test result is malformed"
                : !held.Contains(r.Version) ? $"a result of test '{r.Test}' names a version the snapshot does not hold"
                : null;
            if (problem is null)
            {
                results.Add(r!);
            }
            else
            {
                problems.Add(problem);
            }
        }

        return (tests, results);

        static string? DefinitionProblem(SnapshotTest t)
        {
            try
            {
                t.Definition();
                return null;
            }
            catch (MGitException e)
            {
                return e.Message;
            }
        }
    }

    /// <summary>This snapshot without the versions named (by key), every edge touching them, and the tags pointing at them.</summary>
    public LineageSnapshot Without(IReadOnlySet<string> versionKeys)
    {
        var events = TagEventList.ToDictionary(e => e.Id, StringComparer.Ordinal);
        return this with
        {
            Versions = Versions.Where(v => !versionKeys.Contains(v.Key)).ToList(),
            Edges = Edges.Where(e => !versionKeys.Contains(e.Parent) && !versionKeys.Contains(e.Child)).ToList(),
            Tags = Tags?.Where(t => !(events.GetValueOrDefault(t.Head)?.Target is { } target && versionKeys.Contains(target))).ToList(),
            TestResults = TestResults?.Where(r => !versionKeys.Contains(r.Version)).ToList(),
        };
    }

    /// <summary>This snapshot without the edges named.</summary>
    public LineageSnapshot Without(IReadOnlySet<SnapshotEdge> edges) => this with { Edges = Edges.Where(e => !edges.Contains(e)).ToList() };
}
