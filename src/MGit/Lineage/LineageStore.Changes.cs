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
        using var command = Command(
            """
            SELECT c.database, c.changes, c.results,
                (SELECT last FROM version_ids),
                (SELECT COALESCE(MAX(rowid), 0) FROM edges),
                (SELECT COALESCE(MAX(rowid), 0) FROM metadata)
            FROM change_counters c
            """,
            transaction);
        using var reader = command.ExecuteReader();
        reader.Read();
        return new ChangeMark(reader.GetString(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3), reader.GetInt64(4), reader.GetInt64(5));
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
        if (Scalar("SELECT 1 FROM edges WHERE rowid > $edge AND child_id <= $version LIMIT 1", transaction, since) is not null
            || Scalar("SELECT 1 FROM metadata WHERE rowid > $metadata AND version_id <= $version LIMIT 1", transaction, since) is not null)
        {
            return null;
        }

        var added = Ids("SELECT id FROM versions WHERE id > $version ORDER BY id", transaction, since);
        var parents = Ids("SELECT DISTINCT parent_id FROM edges WHERE rowid > $edge", transaction, since);
        return new AppendedLineage(ReadSubgraph([.. added.Union(parents)], transaction), added, now);
    });
}
