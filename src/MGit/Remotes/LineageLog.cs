using System.Text.Json;
using System.Text.Json.Serialization;
using MGit.Errors;
using MGit.Primitives;

namespace MGit.Remotes;

/// <summary>
/// What a remote's <c>refs/lineage</c> names (remote format 2): a checkpoint (a whole lineage
/// snapshot) and the segments pushed since, in order, each a snapshot holding only what one push
/// added. The remote's lineage is the checkpoint with every segment folded in
/// (<see cref="LineageSegments.Fold"/>). <see cref="Compacted"/> says what the current checkpoint
/// was folded from, so a clone that holds that state folds the rest itself instead of downloading
/// the checkpoint. A format-1 ref (one snapshot id) reads as a checkpoint with no segments.
/// </summary>
internal sealed record LineageLogHead
{
    /// <summary>The version of this ref's JSON.</summary>
    public const int CurrentVersion = 1;

    /// <summary>More segments than this in one ref is damage, not data (a push compacts long before).</summary>
    public const int MaxSegments = 4096;

    [JsonPropertyName("lineage_log")] public int Version { get; init; } = CurrentVersion;
    [JsonPropertyName("checkpoint")] public required string Checkpoint { get; init; }
    [JsonPropertyName("segments")] public IReadOnlyList<string> Segments { get; init; } = [];
    /// <summary>The checkpoint and segments the current checkpoint folds (null when not known or not a fold of them).</summary>
    [JsonPropertyName("compacted")] public LineageLogBase? Compacted { get; init; }

    /// <summary>Every lineage file this ref needs or offers (checkpoint, segments, and what the checkpoint was folded from).</summary>
    [JsonIgnore]
    public IEnumerable<string> LiveFiles =>
        Segments.Prepend(Checkpoint).Concat(Compacted is null ? [] : Compacted.Segments.Prepend(Compacted.Checkpoint));

    public static LineageLogHead Legacy(ObjectId snapshot) => new() { Checkpoint = snapshot.ToString() };

    public byte[] ToJson() => JsonSerializer.SerializeToUtf8Bytes(this, RemoteLogJson.Default.LineageLogHead);

    /// <summary>Whether <paramref name="later"/> is this ref with segments appended (or the same), on the same checkpoint.</summary>
    public bool IsExtendedBy(LineageLogHead later) =>
        new LineageLogBase(Checkpoint, Segments).IsPrefixOf(new LineageLogBase(later.Checkpoint, later.Segments));

    /// <summary>Whether <paramref name="other"/> names the same lineage files in the same order.</summary>
    public bool SameAs(LineageLogHead other) => ToJson().AsSpan().SequenceEqual(other.ToJson());

    /// <summary>Reads a ref: a format-1 snapshot id, or a log head; anything else is refused as damaged.</summary>
    public static LineageLogHead Parse(ReadOnlySpan<byte> bytes, string what)
    {
        string text = System.Text.Encoding.UTF8.GetString(bytes).Trim();
        if (ObjectId.TryParse(text, out var id))
        {
            return Legacy(id);
        }

        LineageLogHead? head;
        try
        {
            head = text.StartsWith('{') ? JsonSerializer.Deserialize(text, RemoteLogJson.Default.LineageLogHead) : null;
        }
        catch (JsonException)
        {
            head = null;
        }

        if (head is null || head.Checkpoint is null || head.Segments is null)
        {
            throw new MGitException(ErrorKind.Damaged, $"{what} is damaged (neither a snapshot id nor a lineage log)");
        }

        if (head.Version > CurrentVersion)
        {
            throw new MGitException(ErrorKind.Unsupported, $"{what} uses lineage log version {head.Version}, newer than this mgit understands ({CurrentVersion}); upgrade mgit");
        }

        if (!Sound(head.Checkpoint, head.Segments) || (head.Compacted is { } compacted && !Sound(compacted.Checkpoint, compacted.Segments)))
        {
            throw new MGitException(ErrorKind.Damaged, $"{what} is damaged (a malformed lineage log)");
        }

        return head;

        static bool Sound(string? checkpoint, IReadOnlyList<string>? segments) =>
            ObjectId.TryParse(checkpoint, out _) && segments is not null && segments.Count <= MaxSegments && segments.All(s => ObjectId.TryParse(s, out _));
    }
}

/// <summary>A checkpoint and the segments folded onto it, in order: one state of a remote's lineage.</summary>
internal sealed record LineageLogBase(
    [property: JsonPropertyName("checkpoint")] string Checkpoint,
    [property: JsonPropertyName("segments")] IReadOnlyList<string> Segments)
{
    /// <summary>Whether <paramref name="later"/> is this state with more segments (or the same).</summary>
    public bool IsPrefixOf(LineageLogBase later) =>
        Checkpoint == later.Checkpoint && Segments.Count <= later.Segments.Count && Segments.SequenceEqual(later.Segments.Take(Segments.Count), StringComparer.Ordinal);
}

/// <summary>
/// Segments: what one push adds to a remote's lineage, as a snapshot of only the new parts. The
/// remote's lineage is defined as the fold of its segments onto the checkpoint with the same merge
/// rule pull uses (<see cref="LineageMerge.Union"/>, the state so far authoritative), so a push
/// proves its segment by folding it and comparing with the lineage it means to publish, byte for
/// byte, and writes a whole checkpoint when the two differ.
/// </summary>
internal static class LineageSegments
{
    /// <summary>
    /// What <paramref name="merged"/> holds that <paramref name="current"/> lacks: new versions and
    /// recipes set since, new edges (and every adapted edge of a version whose parents were changed
    /// by hand, since the newer change replaces them all), new tag, test and parent changes, new results.
    /// </summary>
    public static LineageSnapshot Delta(LineageSnapshot current, LineageSnapshot merged)
    {
        var versions = current.Versions.ToDictionary(v => v.Key, StringComparer.Ordinal);
        var edges = current.Edges.Select(e => (e.Parent, e.Child, e.Kind)).ToHashSet();
        var edgeEvents = current.EdgeEventList.Select(e => e.Id).ToHashSet(StringComparer.Ordinal);
        var newEdgeEvents = merged.EdgeEventList.Where(e => !edgeEvents.Contains(e.Id)).ToList();
        var reparented = newEdgeEvents.Select(e => e.Child).ToHashSet(StringComparer.Ordinal);
        var tags = current.TagList.Select(t => (t.Model, t.Name, t.Head)).ToHashSet();
        var tagEvents = current.TagEventList.Select(e => e.Id).ToHashSet(StringComparer.Ordinal);
        var tests = current.TestList.ToDictionary(t => t.Name, StringComparer.Ordinal);
        var results = current.TestResultList.Select(r => r.Identity).ToHashSet();
        return new LineageSnapshot
        {
            Versions = merged.Versions.Where(v => !versions.TryGetValue(v.Key, out var held) || (held.Recipe is null && v.Recipe is not null)).ToList(),
            Edges = merged.Edges.Where(e => !edges.Contains((e.Parent, e.Child, e.Kind)) || (e.Kind == "adapted" && reparented.Contains(e.Child))).ToList(),
            Tags = NullIfEmpty(merged.TagList.Where(t => !tags.Contains((t.Model, t.Name, t.Head))).ToList()),
            TagEvents = NullIfEmpty(merged.TagEventList.Where(e => !tagEvents.Contains(e.Id)).ToList()),
            Tests = NullIfEmpty(merged.TestList.Where(t => !tests.TryGetValue(t.Name, out var held) || !SameTest(held, t)).ToList()),
            TestResults = NullIfEmpty(merged.TestResultList.Where(r => !results.Contains(r.Identity)).ToList()),
            EdgeEvents = NullIfEmpty(newEdgeEvents),
        };

        static bool SameTest(SnapshotTest a, SnapshotTest b) =>
            a.Hash() == b.Hash() && a.AddedAt == b.AddedAt && a.Supersedes.SequenceEqual(b.Supersedes, StringComparer.Ordinal);
    }

    /// <summary>Whether a delta adds nothing.</summary>
    public static bool IsEmpty(LineageSnapshot delta) =>
        delta.Versions.Count == 0 && delta.Edges.Count == 0 && delta.TagList.Count == 0 && delta.TagEventList.Count == 0
        && delta.TestList.Count == 0 && delta.TestResultList.Count == 0 && delta.EdgeEventList.Count == 0;

    /// <summary>
    /// The lineage <paramref name="state"/> with <paramref name="segment"/> folded in. The segment's
    /// malformed parts are left out first (each reported in <paramref name="problems"/>); what it
    /// names of the state (an edge's parent, a tag's change) counts as held.
    /// </summary>
    public static LineageSnapshot Fold(LineageSnapshot state, LineageSnapshot segment, List<string> problems)
    {
        var (sound, found) = segment.WithoutBrokenParts(state);
        problems.AddRange(found);
        return LineageMerge.Union(state, sound).Merged;
    }

    private static List<T>? NullIfEmpty<T>(List<T> list) => list.Count == 0 ? null : list;
}

/// <summary>The lineage log's ref, compact.</summary>
[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(LineageLogHead))]
[JsonSerializable(typeof(RemoteLineageCache.CachedState))]
[JsonSerializable(typeof(RemoteLineageCache.PushMark))]
internal sealed partial class RemoteLogJson : JsonSerializerContext;
