using System.Globalization;
using MGit.Errors;
using MGit.Storage;
using Microsoft.Data.Sqlite;

namespace MGit.Lineage;

/// <summary>What a new version is made of, resolved to stored ids before it reaches the database.</summary>
internal sealed record NewVersion(
    string Name,
    string? Type,
    string ManifestId,
    long LogicalBytes,
    string? Message,
    IReadOnlyDictionary<string, string> Metadata,
    IReadOnlyList<(long ParentId, EdgeKind Kind, string? How, string? Message)> Edges,
    bool MustBeNewModel,
    long? ExpectedLatestId,
    double? ErrorBound = null,
    string? Recipe = null,
    byte[]? Fingerprint = null,
    IReadOnlyList<(long ChildId, long? ReplacesParentId, string? How, string? Message)>? ChildEdges = null)
{
    /// <summary>
    /// The ref (NAME@N) each version id named by <see cref="Edges"/> and <see cref="ChildEdges"/>
    /// had when the add was planned: checked again inside the write, so a version removed (or
    /// renumbered) meanwhile fails the add instead of lending its id to another.
    /// </summary>
    public IReadOnlyDictionary<long, string> PlannedRefs { get; init; } = new Dictionary<long, string>();
}

/// <summary>
/// Models, versions, edges and metadata in SQLite (WAL mode, one transaction per change), so two
/// processes can add at once and a killed process leaves either the whole version or none of it.
/// No <see cref="SqliteException"/> leaves it: each becomes an <see cref="MGitException"/> of its
/// kind (<see cref="KindOf"/>), the original inside.
/// </summary>
internal sealed partial class LineageStore : IDisposable
{
    /// <summary>
    /// The schema version kept in <c>PRAGMA user_version</c>; bumped with any table change.
    /// 1: models, versions, edges, metadata. 2: versions.error_bound (lossy versions). 3: tests,
    /// test_results, recipes, cascades, cascade_steps. 4: fingerprints (placement sketches). 5: version
    /// ids are never reused (version_ids and its triggers) and no edge joins a version to itself
    /// (a trigger). 6: tags and tag_events (tags on versions, and who moved them when). 7: edge_events
    /// (who changed a version's adapted parents with <c>mgit reparent</c>, when, and how). 8:
    /// cluster_jobs (jobs submitted to a cluster scheduler; local, never pushed). 9:
    /// change_counters with the triggers that keep them (what changed since a push or pull, other
    /// than adds). 10: versions.key (the version key, indexed: a pull finds the parents a segment
    /// names without reading every version). An older
    /// database is read as is (the newer tables read as empty) and migrated on its first write;
    /// an older mgit refuses a newer database ("upgrade mgit"), so adding tables needs no bump of
    /// the repository format. Indexes are no part of it: <see cref="LineageQueries.Indexes"/> come
    /// with a new database and with the first write to an older one.
    /// </summary>
    public const int SchemaVersion = 10;

    /// <summary>The tables schema 3 added: registered tests, their results, recipes, and cascade progress.</summary>
    private const string TestingTables = """
        CREATE TABLE IF NOT EXISTS tests (
            name TEXT PRIMARY KEY,
            command TEXT NOT NULL,
            scope TEXT NOT NULL,
            pass TEXT,
            timeout_s REAL NOT NULL,
            added_at TEXT NOT NULL
        );
        CREATE TABLE IF NOT EXISTS test_results (
            id INTEGER PRIMARY KEY,
            version_id INTEGER NOT NULL REFERENCES versions(id),
            test TEXT NOT NULL,
            passed INTEGER NOT NULL,
            exit_code INTEGER,
            metrics TEXT NOT NULL,
            duration_s REAL NOT NULL,
            reason TEXT NOT NULL,
            log_tail TEXT NOT NULL,
            log_path TEXT,
            ran_at TEXT NOT NULL
        );
        CREATE INDEX IF NOT EXISTS test_results_by_version ON test_results(version_id, test);
        CREATE TABLE IF NOT EXISTS recipes (
            version_id INTEGER PRIMARY KEY REFERENCES versions(id),
            command TEXT NOT NULL
        );
        CREATE TABLE IF NOT EXISTS cascades (
            id INTEGER PRIMARY KEY,
            old_ref TEXT NOT NULL,
            new_ref TEXT NOT NULL,
            started_at TEXT NOT NULL
        );
        CREATE TABLE IF NOT EXISTS cascade_steps (
            cascade_id INTEGER NOT NULL REFERENCES cascades(id),
            model TEXT NOT NULL,
            from_ref TEXT NOT NULL,
            to_ref TEXT,
            status TEXT NOT NULL,
            detail TEXT,
            PRIMARY KEY (cascade_id, model)
        );
        """;

    /// <summary>The table schema 4 added: per-version fingerprints for automatic placement.</summary>
    private const string FingerprintsTable = """
        CREATE TABLE IF NOT EXISTS fingerprints (
            version_id INTEGER PRIMARY KEY REFERENCES versions(id),
            data BLOB NOT NULL
        );
        """;

    /// <summary>
    /// Schema 5's guards, kept by the database itself whoever writes: a version id is never given
    /// twice (the highest ever used is remembered; a freed id handed to a new version let an add
    /// whose parent was removed meanwhile become its own parent), and an edge never joins a
    /// version to itself. Cycles longer than one edge are checked in the same transaction by
    /// <see cref="CheckAcyclic(SqliteTransaction)"/> (SQLite triggers cannot recurse over the graph).
    /// </summary>
    private const string IntegrityGuards = """
        CREATE TABLE IF NOT EXISTS version_ids (last INTEGER NOT NULL);
        INSERT INTO version_ids (last) SELECT COALESCE((SELECT MAX(id) FROM versions), 0) WHERE NOT EXISTS (SELECT 1 FROM version_ids);
        CREATE TRIGGER IF NOT EXISTS versions_ids_never_reused BEFORE INSERT ON versions
            WHEN NEW.id IS NULL OR NEW.id <= (SELECT last FROM version_ids)
            BEGIN SELECT RAISE(ABORT, 'mgit: a version id may not be reused'); END;
        CREATE TRIGGER IF NOT EXISTS versions_ids_remembered AFTER INSERT ON versions
            BEGIN UPDATE version_ids SET last = NEW.id WHERE last < NEW.id; END;
        CREATE TRIGGER IF NOT EXISTS edges_never_to_self BEFORE INSERT ON edges
            WHEN NEW.parent_id = NEW.child_id
            BEGIN SELECT RAISE(ABORT, 'mgit: an edge may not join a version to itself'); END;
        CREATE TRIGGER IF NOT EXISTS edges_never_to_self_on_update BEFORE UPDATE ON edges
            WHEN NEW.parent_id = NEW.child_id
            BEGIN SELECT RAISE(ABORT, 'mgit: an edge may not join a version to itself'); END;
        """;

    private readonly SqliteConnection _connection;
    private readonly string _path;
    private long _schema;

    private LineageStore(SqliteConnection connection, string path)
    {
        _connection = connection;
        _path = path;
    }

    /// <summary>
    /// Opens (or creates) the database. On a full disk, where SQLite cannot size the shared-memory
    /// index it keeps beside a WAL database, it is opened again in exclusive locking mode, which
    /// keeps that index in memory: reads work (ls, show, checkout to another disk, gc), and so do
    /// writes that find room (rm, after <see cref="SpaceReserve.Release"/>); other processes wait
    /// for this one meanwhile.
    /// </summary>
    public static LineageStore Open(string path, bool create)
    {
        if (!create && !File.Exists(path))
        {
            throw new MGitException(ErrorKind.Damaged, $"the lineage database {path} is missing");
        }

        try
        {
            return Open(path, create, exclusive: false);
        }
        catch (MGitException e) when (!create && e.InnerException is SqliteException && DiskSpace.IsNoSpace(e.InnerException, path))
        {
            try
            {
                return Open(path, create, exclusive: true);
            }
            catch (MGitException)
            {
                throw DiskSpace.NoSpace(path, e.InnerException);
            }
        }
    }

    private static LineageStore Open(string path, bool create, bool exclusive)
    {
        var builder = new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = create ? SqliteOpenMode.ReadWriteCreate : SqliteOpenMode.ReadWrite,
            Pooling = false,
            DefaultTimeout = 120,
        };
        var connection = new SqliteConnection(builder.ToString());
        try
        {
            connection.Open();
            string locking = exclusive ? "PRAGMA locking_mode = EXCLUSIVE; " : "";
            using (var pragmas = Command(connection, locking + "PRAGMA busy_timeout = 120000; PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;", null, []))
            {
                pragmas.ExecuteNonQuery();
            }

            var store = new LineageStore(connection, path);
            store.EnsureSchema(create);
            return store;
        }
        catch (SqliteException e)
        {
            connection.Dispose();
            throw new MGitException(KindOf(e, path), $"cannot open the lineage database: {e.Message}", e);
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    private void EnsureSchema(bool create)
    {
        long version = (long)Scalar("PRAGMA user_version")!;
        if (version > SchemaVersion)
        {
            throw new MGitException(ErrorKind.Unsupported, $"the lineage database has schema {version}, newer than this mgit supports ({SchemaVersion}); upgrade mgit");
        }

        _schema = version;
        if (version >= 1)
        {
            return;
        }

        if (!create)
        {
            throw new MGitException(ErrorKind.Damaged, $"the lineage database has no schema (version {version}); the repository is damaged");
        }

        using var transaction = _connection.BeginTransaction();
        Execute("""
            CREATE TABLE IF NOT EXISTS models (
                id INTEGER PRIMARY KEY,
                name TEXT NOT NULL UNIQUE
            );
            CREATE TABLE IF NOT EXISTS versions (
                id INTEGER PRIMARY KEY,
                model_id INTEGER NOT NULL REFERENCES models(id),
                version INTEGER NOT NULL,
                type TEXT,
                manifest TEXT NOT NULL,
                logical_bytes INTEGER NOT NULL,
                added_at TEXT NOT NULL,
                message TEXT,
                error_bound REAL,
                key TEXT,
                UNIQUE (model_id, version)
            );
            CREATE TABLE IF NOT EXISTS edges (
                parent_id INTEGER NOT NULL REFERENCES versions(id),
                child_id INTEGER NOT NULL REFERENCES versions(id),
                kind TEXT NOT NULL CHECK (kind IN ('adapted', 'versioned')),
                how TEXT,
                message TEXT,
                PRIMARY KEY (parent_id, child_id, kind)
            );
            CREATE TABLE IF NOT EXISTS metadata (
                version_id INTEGER NOT NULL REFERENCES versions(id),
                key TEXT NOT NULL,
                value TEXT NOT NULL,
                PRIMARY KEY (version_id, key)
            );
            CREATE INDEX IF NOT EXISTS edges_by_child ON edges(child_id);
            """ + TestingTables + FingerprintsTable + IntegrityGuards + TagTables + EdgeEventsTable + ClusterJobsTable + VersionKeyIndex + ChangeCounters + LineageQueries.Indexes + LineageQueries.TagIndexes, transaction);
        Execute($"PRAGMA user_version = {SchemaVersion}", transaction);
        transaction.Commit();
        _schema = SchemaVersion;
        _indexesEnsured = true;
    }

    /// <summary>Brings an older schema up to date inside a write transaction (never on a read).</summary>
    private void MigrateForWrite(SqliteTransaction transaction)
    {
        if (_schema < 2)
        {
            Execute("ALTER TABLE versions ADD COLUMN error_bound REAL", transaction);
        }

        if (_schema < 3)
        {
            Execute(TestingTables, transaction);
        }

        if (_schema < 4)
        {
            Execute(FingerprintsTable, transaction);
        }

        if (_schema < 5)
        {
            Execute(IntegrityGuards, transaction);
        }

        if (_schema < 6)
        {
            Execute(TagTables, transaction);
        }

        if (_schema < 7)
        {
            Execute(EdgeEventsTable, transaction);
        }

        if (_schema < 8)
        {
            Execute(ClusterJobsTable, transaction);
        }

        // Keys before counters: filling the keys of a schema-8 database is then not counted as
        // a change (in a schema-9 one it is, which only makes its next push compare whole lineages).
        if (_schema < 10)
        {
            AddVersionKeys(transaction);
        }

        if (_schema < 9)
        {
            Execute(ChangeCounters, transaction);
        }

        if (_schema < SchemaVersion)
        {
            Execute($"PRAGMA user_version = {SchemaVersion}", transaction);
        }

        // The query indexes of a database made before them: once per connection, after the tables they index exist.
        if (!_indexesEnsured)
        {
            Execute(LineageQueries.Indexes + LineageQueries.TagIndexes, transaction);
        }
    }

    /// <summary>Whether the database already has the tables of schema <paramref name="version"/> (reads of newer tables check this).</summary>
    internal bool HasSchema(int version) => _schema >= version;

    /// <summary>Runs <paramref name="work"/> in one immediate (write) transaction, migrating an older schema first.</summary>
    internal T Write<T>(Func<SqliteTransaction, T> work) => Guard(() =>
    {
        T result;
        using (var transaction = _connection.BeginTransaction(deferred: false))
        {
            MigrateForWrite(transaction);
            result = work(transaction);
            CommitWrite(transaction);
        }

        CompactLog();
        return result;
    });

    /// <summary>Runs <paramref name="work"/> in one read transaction (a consistent snapshot).</summary>
    internal T Read<T>(Func<SqliteTransaction, T> work) => Guard(() =>
    {
        using var transaction = _connection.BeginTransaction(deferred: true);
        var result = work(transaction);
        transaction.Commit();
        return result;
    });

    /// <summary>Commits a write; its transaction migrated the schema, so later statements see the current one.</summary>
    private void CommitWrite(SqliteTransaction transaction)
    {
        transaction.Commit();
        _schema = SchemaVersion;
        _indexesEnsured = true;
    }

    /// <summary>Reads the whole graph in one transaction (a consistent snapshot).</summary>
    public LineageGraph ReadGraph() => Read(transaction => ReadGraphRows(
        transaction,
        LineageQueries.AllMetadata,
        LineageQueries.AllVersions(HasSchema(2)),
        LineageQueries.AllEdges,
        LineageQueries.AllTags));

    /// <summary>
    /// A graph from four queries sharing <paramref name="parameters"/>: metadata rows (version id,
    /// key, value), version rows (<see cref="ReadVersion(SqliteDataReader, IReadOnlyDictionary{string, string})"/>'s columns), edge rows
    /// (<see cref="ReadEdge"/>'s) and, from schema 6, tag rows (<see cref="ReadTag"/>'s).
    /// </summary>
    private LineageGraph ReadGraphRows(SqliteTransaction transaction, string metadataSql, string versionsSql, string edgesSql, string tagsSql, params (string Name, object? Value)[] parameters)
    {
        var metadata = new Dictionary<long, Dictionary<string, string>>();
        using (var command = Command(metadataSql, transaction, parameters))
        using (var reader = command.ExecuteReader())
        {
            while (reader.Read())
            {
                long id = reader.GetInt64(0);
                if (!metadata.TryGetValue(id, out var map))
                {
                    metadata[id] = map = new Dictionary<string, string>(StringComparer.Ordinal);
                }

                map[reader.GetString(1)] = reader.GetString(2);
            }
        }

        var versions = new List<ModelVersion>();
        using (var command = Command(versionsSql, transaction, parameters))
        using (var reader = command.ExecuteReader())
        {
            while (reader.Read())
            {
                versions.Add(ReadVersion(reader, metadata.TryGetValue(reader.GetInt64(0), out var map) ? map : new Dictionary<string, string>()));
            }
        }

        var edges = new List<LineageEdge>();
        using (var command = Command(edgesSql, transaction, parameters))
        using (var reader = command.ExecuteReader())
        {
            while (reader.Read())
            {
                edges.Add(ReadEdge(reader));
            }
        }

        var tags = new List<ModelTag>();
        if (HasSchema(6))
        {
            using var command = Command(tagsSql, transaction, parameters);
            using var reader = command.ExecuteReader();
            while (reader.Read())
            {
                tags.Add(ReadTag(reader));
            }
        }

        return new LineageGraph(versions, edges, tags);
    }

    /// <summary>
    /// Inserts a version, its edges and metadata in one immediate transaction; the version number
    /// is assigned inside it, so concurrent adds of one name get consecutive numbers.
    /// </summary>
    public long Insert(NewVersion version, DateTimeOffset addedAt) => Guard(() => InsertCore(version, addedAt));

    private long InsertCore(NewVersion version, DateTimeOffset addedAt)
    {
        using var transaction = _connection.BeginTransaction(deferred: false);
        MigrateForWrite(transaction);
        long? modelId = (long?)Scalar("SELECT id FROM models WHERE name = $name", transaction, ("$name", version.Name));
        if (modelId is not null && version.MustBeNewModel)
        {
            throw new MGitException(ErrorKind.Conflict, $"model '{version.Name}' already exists; use --version-of {version.Name} to add a new version of it");
        }

        if (version.ExpectedLatestId is long expected)
        {
            long? latest = (long?)Scalar(
                "SELECT v.id FROM versions v JOIN models m ON m.id = v.model_id WHERE m.name = $name ORDER BY v.version DESC LIMIT 1",
                transaction,
                ("$name", version.Name));
            if (latest != expected)
            {
                throw new MGitException(ErrorKind.Conflict, $"model '{version.Name}' got a new version from another process meanwhile; add again");
            }
        }

        foreach (long named in version.Edges.Select(e => e.ParentId).Concat((version.ChildEdges ?? []).Select(e => e.ChildId)).Distinct())
        {
            string? now = (string?)Scalar("SELECT m.name || '@' || v.version FROM versions v JOIN models m ON m.id = v.model_id WHERE v.id = $id", transaction, ("$id", named));
            string planned = version.PlannedRefs.TryGetValue(named, out var known) ? known : throw new InvalidOperationException($"version id {named} has no planned ref");
            if (now != planned)
            {
                throw new MGitException(ErrorKind.Conflict, $"{planned} was removed or renumbered while this add ran; nothing was added (add again)");
            }
        }

        modelId ??= (long)Scalar("INSERT INTO models (name) VALUES ($name) RETURNING id", transaction, ("$name", version.Name))!;
        long number = (long)Scalar("SELECT COALESCE(MAX(version), 0) + 1 FROM versions WHERE model_id = $model", transaction, ("$model", modelId))!;
        long id = (long)Scalar(
            """
            INSERT INTO versions (id, model_id, version, type, manifest, logical_bytes, added_at, message, error_bound, key)
            VALUES ($id, $model, $version, $type, $manifest, $bytes, $at, $message, $bound, $key) RETURNING id
            """,
            transaction,
            ("$id", NextVersionId(transaction)),
            ("$model", modelId),
            ("$version", number),
            ("$type", version.Type),
            ("$manifest", version.ManifestId),
            ("$bytes", version.LogicalBytes),
            ("$at", VersionKeys.AddedAtText(addedAt)),
            ("$message", version.Message),
            ("$bound", version.ErrorBound),
            ("$key", VersionKeys.Of(version.Name, version.ManifestId, VersionKeys.AddedAtText(addedAt))))!;

        foreach (var (parentId, kind, how, message) in version.Edges)
        {
            Execute(
                "INSERT OR IGNORE INTO edges (parent_id, child_id, kind, how, message) VALUES ($p, $c, $k, $h, $m)",
                transaction,
                ("$p", parentId),
                ("$c", id),
                ("$k", kind.ToName()),
                ("$h", how),
                ("$m", message));
        }

        // Models added earlier that turn out to derive from this one (automatic placement).
        foreach (var (childId, replaces, how, message) in version.ChildEdges ?? [])
        {
            if (replaces is long former)
            {
                Execute("DELETE FROM edges WHERE parent_id = $p AND child_id = $c AND kind = 'adapted'", transaction, ("$p", former), ("$c", childId));
            }

            Execute(
                "INSERT OR IGNORE INTO edges (parent_id, child_id, kind, how, message) VALUES ($p, $c, 'adapted', $h, $m)",
                transaction,
                ("$p", id),
                ("$c", childId),
                ("$h", how),
                ("$m", message));
        }

        foreach (var (key, value) in version.Metadata)
        {
            Execute("INSERT INTO metadata (version_id, key, value) VALUES ($v, $k, $val)", transaction, ("$v", id), ("$k", key), ("$val", value));
        }

        if (version.Recipe is not null)
        {
            Execute("INSERT INTO recipes (version_id, command) VALUES ($v, $c)", transaction, ("$v", id), ("$c", version.Recipe));
        }

        if (version.Fingerprint is { } fingerprint)
        {
            Execute("INSERT INTO fingerprints (version_id, data) VALUES ($v, $d)", transaction, ("$v", id), ("$d", fingerprint));
        }

        if (version.ChildEdges is { Count: > 0 })
        {
            CheckAcyclic(transaction); // edges to older versions could close a loop; edges from them cannot
        }

        CommitWrite(transaction);
        CompactLog();
        return id;
    }

    /// <summary>The id for a new version: above every id ever given (schema 5 remembers them; the triggers enforce it).</summary>
    private long NextVersionId(SqliteTransaction transaction) =>
        (long)Scalar("SELECT MAX(last, COALESCE((SELECT MAX(id) FROM versions), 0)) + 1 FROM version_ids", transaction)!;

    /// <summary>
    /// Refuses to let a transaction commit a graph with a cycle: all edges are read and checked in
    /// memory (linear in their number; a lineage graph of 100,000 versions takes milliseconds).
    /// </summary>
    private void CheckAcyclic(SqliteTransaction transaction)
    {
        var edges = new List<(long, long)>();
        using (var command = Command("SELECT parent_id, child_id FROM edges ORDER BY rowid", transaction))
        using (var reader = command.ExecuteReader())
        {
            while (reader.Read())
            {
                edges.Add((reader.GetInt64(0), reader.GetInt64(1)));
            }
        }

        CheckAcyclic(edges);
    }

    /// <summary>Refuses the change when <paramref name="edges"/> (parent id, child id) close a cycle.</summary>
    private static void CheckAcyclic(List<(long, long)> edges)
    {
        if (Acyclic.CycleClosingEdges(edges) is [var first, ..])
        {
            throw new MGitException(ErrorKind.Conflict, $"the change would make a cycle in the lineage graph (an edge from version {edges[first].Item1} to {edges[first].Item2}); nothing was changed");
        }
    }

    /// <summary>
    /// Folds the write-ahead log back into the database after a change, so the log does not sit
    /// at megabytes for a repository of kilobytes; best effort, skipped while readers hold it.
    /// </summary>
    private void CompactLog()
    {
        using var command = Command("PRAGMA wal_checkpoint(TRUNCATE)", null);
        command.ExecuteNonQuery();
    }

    /// <summary>Deletes versions and every edge touching them; models left without versions go too.</summary>
    public void Delete(IReadOnlyCollection<long> versionIds) => Guard(() => DeleteCore(versionIds));

    private void DeleteCore(IReadOnlyCollection<long> versionIds)
    {
        using var transaction = _connection.BeginTransaction(deferred: false);
        MigrateForWrite(transaction);
        foreach (long id in versionIds)
        {
            Execute("DELETE FROM edges WHERE parent_id = $id OR child_id = $id", transaction, ("$id", id));
            Execute("DELETE FROM metadata WHERE version_id = $id", transaction, ("$id", id));
            Execute("DELETE FROM test_results WHERE version_id = $id", transaction, ("$id", id));
            Execute("DELETE FROM recipes WHERE version_id = $id", transaction, ("$id", id));
            Execute("DELETE FROM fingerprints WHERE version_id = $id", transaction, ("$id", id));
            Execute("DELETE FROM versions WHERE id = $id", transaction, ("$id", id));
        }

        Execute("DELETE FROM models WHERE id NOT IN (SELECT model_id FROM versions)", transaction);
        CommitWrite(transaction);
        CompactLog();
    }

    /// <summary>The stored fingerprints of these versions by version id; empty for a database older than schema 4 (backfilled on demand).</summary>
    public Dictionary<long, byte[]> ReadFingerprints(IReadOnlyCollection<long> versionIds) => Guard(() => ReadFingerprintsCore(versionIds));

    private Dictionary<long, byte[]> ReadFingerprintsCore(IReadOnlyCollection<long> versionIds)
    {
        var result = new Dictionary<long, byte[]>();
        // Checked on the table, not the cached schema: a write in this session may have just migrated it.
        if (versionIds.Count == 0 || (long)Scalar("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'fingerprints'")! == 0)
        {
            return result;
        }

        // One query for any number of versions: the ids travel as a JSON array.
        using var command = Command("SELECT version_id, data FROM fingerprints WHERE version_id IN (SELECT value FROM json_each($ids))", null, ("$ids", $"[{string.Join(',', versionIds)}]"));
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            result[reader.GetInt64(0)] = (byte[])reader.GetValue(1);
        }

        return result;
    }

    /// <summary>Stores fingerprints computed after the fact (versions added before schema 3); versions deleted meanwhile are skipped.</summary>
    public void StoreFingerprints(IReadOnlyDictionary<long, byte[]> fingerprints) => Guard(() =>
    {
        using var transaction = _connection.BeginTransaction(deferred: false);
        MigrateForWrite(transaction);
        foreach (var (id, data) in fingerprints)
        {
            Execute("INSERT OR REPLACE INTO fingerprints (version_id, data) SELECT id, $d FROM versions WHERE id = $v", transaction, ("$v", id), ("$d", data));
        }

        CommitWrite(transaction);
    });

    /// <summary>
    /// Whether <paramref name="e"/> is SQLite saying the database file is damaged or the machine
    /// refused it (I/O error, disk full, read-only, locked, cannot open), rather than that mgit
    /// asked something wrong: the first is for the user to act on, the second a bug.
    /// </summary>
    internal static bool IsDamageOrRefusal(MGitException e) => e.InnerException is SqliteException && e.Kind is not ErrorKind.Internal;

    /// <summary>
    /// The kind of a SQLite error: busy or locked after the busy timeout, a damaged file, a full
    /// disk (also an I/O error while the disk holding <paramref name="path"/> is full), the machine
    /// refusing a read or write; anything else is a statement mgit got wrong.
    /// </summary>
    internal static ErrorKind KindOf(SqliteException e, string path) => (e.SqliteErrorCode & 0xFF) switch
    {
        5 /* BUSY */ or 6 /* LOCKED */ => ErrorKind.Locked,
        11 /* CORRUPT */ or 26 /* NOTADB */ => ErrorKind.Damaged,
        13 /* FULL */ => ErrorKind.NoSpace,
        10 /* IOERR */ when DiskSpace.IsFull(path) => ErrorKind.NoSpace,
        3 /* PERM */ or 8 /* READONLY */ or 10 /* IOERR */ or 14 /* CANTOPEN */ => ErrorKind.Io,
        _ => ErrorKind.Internal,
    };

    /// <summary>Runs one use of the database; a SQLite error leaves as an <see cref="MGitException"/> of its kind, with the message users have always seen.</summary>
    private T Guard<T>(Func<T> use)
    {
        try
        {
            return use();
        }
        catch (SqliteException e)
        {
            throw new MGitException(KindOf(e, _path), $"lineage database error: {e.Message}", e);
        }
    }

    /// <inheritdoc cref="Guard{T}(Func{T})"/>
    private void Guard(Action use) => Guard(() =>
    {
        use();
        return true;
    });

    /// <summary>SQLite's own consistency check; returns problems found (empty when intact).</summary>
    public IReadOnlyList<string> IntegrityCheck() => Guard(IntegrityCheckCore);

    private List<string> IntegrityCheckCore()
    {
        var problems = new List<string>();
        using (var command = Command("PRAGMA integrity_check", null))
        using (var reader = command.ExecuteReader())
        {
            while (reader.Read())
            {
                string line = reader.GetString(0);
                if (line != "ok")
                {
                    problems.Add(line);
                }
            }
        }

        using (var command = Command("PRAGMA foreign_key_check", null))
        using (var reader = command.ExecuteReader())
        {
            while (reader.Read())
            {
                problems.Add($"table {reader.GetString(0)} row {reader.GetValue(1)} refers to a missing {reader.GetString(2)} row");
            }
        }

        return problems;
    }

    internal SqliteCommand Command(string sql, SqliteTransaction? transaction, params (string Name, object? Value)[] parameters) =>
        Command(_connection, sql, transaction, parameters);

    private static SqliteCommand Command(SqliteConnection connection, string sql, SqliteTransaction? transaction, (string Name, object? Value)[] parameters)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        command.Transaction = transaction;
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        }

        return command;
    }

    internal object? Scalar(string sql, SqliteTransaction? transaction = null, params (string Name, object? Value)[] parameters)
    {
        using var command = Command(sql, transaction, parameters);
        object? result = command.ExecuteScalar();
        return result is DBNull ? null : result;
    }

    internal void Execute(string sql, SqliteTransaction? transaction = null, params (string Name, object? Value)[] parameters)
    {
        using var command = Command(sql, transaction, parameters);
        command.ExecuteNonQuery();
    }

    public void Dispose() => _connection.Dispose();
}
