namespace MGit.Remotes;

/// <summary>A version of the non-authoritative side that had to take a new number.</summary>
public sealed record Renumbered(string Name, int From, int To, string Key)
{
    /// <summary>The move as shown to the user, e.g. <c>llama@3 -&gt; llama@4</c>.</summary>
    public override string ToString() => $"{Name}@{From} -> {Name}@{To}";
}

/// <summary>The union of two graphs, and which versions of the second side moved.</summary>
internal sealed record MergeResult(LineageSnapshot Merged, IReadOnlyList<Renumbered> Renumbered);

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
        return new MergeResult(new LineageSnapshot { Versions = versions, Edges = edges }, renumbered);
    }
}
