using System.Globalization;
using System.Text;
using System.Text.Json;
using MGit.Errors;
using Microsoft.Data.Sqlite;

namespace MGit.Lineage;

/// <summary>A version as a listing shows it: the version, the links from its parents (ref, kind, how, message) and its tags' names.</summary>
internal sealed record ListedVersion(
    ModelVersion Version,
    IReadOnlyList<(string Ref, EdgeKind Kind, string? How, string? Message)> Parents,
    IReadOnlyList<string> Tags);

/// <summary>
/// The reads that stay fast at hub scale (100,000 versions): a listing streamed row by row, and
/// the parts of the graph one command draws, each reached through indexes
/// (<see cref="LineageQueries"/>) instead of reading the whole graph.
/// </summary>
internal sealed partial class LineageStore
{
    /// <summary>Set by the first committed write of this connection, which created the query indexes if they were missing.</summary>
    private bool _indexesEnsured;

    /// <summary>
    /// The versions <paramref name="query"/> selects, oldest first, read as they are enumerated:
    /// one statement (a consistent snapshot), nothing gathered in memory. The connection is
    /// shared: enumerate on the thread that owns it.
    /// </summary>
    public IEnumerable<ListedVersion> ListVersions(VersionQuery query)
    {
        string sql = LineageQueries.ListVersions(query, HasSchema(2), HasSchema(6));
        return Rows(sql, query.Parameters().ToArray());
    }

    private IEnumerable<ListedVersion> Rows(string sql, (string Name, object? Value)[] parameters)
    {
        using var command = Command(sql, null, parameters);
        using var reader = Guard(() => command.ExecuteReader());
        while (Guard(() => reader.Read()))
        {
            yield return Guard(() => new ListedVersion(
                ReadVersion(reader, ParseMap(reader.GetString(9))),
                ParseParents(reader.GetString(10)),
                ParseStrings(reader.GetString(11))));
        }
    }

    /// <summary>
    /// The graph as placement reads it (<c>add --auto</c>): every version with only its id, name,
    /// number and manifest (type, time, message and metadata left empty), every edge with its kind
    /// and only the start of a message placement wrote, no tags. About half what
    /// <see cref="ReadGraph"/> costs at 100,000 versions; for placement only, which reads nothing else.
    /// </summary>
    public LineageGraph ReadPlacementGraph() => Read(transaction =>
    {
        var noMetadata = new Dictionary<string, string>();
        var versions = new List<ModelVersion>();
        using (var command = Command(LineageQueries.PlacementVersions, transaction))
        using (var reader = command.ExecuteReader())
        {
            while (reader.Read())
            {
                versions.Add(new ModelVersion(reader.GetInt64(0), reader.GetString(1), reader.GetInt32(2), null, reader.GetString(3), 0, default, null, noMetadata));
            }
        }

        var edges = new List<LineageEdge>();
        using (var command = Command(LineageQueries.PlacementEdges, transaction))
        using (var reader = command.ExecuteReader())
        {
            while (reader.Read())
            {
                edges.Add(ReadEdge(reader));
            }
        }

        return new LineageGraph(versions, edges);
    });

    /// <summary>How many models have a version, how many versions there are and their logical bytes, counted by the database (nothing kept per version).</summary>
    public (int Models, int Versions, long LogicalBytes) ReadTotals() => Read(transaction =>
    {
        using var command = Command(LineageQueries.Totals, transaction);
        using var reader = command.ExecuteReader();
        reader.Read();
        return (reader.GetInt32(0), reader.GetInt32(1), reader.GetInt64(2));
    });

    /// <summary>
    /// The <paramref name="count"/> versions added last (by time of adding, then id), newest first,
    /// and a graph of them with their parents and tags: one pass over the versions' times, keeping
    /// only the latest few, then an indexed read of those.
    /// </summary>
    public (LineageGraph Graph, List<long> Latest) ReadLatestAdded(int count) => Read(transaction =>
    {
        var kept = new PriorityQueue<long, (DateTimeOffset AddedAt, long Id)>(count + 1);
        using (var command = Command(LineageQueries.AddedTimes, transaction))
        using (var reader = command.ExecuteReader())
        {
            while (reader.Read())
            {
                long id = reader.GetInt64(0);
                string text = reader.GetString(1);
                // Times are written round-trip ("O"), which has a fast exact parser; anything else is read as before.
                var addedAt = DateTimeOffset.TryParseExact(text, "O", CultureInfo.InvariantCulture, DateTimeStyles.None, out var exact) ? exact : DateTimeOffset.Parse(text, CultureInfo.InvariantCulture);
                kept.Enqueue(id, (addedAt, id));
                if (kept.Count > count)
                {
                    kept.Dequeue(); // the earliest of those kept
                }
            }
        }

        var latest = new List<long>(kept.Count);
        while (kept.TryDequeue(out long id, out _))
        {
            latest.Add(id);
        }

        latest.Reverse();
        var parents = Ids(LineageQueries.ParentsOfIds, transaction, [("$ids", IdArray(latest))]);
        return (ReadSubgraph([.. latest.Union(parents)], transaction), latest);
    });

    /// <summary>The ids of every version of these models (by name), read through the name index.</summary>
    public List<long> ReadVersionIdsOf(IReadOnlyCollection<string> names) => Read(transaction => VersionIdsOf(names, transaction));

    private List<long> VersionIdsOf(IReadOnlyCollection<string> names, SqliteTransaction transaction) =>
        Ids(LineageQueries.VersionIdsOfModels, transaction, [("$names", JsonArray(names))]);

    /// <summary>
    /// Every version of the models <paramref name="names"/> names and the versions
    /// <paramref name="ids"/>, with their parents, the edges among them and their tags, read in
    /// one transaction without the rest of the graph. Within it, refs to those models resolve,
    /// each model's latest version is there, and so are the parents of each of its versions:
    /// what an add with given parents needs.
    /// </summary>
    /// <param name="names">Models whose every version is read.</param>
    /// <param name="ids">Versions read besides.</param>
    /// <param name="withChildren">Their children too (what rm checks).</param>
    /// <param name="below">A version whose descendants are read too, each with its parents (what reparent's cycle check walks).</param>
    public LineageGraph ReadAround(IReadOnlyCollection<string> names, IReadOnlyCollection<long> ids, bool withChildren = false, ModelRef? below = null) => Read(transaction =>
    {
        var focus = VersionIdsOf(names, transaction).Concat(ids).ToHashSet();
        if (below is not null)
        {
            focus.UnionWith(Ids(LineageQueries.Below(fromRoots: false, limited: false), transaction, [("$root", ResolveId(below, transaction))]));
        }

        var read = new HashSet<long>(focus);
        read.UnionWith(Ids(LineageQueries.ParentsOfIds, transaction, [("$ids", IdArray(focus))]));
        if (withChildren)
        {
            read.UnionWith(Ids(LineageQueries.ChildrenOfIds, transaction, [("$ids", IdArray(focus))]));
        }

        return ReadSubgraph([.. read], transaction);
    });

    /// <summary>The id of the version <paramref name="reference"/> names, read by name alone; the errors of <see cref="LineageGraph.Resolve(ModelRef)"/>.</summary>
    public long ResolveId(ModelRef reference) => Read(transaction => ResolveId(reference, transaction));

    private long ResolveId(ModelRef reference, SqliteTransaction transaction)
    {
        var versions = new List<(long Id, int Number)>();
        using (var command = Command(LineageQueries.VersionsOfModel, transaction, ("$name", reference.Name)))
        using (var reader = command.ExecuteReader())
        {
            while (reader.Read())
            {
                versions.Add((reader.GetInt64(0), reader.GetInt32(1)));
            }
        }

        bool hasTags = HasSchema(6);
        return LineageGraph.Pick(
            reference,
            versions,
            tagged: tagName => hasTags ? Scalar(LineageQueries.TaggedVersion, transaction, ("$name", reference.Name), ("$tag", tagName)) as long? : null,
            tagNames: () =>
            {
                var held = new List<string>();
                if (hasTags)
                {
                    using var command = Command(LineageQueries.TagsOfModel, transaction, ("$name", reference.Name));
                    using var reader = command.ExecuteReader();
                    while (reader.Read())
                    {
                        held.Add(reader.GetString(0));
                    }
                }

                return held;
            });
    }

    /// <summary>One version by its id, with its tags, read without the rest of the graph.</summary>
    public ModelVersion ReadVersion(long id) => Read(transaction => ReadSubgraph([id], transaction)[id]);

    /// <summary>The version with this id, with its tags, or null when there is none; read without the rest of the graph.</summary>
    public ModelVersion? FindVersion(long id) => Read(transaction => ReadSubgraph([id], transaction).Versions is [var found] ? found : null);

    /// <summary>Every tagged version with every tag (and the edges among those versions), read without the rest of the graph.</summary>
    public LineageGraph ReadTagged() => Read(transaction =>
        ReadSubgraph(HasSchema(6) ? Ids(LineageQueries.TaggedVersions, transaction, []) : [], transaction));

    /// <summary>The version <paramref name="reference"/> names, with its tags, resolved and read in one transaction without the rest of the graph.</summary>
    public ModelVersion ReadResolved(ModelRef reference) => Read(transaction =>
    {
        long id = ResolveId(reference, transaction);
        return ReadSubgraph([id], transaction)[id];
    });

    /// <summary>The version <paramref name="reference"/> names with its parents and children, the edges among them and their tags, in one transaction.</summary>
    public (LineageGraph Graph, ModelVersion Version) ReadNeighbourhood(ModelRef reference) => Read(transaction =>
    {
        long id = ResolveId(reference, transaction);
        var graph = ReadSubgraph(Ids(LineageQueries.NeighboursOf, transaction, [("$focus", id)]), transaction);
        return (graph, graph[id]);
    });

    /// <summary>The version <paramref name="reference"/> names with its ancestors and descendants, read in one transaction without the rest of the graph.</summary>
    public ModelLineage ReadLine(ModelRef reference) => Read(transaction =>
    {
        long focus = ResolveId(reference, transaction);
        var graph = ReadSubgraph(Ids(LineageQueries.LineOf, transaction, [("$focus", focus)]), transaction);
        return new ModelLineage(graph[focus], graph);
    });

    /// <summary>
    /// The version <paramref name="root"/> names (or, when null, every version without parents)
    /// and the versions below it, at most <paramref name="depth"/> edges below when given, with the
    /// edges and tags among them; one transaction.
    /// </summary>
    public LineageGraph ReadBelow(ModelRef? root, int? depth) => Read(transaction =>
    {
        var parameters = new List<(string Name, object? Value)>();
        if (root is not null)
        {
            parameters.Add(("$root", ResolveId(root, transaction)));
        }

        if (depth is int limit)
        {
            parameters.Add(("$depth", limit));
        }

        return ReadSubgraph(Ids(LineageQueries.Below(root is null, depth is not null), transaction, [.. parameters]), transaction);
    });

    private List<long> Ids(string sql, SqliteTransaction transaction, (string Name, object? Value)[] parameters)
    {
        var ids = new List<long>();
        using var command = Command(sql, transaction, parameters);
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            ids.Add(reader.GetInt64(0));
        }

        return ids;
    }

    /// <summary>The versions with these ids, the edges with both ends among them, and their tags, in the orders <see cref="ReadGraph"/> gives.</summary>
    private LineageGraph ReadSubgraph(List<long> ids, SqliteTransaction transaction) =>
        // The ids travel as one JSON array, whatever their number.
        ReadGraphRows(
            transaction,
            LineageQueries.MetadataByIds,
            LineageQueries.VersionsByIds(HasSchema(2)),
            LineageQueries.EdgesAmongIds,
            LineageQueries.TagsByIds,
            ("$ids", IdArray(ids)));

    /// <summary>Ids as one JSON array, for <c>json_each</c>.</summary>
    private static string IdArray(IEnumerable<long> ids) => "[" + string.Join(',', ids.Select(id => id.ToString(CultureInfo.InvariantCulture))) + "]";

    /// <summary>A version from the columns every version query starts with (id, name, version, type, manifest, logical bytes, added at, message, error bound).</summary>
    private static ModelVersion ReadVersion(SqliteDataReader reader, IReadOnlyDictionary<string, string> metadata) => new(
        reader.GetInt64(0),
        reader.GetString(1),
        reader.GetInt32(2),
        reader.IsDBNull(3) ? null : reader.GetString(3),
        reader.GetString(4),
        reader.GetInt64(5),
        DateTimeOffset.Parse(reader.GetString(6), CultureInfo.InvariantCulture),
        reader.IsDBNull(7) ? null : reader.GetString(7),
        metadata,
        reader.IsDBNull(8) ? null : reader.GetDouble(8));

    /// <summary>An edge from the columns parent_id, child_id, kind, how, message.</summary>
    private static LineageEdge ReadEdge(SqliteDataReader reader) => new(
        reader.GetInt64(0),
        reader.GetInt64(1),
        EdgeKindNames.Parse(reader.GetString(2)),
        reader.IsDBNull(3) ? null : reader.GetString(3),
        reader.IsDBNull(4) ? null : reader.GetString(4));

    /// <summary>A tag from the columns model, name, version_id, moved_by, moved_at.</summary>
    private static ModelTag ReadTag(SqliteDataReader reader) =>
        new(reader.GetString(0), reader.GetString(1), reader.GetInt64(2), reader.GetString(3), DateTimeOffset.Parse(reader.GetString(4), CultureInfo.InvariantCulture));

    /// <summary>A JSON object of strings (json_group_object of text columns), keys in their order.</summary>
    private static Dictionary<string, string> ParseMap(string json)
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        if (json == "{}")
        {
            return map;
        }

        var reader = new Utf8JsonReader(Encoding.UTF8.GetBytes(json));
        reader.Read(); // {
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            string key = reader.GetString()!;
            reader.Read();
            map[key] = reader.GetString()!;
        }

        return map;
    }

    /// <summary>A JSON array of [ref, kind, how, message] arrays.</summary>
    private static List<(string Ref, EdgeKind Kind, string? How, string? Message)> ParseParents(string json)
    {
        var parents = new List<(string, EdgeKind, string?, string?)>();
        if (json == "[]")
        {
            return parents;
        }

        var reader = new Utf8JsonReader(Encoding.UTF8.GetBytes(json));
        reader.Read(); // [
        while (reader.Read() && reader.TokenType == JsonTokenType.StartArray)
        {
            reader.Read();
            string reference = reader.GetString()!;
            reader.Read();
            var kind = EdgeKindNames.Parse(reader.GetString()!);
            reader.Read();
            string? how = reader.GetString();
            reader.Read();
            string? message = reader.GetString();
            reader.Read(); // ]
            parents.Add((reference, kind, how, message));
        }

        return parents;
    }

    /// <summary>A JSON array of strings.</summary>
    private static List<string> ParseStrings(string json)
    {
        var items = new List<string>();
        if (json == "[]")
        {
            return items;
        }

        var reader = new Utf8JsonReader(Encoding.UTF8.GetBytes(json));
        reader.Read(); // [
        while (reader.Read() && reader.TokenType == JsonTokenType.String)
        {
            items.Add(reader.GetString()!);
        }

        return items;
    }
}
