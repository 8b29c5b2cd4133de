namespace MGit.Scheduling;

/// <summary>
/// A batch scheduler that runs mgit's work on a cluster (Slurm today; Kubernetes Jobs would be
/// one more class): it takes jobs, each a command line with the jobs it waits for, reports their
/// states, and cancels them. The jobs run <c>mgit</c> itself on the repository, which they reach
/// on a filesystem every node shares, so a job does exactly what the same command does locally.
/// </summary>
public interface IJobScheduler
{
    /// <summary>The name used for <c>--executor</c>, in records and in messages ("slurm").</summary>
    string Name { get; }

    /// <summary>Submits a job and returns the scheduler's id for it. Throws <see cref="Errors.MGitException"/> when the scheduler refuses it.</summary>
    string Submit(ClusterJob job);

    /// <summary>The state of each job asked for that the scheduler (or its accounting) still knows; a job missing from the answer is unknown.</summary>
    IReadOnlyDictionary<string, ClusterJobState> Query(IReadOnlyCollection<string> jobIds);

    /// <summary>Cancels the jobs (running ones are killed, pending ones never start); jobs already ended are left as they are.</summary>
    void Cancel(IReadOnlyCollection<string> jobIds);
}

/// <summary>One job for a scheduler.</summary>
/// <param name="Name">A short, readable name (shown by squeue).</param>
/// <param name="Command">The program and its arguments; a scheduler that needs a script quotes each for sh.</param>
/// <param name="WorkingDirectory">Where the job runs (the repository's root, on the shared filesystem).</param>
/// <param name="LogPath">Where its standard output and error go.</param>
/// <param name="After">Ids of jobs that must succeed first; if one fails, this job never runs.</param>
/// <param name="Options">What the job asks for (partition, resources, time limit).</param>
public sealed record ClusterJob(string Name, IReadOnlyList<string> Command, string WorkingDirectory, string LogPath, IReadOnlyList<string> After, SchedulerOptions Options);

/// <summary>Where a job is in its life, as mgit acts on it.</summary>
public enum JobPhase
{
    /// <summary>Waiting to start (queued, waiting for its dependencies or for resources).</summary>
    Pending,
    /// <summary>Running (or finishing).</summary>
    Running,
    /// <summary>Ended with exit code 0.</summary>
    Succeeded,
    /// <summary>Ended with a non-zero exit of its own.</summary>
    Failed,
    /// <summary>Stopped by the scheduler: its time limit, a node failure, preemption, its memory limit.</summary>
    Killed,
    /// <summary>Cancelled, by a user or because a job it waited for failed.</summary>
    Cancelled,
}

/// <summary>A job's state as its scheduler reports it.</summary>
/// <param name="JobId">The scheduler's id.</param>
/// <param name="Phase">What mgit makes of <paramref name="State"/>.</param>
/// <param name="State">The scheduler's own word for it (Slurm: PENDING, RUNNING, COMPLETED, FAILED, TIMEOUT, NODE_FAIL, PREEMPTED, OUT_OF_MEMORY, CANCELLED...).</param>
/// <param name="Reason">Why it waits or ended so, when the scheduler says (Slurm: TimeLimit, DependencyNeverSatisfied...).</param>
/// <param name="ExitCode">The job's exit code, once it ended; null if it never ran or was killed by a signal.</param>
/// <param name="RunTime">How long it ran so far, or in all.</param>
public sealed record ClusterJobState(string JobId, JobPhase Phase, string State, string? Reason, int? ExitCode, TimeSpan? RunTime)
{
    /// <summary>Whether the job has ended (it will change no more).</summary>
    public bool Ended => Phase is JobPhase.Succeeded or JobPhase.Failed or JobPhase.Killed or JobPhase.Cancelled;

    /// <summary>Whether the scheduler, not the job, ended it (killed or cancelled): what the job recorded while it was being stopped is not why it ended.</summary>
    public bool StoppedByScheduler => Phase is JobPhase.Killed or JobPhase.Cancelled;

    /// <summary>A short phrase for tables: "COMPLETED", "TIMEOUT (TimeLimit)", "FAILED, exit 3".</summary>
    public string Describe() =>
        State + (Reason is { Length: > 0 } r && r != "None" ? $" ({r})" : "") + (ExitCode is int code && code != 0 ? $", exit {code}" : "");
}
