using MGit.Lineage;

namespace MGit.Scheduling;

/// <summary>How work handed to a cluster scheduler runs.</summary>
public sealed record ClusterOptions
{
    /// <summary>The scheduler (from <see cref="JobSchedulers.Create"/>).</summary>
    public required IJobScheduler Scheduler { get; init; }
    /// <summary>What the command line asks of every job; it wins over a test's, recipe's or repository's settings.</summary>
    public SchedulerOptions Options { get; init; } = SchedulerOptions.None;
    /// <summary>How a job starts mgit: the program and any arguments before mgit's own (e.g. <c>dotnet /opt/mgit/mgit.dll</c>).</summary>
    public required IReadOnlyList<string> MgitCommand { get; init; }
    /// <summary>Wait for the jobs to end (the default); false returns once they are submitted (<c>cascade --status</c> follows them).</summary>
    public bool Wait { get; init; } = true;
    /// <summary>How often the scheduler is asked for the jobs' states while waiting.</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>A job's command: mgit on the repository at <paramref name="root"/>, with <paramref name="arguments"/>.</summary>
    internal IReadOnlyList<string> MgitOn(string root, params IEnumerable<string> arguments) => [.. MgitCommand, "-C", root, .. arguments];
}

/// <summary>
/// Jobs of one piece of work (a cascade, a test run) on a scheduler: submits them, records each in
/// the lineage database (<c>cluster_jobs</c>), follows their states until they end, and cancels
/// what is left when it is cancelled. A job the scheduler no longer knows (it forgot it and keeps
/// no accounting) counts as failed after a few polls: a wait never hangs on a job that is gone.
/// </summary>
internal sealed class ClusterRun(IJobScheduler scheduler, LineageStore store, string work, string root, Func<DateTimeOffset> now)
{
    /// <summary>Polls a job may be missing from the scheduler's answers before it is taken as lost.</summary>
    private const int PollsBeforeLost = 3;

    /// <summary>The state given to a job mgit has submitted but not yet seen in the scheduler's answers.</summary>
    public const string Submitted = "SUBMITTED";

    /// <summary>The state of a job that the scheduler no longer knows.</summary>
    public const string Lost = "LOST";

    /// <summary>The ids this run submitted: what it cancels when it fails, not the jobs of other runs of the same work.</summary>
    private readonly HashSet<string> _submitted = new(StringComparer.Ordinal);

    /// <summary>A phase as the lineage database keeps it.</summary>
    public static string PhaseName(JobPhase phase) => phase.ToString().ToLowerInvariant();

    /// <summary>A recorded job's state again (its exit code and reason as recorded).</summary>
    public static ClusterJobState StateOf(ClusterJobRecord job) => new(
        job.JobId,
        Enum.TryParse<JobPhase>(job.Phase, ignoreCase: true, out var phase) ? phase : JobPhase.Failed,
        job.State,
        job.Reason,
        job.ExitCode,
        job.RunTimeSeconds is double seconds ? TimeSpan.FromSeconds(seconds) : null);

    /// <summary>Submits one job for <paramref name="unit"/> and records it; returns the scheduler's id.</summary>
    public string Submit(string unit, ClusterJob job)
    {
        // The time before submitting: a job can start and record its own start before the
        // scheduler's answer reaches us, and a result is matched to the job submitted before it.
        var submittedAt = now();
        string id = scheduler.Submit(job);
        _submitted.Add(id);
        store.AddClusterJob(new ClusterJobRecord(work, unit, scheduler.Name, id, Submitted, null, null, null, Path.GetRelativePath(root, job.LogPath), submittedAt, PhaseName(JobPhase.Pending)));
        return id;
    }

    /// <summary>The latest job of each unit, as recorded.</summary>
    public IReadOnlyList<ClusterJobRecord> Recorded() => store.LatestClusterJobs(work);

    /// <summary>
    /// Waits until every job in <paramref name="jobs"/> (unit to job id) has ended, recording each
    /// state change, and calls <paramref name="onEnded"/> once for each as it ends (in the order
    /// seen). <paramref name="submitMore"/>, called after each poll, may submit further jobs (it
    /// returns them), for work that keeps only so many in flight. Cancelled, it cancels every job
    /// not ended and throws <see cref="OperationCanceledException"/>.
    /// </summary>
    public void Wait(IDictionary<string, string> jobs, Action<string, ClusterJobState> onEnded, TimeSpan pollInterval, CancellationToken cancellationToken, Func<IReadOnlyDictionary<string, string>>? submitMore = null)
    {
        var open = new Dictionary<string, string>(jobs, StringComparer.Ordinal);
        var missing = new Dictionary<string, int>(StringComparer.Ordinal);
        var lastState = new Dictionary<string, string>(StringComparer.Ordinal);
        while (open.Count > 0 || submitMore is not null)
        {
            if (cancellationToken.IsCancellationRequested)
            {
                CancelJobs(open);
                cancellationToken.ThrowIfCancellationRequested();
            }

            var states = scheduler.Query(open.Values.ToList());
            foreach (var (unit, id) in open.ToList())
            {
                if (!states.TryGetValue(id, out var state))
                {
                    missing[id] = missing.GetValueOrDefault(id) + 1;
                    if (missing[id] < PollsBeforeLost)
                    {
                        continue;
                    }

                    state = new ClusterJobState(id, JobPhase.Failed, Lost, $"{scheduler.Name} no longer knows job {id}", null, null);
                }

                missing.Remove(id);
                if (lastState.GetValueOrDefault(id) != state.Describe())
                {
                    lastState[id] = state.Describe();
                    store.UpdateClusterJob(scheduler.Name, id, state.State, state.Reason, state.ExitCode, state.RunTime?.TotalSeconds, PhaseName(state.Phase));
                }

                if (state.Ended)
                {
                    open.Remove(unit);
                    onEnded(unit, state);
                }
            }

            if (submitMore is not null)
            {
                var more = submitMore();
                foreach (var (unit, id) in more)
                {
                    open[unit] = id;
                }

                if (more.Count == 0 && open.Count == 0)
                {
                    break;
                }
            }

            if (open.Count > 0)
            {
                // Wakes at once on a cancel, to cancel the jobs without waiting for the next poll.
                cancellationToken.WaitHandle.WaitOne(pollInterval);
            }
        }
    }

    /// <summary>Asks the scheduler for the state of every recorded job not yet ended, records what changed, and returns the latest job of each unit.</summary>
    public IReadOnlyList<ClusterJobRecord> Refresh()
    {
        var open = Recorded().Where(j => !j.Ended && j.Scheduler == scheduler.Name).ToList();
        if (open.Count > 0)
        {
            var states = scheduler.Query(open.Select(j => j.JobId).ToList());
            foreach (var job in open)
            {
                var state = states.GetValueOrDefault(job.JobId) ?? new ClusterJobState(job.JobId, JobPhase.Failed, Lost, $"{scheduler.Name} no longer knows job {job.JobId}", null, null);
                store.UpdateClusterJob(scheduler.Name, job.JobId, state.State, state.Reason, state.ExitCode, state.RunTime?.TotalSeconds, PhaseName(state.Phase));
            }
        }

        return Recorded();
    }

    /// <summary>Cancels the jobs this run submitted that have not ended (as last recorded); returns how many were asked to stop.</summary>
    public int CancelSubmitted()
    {
        var open = Recorded().Where(j => !j.Ended && j.Scheduler == scheduler.Name && _submitted.Contains(j.JobId)).ToDictionary(j => j.Unit, j => j.JobId, StringComparer.Ordinal);
        CancelJobs(open);
        return open.Count;
    }

    /// <summary>Cancels every recorded job of the work not yet ended, whoever submitted it; returns how many were asked to stop.</summary>
    public int CancelAll()
    {
        var open = Refresh().Where(j => !j.Ended && j.Scheduler == scheduler.Name).ToDictionary(j => j.Unit, j => j.JobId, StringComparer.Ordinal);
        CancelJobs(open);
        return open.Count;
    }

    private void CancelJobs(IReadOnlyDictionary<string, string> open)
    {
        if (open.Count == 0)
        {
            return;
        }

        scheduler.Cancel(open.Values.ToList());
        foreach (string id in open.Values)
        {
            store.UpdateClusterJob(scheduler.Name, id, "CANCELLED", "cancelled by mgit", null, null, PhaseName(JobPhase.Cancelled));
        }
    }
}
