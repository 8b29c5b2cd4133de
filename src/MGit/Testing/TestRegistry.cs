using System.Globalization;
using System.Text.Json;
using MGit.Errors;
using MGit.Lineage;

namespace MGit.Testing;

/// <summary>Registered tests and their recorded results, in the lineage database (schema 3).</summary>
public sealed class TestRegistry
{
    private readonly LineageStore _store;

    internal TestRegistry(LineageStore store) => _store = store;

    private const int Schema = 3;

    /// <summary>Registers a test after checking it.</summary>
    /// <param name="test">The test to register.</param>
    /// <param name="at">When it was registered, as recorded.</param>
    /// <param name="replace">Overwrite a test of the same name instead of refusing it.</param>
    /// <exception cref="MGitException">The test is invalid, or one of that name exists and <paramref name="replace"/> is false.</exception>
    public void Add(TestDefinition test, DateTimeOffset at, bool replace)
    {
        test.Validated();
        _store.Write(transaction =>
        {
            var old = ReadDefinitions(transaction).FirstOrDefault(d => d.Test.Name == test.Name);
            if (old is not null && !replace)
            {
                throw new MGitException(ErrorKind.Conflict, $"a test named '{test.Name}' already exists; pass --replace to change it");
            }

            // A replacement supersedes what it replaces (and what that superseded, and any other
            // repository's definition a pull found in conflict), so it travels as the newer one.
            var supersedes = old is null ? [] : old.Supersedes.Concat(old.Conflicts).Append(Hash(old.Test)).Where(h => h != Hash(test)).Distinct().Order(StringComparer.Ordinal).ToList();
            _store.Execute(
                "INSERT OR REPLACE INTO tests (name, command, scope, pass, timeout_s, added_at, supersedes, conflicts) VALUES ($n, $c, $s, $p, $t, $a, $sup, '')",
                transaction,
                ("$n", test.Name),
                ("$c", test.Command),
                ("$s", test.Scope.ToString()),
                ("$p", test.Pass),
                ("$t", test.TimeoutSeconds),
                ("$a", at.ToString("O", CultureInfo.InvariantCulture)),
                ("$sup", string.Join(' ', supersedes)));
            return 0;
        });
    }

    /// <summary>A test definition's identity across repositories: the hash of everything that makes it (its registration time aside).</summary>
    internal static string Hash(TestDefinition test) =>
        MGit.Primitives.ObjectId.Compute(System.Text.Encoding.UTF8.GetBytes(
            $"mgit-test\n{test.Name}\n{test.Command}\n{test.Scope}\n{test.Pass}\n{test.TimeoutSeconds.ToString("R", CultureInfo.InvariantCulture)}")).ToString();

    /// <summary>A registered test as it travels: its definition, when registered, and the definitions (by hash) it supersedes or was found in conflict with.</summary>
    internal sealed record StoredDefinition(TestDefinition Test, string AddedAt, IReadOnlyList<string> Supersedes, IReadOnlyList<string> Conflicts);

    /// <summary>Every registered test with what it supersedes (empty before schema 3).</summary>
    internal IReadOnlyList<StoredDefinition> ReadDefinitions() => !_store.HasSchema(Schema) ? [] : _store.Read(ReadDefinitions);

    private List<StoredDefinition> ReadDefinitions(Microsoft.Data.Sqlite.SqliteTransaction transaction)
    {
        // The supersedes and conflicts columns come with schema 6 (a write migrates first; a read of an older database has none).
        bool tracked = _store.HasSchema(6);
        var tests = new List<StoredDefinition>();
        using var command = _store.Command($"SELECT name, command, scope, pass, timeout_s, added_at, {(tracked ? "supersedes, conflicts" : "'', ''")} FROM tests ORDER BY name", transaction);
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            tests.Add(new StoredDefinition(
                new TestDefinition(reader.GetString(0), reader.GetString(1), TestScope.Parse(reader.GetString(2)), reader.IsDBNull(3) ? null : reader.GetString(3), reader.GetDouble(4)),
                reader.GetString(5),
                reader.GetString(6).Split(' ', StringSplitOptions.RemoveEmptyEntries),
                reader.GetString(7).Split(' ', StringSplitOptions.RemoveEmptyEntries)));
        }

        return tests;
    }

    /// <summary>A recorded result as it travels: its version by id, its metrics and time as stored.</summary>
    internal sealed record StoredResult(long VersionId, string Test, bool Passed, int? ExitCode, string Metrics, double DurationSeconds, string Reason, string LogTail, string RanAt);

    /// <summary>Every recorded result (not only the latest), to send to a remote.</summary>
    internal IReadOnlyList<StoredResult> ReadAllResults() => !_store.HasSchema(Schema) ? [] : _store.Read(transaction =>
    {
        var results = new List<StoredResult>();
        using var command = _store.Command("SELECT version_id, test, passed, exit_code, metrics, duration_s, reason, log_tail, ran_at FROM test_results ORDER BY id", transaction);
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            results.Add(new StoredResult(reader.GetInt64(0), reader.GetString(1), reader.GetInt64(2) != 0, reader.IsDBNull(3) ? null : reader.GetInt32(3), reader.GetString(4), reader.GetDouble(5), reader.GetString(6), reader.GetString(7), reader.GetString(8)));
        }

        return results;
    });

    /// <summary>Removes a test and its recorded results.</summary>
    public void Remove(string name) => _store.Write(transaction =>
    {
        if (_store.Scalar("SELECT 1 FROM tests WHERE name = $n", transaction, ("$n", name)) is null)
        {
            throw new MGitException(ErrorKind.NotFound, $"no test named '{name}'");
        }

        _store.Execute("DELETE FROM test_results WHERE test = $n", transaction, ("$n", name));
        _store.Execute("DELETE FROM tests WHERE name = $n", transaction, ("$n", name));
        return 0;
    });

    /// <summary>Every registered test, by name.</summary>
    public IReadOnlyList<TestDefinition> All() => !_store.HasSchema(Schema) ? [] : _store.Read(transaction =>
    {
        var tests = new List<TestDefinition>();
        using var command = _store.Command("SELECT name, command, scope, pass, timeout_s FROM tests ORDER BY name", transaction);
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            tests.Add(new TestDefinition(
                reader.GetString(0),
                reader.GetString(1),
                TestScope.Parse(reader.GetString(2)),
                reader.IsDBNull(3) ? null : reader.GetString(3),
                reader.GetDouble(4)));
        }

        return tests;
    });

    /// <summary>The test of that name.</summary>
    /// <exception cref="MGitException">No test has that name.</exception>
    public TestDefinition Get(string name) =>
        All().FirstOrDefault(t => t.Name == name) ?? throw new MGitException(ErrorKind.NotFound, $"no test named '{name}' (see 'mgit test ls')");

    /// <summary>Stores a test's result on a version; dropped when the version was removed meanwhile.</summary>
    /// <param name="version">The version the test ran on.</param>
    /// <param name="result">How the run ended.</param>
    public void Record(ModelVersion version, TestResult result) => _store.Write(transaction =>
    {
        // The version may have been removed while its test ran; its result has nowhere to go.
        if (_store.Scalar("SELECT 1 FROM versions WHERE id = $v", transaction, ("$v", version.Id)) is null)
        {
            return 0;
        }

        _store.Execute(
            """
            INSERT INTO test_results (version_id, test, passed, exit_code, metrics, duration_s, reason, log_tail, log_path, ran_at)
            VALUES ($v, $t, $p, $e, $m, $d, $r, $tail, $log, $at)
            """,
            transaction,
            ("$v", version.Id),
            ("$t", result.Test),
            ("$p", result.Passed ? 1 : 0),
            ("$e", result.ExitCode),
            ("$m", JsonSerializer.Serialize(result.Metrics, TestingJson.Default.IReadOnlyDictionaryStringJsonElement)),
            ("$d", result.DurationSeconds),
            ("$r", result.Reason),
            ("$tail", result.LogTail),
            ("$log", result.LogPath),
            ("$at", result.RanAt.ToString("O", CultureInfo.InvariantCulture)));
        return 0;
    });

    /// <summary>The latest result of each (version, test) pair, for the versions given (all when null).</summary>
    public IReadOnlyList<TestResult> Latest(LineageGraph graph, IReadOnlyCollection<long>? versionIds = null)
    {
        if (!_store.HasSchema(Schema))
        {
            return [];
        }

        return _store.Read(transaction =>
        {
            var results = new List<TestResult>();
            using var command = _store.Command(
                """
                SELECT r.version_id, r.test, r.passed, r.exit_code, r.metrics, r.duration_s, r.reason, r.log_tail, r.log_path, r.ran_at
                FROM test_results r
                WHERE ($ids IS NULL OR r.version_id IN (SELECT value FROM json_each($ids)))
                  AND r.id = (SELECT MAX(id) FROM test_results WHERE version_id = r.version_id AND test = r.test)
                ORDER BY r.version_id, r.test
                """,
                transaction,
                ("$ids", versionIds is null ? null : JsonSerializer.Serialize(versionIds, TestingJson.Default.IReadOnlyCollectionInt64)));
            using var reader = command.ExecuteReader();
            while (reader.Read())
            {
                long versionId = reader.GetInt64(0);
                results.Add(new TestResult(
                    graph[versionId].Ref,
                    reader.GetString(1),
                    reader.GetInt64(2) != 0,
                    reader.IsDBNull(3) ? null : reader.GetInt32(3),
                    ParseMetrics(reader.GetString(4)),
                    reader.GetDouble(5),
                    reader.GetString(6),
                    reader.GetString(7),
                    reader.IsDBNull(8) ? null : reader.GetString(8),
                    DateTimeOffset.Parse(reader.GetString(9), CultureInfo.InvariantCulture)));
            }

            return results;
        });
    }

    /// <summary>
    /// The metrics a test reported: the last non-empty line of its standard output, when that is a
    /// JSON object; anything else reports no metrics.
    /// </summary>
    public static IReadOnlyDictionary<string, JsonElement> ParseMetrics(string? line)
    {
        var metrics = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        if (string.IsNullOrWhiteSpace(line) || !line.TrimStart().StartsWith('{'))
        {
            return metrics;
        }

        try
        {
            using var document = JsonDocument.Parse(line);
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                return metrics;
            }

            foreach (var property in document.RootElement.EnumerateObject())
            {
                metrics[property.Name] = property.Value.Clone();
            }
        }
        catch (JsonException)
        {
            metrics.Clear();
        }

        return metrics;
    }
}
