using MGit.Errors;

namespace MGit.Lineage;

/// <summary>A version that arrives from another repository, with the number and time it already has.</summary>
internal sealed record ImportedVersion(
    string Key,
    string Name,
    int Version,
    string? Type,
    string ManifestId,
    long LogicalBytes,
    string AddedAt,
    string? Message,
    double? ErrorBound,
    IReadOnlyDictionary<string, string> Metadata,
    string? Recipe = null);

/// <summary>An edge to add; its ends are version keys (of local versions or of imported ones).</summary>
internal sealed record ImportedEdge(string ParentKey, string ChildKey, EdgeKind Kind, string? How, string? Message);

/// <summary>
/// What a merge changes locally, computed from a graph read earlier: new numbers for local
/// versions, new versions, new edges. <paramref name="Stamp"/> is <see cref="LineageStore.Stamp"/>
/// at that read; if the database changed since, nothing is applied and the caller merges again.
/// </summary>
internal sealed record ImportPlan(
    IReadOnlyDictionary<string, long> LocalIds,
    IReadOnlyList<(long Id, int Number)> Renumber,
    IReadOnlyList<ImportedVersion> Versions,
    IReadOnlyList<ImportedEdge> Edges,
    string Stamp)
{
    /// <summary>Recipes the other side has for versions held here without one (a local recipe is kept).</summary>
    public IReadOnlyList<(string Key, string Recipe)> Recipes { get; init; } = [];

    /// <summary>Tag changes the other side has that this one lacks (history; each kept once).</summary>
    public IReadOnlyList<TagEvent> TagEvents { get; init; } = [];

    /// <summary>Tags that move here: new here, or moved on the other side only (fast-forwards).</summary>
    public IReadOnlyList<ImportedTag> Tags { get; init; } = [];

    /// <summary>Test definitions that move here: new here, or replaced on the other side only.</summary>
    public IReadOnlyList<ImportedTest> Tests { get; init; } = [];

    /// <summary>Tests defined differently on the other side: the hash of its definition, remembered so a later replace supersedes it.</summary>
    public IReadOnlyList<(string Name, string Hash)> TestConflicts { get; init; } = [];

    /// <summary>Test results received (a result already held, same version, test and time, is skipped).</summary>
    public IReadOnlyList<ImportedTestResult> TestResults { get; init; } = [];

    /// <summary>Changes of adapted parents (<c>mgit reparent</c>) the other side has that this one lacks; those in conflict flagged.</summary>
    public IReadOnlyList<EdgeEvent> EdgeEvents { get; init; } = [];

    /// <summary>Local adapted edges (parent key, child key) that a newer change of the child's parents on the other side replaced.</summary>
    public IReadOnlyList<(string ParentKey, string ChildKey)> RemovedEdges { get; init; } = [];

    /// <summary>The <see cref="ChangeMark"/> read before the plan's state: the import returns the mark of the state it makes only while nothing changed since (not even what the stamp does not cover).</summary>
    public ChangeMark? Since { get; init; }
}

/// <summary>Thrown when the lineage changed between planning a merge and applying it.</summary>
internal sealed class LineageChangedException() : MGitException(ErrorKind.Conflict, "the lineage changed while merging; merge again");

internal sealed partial class LineageStore
{
    /// <summary>Changes whenever a version is added, removed or renumbered, an edge added or removed, a tag changed, or a version reparented.</summary>
    public string Stamp() => Guard(() => ReadStamp(null));

    private string ReadStamp(Microsoft.Data.Sqlite.SqliteTransaction? transaction)
    {
        // Every tag change adds a history row: their count moves with any tag change.
        long tagEvents = HasTable("tag_events", transaction) ? (long)Scalar("SELECT COUNT(*) FROM tag_events", transaction)! : 0;
        // A reparent may leave the number of edges as it was, but it always adds a history row.
        long edgeEvents = HasTable("edge_events", transaction) ? (long)Scalar("SELECT COUNT(*) FROM edge_events", transaction)! : 0;
        using var command = Command(
            "SELECT (SELECT COUNT(*) FROM versions), (SELECT COALESCE(MAX(id), 0) FROM versions), (SELECT COALESCE(SUM(version * id), 0) FROM versions), (SELECT COUNT(*) FROM edges)",
            transaction);
        using var reader = command.ExecuteReader();
        reader.Read();
        return $"{reader.GetInt64(0)}/{reader.GetInt64(1)}/{reader.GetInt64(2)}/{reader.GetInt64(3)}/{tagEvents}/{edgeEvents}";
    }

    /// <summary>
    /// Applies a merge in one immediate transaction: all of it, or (when the lineage changed
    /// meanwhile, or on any error) none. Returns the <see cref="ChangeMark"/> of the state it
    /// made, read in the same transaction, when the database is as <see cref="ImportPlan.Since"/>
    /// says it was; else null.
    /// </summary>
    public ChangeMark? Import(ImportPlan plan) => Guard(() => ImportCore(plan));

    private ChangeMark? ImportCore(ImportPlan plan)
    {
        using var transaction = _connection.BeginTransaction(deferred: false);
        if (ReadStamp(transaction) != plan.Stamp)
        {
            throw new LineageChangedException();
        }

        bool unchanged = plan.Since is not null && ReadChangeMark(transaction) == plan.Since;

        MigrateForWrite(transaction);

        // Through negative numbers first, so that swapping two numbers never meets the unique constraint.
        foreach (var (id, _) in plan.Renumber)
        {
            Execute("UPDATE versions SET version = -id WHERE id = $id", transaction, ("$id", id));
        }

        foreach (var (id, number) in plan.Renumber)
        {
            Execute("UPDATE versions SET version = $n WHERE id = $id", transaction, ("$n", number), ("$id", id));
        }

        var ids = new Dictionary<string, long>(plan.LocalIds, StringComparer.Ordinal);
        foreach (var v in plan.Versions)
        {
            long modelId = (long?)Scalar("SELECT id FROM models WHERE name = $name", transaction, ("$name", v.Name))
                ?? (long)Scalar("INSERT INTO models (name) VALUES ($name) RETURNING id", transaction, ("$name", v.Name))!;
            long id = (long)Scalar(
                """
                INSERT INTO versions (id, model_id, version, type, manifest, logical_bytes, added_at, message, error_bound, key)
                VALUES ($id, $model, $version, $type, $manifest, $bytes, $at, $message, $bound, $key) RETURNING id
                """,
                transaction,
                ("$id", NextVersionId(transaction)),
                ("$model", modelId),
                ("$version", v.Version),
                ("$type", v.Type),
                ("$manifest", v.ManifestId),
                ("$bytes", v.LogicalBytes),
                ("$at", v.AddedAt),
                ("$message", v.Message),
                ("$bound", v.ErrorBound),
                ("$key", v.Key))!;
            ids[v.Key] = id;
            foreach (var (key, value) in v.Metadata)
            {
                Execute("INSERT INTO metadata (version_id, key, value) VALUES ($v, $k, $val)", transaction, ("$v", id), ("$k", key), ("$val", value));
            }

            if (v.Recipe is not null)
            {
                Execute("INSERT INTO recipes (version_id, command) VALUES ($v, $c)", transaction, ("$v", id), ("$c", v.Recipe));
            }
        }

        foreach (var (key, recipe) in plan.Recipes)
        {
            if (ids.TryGetValue(key, out long id))
            {
                Execute("INSERT OR IGNORE INTO recipes (version_id, command) VALUES ($v, $c)", transaction, ("$v", id), ("$c", recipe));
            }
        }

        foreach (var e in plan.Edges)
        {
            if (!ids.TryGetValue(e.ParentKey, out long parent) || !ids.TryGetValue(e.ChildKey, out long child))
            {
                throw new MGitException(ErrorKind.Damaged, "a merged edge names a version that is in neither graph");
            }

            Execute(
                "INSERT OR IGNORE INTO edges (parent_id, child_id, kind, how, message) VALUES ($p, $c, $k, $h, $m)",
                transaction,
                ("$p", parent),
                ("$c", child),
                ("$k", e.Kind.ToName()),
                ("$h", e.How),
                ("$m", e.Message));
        }

        ImportEdgeChanges(transaction, plan, ids);
        ImportTags(transaction, plan, ids);
        ImportTests(transaction, plan, ids);
        var imported = plan.Versions.Select(v => v.Key).ToHashSet(StringComparer.Ordinal);
        if (plan.RemovedEdges.Count == 0 && plan.EdgeEvents.Count == 0 && plan.Edges.All(e => imported.Contains(e.ChildKey)))
        {
            // Every new edge leads into a version new here, and those have no other edges: a cycle can only be among the new edges.
            CheckAcyclic(plan.Edges.Select(e => (ids[e.ParentKey], ids[e.ChildKey])).ToList());
        }
        else
        {
            CheckAcyclic(transaction);
        }

        var mark = unchanged ? ReadChangeMark(transaction) : null;
        CommitWrite(transaction);
        CompactLog();
        return mark;
    }
}
