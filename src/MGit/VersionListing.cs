using MGit.Lineage;

namespace MGit;

/// <summary>One row of a version listing (<c>mgit ls</c>): the version, the links to its parents and its tags.</summary>
/// <param name="Version">The version's record, its metadata included.</param>
/// <param name="Parents">The links from its parents, in the order they were made.</param>
/// <param name="Tags">The names of the tags that point at it, in order.</param>
public sealed record VersionListing(ModelVersion Version, IReadOnlyList<EdgeView> Parents, IReadOnlyList<string> Tags)
{
    /// <summary>The row of <paramref name="version"/>, with the parents and tags <paramref name="graph"/> holds for it.</summary>
    /// <param name="graph">A graph holding the version and its parents (the whole graph, or a part read around the version).</param>
    /// <param name="version">One of its versions.</param>
    public static VersionListing Of(LineageGraph graph, ModelVersion version)
    {
        ArgumentNullException.ThrowIfNull(graph);
        ArgumentNullException.ThrowIfNull(version);
        return new VersionListing(
            version,
            graph.ParentEdges(version).Select(e => new EdgeView(graph[e.ParentId].Ref, e.Kind, e.How, e.Message)).ToList(),
            graph.TagsOf(version).Select(t => t.Name).ToList());
    }
}
