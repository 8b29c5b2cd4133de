using System.Text;
using MGit.Errors;

namespace MGit.Lineage;

/// <summary>
/// What <see cref="LineageQueries.ListVersions"/> selects, with every reference already resolved to
/// a version id; the conditions combine with AND.
/// </summary>
/// <param name="Type">Only versions of this model type.</param>
/// <param name="NamePattern">Only versions whose model name matches this SQLite GLOB pattern.</param>
/// <param name="Metadata">Only versions whose metadata has each key with exactly that value.</param>
/// <param name="DescendantsOfId">Only versions reachable downward through edges from this version (not the version itself).</param>
/// <param name="RootsOnly">Only versions without parents.</param>
/// <param name="Limit">At most this many rows (from 1), or all.</param>
internal sealed record VersionQuery(
    string? Type,
    string? NamePattern,
    IReadOnlyList<KeyValuePair<string, string>> Metadata,
    long? DescendantsOfId,
    bool RootsOnly,
    int? Limit)
{
    /// <summary>Every version.</summary>
    public static VersionQuery All { get; } = new(null, null, [], null, false, null);

    /// <summary>The query a user's filter asks for, its values checked and its ref resolved by <paramref name="resolve"/>.</summary>
    /// <exception cref="MGitException">InvalidInput (a limit below 1, an empty metadata key), or what <paramref name="resolve"/> throws.</exception>
    public static VersionQuery From(VersionFilter filter, Func<ModelRef, long> resolve)
    {
        if (filter.Limit is int limit && limit < 1)
        {
            throw new MGitException(ErrorKind.InvalidInput, $"the limit must be at least 1 (got {limit})");
        }

        if (filter.Metadata.FirstOrDefault(p => string.IsNullOrEmpty(p.Key)) is { Value: { } value })
        {
            throw new MGitException(ErrorKind.InvalidInput, $"a metadata condition needs a key (got '={value}')");
        }

        long? of = filter.DescendantsOf is { } reference ? resolve(ModelRef.Parse(reference)) : null;
        return new VersionQuery(filter.Type, filter.NamePattern, filter.Metadata, of, filter.RootsOnly, filter.Limit);
    }

    /// <summary>The statement's parameters, by the names <see cref="LineageQueries.ListVersions"/> gives them.</summary>
    public IEnumerable<(string Name, object? Value)> Parameters()
    {
        if (Type is not null)
        {
            yield return ("$type", Type);
        }

        if (NamePattern is not null)
        {
            yield return ("$name", NamePattern);
        }

        for (int i = 0; i < Metadata.Count; i++)
        {
            yield return ($"$key{i}", Metadata[i].Key);
            yield return ($"$value{i}", Metadata[i].Value);
        }

        if (DescendantsOfId is long of)
        {
            yield return ("$of", of);
        }

        yield return ("$limit", Limit ?? -1); // SQLite: a negative limit is none
    }
}

/// <summary>
/// The SQL of the lineage queries that must stay fast on a repository of 100,000 versions (ls and
/// its filters, log of one model, a part of the graph), in one place so that the query-plan test
/// checks the very statements the store runs. Each one reaches rows through an index (the
/// <see cref="Indexes"/> and the tables' keys), never by reading a whole table where a search
/// would do.
/// </summary>
internal static class LineageQueries
{
    /// <summary>
    /// The indexes these queries need beyond the tables' keys. Indexes are not part of the stored
    /// format (an older mgit reads the database the same with or without them), so they need no
    /// schema bump: a new database gets them, an older one on its first write.
    /// </summary>
    public const string Indexes = """
        CREATE INDEX IF NOT EXISTS versions_by_type ON versions(type);
        CREATE INDEX IF NOT EXISTS metadata_by_key_value ON metadata(key, value, version_id);
        """;

    /// <summary>The index on tags by version, for a database that has tags (schema 6).</summary>
    public const string TagIndexes = "CREATE INDEX IF NOT EXISTS tags_by_version ON tags(version_id, model, name);";

    /// <summary>The columns of a version, in the order <see cref="LineageStore"/> reads them, <c>v</c> the version and <c>m</c> its model.</summary>
    private const string VersionColumns = "v.id, m.name, v.version, v.type, v.manifest, v.logical_bytes, v.added_at, v.message";

    /// <summary>
    /// One row per version, oldest first, each with its metadata (a JSON object, keys in order),
    /// its parent edges (a JSON array of [ref, kind, how, message], in the order they were made)
    /// and its tags (a JSON array of names) from indexed subqueries: one statement, so the rows
    /// are a consistent snapshot however slowly they are read, and nothing is gathered first.
    /// </summary>
    /// <param name="query">The conditions; their values are bound as <see cref="VersionQuery.Parameters"/>.</param>
    /// <param name="hasErrorBound">The database has versions.error_bound (schema 2).</param>
    /// <param name="hasTags">The database has the tags table (schema 6).</param>
    public static string ListVersions(VersionQuery query, bool hasErrorBound = true, bool hasTags = true)
    {
        var sql = new StringBuilder();
        if (query.DescendantsOfId is not null)
        {
            sql.Append("WITH RECURSIVE ").Append(DescendantsOf).Append('\n');
        }

        sql.Append("SELECT ").Append(VersionColumns).Append(", ").Append(hasErrorBound ? "v.error_bound" : "NULL").Append(",\n").Append(MetadataAndParents).Append(",\n");
        sql.Append(hasTags ? "    (SELECT json_group_array(t.name ORDER BY t.model, t.name) FROM tags t WHERE t.version_id = v.id)" : "    '[]'");
        sql.Append("\nFROM versions v JOIN models m ON m.id = v.model_id\nWHERE 1");
        if (query.Type is not null)
        {
            sql.Append("\n    AND v.type = $type");
        }

        if (query.NamePattern is not null)
        {
            sql.Append("\n    AND m.name GLOB $name");
        }

        for (int i = 0; i < query.Metadata.Count; i++)
        {
            sql.Append($"\n    AND v.id IN (SELECT md.version_id FROM metadata md WHERE md.key = $key{i} AND md.value = $value{i})");
        }

        if (query.DescendantsOfId is not null)
        {
            sql.Append("\n    AND v.id IN (SELECT id FROM descendants)");
        }

        if (query.RootsOnly)
        {
            sql.Append("\n    AND NOT EXISTS (SELECT 1 FROM edges e WHERE e.child_id = v.id)");
        }

        return sql.Append("\nORDER BY v.id\nLIMIT $limit").ToString();
    }

    /// <summary>A version's metadata (a JSON object) and parent edges (a JSON array of [ref, kind, how, message]), for the version <c>v</c>.</summary>
    private const string MetadataAndParents = """
            (SELECT json_group_object(md.key, md.value ORDER BY md.key) FROM metadata md WHERE md.version_id = v.id),
            (SELECT json_group_array(json_array(pm.name || '@' || pv.version, e.kind, e.how, e.message) ORDER BY e.rowid)
                FROM edges e JOIN versions pv ON pv.id = e.parent_id JOIN models pm ON pm.id = pv.model_id
                WHERE e.child_id = v.id)
        """;

    /// <summary>The recursive part of <c>WITH RECURSIVE</c>: every version reachable downward from <c>$of</c>, each once.</summary>
    private const string DescendantsOf = """
        descendants(id) AS (
            SELECT e.child_id FROM edges e WHERE e.parent_id = $of
            UNION
            SELECT e.child_id FROM edges e JOIN descendants d ON e.parent_id = d.id)
        """;

    /// <summary>The ids and numbers of a model's versions (by <c>$name</c>), oldest first: resolving a ref reads these alone.</summary>
    public const string VersionsOfModel = "SELECT v.id, v.version FROM versions v JOIN models m ON m.id = v.model_id WHERE m.name = $name ORDER BY v.id";

    /// <summary>The ids of every version of the models named in <c>$names</c> (a JSON array): placement's prefilter takes the versions of its candidates.</summary>
    public const string VersionIdsOfModels = "SELECT v.id FROM models m JOIN versions v ON v.model_id = m.id WHERE m.name IN (SELECT value FROM json_each($names))";

    /// <summary>The children of the versions <c>$ids</c> lists (a JSON array): rm refuses to orphan them.</summary>
    public const string ChildrenOfIds = "SELECT child_id FROM edges WHERE parent_id IN (SELECT value FROM json_each($ids))";

    /// <summary>How many models have a version, how many versions there are and their logical bytes (<c>stats</c>, <c>status</c>): the whole table is the question.</summary>
    public const string Totals = "SELECT COUNT(DISTINCT model_id), COUNT(*), COALESCE(SUM(logical_bytes), 0) FROM versions";

    /// <summary>Every version's id and time of adding (<c>status</c> keeps the latest few as they stream by).</summary>
    public const string AddedTimes = "SELECT id, added_at FROM versions";

    /// <summary>The parents of the versions <c>$ids</c> lists (a JSON array): an add reads the parents of the versions it names.</summary>
    public const string ParentsOfIds = "SELECT parent_id FROM edges WHERE child_id IN (SELECT value FROM json_each($ids))";

    /// <summary>The ids and keys of the versions whose keys <c>$keys</c> lists (a JSON array): a pull finds the parents a segment names.</summary>
    public const string VersionsByKeys = "SELECT id, key FROM versions WHERE key IN (SELECT value FROM json_each($keys))";

    /// <summary>The change counters, the highest version id ever given, the highest edge and metadata rows: a <see cref="ChangeMark"/>.</summary>
    public const string ChangeMarkNow = """
        SELECT c.database, c.changes, c.results,
            (SELECT last FROM version_ids),
            (SELECT MAX(rowid) FROM edges),
            (SELECT MAX(rowid) FROM metadata)
        FROM change_counters c
        """;

    /// <summary>Whether an edge made after row <c>$edge</c> leads into a version of id <c>$version</c> or below (not an add's); the unary + keeps the planner on the rows after the mark instead of every older edge.</summary>
    public const string EdgeAfterIntoOlder = "SELECT 1 FROM edges WHERE rowid > $edge AND +child_id <= $version LIMIT 1";

    /// <summary>Whether a metadata row made after row <c>$metadata</c> belongs to a version of id <c>$version</c> or below (not an add's).</summary>
    public const string MetadataAfterOfOlder = "SELECT 1 FROM metadata WHERE rowid > $metadata AND +version_id <= $version LIMIT 1";

    /// <summary>The versions above id <c>$version</c>, oldest first.</summary>
    public const string VersionsAfter = "SELECT id FROM versions WHERE id > $version ORDER BY id";

    /// <summary>The parents the edges made after row <c>$edge</c> name (repeated as often as named: DISTINCT would read every edge's index).</summary>
    public const string ParentsOfEdgesAfter = "SELECT parent_id FROM edges WHERE rowid > $edge";

    /// <summary>The id of version <c>$number</c> of model <c>$name</c>, if held.</summary>
    public const string VersionOfModel = "SELECT v.id FROM models m JOIN versions v ON v.model_id = m.id WHERE m.name = $name AND v.version = $number";

    /// <summary>The versions some tag points at.</summary>
    public const string TaggedVersions = "SELECT DISTINCT version_id FROM tags WHERE version_id IS NOT NULL";

    /// <summary>The version tag <c>$tag</c> of model <c>$name</c> points at.</summary>
    public const string TaggedVersion = "SELECT version_id FROM tags WHERE model = $name AND name = $tag AND version_id IS NOT NULL";

    /// <summary>The names of the tags model <c>$name</c> has, for the error that names them.</summary>
    public const string TagsOfModel = "SELECT name FROM tags WHERE model = $name AND version_id IS NOT NULL ORDER BY name";

    /// <summary>A version (<c>$focus</c>), its parents and its children: what <c>show</c> draws.</summary>
    public const string NeighboursOf = """
        SELECT $focus
        UNION SELECT parent_id FROM edges WHERE child_id = $focus
        UNION SELECT child_id FROM edges WHERE parent_id = $focus
        """;

    /// <summary>A version's line, what <c>log NAME</c> draws: <c>$focus</c>, every ancestor and every descendant, each once.</summary>
    public const string LineOf = """
        WITH RECURSIVE
            up(id) AS (SELECT $focus UNION SELECT e.parent_id FROM edges e JOIN up u ON e.child_id = u.id),
            down(id) AS (SELECT $focus UNION SELECT e.child_id FROM edges e JOIN down d ON e.parent_id = d.id)
        SELECT id FROM up UNION SELECT id FROM down
        """;

    /// <summary>
    /// A part of the graph for <c>graph --root/--depth</c>: the root (<c>$root</c>, or every version
    /// without parents when <paramref name="fromRoots"/>) and the versions below it, with
    /// <paramref name="limited"/> at most <c>$depth</c> edges below (the shortest way counts).
    /// Without a depth each version is visited once; with one, once per distinct distance.
    /// </summary>
    public static string Below(bool fromRoots, bool limited)
    {
        return limited
            ? $"""
                WITH RECURSIVE below(id, depth) AS (
                    {Start(", 0")}
                    UNION
                    SELECT e.child_id, b.depth + 1 FROM edges e JOIN below b ON e.parent_id = b.id WHERE b.depth < $depth)
                SELECT DISTINCT id FROM below
                """
            : $"""
                WITH RECURSIVE below(id) AS (
                    {Start("")}
                    UNION
                    SELECT e.child_id FROM edges e JOIN below b ON e.parent_id = b.id)
                SELECT id FROM below
                """;

        string Start(string depth) => fromRoots
            ? $"SELECT v.id{depth} FROM versions v WHERE NOT EXISTS (SELECT 1 FROM edges p WHERE p.child_id = v.id)"
            : $"SELECT $root{depth}";
    }

    /// <summary>Every version, oldest first; with the error bound column when the schema has it.</summary>
    public static string AllVersions(bool hasErrorBound = true) =>
        $"SELECT {VersionColumns}, {(hasErrorBound ? "v.error_bound" : "NULL")} FROM versions v JOIN models m ON m.id = v.model_id ORDER BY v.id";

    /// <summary>Every version's metadata, by version then key.</summary>
    public const string AllMetadata = "SELECT version_id, key, value FROM metadata ORDER BY version_id, key";

    /// <summary>Every version's id, name, number and manifest, oldest first (the order of <see cref="AllVersions"/>): what placement reads of each.</summary>
    public const string PlacementVersions = "SELECT v.id, m.name, v.version, v.manifest FROM versions v JOIN models m ON m.id = v.model_id ORDER BY v.id";

    /// <summary>
    /// Every edge in the order of <see cref="AllEdges"/>, with its kind and, of its message, only
    /// the first 7 characters when they start with a prefix placement gives its own edges
    /// ("auto: ", "infer: "; ModelPlacement.IsPlacementEdge): what placement reads of each.
    /// </summary>
    public const string PlacementEdges = "SELECT parent_id, child_id, kind, NULL, CASE WHEN substr(message, 1, 6) = 'auto: ' OR substr(message, 1, 7) = 'infer: ' THEN substr(message, 1, 7) END FROM edges ORDER BY rowid";

    /// <summary>Every edge, in the order they were made.</summary>
    public const string AllEdges = "SELECT parent_id, child_id, kind, how, message FROM edges ORDER BY rowid";

    /// <summary>Every tag that points at a version, by model then name.</summary>
    public const string AllTags = "SELECT t.model, t.name, t.version_id, e.moved_by, e.moved_at FROM tags t JOIN tag_events e ON e.id = t.head WHERE t.version_id IS NOT NULL ORDER BY t.model, t.name";

    /// <summary>The versions whose ids <c>$ids</c> lists (a JSON array), oldest first; with the error bound column when the schema has it.</summary>
    public static string VersionsByIds(bool hasErrorBound = true) =>
        $"SELECT {VersionColumns}, {(hasErrorBound ? "v.error_bound" : "NULL")} FROM versions v JOIN models m ON m.id = v.model_id WHERE v.id IN (SELECT value FROM json_each($ids)) ORDER BY v.id";

    /// <summary>The metadata of the versions <c>$ids</c> lists, by version then key.</summary>
    public const string MetadataByIds = "SELECT md.version_id, md.key, md.value FROM metadata md WHERE md.version_id IN (SELECT value FROM json_each($ids)) ORDER BY md.version_id, md.key";

    /// <summary>
    /// The edges between versions <c>$ids</c> lists (both ends among them), in the order they were
    /// made: searched by parent, the child only tested (the unary + keeps the planner from probing
    /// every pair of ids, which took seconds for a few thousand).
    /// </summary>
    public const string EdgesAmongIds = """
        SELECT e.parent_id, e.child_id, e.kind, e.how, e.message FROM edges e
        WHERE e.parent_id IN (SELECT value FROM json_each($ids)) AND +e.child_id IN (SELECT value FROM json_each($ids))
        ORDER BY e.rowid
        """;

    /// <summary>The tags on versions <c>$ids</c> lists, by model then name (as <see cref="LineageGraph.Tags"/> are).</summary>
    public const string TagsByIds = """
        SELECT t.model, t.name, t.version_id, te.moved_by, te.moved_at FROM tags t JOIN tag_events te ON te.id = t.head
        WHERE t.version_id IN (SELECT value FROM json_each($ids)) ORDER BY t.model, t.name
        """;
}
