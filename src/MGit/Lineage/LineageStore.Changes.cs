using System.Globalization;
using Microsoft.Data.Sqlite;

namespace MGit.Lineage;

/// <summary>
/// A point in the lineage database's history, as a push records it: the database's identity, its
/// change counters, and the highest version id, edge row and metadata row then. Anything written
/// since is either above those (an add) or moved a counter.
/// </summary>
/// <param name="Database">Random, given when the counters were made: another database never matches.</param>
/// <param name="Changes">Counts every change to lineage that is not an add (see <see cref="LineageStore.ReadAppendedSince"/>).</param>
/// <param name="Results">Counts every change to the recorded test results.</param>
/// <param name="LastVersionId">The highest version id ever given.</param>
/// <param name="LastEdgeRow">The highest edge row.</param>
/// <param name="LastMetadataRow">The highest metadata row.</param>
internal sealed record ChangeMark(string Database, long Changes, long Results, long LastVersionId, long LastEdgeRow, long LastMetadataRow);

/// <summary>What was added since a <see cref="ChangeMark"/>: the new versions, the graph holding them with their parents, and the mark now.</summary>
/// <param name="Graph">The new versions and the parents their edges name (old or new), with the edges among them.</param>
/// <param name="Added">The ids of the new versions, oldest first.</param>
/// <param name="Now">The mark of the state read.</param>
internal sealed record AppendedLineage(LineageGraph Graph, IReadOnlyList<long> Added, ChangeMark Now);

internal sealed partial class LineageStore
{
    /// <summary>
    /// Schema 9: counters the database keeps itself, whoever writes, so that a push can tell in a
    /// few indexed reads whether the lineage changed since its last push other than by adds. An
    /// add only inserts versions, their edges and metadata (and models): those are found above
    /// the highest ids of the mark. Every other write (an update or delete anywhere, a recipe, a
    /// test, a tag, a change of parents) moves <c>changes</c>; test results move <c>results</c>.
    /// </summary>
    private static readonly string ChangeCounters = BuildChangeCounters();

    private static string BuildChangeCounters()
    {
        var sql = new System.Text.StringBuilder("""
            CREATE TABLE IF NOT EXISTS change_counters (database TEXT NOT NULL, changes INTEGER NOT NULL, results INTEGER NOT NULL);
            INSERT INTO change_counters (database, changes, results) SELECT lower(hex(randomblob(16))), 0, 0 WHERE NOT EXISTS (SELECT 1 FROM change_counters);

            """);
        (string Table, string Counter, string[] Events)[] watched =
        [
            ("models", "changes", ["UPDATE", "DELETE"]),
            ("versions", "changes", ["UPDATE", "DELETE"]),
            ("edges", "changes", ["UPDATE", "DELETE"]),
            ("metadata", "changes", ["UPDATE", "DELETE"]),
            ("recipes", "changes", ["INSERT", "UPDATE", "DELETE"]),
            ("tests", "changes", ["INSERT", "UPDATE", "DELETE"]),
            ("tags", "changes", ["INSERT", "UPDATE", "DELETE"]),
            ("tag_events", "changes", ["INSERT", "UPDATE", "DELETE"]),
            ("edge_events", "changes", ["INSERT", "UPDATE", "DELETE"]),
            ("test_results", "results", ["INSERT", "UPDATE", "DELETE"]),
        ];
        foreach (var (table, counter, events) in watched)
        {
            foreach (string e in events)
            {
                sql.Append(CultureInfo.InvariantCulture, $"CREATE TRIGGER IF NOT EXISTS {table}_{e.ToLowerInvariant()}_counted AFTER {e} ON {table} BEGIN UPDATE change_counters SET {counter} = {counter} + 1; END;\n");
            }
        }

        return sql.ToString();
    }

    /// <summary>The index on version keys (schema 10), by which a pull finds the versions a segment's edges name.</summary>
    private const string VersionKeyIndex = "CREATE INDEX IF NOT EXISTS versions_by_key ON versions(key);\n";

    /// <summary>
    /// Schema 10's migration of versions: the key column, filled for every version, and its index.
    /// mgit 21eb9e1 to 6a70fb4 made the column as part of schema 9: such a database keeps its
    /// column, and its keys are filled again.
    /// </summary>
    private void AddVersionKeys(SqliteTransaction transaction)
    {
        if (!HasColumn("versions", "key", transaction))
        {
            Execute("ALTER TABLE versions ADD COLUMN key TEXT", transaction);
        }

        var keys = new List<(long Id, string Key)>();
        using (var command = Command("SELECT v.id, m.name, v.manifest, v.added_at FROM versions v JOIN models m ON m.id = v.model_id", transaction))
        using (var reader = command.ExecuteReader())
        {
            while (reader.Read())
            {
                keys.Add((reader.GetInt64(0), VersionKeys.Of(reader.GetString(1), reader.GetString(2), reader.GetString(3))));
            }
        }

        using (var update = Command("UPDATE versions SET key = $key WHERE id = $id", transaction, ("$key", ""), ("$id", 0L)))
        {
            foreach (var (id, key) in keys)
            {
                update.Parameters["$key"].Value = key;
                update.Parameters["$id"].Value = id;
                update.ExecuteNonQuery();
            }
        }

        Execute(VersionKeyIndex, transaction);
    }

    private bool HasColumn(string table, string column, SqliteTransaction transaction)
    {
        using var command = Command("SELECT COUNT(*) FROM pragma_table_info($table) WHERE name = $column", transaction, ("$table", table), ("$column", column));
        return (long)command.ExecuteScalar()! > 0;
    }

    /// <summary>
    /// The current refs of the versions held here among <paramref name="keys"/> (a history names
    /// versions by key; a pull may have renumbered them since): found by key from schema 10, from
    /// the whole graph before it.
    /// </summary>
    public Dictionary<string, string> ReadRefsByKey(IReadOnlyCollection<string> keys)
    {
        if (!HasSchema(10))
        {
            return ReadGraph().Versions.Where(v => keys.Contains(VersionKeys.Of(v))).ToDictionary(VersionKeys.Of, v => v.Ref, StringComparer.Ordinal);
        }

        return Read(transaction =>
        {
            var ids = IdsByKey(keys, transaction);
            var versions = ReadSubgraph([.. ids.Values], transaction);
            return ids.ToDictionary(p => p.Key, p => versions[p.Value].Ref, StringComparer.Ordinal);
        });
    }

    /// <summary>The ids of the versions held here among <paramref name="keys"/>, by key (schema 10; none before).</summary>
    public Dictionary<string, long> ReadIdsByKey(IReadOnlyCollection<string> keys) => Read(transaction => IdsByKey(keys, transaction));

    private Dictionary<string, long> IdsByKey(IReadOnlyCollection<string> keys, SqliteTransaction transaction)
    {
        var ids = new Dictionary<string, long>(StringComparer.Ordinal);
        if (!HasSchema(10) || keys.Count == 0)
        {
            return ids;
        }

        using var command = Command(LineageQueries.VersionsByKeys, transaction, ("$keys", JsonArray(keys)));
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            ids[reader.GetString(1)] = reader.GetInt64(0);
        }

        return ids;
    }

    /// <summary>The versions with these ids, with the edges among them and their tags, read without the rest of the graph.</summary>
    public LineageGraph ReadVersions(IEnumerable<long> ids) => Read(transaction => ReadSubgraph([.. ids], transaction));

    /// <summary>Whether any of these refs (model name and number) is held here.</summary>
    public bool HoldsAnyRef(IEnumerable<(string Name, int Number)> refs) => Read(transaction =>
    {
        using var command = Command(LineageQueries.VersionOfModel, transaction, ("$name", ""), ("$number", 0));
        foreach (var (name, number) in refs)
        {
            command.Parameters["$name"].Value = name;
            command.Parameters["$number"].Value = number;
            if (command.ExecuteScalar() is not null)
            {
                return true;
            }
        }

        return false;
    });

    /// <summary>Strings as one JSON array (keys from a remote are escaped like any text).</summary>
    private static string JsonArray(IEnumerable<string> values)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var writer = new System.Text.Json.Utf8JsonWriter(buffer))
        {
            writer.WriteStartArray();
            foreach (string value in values)
            {
                writer.WriteStringValue(value);
            }

            writer.WriteEndArray();
        }

        return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    /// <summary>Migrates an older database to the current schema now (one empty write), instead of at its next write.</summary>
    public void EnsureCurrentSchema()
    {
        if (!HasSchema(SchemaVersion))
        {
            Write(_ => 0);
        }
    }

    /// <summary>The mark of the current state; null before schema 9 (the counters come with the first write).</summary>
    public ChangeMark? ReadChangeMark() => Read(transaction => HasSchema(9) ? ReadChangeMark(transaction) : null);

    private ChangeMark ReadChangeMark(SqliteTransaction transaction)
    {
        using var command = Command(LineageQueries.ChangeMarkNow, transaction);
        using var reader = command.ExecuteReader();
        reader.Read();
        return new ChangeMark(reader.GetString(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3), reader.IsDBNull(4) ? 0 : reader.GetInt64(4), reader.IsDBNull(5) ? 0 : reader.GetInt64(5));
    }

    /// <summary>
    /// What was added since <paramref name="mark"/>, when adds are all that happened: new versions
    /// (above its last id), edges into them and their metadata. Null when anything else changed
    /// (a counter moved, with <paramref name="withResults"/> the results' too; an edge or metadata
    /// row of an older version; another database), so the caller compares whole lineages instead.
    /// One read transaction: the rows and the mark returned are one state.
    /// </summary>
    public AppendedLineage? ReadAppendedSince(ChangeMark mark, bool withResults) => Read(transaction =>
    {
        if (!HasSchema(9))
        {
            return null;
        }

        var now = ReadChangeMark(transaction);
        if (now.Database != mark.Database || now.Changes != mark.Changes || (withResults && now.Results != mark.Results)
            || now.LastVersionId < mark.LastVersionId || now.LastEdgeRow < mark.LastEdgeRow || now.LastMetadataRow < mark.LastMetadataRow)
        {
            return null;
        }

        (string, object?)[] since = [("$version", mark.LastVersionId), ("$edge", mark.LastEdgeRow), ("$metadata", mark.LastMetadataRow)];
        // Rows above the mark that belong to an older version are not an add's (an adoption moves an older version's edge).
        if (Scalar(LineageQueries.EdgeAfterIntoOlder, transaction, since) is not null
            || Scalar(LineageQueries.MetadataAfterOfOlder, transaction, since) is not null)
        {
            return null;
        }

        var added = Ids(LineageQueries.VersionsAfter, transaction, since);
        var parents = Ids(LineageQueries.ParentsOfEdgesAfter, transaction, since);
        return new AppendedLineage(ReadSubgraph([.. added.Union(parents)], transaction), added, now);
    });
}
