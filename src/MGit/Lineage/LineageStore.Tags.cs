using System.Globalization;
using MGit.Errors;
using Microsoft.Data.Sqlite;

namespace MGit.Lineage;

/// <summary>
/// One change to a tag, as kept in its history and sent to remotes. <paramref name="Id"/> names it
/// in every repository; <paramref name="Parents"/> are the changes it supersedes (every head of
/// the tag's history known where it was made), so two repositories can tell whether one side's
/// tag descends from the other's (a fast-forward) or both moved it (a conflict).
/// </summary>
/// <param name="Id">Random, given where the change was made.</param>
/// <param name="Model">The tag's model.</param>
/// <param name="Name">The tag's name.</param>
/// <param name="TargetKey">The version key (<see cref="VersionKeys"/>) it points at; null for a delete.</param>
/// <param name="TargetRef">That version's ref when the change was made, shown when the version is not held.</param>
/// <param name="MovedBy">Who made it.</param>
/// <param name="MovedAt">When (UTC, round-trip text).</param>
/// <param name="Parents">The changes it supersedes.</param>
internal sealed record TagEvent(string Id, string Model, string Name, string? TargetKey, string? TargetRef, string MovedBy, string MovedAt, IReadOnlyList<string> Parents);

/// <summary>Where this repository's tag stands: the change it follows (a delete leaves the tag with no version).</summary>
internal sealed record TagHead(string Model, string Name, string Head, long? VersionId);

/// <summary>Every tag's head and every change in the tags' history.</summary>
internal sealed record TagState(IReadOnlyList<TagHead> Heads, IReadOnlyList<TagEvent> Events)
{
    public static TagState Empty { get; } = new([], []);
}

/// <summary>A tag a pull moves here (fast-forward, or new here): its new head, and the version key it points at (null: deleted).</summary>
internal sealed record ImportedTag(string Model, string Name, string Head, string? TargetKey);

internal sealed partial class LineageStore
{
    /// <summary>
    /// The tables schema 6 added: tags (one row per tag this repository has had: the change it
    /// follows and the version it points at, none once deleted) and the changes that made them.
    /// A change's version is named by its key, not its id, so history survives the version's
    /// removal and travels between repositories. And two columns of tests, so definitions travel:
    /// supersedes (the hashes of the definitions a test replaced, directly or not) and conflicts
    /// (hashes of other repositories' definitions a pull found in conflict; the next replace
    /// supersedes them). Runs once, after the tests table exists (schema 3).
    /// </summary>
    private const string TagTables = """
        CREATE TABLE IF NOT EXISTS tag_events (
            id TEXT PRIMARY KEY,
            model TEXT NOT NULL,
            name TEXT NOT NULL,
            target_key TEXT,
            target_ref TEXT,
            moved_by TEXT NOT NULL,
            moved_at TEXT NOT NULL,
            parents TEXT NOT NULL
        );
        CREATE INDEX IF NOT EXISTS tag_events_by_tag ON tag_events(model, name);
        CREATE TABLE IF NOT EXISTS tags (
            model TEXT NOT NULL,
            name TEXT NOT NULL,
            head TEXT NOT NULL REFERENCES tag_events(id),
            version_id INTEGER REFERENCES versions(id),
            PRIMARY KEY (model, name)
        );
        ALTER TABLE tests ADD COLUMN supersedes TEXT NOT NULL DEFAULT '';
        ALTER TABLE tests ADD COLUMN conflicts TEXT NOT NULL DEFAULT '';
        """;

    private bool HasTable(string name, SqliteTransaction? transaction) =>
        (long)Scalar("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = $n", transaction, ("$n", name))! > 0;

    /// <summary>Every tag's head and the whole history, in one read (empty before schema 6).</summary>
    public TagState ReadTagState() => Read(transaction => HasTable("tags", transaction) ? ReadTagStateCore(transaction, null) : TagState.Empty);

    /// <summary>The history of one tag (or of every tag), oldest first.</summary>
    public IReadOnlyList<TagEvent> ReadTagEvents(string model, string name) =>
        Read(transaction => HasTable("tag_events", transaction) ? ReadTagStateCore(transaction, (model, name)).Events : []);

    private TagState ReadTagStateCore(SqliteTransaction transaction, (string Model, string Name)? only)
    {
        string where = only is null ? "" : " WHERE model = $m AND name = $n";
        (string, object?)[] parameters = only is { } o ? [("$m", o.Model), ("$n", o.Name)] : [];
        var heads = new List<TagHead>();
        using (var command = Command("SELECT model, name, head, version_id FROM tags" + where + " ORDER BY model, name", transaction, parameters))
        using (var reader = command.ExecuteReader())
        {
            while (reader.Read())
            {
                heads.Add(new TagHead(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.IsDBNull(3) ? null : reader.GetInt64(3)));
            }
        }

        var events = new List<TagEvent>();
        using (var command = Command("SELECT id, model, name, target_key, target_ref, moved_by, moved_at, parents FROM tag_events" + where + " ORDER BY moved_at, id", transaction, parameters))
        using (var reader = command.ExecuteReader())
        {
            while (reader.Read())
            {
                events.Add(new TagEvent(
                    reader.GetString(0),
                    reader.GetString(1),
                    reader.GetString(2),
                    reader.IsDBNull(3) ? null : reader.GetString(3),
                    reader.IsDBNull(4) ? null : reader.GetString(4),
                    reader.GetString(5),
                    reader.GetString(6),
                    reader.GetString(7).Split(' ', StringSplitOptions.RemoveEmptyEntries)));
            }
        }

        return new TagState(heads, events);
    }

    /// <summary>
    /// Points a tag at a version, recording who did it and when; the version must still have
    /// <paramref name="plannedRef"/> (else it was removed or renumbered meanwhile). Without
    /// <paramref name="force"/> a tag that points at another version is refused. Returns false
    /// when nothing changed (the tag already pointed there, and no conflict was settled with force).
    /// </summary>
    public bool SetTag(string model, string name, long versionId, string plannedRef, string targetKey, string movedBy, DateTimeOffset movedAt, bool force) => Write(transaction =>
    {
        string? now = (string?)Scalar("SELECT m.name || '@' || v.version FROM versions v JOIN models m ON m.id = v.model_id WHERE v.id = $id", transaction, ("$id", versionId));
        if (now != plannedRef)
        {
            throw new MGitException(ErrorKind.Conflict, $"{plannedRef} was removed or renumbered meanwhile; nothing was tagged (tag again)");
        }

        var (current, heads) = CurrentTag(transaction, model, name);
        if (current?.VersionId is long pointed && pointed != versionId && !force)
        {
            string there = (string?)Scalar("SELECT m.name || '@' || v.version FROM versions v JOIN models m ON m.id = v.model_id WHERE v.id = $id", transaction, ("$id", pointed)) ?? $"version id {pointed}";
            throw new MGitException(ErrorKind.Conflict, $"tag '{name}' already points at {there}; use --force to move it");
        }

        // Unchanged, unless a pull left another head of its history that --force supersedes (a conflict settled).
        if (current?.VersionId == versionId && (heads.Count <= 1 || !force))
        {
            return false;
        }

        AddEvent(transaction, model, name, targetKey, plannedRef, movedBy, movedAt, heads, versionId);
        return true;
    });

    /// <summary>Deletes a tag, recording who did it and when.</summary>
    public void DeleteTag(string model, string name, string movedBy, DateTimeOffset movedAt) => Write(transaction =>
    {
        var (current, heads) = CurrentTag(transaction, model, name);
        if (current?.VersionId is null)
        {
            throw new MGitException(ErrorKind.NotFound, $"model '{model}' has no tag '{name}'");
        }

        AddEvent(transaction, model, name, null, null, movedBy, movedAt, heads, null);
        return true;
    });

    /// <summary>The tag's row, and every head of its history (changes no other change here supersedes).</summary>
    private (TagHead? Current, List<string> Heads) CurrentTag(SqliteTransaction transaction, string model, string name)
    {
        var state = ReadTagStateCore(transaction, (model, name));
        var superseded = state.Events.SelectMany(e => e.Parents).ToHashSet(StringComparer.Ordinal);
        var heads = state.Events.Select(e => e.Id).Where(id => !superseded.Contains(id)).ToList();
        return (state.Heads.SingleOrDefault(), heads);
    }

    private void AddEvent(SqliteTransaction transaction, string model, string name, string? targetKey, string? targetRef, string movedBy, DateTimeOffset movedAt, IReadOnlyList<string> parents, long? versionId)
    {
        string id = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(16));
        Execute(
            "INSERT INTO tag_events (id, model, name, target_key, target_ref, moved_by, moved_at, parents) VALUES ($id, $m, $n, $k, $r, $by, $at, $p)",
            transaction,
            ("$id", id),
            ("$m", model),
            ("$n", name),
            ("$k", targetKey),
            ("$r", targetRef),
            ("$by", movedBy),
            ("$at", movedAt.ToUniversalTime().ToString("O", CultureInfo.InvariantCulture)),
            ("$p", string.Join(' ', parents.Order(StringComparer.Ordinal))));
        Execute(
            "INSERT INTO tags (model, name, head, version_id) VALUES ($m, $n, $h, $v) ON CONFLICT (model, name) DO UPDATE SET head = excluded.head, version_id = excluded.version_id",
            transaction,
            ("$m", model),
            ("$n", name),
            ("$h", id),
            ("$v", versionId));
    }

    /// <summary>Inside an import: the tag changes received (each once), then the tags moved here.</summary>
    private void ImportTags(SqliteTransaction transaction, ImportPlan plan, Dictionary<string, long> ids)
    {
        foreach (var e in plan.TagEvents)
        {
            Execute(
                "INSERT OR IGNORE INTO tag_events (id, model, name, target_key, target_ref, moved_by, moved_at, parents) VALUES ($id, $m, $n, $k, $r, $by, $at, $p)",
                transaction,
                ("$id", e.Id),
                ("$m", e.Model),
                ("$n", e.Name),
                ("$k", e.TargetKey),
                ("$r", e.TargetRef),
                ("$by", e.MovedBy),
                ("$at", e.MovedAt),
                ("$p", string.Join(' ', e.Parents)));
        }

        foreach (var t in plan.Tags)
        {
            long? version = null;
            if (t.TargetKey is { } key)
            {
                version = ids.TryGetValue(key, out long id) ? id : throw new MGitException(ErrorKind.Damaged, $"merged tag {t.Model}@{t.Name} names a version that is in neither graph");
            }

            Execute(
                "INSERT INTO tags (model, name, head, version_id) VALUES ($m, $n, $h, $v) ON CONFLICT (model, name) DO UPDATE SET head = excluded.head, version_id = excluded.version_id",
                transaction,
                ("$m", t.Model),
                ("$n", t.Name),
                ("$h", t.Head),
                ("$v", version));
        }
    }
}
