using System.Globalization;
using Microsoft.Data.Sqlite;

namespace MGit.Lineage;

/// <summary>
/// A job that a scheduler ran for mgit: which piece of work (a cascade's step, a test on a
/// version), the scheduler's id, and its last known state.
/// </summary>
/// <param name="Work">What it belongs to: <c>cascade:ID</c> or <c>tests</c>.</param>
/// <param name="Unit">The piece of work: a cascade step's model, or a test run's <c>REF</c> and <c>TEST</c> joined by a line break.</param>
/// <param name="Scheduler">The executor that ran it ("slurm").</param>
/// <param name="JobId">The scheduler's id.</param>
/// <param name="State">The scheduler's word for its state (PENDING, RUNNING, COMPLETED, TIMEOUT...).</param>
/// <param name="Reason">Why, when the scheduler says.</param>
/// <param name="ExitCode">Its exit code once ended, when it exited.</param>
/// <param name="RunTimeSeconds">How long it ran.</param>
/// <param name="LogPath">Its output, relative to the repository's root.</param>
/// <param name="SubmittedAt">When mgit submitted it.</param>
/// <param name="Phase">What mgit makes of the state: pending, running, succeeded, failed, killed (by the scheduler) or cancelled.</param>
/// <param name="Settled">Whether what the job's end means for its work has been recorded (a cascade step's outcome).</param>
public sealed record ClusterJobRecord(
    string Work,
    string Unit,
    string Scheduler,
    string JobId,
    string State,
    string? Reason,
    int? ExitCode,
    double? RunTimeSeconds,
    string LogPath,
    DateTimeOffset SubmittedAt,
    string Phase,
    bool Settled = false)
{
    /// <summary>Whether it ended (its state changes no more).</summary>
    public bool Ended => Phase is "succeeded" or "failed" or "killed" or "cancelled";
}

internal sealed partial class LineageStore
{
    /// <summary>The table schema 8 added: jobs submitted to a cluster scheduler, for status, resume and cancel. Local only: never pushed.</summary>
    private const string ClusterJobsTable = """
        CREATE TABLE IF NOT EXISTS cluster_jobs (
            id INTEGER PRIMARY KEY,
            work TEXT NOT NULL,
            unit TEXT NOT NULL,
            scheduler TEXT NOT NULL,
            job_id TEXT NOT NULL,
            state TEXT NOT NULL,
            reason TEXT,
            exit_code INTEGER,
            run_time_s REAL,
            log_path TEXT NOT NULL,
            submitted_at TEXT NOT NULL,
            phase TEXT NOT NULL,
            settled INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX IF NOT EXISTS cluster_jobs_by_work ON cluster_jobs(work, unit);
        """;

    private const int ClusterJobsSchema = 8;

    /// <summary>Records a submitted job.</summary>
    public void AddClusterJob(ClusterJobRecord job) => Write(transaction =>
    {
        Execute(
            "INSERT INTO cluster_jobs (work, unit, scheduler, job_id, state, reason, exit_code, run_time_s, log_path, submitted_at, phase) VALUES ($w, $u, $s, $j, $st, $r, $e, $t, $l, $at, $p)",
            transaction,
            ("$w", job.Work),
            ("$u", job.Unit),
            ("$s", job.Scheduler),
            ("$j", job.JobId),
            ("$st", job.State),
            ("$r", job.Reason),
            ("$e", job.ExitCode),
            ("$t", job.RunTimeSeconds),
            ("$l", job.LogPath),
            ("$at", job.SubmittedAt.ToString("O", CultureInfo.InvariantCulture)),
            ("$p", job.Phase));
        return 0;
    });

    /// <summary>Updates a job's state (found by scheduler and id).</summary>
    public void UpdateClusterJob(string scheduler, string jobId, string state, string? reason, int? exitCode, double? runTimeSeconds, string phase) => Write(transaction =>
    {
        Execute(
            "UPDATE cluster_jobs SET state = $st, reason = $r, exit_code = $e, run_time_s = $t, phase = $p WHERE scheduler = $s AND job_id = $j",
            transaction,
            ("$s", scheduler),
            ("$j", jobId),
            ("$st", state),
            ("$r", reason),
            ("$e", exitCode),
            ("$t", runTimeSeconds),
            ("$p", phase));
        return 0;
    });

    /// <summary>Marks a job settled: what its end means has been recorded, and is not worked out again.</summary>
    public void MarkClusterJobSettled(string scheduler, string jobId) => Write(transaction =>
    {
        Execute("UPDATE cluster_jobs SET settled = 1 WHERE scheduler = $s AND job_id = $j", transaction, ("$s", scheduler), ("$j", jobId));
        return 0;
    });

    /// <summary>The latest job of each unit of <paramref name="work"/>; empty before schema 8.</summary>
    public IReadOnlyList<ClusterJobRecord> LatestClusterJobs(string work) => !HasSchema(ClusterJobsSchema) ? [] : Read(transaction =>
    {
        var jobs = new List<ClusterJobRecord>();
        using var command = Command(
            """
            SELECT work, unit, scheduler, job_id, state, reason, exit_code, run_time_s, log_path, submitted_at, phase, settled FROM cluster_jobs
            WHERE id IN (SELECT MAX(id) FROM cluster_jobs WHERE work = $w GROUP BY unit) ORDER BY id
            """,
            transaction,
            ("$w", work));
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            jobs.Add(ReadClusterJob(reader));
        }

        return jobs;
    });

    private static ClusterJobRecord ReadClusterJob(SqliteDataReader reader) => new(
        reader.GetString(0),
        reader.GetString(1),
        reader.GetString(2),
        reader.GetString(3),
        reader.GetString(4),
        reader.IsDBNull(5) ? null : reader.GetString(5),
        reader.IsDBNull(6) ? null : reader.GetInt32(6),
        reader.IsDBNull(7) ? null : reader.GetDouble(7),
        reader.GetString(8),
        DateTimeOffset.Parse(reader.GetString(9), CultureInfo.InvariantCulture),
        reader.GetString(10),
        reader.GetInt64(11) != 0);
}
