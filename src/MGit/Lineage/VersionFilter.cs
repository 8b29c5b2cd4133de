namespace MGit.Lineage;

/// <summary>
/// Which versions a listing (<c>mgit ls</c>) shows; every condition given must hold (AND), and an
/// empty filter shows every version. Versions come oldest first.
/// </summary>
public sealed record VersionFilter
{
    /// <summary>Only versions of this model type (<c>--type</c>), compared exactly.</summary>
    public string? Type { get; init; }

    /// <summary>
    /// Only versions whose model name matches this glob (<c>--name</c>): <c>*</c> any text,
    /// <c>?</c> one character, <c>[abc]</c> one of those; case-sensitive (SQLite's GLOB).
    /// </summary>
    public string? NamePattern { get; init; }

    /// <summary>Only versions whose metadata has each of these keys with exactly that value (<c>--meta KEY=VALUE</c>).</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Metadata { get; init; } = [];

    /// <summary>Only the versions reachable downward through edges from the version this ref names, not that version itself (<c>--descendants-of</c>).</summary>
    public string? DescendantsOf { get; init; }

    /// <summary>Only versions without parents (<c>--roots</c>).</summary>
    public bool RootsOnly { get; init; }

    /// <summary>At most this many versions (<c>--limit</c>, from 1); null for all.</summary>
    public int? Limit { get; init; }

    /// <summary>Whether any condition is set (an empty filter lists every version).</summary>
    public bool IsEmpty => Type is null && NamePattern is null && Metadata.Count == 0 && DescendantsOf is null && !RootsOnly && Limit is null;
}

/// <summary>A version's line: the version, its ancestors and its descendants, and the edges among them (what <c>mgit log NAME</c> draws).</summary>
/// <param name="Focus">The version asked about.</param>
/// <param name="Graph">Its ancestors, itself and its descendants, with the edges and tags among them.</param>
public sealed record ModelLineage(ModelVersion Focus, LineageGraph Graph);
