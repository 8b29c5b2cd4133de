using MGit.Lineage;

namespace MGit;

/// <summary>One row of a version listing (<c>mgit ls</c>): the version, the links to its parents and its tags.</summary>
/// <param name="Version">The version's record, its metadata included.</param>
/// <param name="Parents">The links from its parents, in the order they were made.</param>
/// <param name="Tags">The names of the tags that point at it, in order.</param>
public sealed record VersionListing(ModelVersion Version, IReadOnlyList<EdgeView> Parents, IReadOnlyList<string> Tags);
