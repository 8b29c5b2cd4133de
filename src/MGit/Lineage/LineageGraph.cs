using MGit.Errors;

namespace MGit.Lineage;

/// <summary>
/// An immutable snapshot of the lineage graph: versions and edges, with traversal. Built from the
/// lineage database in one read, so walks never hit the database per node.
/// </summary>
public sealed class LineageGraph
{
    private readonly Dictionary<long, ModelVersion> _byId;
    private readonly Dictionary<long, List<LineageEdge>> _parents = [];
    private readonly Dictionary<long, List<LineageEdge>> _children = [];
    private readonly ILookup<long, ModelTag> _tagsByVersion;

    /// <summary>A graph of the given versions and the edges between them.</summary>
    /// <param name="versions">Every version, in the order they were added.</param>
    /// <param name="edges">Every edge; both ends must be among <paramref name="versions"/>.</param>
    public LineageGraph(IReadOnlyList<ModelVersion> versions, IReadOnlyList<LineageEdge> edges)
        : this(versions, edges, [])
    {
    }

    /// <summary>A graph of the given versions, the edges between them, and the tags on them.</summary>
    /// <param name="versions">Every version, in the order they were added.</param>
    /// <param name="edges">Every edge; both ends must be among <paramref name="versions"/>.</param>
    /// <param name="tags">Every tag; each must point at one of <paramref name="versions"/>.</param>
    public LineageGraph(IReadOnlyList<ModelVersion> versions, IReadOnlyList<LineageEdge> edges, IReadOnlyList<ModelTag> tags)
    {
        Versions = versions;
        Edges = edges;
        Tags = tags;
        _tagsByVersion = tags.ToLookup(t => t.VersionId);
        _byId = versions.ToDictionary(v => v.Id);
        foreach (var edge in edges)
        {
            Add(_parents, edge.ChildId, edge);
            Add(_children, edge.ParentId, edge);
        }
    }

    private static void Add(Dictionary<long, List<LineageEdge>> index, long key, LineageEdge edge)
    {
        if (!index.TryGetValue(key, out var list))
        {
            index[key] = list = [];
        }

        list.Add(edge);
    }

    /// <summary>All versions in the order they were added.</summary>
    public IReadOnlyList<ModelVersion> Versions { get; }

    /// <summary>All lineage edges, adapted and versioned.</summary>
    public IReadOnlyList<LineageEdge> Edges { get; }

    /// <summary>All tags, by model then name.</summary>
    public IReadOnlyList<ModelTag> Tags { get; }

    /// <summary>The tags that point at a version, by name (empty when none).</summary>
    /// <param name="version">The version.</param>
    public IReadOnlyList<ModelTag> TagsOf(ModelVersion version) => _tagsByVersion[version.Id].ToList();

    /// <summary>The version with the given database id.</summary>
    /// <param name="id">The version's <see cref="ModelVersion.Id"/>.</param>
    public ModelVersion this[long id] => _byId[id];

    /// <summary>The version a reference names: its version number, its tag, or the latest when it names neither.</summary>
    /// <param name="reference">The model and optional version or tag.</param>
    /// <exception cref="MGitException">No model has that name, or it has no such version or tag (<see cref="ErrorKind.NotFound"/>).</exception>
    public ModelVersion Resolve(ModelRef reference)
    {
        var candidates = Versions.Where(v => v.Name == reference.Name).ToList();
        long id = Pick(
            reference,
            candidates.Select(v => (v.Id, v.Version)).ToList(),
            tagged: tagName => Tags.FirstOrDefault(t => t.Model == reference.Name && t.Name == tagName) is { } tag && _byId.ContainsKey(tag.VersionId) ? tag.VersionId : null,
            tagNames: () => Tags.Where(t => t.Model == reference.Name).Select(t => t.Name).ToList());
        return _byId[id];
    }

    /// <summary>
    /// The rule (and the errors) by which a reference names one of its model's versions, for the
    /// graph in memory and for the database alike: its tag, its version number, or the latest.
    /// </summary>
    /// <param name="reference">The reference.</param>
    /// <param name="versions">The model's versions (id, number); empty when no model has the name.</param>
    /// <param name="tagged">The id of the version a tag of the model names, null when none.</param>
    /// <param name="tagNames">The model's tags, for the error when the tag is not one of them.</param>
    internal static long Pick(ModelRef reference, IReadOnlyList<(long Id, int Number)> versions, Func<string, long?> tagged, Func<IReadOnlyList<string>> tagNames)
    {
        if (versions.Count == 0)
        {
            throw new MGitException(ErrorKind.NotFound, $"no model named '{reference.Name}'");
        }

        if (reference.Tag is { } tagName)
        {
            if (tagged(tagName) is long id)
            {
                return id;
            }

            var held = tagNames();
            throw new MGitException(ErrorKind.NotFound, $"model '{reference.Name}' has no tag '{tagName}' ({(held.Count == 0 ? "it has no tags" : "tags: " + string.Join(", ", held))})");
        }

        if (reference.Version is not int number)
        {
            return versions.MaxBy(v => v.Number).Id;
        }

        foreach (var (id, n) in versions)
        {
            if (n == number)
            {
                return id;
            }
        }

        throw new MGitException(ErrorKind.NotFound, $"model '{reference.Name}' has no version {number} (versions: {string.Join(", ", versions.Select(v => v.Number))})");
    }

    /// <summary>The version a reference written as <c>NAME</c>, <c>NAME@VERSION</c> or <c>NAME@TAG</c> names.</summary>
    /// <param name="reference">The reference as the user wrote it.</param>
    /// <exception cref="MGitException">The reference is malformed, or names no stored version.</exception>
    public ModelVersion Resolve(string reference) => Resolve(ModelRef.Parse(reference));

    /// <summary>The newest version of a model, or null when no model has that name.</summary>
    public ModelVersion? Latest(string name) => Versions.Where(v => v.Name == name).MaxBy(v => v.Version);

    /// <summary>The newest version of every model.</summary>
    internal List<ModelVersion> LatestVersions() =>
        Versions.GroupBy(v => v.Name, StringComparer.Ordinal).Select(g => g.MaxBy(v => v.Version)!).ToList();

    /// <summary>Every version of a model, oldest first (empty when no model has that name).</summary>
    public IReadOnlyList<ModelVersion> VersionsOf(string name) => Versions.Where(v => v.Name == name).OrderBy(v => v.Version).ToList();

    /// <summary>The edges that lead to the version from its parents.</summary>
    /// <param name="version">The child.</param>
    /// <param name="kind">Only edges of this kind, or null for all.</param>
    public IReadOnlyList<LineageEdge> ParentEdges(ModelVersion version, EdgeKind? kind = null) =>
        (_parents.TryGetValue(version.Id, out var list) ? list : []).Where(e => kind is null || e.Kind == kind).ToList();

    /// <summary>The edges that lead from the version to its children.</summary>
    /// <param name="version">The parent.</param>
    /// <param name="kind">Only edges of this kind, or null for all.</param>
    public IReadOnlyList<LineageEdge> ChildEdges(ModelVersion version, EdgeKind? kind = null) =>
        (_children.TryGetValue(version.Id, out var list) ? list : []).Where(e => kind is null || e.Kind == kind).ToList();

    /// <summary>The version's direct parents, each once.</summary>
    /// <param name="version">The child.</param>
    /// <param name="kind">Only parents through edges of this kind, or null for all.</param>
    public IReadOnlyList<ModelVersion> Parents(ModelVersion version, EdgeKind? kind = null) =>
        ParentEdges(version, kind).Select(e => _byId[e.ParentId]).Distinct().ToList();

    /// <summary>The version's direct children, each once.</summary>
    /// <param name="version">The parent.</param>
    /// <param name="kind">Only children through edges of this kind, or null for all.</param>
    public IReadOnlyList<ModelVersion> Children(ModelVersion version, EdgeKind? kind = null) =>
        ChildEdges(version, kind).Select(e => _byId[e.ChildId]).Distinct().ToList();

    /// <summary>Every version reachable through parent edges (of the kind given, or any), nearest first.</summary>
    public IReadOnlyList<ModelVersion> Ancestors(ModelVersion version, EdgeKind? kind = null) => Walk(version, v => Parents(v, kind));

    /// <summary>Every version reachable through child edges (of the kind given, or any), nearest first.</summary>
    public IReadOnlyList<ModelVersion> Descendants(ModelVersion version, EdgeKind? kind = null) => Walk(version, v => Children(v, kind));

    private static List<ModelVersion> Walk(ModelVersion start, Func<ModelVersion, IReadOnlyList<ModelVersion>> next)
    {
        var seen = new HashSet<long> { start.Id };
        var order = new List<ModelVersion>();
        var queue = new Queue<ModelVersion>();
        queue.Enqueue(start);
        while (queue.Count > 0)
        {
            foreach (var neighbour in next(queue.Dequeue()))
            {
                if (seen.Add(neighbour.Id))
                {
                    order.Add(neighbour);
                    queue.Enqueue(neighbour);
                }
            }
        }

        return order;
    }

    /// <summary>All versions, every parent before its children (Kahn's algorithm; ties in insertion order).</summary>
    public IReadOnlyList<ModelVersion> TopologicalOrder()
    {
        var indegree = Versions.ToDictionary(v => v.Id, v => Parents(v).Count);
        var ready = new PriorityQueue<ModelVersion, int>();
        var position = Versions.Select((v, i) => (v.Id, i)).ToDictionary(p => p.Id, p => p.i);
        foreach (var v in Versions.Where(v => indegree[v.Id] == 0))
        {
            ready.Enqueue(v, position[v.Id]);
        }

        var order = new List<ModelVersion>(Versions.Count);
        while (ready.TryDequeue(out var v, out _))
        {
            order.Add(v);
            foreach (var child in Children(v))
            {
                if (--indegree[child.Id] == 0)
                {
                    ready.Enqueue(child, position[child.Id]);
                }
            }
        }

        if (order.Count != Versions.Count)
        {
            throw new MGitException(ErrorKind.Damaged, "the lineage graph has a cycle");
        }

        return order;
    }

    /// <summary>
    /// The versions of <paramref name="subset"/> (in this graph, by id), each after every one of
    /// its ancestors in the subset, depth first: next comes a version whose ancestor was written
    /// most recently, and among those the one with the fewest descendants in the subset, so a
    /// parent's leaf children follow it at once and the branches that lead further come last. Work
    /// that reuses a parent (a checkout keeping its decoded chunks for the children's deltas) is
    /// then done with it soonest.
    /// </summary>
    public IReadOnlyList<ModelVersion> ParentsFirst(IEnumerable<ModelVersion> subset)
    {
        var members = subset.Select(v => _byId[v.Id]).DistinctBy(v => v.Id).ToList();
        var inSubset = members.Select(v => v.Id).ToHashSet();
        var ancestors = members.ToDictionary(v => v.Id, v => Ancestors(v).Where(a => inSubset.Contains(a.Id)).Select(a => a.Id).ToList());
        var descendants = members.ToDictionary(v => v.Id, v => members.Count(u => ancestors[u.Id].Contains(v.Id)));
        var position = new Dictionary<long, int>();
        var order = new List<ModelVersion>(members.Count);
        while (order.Count < members.Count)
        {
            var next = members
                .Where(v => !position.ContainsKey(v.Id) && ancestors[v.Id].All(position.ContainsKey))
                .OrderByDescending(v => ancestors[v.Id].Select(a => position[a]).DefaultIfEmpty(-1).Max())
                .ThenBy(v => descendants[v.Id])
                .ThenBy(v => v.Id)
                .FirstOrDefault() ?? throw new MGitException(ErrorKind.Damaged, "the lineage graph has a cycle");
            position[next.Id] = order.Count;
            order.Add(next);
        }

        return order;
    }

    /// <summary>Versions with no parents of any kind.</summary>
    public IReadOnlyList<ModelVersion> Roots() => Versions.Where(v => Parents(v).Count == 0).ToList();
}
