using System.Text.RegularExpressions;
using MGit.Lineage;
using MGit.Tests.TestSupport;
using Microsoft.Data.Sqlite;

namespace MGit.Tests.Lineage;

/// <summary>
/// Issue 26: the lineage queries that must stay fast at 100,000 versions reach their rows through
/// indexes. SQLite's own plan (<c>EXPLAIN QUERY PLAN</c>) of each statement in
/// <see cref="LineageQueries"/>, the strings the store runs, on a real repository's database:
/// every table is searched by a key or an index, never read whole, except where reading it whole
/// is the question (every version; the versions without parents).
/// </summary>
public sealed class QueryPlanTests
{
    /// <summary>Names the plans give what is not a table: the recursive parts, json_each, a constant row.</summary>
    private static readonly HashSet<string> NotTables = ["json_each", "up", "down", "u", "d", "below", "b", "descendants", "CONSTANT"];

    private static readonly VersionQuery All = VersionQuery.All;

    /// <summary>Each query, the tables it may read whole (by the alias the plan names), and an index its plan must name.</summary>
    public static TheoryData<string, string, string[], string> Queries() => new()
    {
        { "ls", LineageQueries.ListVersions(All), ["v"], "edges_by_child" },
        { "ls --type", LineageQueries.ListVersions(All with { Type = "t" }), [], "versions_by_type" },
        { "ls --name", LineageQueries.ListVersions(All with { NamePattern = "bert*" }), [], "sqlite_autoindex_models_1" },
        { "ls --meta", LineageQueries.ListVersions(All with { Metadata = [KeyValuePair.Create("k", "v")] }), [], "metadata_by_key_value" },
        { "ls --meta --meta", LineageQueries.ListVersions(All with { Metadata = [KeyValuePair.Create("k", "v"), KeyValuePair.Create("k2", "v2")] }), [], "metadata_by_key_value" },
        { "ls --descendants-of", LineageQueries.ListVersions(All with { DescendantsOfId = 1 }), [], "sqlite_autoindex_edges_1" },
        { "ls --roots", LineageQueries.ListVersions(All with { RootsOnly = true }), ["v"], "edges_by_child" },
        { "ls --roots --type", LineageQueries.ListVersions(All with { RootsOnly = true, Type = "t" }), [], "versions_by_type" },
        { "ls with every filter", LineageQueries.ListVersions(new VersionQuery("t", "b*", [KeyValuePair.Create("k", "v")], 1, true, 10)), [], "metadata_by_key_value" },
        { "ls tags column", LineageQueries.ListVersions(All with { Type = "t" }), [], "tags_by_version" },
        { "resolve NAME", LineageQueries.VersionsOfModel, [], "sqlite_autoindex_versions_1" },
        { "versions of names (placement)", LineageQueries.VersionIdsOfModels, ["json_each"], "sqlite_autoindex_versions_1" },
        { "resolve NAME@TAG", LineageQueries.TaggedVersion, [], "sqlite_autoindex_tags_1" },
        { "tags of a model", LineageQueries.TagsOfModel, [], "sqlite_autoindex_tags_1" },
        { "tagged versions (tag)", LineageQueries.TaggedVersions, ["tags"], "tags_by_version" },
        { "parents of ids (add)", LineageQueries.ParentsOfIds, ["json_each"], "edges_by_child" },
        { "children of ids (rm)", LineageQueries.ChildrenOfIds, ["json_each"], "sqlite_autoindex_edges_1" },
        { "placement's versions: every one, each name by key", LineageQueries.PlacementVersions, ["v"], "INTEGER PRIMARY KEY" },
        { "show REF (parents)", LineageQueries.NeighboursOf, [], "edges_by_child" },
        { "show REF (children)", LineageQueries.NeighboursOf, [], "sqlite_autoindex_edges_1" },
        { "log NAME", LineageQueries.LineOf, [], "edges_by_child" },
        { "log NAME (down)", LineageQueries.LineOf, [], "sqlite_autoindex_edges_1" },
        { "graph --root", LineageQueries.Below(fromRoots: false, limited: false), [], "sqlite_autoindex_edges_1" },
        { "graph --root --depth", LineageQueries.Below(fromRoots: false, limited: true), [], "sqlite_autoindex_edges_1" },
        { "graph --depth", LineageQueries.Below(fromRoots: true, limited: true), ["v"], "edges_by_child" },
        { "versions by id", LineageQueries.VersionsByIds(), [], "INTEGER PRIMARY KEY" },
        { "metadata by id", LineageQueries.MetadataByIds, [], "sqlite_autoindex_metadata_1" },
        { "edges among ids", LineageQueries.EdgesAmongIds, [], "sqlite_autoindex_edges_1 (parent_id=?)" }, // not (parent_id=? AND child_id=?): every pair of ids
        { "tags by id", LineageQueries.TagsByIds, [], "tags_by_version" },
        { "change mark (push, pull): one-row tables, the highest rows by max", LineageQueries.ChangeMarkNow, ["c", "version_ids"], "SEARCH edges" },
        { "edges since a mark into older versions", LineageQueries.EdgeAfterIntoOlder, [], "INTEGER PRIMARY KEY (rowid>?)" },
        { "metadata since a mark of older versions", LineageQueries.MetadataAfterOfOlder, [], "INTEGER PRIMARY KEY (rowid>?)" },
        { "versions since a mark", LineageQueries.VersionsAfter, [], "INTEGER PRIMARY KEY (rowid>?)" },
        { "parents of edges since a mark", LineageQueries.ParentsOfEdgesAfter, [], "INTEGER PRIMARY KEY (rowid>?)" },
        { "versions by key (pull)", LineageQueries.VersionsByKeys, ["json_each"], "versions_by_key" },
        { "a model's version by number (pull)", LineageQueries.VersionOfModel, [], "sqlite_autoindex_versions_1" },
    };

    [Theory]
    [MemberData(nameof(Queries))]
    public void Each_query_searches_by_index(string name, string sql, string[] mayScan, string index)
    {
        using var repo = new RepoFixture();
        var plan = Plan(Path.Combine(repo.RepositoryPath, ".mgit", "lineage.db"), sql);
        Assert.True(Problems(plan, mayScan, index) is not { Count: > 0 }, $"{name}: {string.Join("; ", Problems(plan, mayScan, index))}\n{string.Join('\n', plan)}");
    }

    [Theory]
    [InlineData("bert")]
    [InlineData("bert-*")]
    [InlineData("bert?base")]
    public void A_name_pattern_with_a_plain_start_searches_the_names(string pattern)
    {
        using var repo = new RepoFixture();
        var plan = Plan(Path.Combine(repo.RepositoryPath, ".mgit", "lineage.db"), LineageQueries.ListVersions(All with { NamePattern = pattern }), pattern);
        Assert.True(Problems(plan, [], "sqlite_autoindex_models_1") is not { Count: > 0 }, string.Join('\n', plan));
    }

    [Fact]
    public void Without_the_indexes_the_check_finds_the_scans()
    {
        // The check can fail: with the indexes gone, the same statements read whole tables.
        using var repo = new RepoFixture();
        string database = Path.Combine(repo.RepositoryPath, ".mgit", "lineage.db");
        Execute(database, "DROP INDEX versions_by_type; DROP INDEX metadata_by_key_value; DROP INDEX tags_by_version");
        Assert.Contains("reads v whole", Problems(Plan(database, LineageQueries.ListVersions(All with { Type = "t" })), [], "versions_by_type"));
        Assert.Contains("reads md whole", Problems(Plan(database, LineageQueries.ListVersions(All with { Metadata = [KeyValuePair.Create("k", "v")] })), [], "metadata_by_key_value"));
        Assert.Contains("no use of tags_by_version", Problems(Plan(database, LineageQueries.TagsByIds), [], "tags_by_version"));
    }

    [Fact]
    public void An_older_database_gets_the_indexes_with_its_first_write_not_on_a_read()
    {
        using var dir = new TempDirectory();
        RepositoryFixtures.CopyTo("repo-schema7", dir.Path);
        string database = Path.Combine(dir.Path, ".mgit", "lineage.db");
        Assert.Empty(IndexNames(database).Intersect(["versions_by_type", "metadata_by_key_value", "tags_by_version"]));

        using (var repository = Repository.Open(dir.Path))
        {
            _ = repository.ListVersions(new VersionFilter { Type = "x" }).ToList();
        }

        Assert.Empty(IndexNames(database).Intersect(["versions_by_type", "metadata_by_key_value", "tags_by_version"]));
        using (var repository = Repository.Open(dir.Path))
        {
            var first = repository.Graph().Versions[0];
            repository.Tag(first.Ref, "indexed");
        }

        Assert.Subset(new HashSet<string>(IndexNames(database)), new HashSet<string>(["versions_by_type", "metadata_by_key_value", "tags_by_version"]));
    }

    /// <summary>What is wrong with a plan: a table read whole that may not be, or no use of the index expected.</summary>
    private static List<string> Problems(IReadOnlyList<string> plan, string[] mayScan, string index)
    {
        var problems = new List<string>();
        foreach (string line in plan)
        {
            // "SCAN v", "SCAN e USING INDEX x" (a whole index, in order) and "SCAN json_each VIRTUAL TABLE ..." alike.
            var scan = Regex.Match(line, @"^SCAN (\S+)");
            if (scan.Success && !NotTables.Contains(scan.Groups[1].Value) && !mayScan.Contains(scan.Groups[1].Value))
            {
                problems.Add($"reads {scan.Groups[1].Value} whole");
            }
        }

        if (!plan.Any(line => line.Contains(index, StringComparison.Ordinal)))
        {
            problems.Add($"no use of {index}");
        }

        return problems;
    }

    /// <summary>The plan's lines, each parameter bound (a null binds as NULL, which the planner treats as any value).</summary>
    private static List<string> Plan(string database, string sql, string namePattern = "bert*")
    {
        using var connection = new SqliteConnection($"Data Source={database};Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "EXPLAIN QUERY PLAN " + sql;
        foreach (Match parameter in Regex.Matches(sql, @"\$[a-z0-9]+"))
        {
            if (!command.Parameters.Contains(parameter.Value))
            {
                command.Parameters.AddWithValue(parameter.Value, parameter.Value switch
                {
                    "$name" => namePattern,
                    "$ids" => "[1,2]",
                    "$limit" => 10,
                    "$of" or "$focus" or "$root" or "$depth" or "$edge" or "$metadata" or "$version" or "$number" => 1,
                    _ => "x",
                });
            }
        }

        var lines = new List<string>();
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            lines.Add(reader.GetString(3));
        }

        return lines;
    }

    private static void Execute(string database, string sql)
    {
        using var connection = new SqliteConnection($"Data Source={database};Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    private static List<string> IndexNames(string database)
    {
        using var connection = new SqliteConnection($"Data Source={database};Mode=ReadOnly;Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT name FROM sqlite_master WHERE type = 'index'";
        using var reader = command.ExecuteReader();
        var names = new List<string>();
        while (reader.Read())
        {
            names.Add(reader.GetString(0));
        }

        return names;
    }
}
