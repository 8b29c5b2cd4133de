using System.Globalization;
using MGit.Errors;
using Microsoft.Data.Sqlite;

namespace MGit.Lineage;

/// <summary>
/// One change a user made to a version's adapted parents (<c>mgit reparent</c>), as kept in its
/// history and sent to remotes. The child is named by its version key, so the change survives a
/// renumbering and means the same version in every repository; <paramref name="Supersedes"/> are
/// the changes of the same child it replaces (every head of that child's history known where it
/// was made), so two repositories can tell whether one side's change descends from the other's
/// (a fast-forward) or both changed the parents (a conflict).
/// </summary>
/// <param name="Id">Random, given where the change was made.</param>
/// <param name="ChildKey">The child's version key (<see cref="VersionKeys"/>).</param>
/// <param name="ChildRef">The child's ref when the change was made.</param>
/// <param name="ParentKeys">The adapted parents after the change, by version key.</param>
/// <param name="ParentRefs">Their refs when the change was made.</param>
/// <param name="PreviousRefs">The adapted parents before the change, as refs then.</param>
/// <param name="How">The derivation the new edges carry (null: not given).</param>
/// <param name="Message">The user's message (null: none).</param>
/// <param name="ChangedBy">Who made it.</param>
/// <param name="ChangedAt">When (UTC, round-trip text).</param>
/// <param name="Supersedes">The changes of the same child it replaces.</param>
/// <param name="Conflict">
/// Received by a pull that found both sides had changed the child's parents differently: kept as
/// history (so the next local change supersedes it) but not followed here.
/// </param>
internal sealed record EdgeEvent(
    string Id,
    string ChildKey,
    string ChildRef,
    IReadOnlyList<string> ParentKeys,
    IReadOnlyList<string> ParentRefs,
    IReadOnlyList<string> PreviousRefs,
    string? How,
    string? Message,
    string ChangedBy,
    string ChangedAt,
    IReadOnlyList<string> Supersedes,
    bool Conflict = false);

/// <summary>A new adapted parent of a reparented version: its id, its ref when planned (checked again in the write), and the edge's derivation.</summary>
internal sealed record NewParent(long Id, string PlannedRef, string Key, string? How);

internal sealed partial class LineageStore
{
    /// <summary>
    /// The table schema 7 added: the history of user changes to versions' adapted parents
    /// (<c>mgit reparent</c>). Lists are kept as text: keys and ids space-separated, refs one per
    /// line (a model name may hold spaces, never a line break).
    /// </summary>
    private const string EdgeEventsTable = """
        CREATE TABLE IF NOT EXISTS edge_events (
            id TEXT PRIMARY KEY,
            child_key TEXT NOT NULL,
            child_ref TEXT NOT NULL,
            parents TEXT NOT NULL,
            parent_refs TEXT NOT NULL,
            previous_refs TEXT NOT NULL,
            how TEXT,
            message TEXT,
            changed_by TEXT NOT NULL,
            changed_at TEXT NOT NULL,
            supersedes TEXT NOT NULL,
            conflict INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX IF NOT EXISTS edge_events_by_child ON edge_events(child_key);
        """;

    /// <summary>Every recorded change of adapted parents (or those of one child, by key), oldest first; empty before schema 7.</summary>
    public IReadOnlyList<EdgeEvent> ReadEdgeEvents(string? childKey = null) =>
        Read(transaction => ReadEdgeEventsCore(transaction, childKey));

    private List<EdgeEvent> ReadEdgeEventsCore(SqliteTransaction transaction, string? childKey)
    {
        var events = new List<EdgeEvent>();
        if (!HasTable("edge_events", transaction))
        {
            return events;
        }

        string where = childKey is null ? "" : " WHERE child_key = $k";
        (string, object?)[] parameters = childKey is null ? [] : [("$k", childKey)];
        using var command = Command(
            "SELECT id, child_key, child_ref, parents, parent_refs, previous_refs, how, message, changed_by, changed_at, supersedes, conflict FROM edge_events" + where + " ORDER BY changed_at, id",
            transaction,
            parameters);
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            events.Add(new EdgeEvent(
                reader.GetString(0),
                reader.GetString(1),
                reader.GetString(2),
                Words(reader.GetString(3)),
                Lines(reader.GetString(4)),
                Lines(reader.GetString(5)),
                reader.IsDBNull(6) ? null : reader.GetString(6),
                reader.IsDBNull(7) ? null : reader.GetString(7),
                reader.GetString(8),
                reader.GetString(9),
                Words(reader.GetString(10)),
                reader.GetInt64(11) != 0));
        }

        return events;

        static string[] Words(string text) => text.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        static string[] Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }

    /// <summary>
    /// Makes <paramref name="parents"/> exactly the adapted parents of version
    /// <paramref name="childId"/> (versioned edges are untouched), each edge with
    /// <paramref name="edgeMessage"/>, and records the change; one transaction, refused whole when
    /// a version no longer has its planned ref or the result would have a cycle. The change
    /// supersedes every head of the child's history here (also one a pull left in conflict).
    /// Returns the adapted parents before, as refs.
    /// </summary>
    public IReadOnlyList<string> SetAdaptedParents(long childId, string plannedChildRef, string childKey, IReadOnlyList<NewParent> parents, string edgeMessage, string? how, string? message, string changedBy, DateTimeOffset changedAt) => Write(transaction =>
    {
        foreach (var (id, planned) in parents.Select(p => (p.Id, p.PlannedRef)).Prepend((childId, plannedChildRef)))
        {
            if (RefOf(transaction, id) != planned)
            {
                throw new MGitException(ErrorKind.Conflict, $"{planned} was removed or renumbered meanwhile; nothing was changed (reparent again)");
            }
        }

        var previous = new List<string>();
        using (var command = Command(
            "SELECT m.name || '@' || v.version FROM edges e JOIN versions v ON v.id = e.parent_id JOIN models m ON m.id = v.model_id WHERE e.child_id = $c AND e.kind = 'adapted' ORDER BY e.rowid",
            transaction,
            ("$c", childId)))
        using (var reader = command.ExecuteReader())
        {
            while (reader.Read())
            {
                previous.Add(reader.GetString(0));
            }
        }

        Execute("DELETE FROM edges WHERE child_id = $c AND kind = 'adapted'", transaction, ("$c", childId));
        foreach (var parent in parents)
        {
            Execute(
                "INSERT INTO edges (parent_id, child_id, kind, how, message) VALUES ($p, $c, 'adapted', $h, $m)",
                transaction,
                ("$p", parent.Id),
                ("$c", childId),
                ("$h", parent.How),
                ("$m", edgeMessage));
        }

        CheckAcyclic(transaction);
        var history = ReadEdgeEventsCore(transaction, childKey);
        AddEdgeEvent(transaction, new EdgeEvent(
            Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(16)),
            childKey,
            plannedChildRef,
            parents.Select(p => p.Key).ToList(),
            parents.Select(p => p.PlannedRef).ToList(),
            previous,
            how,
            message,
            changedBy,
            changedAt.ToUniversalTime().ToString("O", CultureInfo.InvariantCulture),
            EdgeHeads(history, includeConflicts: true)));
        return (IReadOnlyList<string>)previous;
    });

    /// <summary>The changes of one child's history that no other change supersedes; those a pull left in conflict only when asked.</summary>
    internal static IReadOnlyList<string> EdgeHeads(IEnumerable<EdgeEvent> history, bool includeConflicts)
    {
        var all = history.ToList();
        var superseded = all.SelectMany(e => e.Supersedes).ToHashSet(StringComparer.Ordinal);
        return all.Where(e => !superseded.Contains(e.Id) && (includeConflicts || !e.Conflict)).Select(e => e.Id).Order(StringComparer.Ordinal).ToList();
    }

    private string? RefOf(SqliteTransaction transaction, long versionId) =>
        (string?)Scalar("SELECT m.name || '@' || v.version FROM versions v JOIN models m ON m.id = v.model_id WHERE v.id = $id", transaction, ("$id", versionId));

    /// <summary>Keeps a change (once: a change already held keeps its row).</summary>
    private void AddEdgeEvent(SqliteTransaction transaction, EdgeEvent e) => Execute(
        """
        INSERT OR IGNORE INTO edge_events (id, child_key, child_ref, parents, parent_refs, previous_refs, how, message, changed_by, changed_at, supersedes, conflict)
        VALUES ($id, $k, $r, $p, $pr, $prev, $h, $m, $by, $at, $s, $c)
        """,
        transaction,
        ("$id", e.Id),
        ("$k", e.ChildKey),
        ("$r", e.ChildRef),
        ("$p", string.Join(' ', e.ParentKeys)),
        ("$pr", string.Join('\n', e.ParentRefs)),
        ("$prev", string.Join('\n', e.PreviousRefs)),
        ("$h", e.How),
        ("$m", e.Message),
        ("$by", e.ChangedBy),
        ("$at", e.ChangedAt),
        ("$s", string.Join(' ', e.Supersedes.Order(StringComparer.Ordinal))),
        ("$c", e.Conflict ? 1 : 0));

    /// <summary>Inside an import: the changes received (each once), then the adapted edges the other side's newer changes replaced.</summary>
    private void ImportEdgeChanges(SqliteTransaction transaction, ImportPlan plan, Dictionary<string, long> ids)
    {
        foreach (var e in plan.EdgeEvents)
        {
            AddEdgeEvent(transaction, e);
        }

        foreach (var (parentKey, childKey) in plan.RemovedEdges)
        {
            if (ids.TryGetValue(parentKey, out long parent) && ids.TryGetValue(childKey, out long child))
            {
                Execute("DELETE FROM edges WHERE parent_id = $p AND child_id = $c AND kind = 'adapted'", transaction, ("$p", parent), ("$c", child));
            }
        }
    }
}
