using MGit.Errors;
using Microsoft.Data.Sqlite;

namespace MGit.Lineage;

/// <summary>A test definition that arrives from another repository, with the definitions it supersedes (by hash).</summary>
internal sealed record ImportedTest(string Name, string Command, string Scope, string? Pass, double TimeoutSeconds, string AddedAt, IReadOnlyList<string> Supersedes);

/// <summary>A recorded test result that arrives from another repository, its version named by key.</summary>
internal sealed record ImportedTestResult(string VersionKey, string Test, bool Passed, int? ExitCode, string Metrics, double DurationSeconds, string Reason, string LogTail, string RanAt);

internal sealed partial class LineageStore
{
    /// <summary>Inside an import: tests new here or replaced on the other side only, conflicts to remember, results received (each once).</summary>
    private void ImportTests(SqliteTransaction transaction, ImportPlan plan, Dictionary<string, long> ids)
    {
        foreach (var t in plan.Tests)
        {
            Execute(
                """
                INSERT INTO tests (name, command, scope, pass, timeout_s, added_at, supersedes, conflicts) VALUES ($n, $c, $s, $p, $t, $a, $sup, '')
                ON CONFLICT (name) DO UPDATE SET command = excluded.command, scope = excluded.scope, pass = excluded.pass,
                    timeout_s = excluded.timeout_s, added_at = excluded.added_at, supersedes = excluded.supersedes, conflicts = ''
                """,
                transaction,
                ("$n", t.Name),
                ("$c", t.Command),
                ("$s", t.Scope),
                ("$p", t.Pass),
                ("$t", t.TimeoutSeconds),
                ("$a", t.AddedAt),
                ("$sup", string.Join(' ', t.Supersedes)));
        }

        foreach (var (name, hash) in plan.TestConflicts)
        {
            string known = (string?)Scalar("SELECT conflicts FROM tests WHERE name = $n", transaction, ("$n", name)) ?? "";
            if (!known.Split(' ').Contains(hash))
            {
                Execute("UPDATE tests SET conflicts = trim(conflicts || ' ' || $h) WHERE name = $n", transaction, ("$n", name), ("$h", hash));
            }
        }

        foreach (var r in plan.TestResults)
        {
            if (!ids.TryGetValue(r.VersionKey, out long version))
            {
                throw new MGitException(ErrorKind.Damaged, $"a received result of test '{r.Test}' names a version that is in neither graph");
            }

            Execute(
                """
                INSERT INTO test_results (version_id, test, passed, exit_code, metrics, duration_s, reason, log_tail, log_path, ran_at)
                SELECT $v, $t, $p, $e, $m, $d, $r, $tail, NULL, $at
                WHERE NOT EXISTS (SELECT 1 FROM test_results WHERE version_id = $v AND test = $t AND ran_at = $at)
                """,
                transaction,
                ("$v", version),
                ("$t", r.Test),
                ("$p", r.Passed ? 1 : 0),
                ("$e", r.ExitCode),
                ("$m", r.Metrics),
                ("$d", r.DurationSeconds),
                ("$r", r.Reason),
                ("$tail", r.LogTail),
                ("$at", r.RanAt));
        }
    }
}
