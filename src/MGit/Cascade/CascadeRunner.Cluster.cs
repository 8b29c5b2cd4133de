using System.Globalization;
using MGit.Errors;
using MGit.Lineage;
using MGit.Scheduling;
using MGit.Testing;
using MGit.Workspace;

namespace MGit.Cascade;

/// <summary>A cascade as recorded, with the cluster job of each step (none for a local cascade).</summary>
/// <param name="Cascade">The cascade and its steps.</param>
/// <param name="Jobs">The latest job of each step that went to a scheduler, by model.</param>
public sealed record CascadeProgress(CascadeRecord Cascade, IReadOnlyDictionary<string, ClusterJobRecord> Jobs);

/// <summary>
/// The cascade on a cluster scheduler: every step that replays a recipe becomes one job that runs
/// <c>mgit cascade-step ID MODEL</c> on the shared repository, submitted with an <c>afterok</c>
/// dependency on the jobs of its parents, so the scheduler runs independent branches at once and
/// a failed step cancels only its descendants. The job does what a local step does (checks out
/// the parents the earlier jobs made, runs the recipe, adds the output with the same edges and
/// recipe, runs the tests) and records its step; mgit here follows the jobs and records what the
/// scheduler did to those that never recorded themselves (time limit, node failure, cancelled).
/// </summary>
internal sealed partial class CascadeRunner
{
    /// <summary>The work name a cascade's jobs are recorded under.</summary>
    internal static string WorkOf(long cascadeId) => "cascade:" + cascadeId.ToString(CultureInfo.InvariantCulture);

    private ClusterRun ClusterRunOf(long cascadeId, IJobScheduler scheduler) =>
        new(scheduler, context.Lineage, WorkOf(cascadeId), context.Root, context.Options.Clock.GetUtcNow);

    private CascadeResult ExecuteOnCluster(long id, CascadePlan plan, CascadeOptions options, ClusterOptions cluster, CancellationToken cancellationToken)
    {
        var log = new CascadeLog(context.Lineage);
        var results = new Dictionary<string, CascadeStepResult>(StringComparer.Ordinal);
        var run = ClusterRunOf(id, cluster.Scheduler);
        var config = RepositoryConfig.Load(context.MetadataDirectory);
        var defaults = config.SchedulerDefaults(cluster.Scheduler.Name);
        var jobs = new Dictionary<string, string>(StringComparer.Ordinal);
        var graph = context.Graph();
        try
        {
            foreach (var step in SubmissionOrder(plan))
            {
                if (step.Kind != CascadeStepKind.Rederive)
                {
                    Finish(id, log, options, results, Planned(step, graph) with { Status = InitialStatus(step) });
                    continue;
                }

                cancellationToken.ThrowIfCancellationRequested();
                var after = step.Parents.Where(p => p.FromStep is not null && jobs.ContainsKey(p.FromStep)).Select(p => jobs[p.FromStep!]).Distinct(StringComparer.Ordinal).ToList();
                var settings = cluster.Options.Over(config.ForRecipe(step.Model, cluster.Scheduler.Name)).Over(defaults);
                string logPath = context.RunLogPath(Path.Combine("cascade", id.ToString(CultureInfo.InvariantCulture)), RepositoryContext.SafeFileName(step.Model) + "." + cluster.Scheduler.Name, context.Options.Clock.GetUtcNow());
                var command = cluster.MgitOn(
                    context.Root,
                    "cascade-step", id.ToString(CultureInfo.InvariantCulture), step.Model,
                    "--timeout", options.RecipeTimeout.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture));
                jobs[step.Model] = run.Submit(step.Model, new ClusterJob(JobName(id, step.Model), command, context.Root, logPath, after, settings));
            }
        }
        catch (Exception e) when (e is MGitException or OperationCanceledException)
        {
            // Half a graph is worse than none: what was submitted is cancelled, its steps stay pending for a resume.
            run.CancelSubmitted();
            throw;
        }

        if (!cluster.Wait)
        {
            var submitted = plan.Steps
                .Select(s => results.TryGetValue(s.Model, out var done) ? done : new CascadeStepResult(s.Model, s.From.Ref, null, CascadeStatus.Submitted, $"{cluster.Scheduler.Name} job {jobs[s.Model]}", PlannedParents(s), [], []))
                .ToList();
            return new CascadeResult(id, plan.Old.Ref, plan.New.Ref, false, submitted);
        }

        run.Wait(jobs, (model, state) =>
        {
            var result = Settle(id, model, cluster.Scheduler.Name, state);
            context.WithDatabase(() =>
            {
                results[model] = result;
                options.OnStep?.Invoke(result);
            });
        }, cluster.PollInterval, cancellationToken);
        return new CascadeResult(id, plan.Old.Ref, plan.New.Ref, false, plan.Steps.Select(s => results[s.Model]).ToList());
    }

    /// <summary>
    /// The steps longest chain first: a step's height (the longest chain of steps below it) is
    /// always more than its children's, so this is an order in which each job's parents have their
    /// ids already, and the scheduler, which starts equal jobs in the order they came, starts the
    /// branch that will take longest first (by steps; it cannot know the recipes' times).
    /// </summary>
    private static List<CascadeStep> SubmissionOrder(CascadePlan plan)
    {
        var height = plan.Steps.ToDictionary(s => s.Model, _ => 0, StringComparer.Ordinal);
        foreach (var step in Enumerable.Reverse(plan.Steps))
        {
            foreach (var parent in step.Parents.Where(p => p.FromStep is not null && height.ContainsKey(p.FromStep)))
            {
                height[parent.FromStep!] = Math.Max(height[parent.FromStep!], height[step.Model] + 1);
            }
        }

        return plan.Steps.OrderByDescending(s => height[s.Model]).ToList();
    }

    /// <summary>A job name the scheduler shows: mgit, the cascade, the model (as log file names carry it).</summary>
    private static string JobName(long id, string model) => $"mgit-cascade-{id}-{RepositoryContext.SafeFileName(model)}";

    /// <summary>
    /// What a step's ended job comes to. The scheduler has the last word on a job it stopped
    /// (time limit, node failure, preemption, memory, a cancel): the recipe it killed may have
    /// recorded a failure of its own first (exit 143), which is not the reason. Otherwise a job
    /// that recorded its step is taken at its word, and one that recorded nothing failed. A job
    /// cancelled because a parent failed leaves its step blocked; one cancelled by a user leaves
    /// it pending, for <c>cascade --resume</c>. A version the job made always stands.
    /// </summary>
    private CascadeStepResult Settle(long cascadeId, string model, string scheduler, ClusterJobState state)
    {
        var log = new CascadeLog(context.Lineage);
        var (record, step) = context.WithDatabase(() =>
        {
            var r = log.Get(cascadeId);
            return (r, r.Steps.Single(s => s.Model == model));
        });
        string job = $"{scheduler} job {state.JobId} {state.Describe()}";
        var graph = context.Graph();
        var from = graph.Resolve(step.FromRef);
        var parents = graph.Parents(from, EdgeKind.Adapted).Select(p => p.Name).ToList();
        var before = tests.Tests.Latest(graph, [from.Id]);
        context.WithDatabase(() => context.Lineage.MarkClusterJobSettled(scheduler, state.JobId));
        if (step.Status == CascadeStatus.Rederived && step.ToRef is not null)
        {
            var made = graph.Resolve(step.ToRef);
            return new CascadeStepResult(model, step.FromRef, step.ToRef, step.Status, step.Detail, graph.Parents(made, EdgeKind.Adapted).Select(p => p.Ref).ToList(), before, tests.Tests.Latest(graph, [made.Id]));
        }

        if (step.Status == CascadeStatus.Failed && !state.StoppedByScheduler)
        {
            return new CascadeStepResult(model, step.FromRef, null, step.Status, step.Detail, parents, before, []);
        }

        var stepsByModel = record.Steps.ToDictionary(s => s.Model, StringComparer.Ordinal);
        var unmade = parents.Where(p => stepsByModel.TryGetValue(p, out var s) && s.Status != CascadeStatus.Rederived).ToList();
        string ownRecord = step.Status == CascadeStatus.Failed && step.Detail is not null ? $"; the step's own record: {step.Detail}" : "";
        var settled = state.Phase == JobPhase.Cancelled && unmade.Count > 0
            ? new CascadeRecordStep(model, step.FromRef, null, CascadeStatus.Blocked, $"parent {string.Join(", ", unmade)} was not re-derived ({job})")
            : state.Phase == JobPhase.Cancelled
                ? new CascadeRecordStep(model, step.FromRef, null, CascadeStatus.Pending, $"cancelled ({job})")
                : new CascadeRecordStep(model, step.FromRef, null, CascadeStatus.Failed, state.Phase == JobPhase.Succeeded ? $"{job}, but the job recorded no outcome" : job + ownRecord);
        context.WithDatabase(() => log.Update(cascadeId, settled));
        return new CascadeStepResult(model, step.FromRef, null, settled.Status, settled.Detail, parents, before, []);
    }

    /// <summary>
    /// Runs one recorded step of cascade <paramref name="cascadeId"/> here, as a cluster job does:
    /// its parents are the versions the cascade made of them (or the fixed ones), its outcome is
    /// recorded on its step. A step already re-derived is left alone (a job run twice makes one version).
    /// </summary>
    public CascadeStepResult RunRecordedStep(long cascadeId, string model, TimeSpan recipeTimeout, CancellationToken cancellationToken)
    {
        var log = new CascadeLog(context.Lineage);
        var record = log.Get(cascadeId);
        var graph = context.Graph();
        var resumed = Resumed(record);
        if (!resumed.ContainsKey(model))
        {
            throw new MGitException(ErrorKind.NotFound, $"cascade {cascadeId} has no step for {model}");
        }

        var plan = CascadePlan.Build(graph, graph.Resolve(record.OldRef), graph.Resolve(record.NewRef), Recipes.All(), resumed);
        var step = plan.Steps.Single(s => s.Model == model);
        var options = new CascadeOptions { RecipeTimeout = recipeTimeout };
        var results = new Dictionary<string, CascadeStepResult>(StringComparer.Ordinal);
        if (step.Kind != CascadeStepKind.Rederive)
        {
            var planned = Planned(step, graph) with { Status = InitialStatus(step) };
            if (step.Kind != CascadeStepKind.Done)
            {
                Finish(cascadeId, log, options, results, planned);
            }

            return planned;
        }

        var parents = new List<ModelVersion>();
        foreach (var parent in step.Parents)
        {
            if (parent.Fixed is not null)
            {
                parents.Add(parent.Fixed);
            }
            else if (resumed[parent.FromStep!].Done is { } made)
            {
                parents.Add(graph.Resolve(made));
            }
            else
            {
                var blocked = new CascadeStepResult(model, step.From.Ref, null, CascadeStatus.Blocked, $"parent {parent.Name} was not re-derived", [], [], []);
                Finish(cascadeId, log, options, results, blocked);
                return blocked;
            }
        }

        var (_, result) = Rederive(cascadeId, plan, step, parents, options, cancellationToken);
        Finish(cascadeId, log, options, results, result);
        return result;
    }

    /// <summary>The latest cascade with the jobs of its steps, their states asked of the scheduler first where they have not ended; steps whose jobs ended without recording themselves are settled.</summary>
    public CascadeProgress CascadeProgress()
    {
        var log = new CascadeLog(context.Lineage);
        var record = log.Latest();
        var jobs = RefreshedJobs(record.Id);
        record = log.Get(record.Id);
        foreach (var job in jobs.Where(j => j.Ended && !j.Settled && record.Steps.Any(s => s.Model == j.Unit)))
        {
            Settle(record.Id, job.Unit, job.Scheduler, ClusterRun.StateOf(job));
        }

        return new CascadeProgress(log.Get(record.Id), jobs.ToDictionary(j => j.Unit, StringComparer.Ordinal));
    }

    /// <summary>Cancels the jobs of the latest cascade that have not ended; returns how many. Their steps stay pending, for <c>cascade --resume</c>.</summary>
    public int CancelCascade()
    {
        var record = new CascadeLog(context.Lineage).Latest();
        return OpenRuns(record.Id).Sum(run => run.CancelAll());
    }

    /// <summary>A resume must not submit a step again while its job may still run.</summary>
    private void EnsureNoJobRunning(long cascadeId)
    {
        var still = RefreshedJobs(cascadeId).Where(j => !j.Ended).ToList();
        if (still.Count > 0)
        {
            throw new MGitException(ErrorKind.Conflict, $"the cascade's jobs are still queued or running ({string.Join(", ", still.Select(j => $"{j.Unit}: {j.Scheduler} job {j.JobId} {j.State}"))}); wait for them (mgit cascade --status) or cancel them (mgit cascade --cancel)");
        }
    }

    /// <summary>The latest job of each step of a cascade, the scheduler asked first about those not ended (and not asked when all have).</summary>
    private IReadOnlyList<ClusterJobRecord> RefreshedJobs(long cascadeId)
    {
        foreach (var run in OpenRuns(cascadeId))
        {
            run.Refresh();
        }

        return context.Lineage.LatestClusterJobs(WorkOf(cascadeId));
    }

    /// <summary>One run per scheduler that has jobs of the cascade not ended, as recorded.</summary>
    private List<ClusterRun> OpenRuns(long cascadeId) =>
        context.Lineage.LatestClusterJobs(WorkOf(cascadeId))
            .Where(j => !j.Ended)
            .Select(j => j.Scheduler)
            .Distinct(StringComparer.Ordinal)
            .Select(scheduler => ClusterRunOf(cascadeId, JobSchedulers.Create(scheduler)!))
            .ToList();
}
