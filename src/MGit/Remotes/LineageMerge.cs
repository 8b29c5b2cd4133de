using MGit.Lineage;

namespace MGit.Remotes;

/// <summary>A version of the non-authoritative side that had to take a new number.</summary>
public sealed record Renumbered(string Name, int From, int To, string Key)
{
    /// <summary>The move as shown to the user, e.g. <c>llama@3 -&gt; llama@4</c>.</summary>
    public override string ToString() => $"{Name}@{From} -> {Name}@{To}";
}

/// <summary>
/// The union of two graphs, which versions of the second side moved, and the versions (by key)
/// whose adapted parents both sides changed differently by hand (the second side's edges kept).
/// </summary>
internal sealed record MergeResult(LineageSnapshot Merged, IReadOnlyList<Renumbered> Renumbered)
{
    public IReadOnlyList<string> ParentConflicts { get; init; } = [];
}

/// <summary>
/// Merging lineage graphs. The result is the union of both sides' versions (by key), edges and
/// metadata: nothing is ever dropped. Numbers: the authoritative side (the remote, whose numbers
/// others have already seen) keeps every number; a version of the other side that is not on the
/// authoritative side keeps its number when that NAME@N is free, else it takes the next number
/// after both sides' highest for that name (in its old order), and is reported. A version both
/// sides hold under different numbers takes the authoritative number.
/// </summary>
internal static class LineageMerge
{
    public static MergeResult Union(LineageSnapshot authoritative, LineageSnapshot other)
    {
        var byKey = authoritative.Versions.ToDictionary(v => v.Key, StringComparer.Ordinal);
        var taken = authoritative.Versions.Select(v => (v.Name, v.Version)).ToHashSet();
        var next = authoritative.Versions.Concat(other.Versions)
            .GroupBy(v => v.Name, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.Max(v => v.Version) + 1, StringComparer.Ordinal);

        // A recipe recorded on either side travels: the authoritative side's when both have one.
        var otherByKey = other.Versions.ToDictionary(v => v.Key, StringComparer.Ordinal);
        var versions = authoritative.Versions
            .Select(v => v.Recipe is null && otherByKey.TryGetValue(v.Key, out var mine) && mine.Recipe is not null ? v with { Recipe = mine.Recipe } : v)
            .ToList();
        var renumbered = new List<Renumbered>();
        var incoming = other.Versions.Where(v => !byKey.ContainsKey(v.Key)).OrderBy(v => v.Name, StringComparer.Ordinal).ThenBy(v => v.Version).ToList();

        // First every version whose number is free keeps it, then the others take new ones: so a
        // renumbered version never takes a number another incoming version already has.
        foreach (var v in incoming.Where(v => !taken.Contains((v.Name, v.Version))).ToList())
        {
            taken.Add((v.Name, v.Version));
            versions.Add(v);
            incoming.Remove(v);
        }

        foreach (var v in incoming)
        {
            int number = next[v.Name]++;
            taken.Add((v.Name, number));
            versions.Add(v with { Version = number });
            renumbered.Add(new Renumbered(v.Name, v.Version, number, v.Key));
        }

        var edgeKeys = authoritative.Edges.Select(e => (e.Parent, e.Child, e.Kind)).ToHashSet();
        var edges = authoritative.Edges.Concat(other.Edges.Where(e => edgeKeys.Add((e.Parent, e.Child, e.Kind)))).ToList();
        var (edgeEvents, replaced, conflicts) = EdgeMerge.Union(authoritative, other);
        edges.RemoveAll(replaced.Contains);
        var (tags, tagEvents) = TagMerge.Union(authoritative, other);
        var (tests, results) = TestMerge.Union(authoritative, other);
        var merged = new LineageSnapshot { Versions = versions, Edges = edges, Tags = tags, TagEvents = tagEvents, Tests = tests, TestResults = results, EdgeEvents = edgeEvents };
        return new MergeResult(merged, renumbered) { ParentConflicts = conflicts };
    }
}

/// <summary>
/// A tag both sides moved differently since they last agreed: <paramref name="Here"/> and
/// <paramref name="There"/> are the refs it points at on each side (null where it was deleted).
/// </summary>
/// <param name="Tag">The tag, <c>MODEL@TAG</c>.</param>
/// <param name="Here">Where this repository's tag points.</param>
/// <param name="There">Where the remote's tag points.</param>
/// <param name="ThereBy">Who moved it on the remote.</param>
/// <param name="ThereAt">When it was moved on the remote.</param>
public sealed record TagConflict(string Tag, string? Here, string? There, string ThereBy, DateTimeOffset ThereAt)
{
    /// <summary>The conflict in one line, with how to settle it.</summary>
    public override string ToString()
    {
        int at = Tag.LastIndexOf('@');
        string name = Tag[(at + 1)..];
        return $"tag {Tag} was moved both here ({Here ?? "deleted"}) and on the remote ({There ?? "deleted"}, by {ThereBy} at {ThereAt.UtcDateTime:yyyy-MM-dd HH:mm}Z); nothing was overwritten: pick one with 'mgit tag REF {name} --force' (e.g. {There ?? Here ?? Tag}), then push";
    }
}

/// <summary>How one side's tag (or test definition) relates to the other's, by their histories.</summary>
internal enum TagRelation
{
    /// <summary>Both follow the same change, or only this side has the tag.</summary>
    Same,
    /// <summary>This side's change descends from the other's: this side is ahead.</summary>
    HereAhead,
    /// <summary>The other side's change descends from this side's (or only the other has the tag): a fast-forward.</summary>
    ThereAhead,
    /// <summary>Both moved it since they last agreed, to the same version (or both deleted it).</summary>
    DivergedAlike,
    /// <summary>Both moved it since they last agreed, differently: a conflict.</summary>
    Conflict,
}

/// <summary>
/// Merging tags: a tag follows a chain of changes, each naming the changes it supersedes. A side
/// whose change descends from the other's is ahead and wins (a fast-forward); when neither does,
/// both moved it, and unless they agree on the version that is a conflict nothing resolves
/// silently. Histories are united, so a change made to settle a conflict supersedes both sides.
/// </summary>
internal static class TagMerge
{
    /// <summary>Whether change <paramref name="to"/> is <paramref name="from"/> or one it supersedes, directly or not.</summary>
    public static bool Reaches(string from, string to, IReadOnlyDictionary<string, SnapshotTagEvent> events)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal) { from };
        var queue = new Queue<string>([from]);
        while (queue.TryDequeue(out var id))
        {
            if (id == to)
            {
                return true;
            }

            foreach (string parent in events.TryGetValue(id, out var e) ? e.Parents : [])
            {
                if (seen.Add(parent))
                {
                    queue.Enqueue(parent);
                }
            }
        }

        return false;
    }

    /// <summary>How the tag following <paramref name="here"/> relates to the one following <paramref name="there"/> (either null when that side lacks it).</summary>
    public static TagRelation Relate(string? here, string? there, IReadOnlyDictionary<string, SnapshotTagEvent> events)
    {
        if (there is null || here == there)
        {
            return TagRelation.Same;
        }

        if (here is null || Reaches(there, here, events))
        {
            return TagRelation.ThereAhead;
        }

        if (Reaches(here, there, events))
        {
            return TagRelation.HereAhead;
        }

        return events.GetValueOrDefault(here)?.Target == events.GetValueOrDefault(there)?.Target ? TagRelation.DivergedAlike : TagRelation.Conflict;
    }

    /// <summary>Both sides' changes, each once.</summary>
    public static Dictionary<string, SnapshotTagEvent> Events(IEnumerable<SnapshotTagEvent> first, IEnumerable<SnapshotTagEvent> second)
    {
        var events = new Dictionary<string, SnapshotTagEvent>(StringComparer.Ordinal);
        foreach (var e in first.Concat(second))
        {
            events.TryAdd(e.Id, e);
        }

        return events;
    }

    /// <summary>
    /// The tags of a merged snapshot: each side's own, and for a tag on both the side that is
    /// ahead (the authoritative side's unless the other is ahead of it); every change of both.
    /// </summary>
    public static (IReadOnlyList<SnapshotTag>? Tags, IReadOnlyList<SnapshotTagEvent>? Events) Union(LineageSnapshot authoritative, LineageSnapshot other)
    {
        var events = Events(authoritative.TagEventList, other.TagEventList);
        var theirs = other.TagList.ToDictionary(t => (t.Model, t.Name));
        var tags = new List<SnapshotTag>();
        foreach (var t in authoritative.TagList)
        {
            tags.Add(theirs.Remove((t.Model, t.Name), out var mine) && Relate(t.Head, mine.Head, events) == TagRelation.ThereAhead ? mine : t);
        }

        tags.AddRange(theirs.Values);
        return (tags.Count == 0 ? null : tags, events.Count == 0 ? null : events.Values.ToList());
    }
}

/// <summary>
/// Merging registered tests: a definition replaced on one side supersedes the one it replaced, so
/// a side whose definition supersedes the other's is ahead and wins; two different definitions of
/// one name, neither superseding the other, are a conflict. Results are united (each run once).
/// </summary>
internal static class TestMerge
{
    /// <summary>How this side's definition relates to the other side's (either null when that side lacks the test).</summary>
    public static TagRelation Relate(SnapshotTest? here, SnapshotTest? there)
    {
        if (there is null)
        {
            return TagRelation.Same;
        }

        if (here is null)
        {
            return TagRelation.ThereAhead;
        }

        string mine = here.Hash();
        string theirs = there.Hash();
        return mine == theirs ? TagRelation.Same
            : here.Supersedes.Contains(theirs) ? TagRelation.HereAhead
            : there.Supersedes.Contains(mine) ? TagRelation.ThereAhead
            : TagRelation.Conflict;
    }

    /// <summary>The one line a conflicting test is reported with, and how to settle it.</summary>
    public static string Conflict(SnapshotTest here, SnapshotTest there, string where) =>
        $"test '{here.Name}' is defined differently here ('{here.Command}') and on {where} ('{there.Command}'); nothing was overwritten: settle it with 'mgit test add {here.Name} --cmd ... --replace' (that definition then supersedes both), then push";

    public static (IReadOnlyList<SnapshotTest>? Tests, IReadOnlyList<SnapshotTestResult>? Results) Union(LineageSnapshot authoritative, LineageSnapshot other)
    {
        var theirs = other.TestList.ToDictionary(t => t.Name, StringComparer.Ordinal);
        var tests = new List<SnapshotTest>();
        foreach (var t in authoritative.TestList)
        {
            tests.Add(theirs.Remove(t.Name, out var mine) && Relate(t, mine) == TagRelation.ThereAhead ? mine : t);
        }

        tests.AddRange(theirs.Values);
        var seen = authoritative.TestResultList.Select(r => r.Identity).ToHashSet();
        var results = authoritative.TestResultList.Concat(other.TestResultList.Where(r => seen.Add(r.Identity))).ToList();
        return (tests.Count == 0 ? null : tests, results.Count == 0 ? null : results);
    }
}

/// <summary>
/// Merging hand-made changes of adapted parents (<c>mgit reparent</c>). Each change names the
/// changes of the same version it supersedes, as tag changes do. For each version whose parents
/// either side changed: the side whose changes descend from the other's is ahead, and the
/// version's adapted edges are that side's (the other side's old edge goes, so a reparent carries
/// over instead of leaving both parents); when neither is ahead and they differ, that is a
/// conflict and the second side (this repository) keeps its edges. Histories are united.
/// </summary>
internal static class EdgeMerge
{
    /// <summary>Each version's heads (changes no other change of that side supersedes), by child key.</summary>
    public static Dictionary<string, List<string>> Heads(IEnumerable<SnapshotEdgeEvent> events)
    {
        var all = events.ToList();
        var superseded = all.SelectMany(e => e.Supersedes).ToHashSet(StringComparer.Ordinal);
        return all.Where(e => !superseded.Contains(e.Id))
            .GroupBy(e => e.Child, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.Select(e => e.Id).Order(StringComparer.Ordinal).ToList(), StringComparer.Ordinal);
    }

    /// <summary>The adapted parents (keys) of each version in a snapshot.</summary>
    public static ILookup<string, string> AdaptedParents(LineageSnapshot snapshot) =>
        snapshot.Edges.Where(e => e.Kind == "adapted").ToLookup(e => e.Child, e => e.Parent, StringComparer.Ordinal);

    /// <summary>
    /// How this side's changes of one version's parents (<paramref name="here"/>, its heads)
    /// relate to the other side's: ahead when every head of the other is one of this side's
    /// changes or superseded by one; alike when neither is ahead but the parents agree.
    /// </summary>
    public static TagRelation Relate(IReadOnlyList<string> here, IReadOnlyList<string> there, IReadOnlyDictionary<string, SnapshotEdgeEvent> events, bool sameParents)
    {
        if (here.SequenceEqual(there, StringComparer.Ordinal))
        {
            return TagRelation.Same;
        }

        bool hereCovers = there.All(t => here.Any(h => Reaches(h, t, events)));
        bool thereCovers = here.All(h => there.Any(t => Reaches(t, h, events)));
        return hereCovers && !thereCovers ? TagRelation.HereAhead
            : thereCovers && !hereCovers ? TagRelation.ThereAhead
            : sameParents ? TagRelation.DivergedAlike
            : TagRelation.Conflict;
    }

    /// <summary>Whether change <paramref name="to"/> is <paramref name="from"/> or one it supersedes, directly or not.</summary>
    private static bool Reaches(string from, string to, IReadOnlyDictionary<string, SnapshotEdgeEvent> events)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal) { from };
        var queue = new Queue<string>([from]);
        while (queue.TryDequeue(out var id))
        {
            if (id == to)
            {
                return true;
            }

            foreach (string parent in events.TryGetValue(id, out var e) ? e.Supersedes : [])
            {
                if (seen.Add(parent))
                {
                    queue.Enqueue(parent);
                }
            }
        }

        return false;
    }

    /// <summary>
    /// How each version whose parents either side changed by hand relates, from
    /// <paramref name="here"/>'s side (versions both sides agree on are left out).
    /// </summary>
    public static List<(string Child, TagRelation Relation)> Compare(LineageSnapshot here, LineageSnapshot there)
    {
        var events = new Dictionary<string, SnapshotEdgeEvent>(StringComparer.Ordinal);
        foreach (var e in here.EdgeEventList.Concat(there.EdgeEventList))
        {
            events.TryAdd(e.Id, e);
        }

        var hereHeads = Heads(here.EdgeEventList);
        var thereHeads = Heads(there.EdgeEventList);
        var hereParents = AdaptedParents(here);
        var thereParents = AdaptedParents(there);
        var result = new List<(string, TagRelation)>();
        foreach (string child in hereHeads.Keys.Union(thereHeads.Keys, StringComparer.Ordinal).Order(StringComparer.Ordinal))
        {
            bool same = hereParents[child].Order(StringComparer.Ordinal).SequenceEqual(thereParents[child].Order(StringComparer.Ordinal), StringComparer.Ordinal);
            var relation = Relate(hereHeads.GetValueOrDefault(child) ?? [], thereHeads.GetValueOrDefault(child) ?? [], events, same);
            if (relation is not (TagRelation.Same or TagRelation.DivergedAlike))
            {
                result.Add((child, relation));
            }
        }

        return result;
    }

    /// <summary>
    /// Both sides' changes (each once), the edges the merge drops (the adapted edges of a version
    /// on the side that is behind for it, or on the authoritative side in a conflict), and the
    /// versions in conflict.
    /// </summary>
    public static (IReadOnlyList<SnapshotEdgeEvent>? Events, HashSet<SnapshotEdge> Replaced, IReadOnlyList<string> Conflicts) Union(LineageSnapshot authoritative, LineageSnapshot other)
    {
        var events = new Dictionary<string, SnapshotEdgeEvent>(StringComparer.Ordinal);
        foreach (var e in authoritative.EdgeEventList.Concat(other.EdgeEventList))
        {
            events.TryAdd(e.Id, e);
        }

        var replaced = new HashSet<SnapshotEdge>();
        var conflicts = new List<string>();
        foreach (var (child, relation) in Compare(authoritative, other))
        {
            // The side behind (or, in a conflict, the authoritative side) loses the adapted edges the other lacks.
            var (loser, winner) = relation == TagRelation.HereAhead ? (other, authoritative) : (authoritative, other);
            var kept = winner.Edges.Where(e => e.Child == child && e.Kind == "adapted").Select(e => e.Parent).ToHashSet(StringComparer.Ordinal);
            replaced.UnionWith(loser.Edges.Where(e => e.Child == child && e.Kind == "adapted" && !kept.Contains(e.Parent)));
            if (relation == TagRelation.Conflict)
            {
                conflicts.Add(child);
            }
        }

        return (events.Count == 0 ? null : events.Values.OrderBy(e => e.Id, StringComparer.Ordinal).ToList(), replaced, conflicts);
    }
}
