using MGit.Cascade;
using MGit.Checkout;
using MGit.Errors;
using MGit.Execution;
using MGit.Ingest;
using MGit.Lineage;
using MGit.Storage;
using MGit.Testing;
using MGit.Workspace;

namespace MGit.Cascade;

/// <summary>How a cascade runs: plan only or for real, parallelism, the limit on each recipe, and a callback per step.</summary>
public sealed record CascadeOptions
{
    /// <summary>Print the plan only; nothing is run, written or recorded.</summary>
    public bool DryRun { get; init; }
    /// <summary>Recipes run at once (a model still waits for all its parents).</summary>
    public int Jobs { get; init; } = 1;
    /// <summary>How long one recipe may run before it is killed and its step fails.</summary>
    public TimeSpan RecipeTimeout { get; init; } = TimeSpan.FromHours(24);
    /// <summary>Called as each step ends (from the thread that ran it, one at a time).</summary>
    public Action<CascadeStepResult>? OnStep { get; init; }
    /// <summary>Where the recipes run: null for this process (the default), or a cluster scheduler, each step one job.</summary>
    public MGit.Scheduling.ClusterOptions? Cluster { get; init; }
}

/// <summary>Step statuses as recorded and shown.</summary>
public static class CascadeStatus
{
    /// <summary>A dry run: the model would be re-derived by its recipe.</summary>
    public const string Planned = "planned";
    /// <summary>Recorded but not yet run (what <c>cascade --resume</c> picks up).</summary>
    public const string Pending = "pending";
    /// <summary>The recipe ran and its output was added as the model's new version.</summary>
    public const string Rederived = "rederived";
    /// <summary>The recipe failed (exit code, timeout or an output that could not be added).</summary>
    public const string Failed = "failed";
    /// <summary>Not run because a parent it depends on was not re-derived.</summary>
    public const string Blocked = "blocked";
    /// <summary>The model has no recorded recipe, so it cannot be re-derived automatically.</summary>
    public const string NoRecipe = "no-recipe";
    /// <summary>Handed to a cluster scheduler as a job that has not ended yet (<c>cascade --status</c> follows it).</summary>
    public const string Submitted = "submitted";
}

/// <summary>How one model fared: its old and new version, the tests before and after, and why it stopped if it did.</summary>
public sealed record CascadeStepResult(
    string Model,
    string From,
    string? To,
    string Status,
    string? Detail,
    IReadOnlyList<string> Parents,
    IReadOnlyList<TestResult> TestsBefore,
    IReadOnlyList<TestResult> TestsAfter);

/// <summary>The outcome of a cascade (or its plan, on a dry run): one result per affected model.</summary>
/// <param name="Id">The cascade's number in the lineage database; null when nothing was recorded.</param>
/// <param name="Old">The upstream version the descendants were derived from.</param>
/// <param name="New">The new upstream version they are re-derived on.</param>
/// <param name="DryRun">Only the plan: no recipe ran and nothing was stored.</param>
/// <param name="Steps">One result per affected model, in dependency order.</param>
public sealed record CascadeResult(long? Id, string Old, string New, bool DryRun, IReadOnlyList<CascadeStepResult> Steps)
{
    /// <summary>Why there was nothing to do, when there was nothing (no steps): a no-op is a success, with this as its message.</summary>
    public string? NothingToDo { get; init; }

    /// <summary>Every recipe ran and every test of a new version passed.</summary>
    public bool Succeeded => Steps.All(s => s.Status is not (CascadeStatus.Failed or CascadeStatus.Blocked) && s.TestsAfter.All(t => t.Passed));
}

/// <summary>The update cascade: plans which models to re-derive on a new upstream version, replays their recipes in dependency order, and re-tests.</summary>
internal sealed partial class CascadeRunner(RepositoryContext context, Ingestion ingestion, TestRunner tests, CheckoutCache checkouts)
{
    public RecipeStore Recipes => new(context.Lineage);

    /// <summary>The recipe recorded for a version and the parents it names, or null when there is none.</summary>
    public (ModelVersion Version, string? Recipe, IReadOnlyList<ModelVersion> Parents) RecipeOf(string reference)
    {
        var graph = context.Lineage.ReadAround([ModelRef.NameOf(reference)], []);
        var version = graph.Resolve(reference);
        return (version, Recipes.Get(version), graph.Parents(version, EdgeKind.Adapted));
    }

    /// <summary>Records (or replaces) the recipe of a version, checked against its parents.</summary>
    public void SetRecipe(string reference, string command)
    {
        var (version, _, parents) = RecipeOf(reference);
        Recipe.Parse(command, parents.Select(p => p.Name).ToList());
        Recipes.Set(version, command);
    }

    /// <summary>
    /// Re-derives every model downstream of <paramref name="oldRef"/> that has a recipe, on
    /// <paramref name="newRef"/> (when <paramref name="oldRef"/> is null: the version NEW succeeds),
    /// then runs the tests of each new version. A failing recipe stops only its own branch.
    /// Cancelled, it starts no more steps and kills the recipes and tests running; the versions
    /// made so far stay, the other steps stay pending, and <see cref="ResumeCascade"/> goes on.
    /// </summary>
    public CascadeResult UpdateCascade(string? oldRef, string newRef, CascadeOptions options, CancellationToken cancellationToken)
    {
        context.RemoveStaleTemporaries();
        var graph = context.Graph();
        var @new = graph.Resolve(newRef);
        ModelVersion old;
        if (oldRef is not null)
        {
            old = graph.Resolve(oldRef);
        }
        else
        {
            var previous = graph.Parents(@new, EdgeKind.Versioned);
            old = previous.Count == 1
                ? previous[0]
                : throw new MGitException(ErrorKind.InvalidInput, $"{@new.Ref} is not a new version of an earlier one; name both: mgit cascade OLD NEW");
        }

        var plan = CascadePlan.Build(graph, old, @new, Recipes.All());
        if (plan.Steps.Count == 0)
        {
            return new CascadeResult(null, old.Ref, @new.Ref, options.DryRun, []) { NothingToDo = WhyNothingToDo(graph, old) };
        }

        if (options.DryRun)
        {
            return new CascadeResult(null, old.Ref, @new.Ref, true, plan.Steps.Select(s => Planned(s, graph)).ToList());
        }

        var log = new CascadeLog(context.Lineage);
        long id = log.Start(old.Ref, @new.Ref, context.Options.Clock.GetUtcNow(), plan.Steps.Select(s => new CascadeRecordStep(s.Model, s.From.Ref, null, InitialStatus(s), s.Detail)));
        return ExecuteCascade(id, plan, options, cancellationToken);
    }

    /// <summary>The most recent cascade as recorded, or null when none has run.</summary>
    public CascadeRecord? LatestCascade()
    {
        try
        {
            return new CascadeLog(context.Lineage).Latest();
        }
        catch (MGitException e) when (e.Kind == ErrorKind.NotFound)
        {
            return null;
        }
    }

    /// <summary>Continues the latest cascade: what it made is kept, failed and blocked steps are tried again (with any recipe set since).</summary>
    public CascadeResult ResumeCascade(CascadeOptions options, CancellationToken cancellationToken)
    {
        context.RemoveStaleTemporaries();
        var log = new CascadeLog(context.Lineage);
        var record = log.Latest();
        var graph = context.Graph();
        var resumed = Resumed(record);
        if (resumed.Values.All(r => r.Done is not null))
        {
            throw new MGitException(ErrorKind.Conflict, $"the cascade {record.OldRef} -> {record.NewRef} is complete; nothing to resume");
        }

        EnsureNoJobRunning(record.Id);
        var plan = CascadePlan.Build(graph, graph.Resolve(record.OldRef), graph.Resolve(record.NewRef), Recipes.All(), resumed);
        if (options.DryRun)
        {
            return new CascadeResult(record.Id, record.OldRef, record.NewRef, true, plan.Steps.Select(s => Planned(s, graph)).ToList());
        }

        return ExecuteCascade(record.Id, plan, options, cancellationToken);
    }

    /// <summary>
    /// Running a cascade again that is complete is a no-op, not an error: the models derived from
    /// OLD all have a newer version already (made by the earlier cascade, or by hand).
    /// </summary>
    private static string WhyNothingToDo(LineageGraph graph, ModelVersion old)
    {
        var derived = graph.Versions
            .Where(v => v.Name != old.Name && graph.Parents(v, EdgeKind.Adapted).Any(p => p.Id == old.Id))
            .Select(v => v.Name)
            .Distinct(StringComparer.Ordinal)
            .Order(StringComparer.Ordinal)
            .ToList();
        return derived.Count == 0
            ? $"nothing to do: no model derives from {old.Ref}"
            : $"nothing to do: every model derived from {old.Ref} has a newer version already ({string.Join(", ", derived.Select(name => graph.Latest(name)!.Ref))})";
    }

    /// <summary>A recorded cascade as <see cref="CascadePlan.Build"/> continues it: each model's starting version, and the version made when its step was re-derived.</summary>
    private static Dictionary<string, (string From, string? Done)> Resumed(CascadeRecord record) =>
        record.Steps.ToDictionary(s => s.Model, s => (s.FromRef, s.Status == CascadeStatus.Rederived ? s.ToRef : null), StringComparer.Ordinal);

    /// <summary>A step's parents as a plan shows them: the fixed version, or the new version the cascade will make.</summary>
    private static List<string> PlannedParents(CascadeStep step) => step.Parents.Select(p => p.Fixed?.Ref ?? $"{p.Name} (new version)").ToList();

    private static string InitialStatus(CascadeStep step) => step.Kind switch
    {
        CascadeStepKind.NoRecipe => CascadeStatus.NoRecipe,
        CascadeStepKind.Blocked => CascadeStatus.Blocked,
        CascadeStepKind.Done => CascadeStatus.Rederived,
        _ => CascadeStatus.Pending,
    };

    private CascadeStepResult Planned(CascadeStep step, LineageGraph graph) => new(
        step.Model,
        step.From.Ref,
        step.DoneRef,
        step.Kind == CascadeStepKind.Rederive ? CascadeStatus.Planned : InitialStatus(step),
        step.Detail ?? (step.Recipe is null ? null : $"recipe: {step.Recipe}"),
        PlannedParents(step),
        tests.Tests.Latest(graph, [step.From.Id]),
        []);

    private CascadeResult ExecuteCascade(long id, CascadePlan plan, CascadeOptions options, CancellationToken cancellationToken)
    {
        if (options.Cluster is not null)
        {
            return ExecuteOnCluster(id, plan, options, options.Cluster, cancellationToken);
        }

        var log = new CascadeLog(context.Lineage);
        var made = new Dictionary<string, Task<ModelVersion?>>(StringComparer.Ordinal);
        var results = new Dictionary<string, CascadeStepResult>(StringComparer.Ordinal);
        using var recipeSlots = new SemaphoreSlim(Math.Max(1, options.Jobs));
        foreach (var step in plan.Steps)
        {
            var parentTasks = step.Parents.Where(p => p.FromStep is not null).Select(p => made[p.FromStep!]).ToList();
            made[step.Model] = Task.Run(async () =>
            {
                await Task.WhenAll(parentTasks).ConfigureAwait(false);
                if (step.Kind != CascadeStepKind.Rederive)
                {
                    var (done, planned) = context.WithDatabase(() =>
                    {
                        var graph = context.Graph();
                        return (step.DoneRef is null ? null : graph.Resolve(step.DoneRef), Planned(step, graph) with { Status = InitialStatus(step) });
                    });
                    Finish(id, log, options, results, planned);
                    return done;
                }

                var failedParents = step.Parents.Where(p => p.FromStep is not null && made[p.FromStep].Result is null).Select(p => p.Name).ToList();
                if (failedParents.Count > 0)
                {
                    Finish(id, log, options, results, new CascadeStepResult(step.Model, step.From.Ref, null, CascadeStatus.Blocked, $"parent {string.Join(", ", failedParents)} was not re-derived", [], [], []));
                    return null;
                }

                await recipeSlots.WaitAsync(cancellationToken).ConfigureAwait(false);
                try
                {
                    var parents = step.Parents.Select(p => p.Fixed ?? made[p.FromStep!].Result!).ToList();
                    var (version, result) = Rederive(id, plan, step, parents, options, cancellationToken);
                    Finish(id, log, options, results, result);
                    return version;
                }
                finally
                {
                    recipeSlots.Release();
                }
            });
        }

        try
        {
            // Not cut short by the cancel: each step ends itself (its runs killed, its work folder removed).
            Task.WaitAll([.. made.Values], CancellationToken.None);
        }
        catch (AggregateException) when (cancellationToken.IsCancellationRequested)
        {
            // Steps not run stay pending in the cascade's record, for ResumeCascade.
            throw new OperationCanceledException("the cascade was cancelled", cancellationToken);
        }

        // Also when every step got done: the last one's tests may have been cut short.
        cancellationToken.ThrowIfCancellationRequested();
        return new CascadeResult(id, plan.Old.Ref, plan.New.Ref, false, plan.Steps.Select(s => results[s.Model]).ToList());
    }

    private (ModelVersion? Version, CascadeStepResult Result) Rederive(long cascadeId, CascadePlan plan, CascadeStep step, IReadOnlyList<ModelVersion> parents, CascadeOptions options, CancellationToken cancellationToken)
    {
        var parentRefs = parents.Select(p => p.Ref).ToList();
        var (graph, fromManifest, before) = context.WithDatabase(() =>
        {
            var g = context.Graph();
            return (g, context.LoadManifest(step.From), tests.Tests.Latest(g, [step.From.Id]));
        });
        if (before.Count == 0 && context.WithDatabase(() => tests.TestsFor(step.From)).Count > 0)
        {
            before = tests.RunTests([step.From], new TestRunOptions(), cancellationToken);
        }

        CascadeStepResult Failed(string detail) => new(step.Model, step.From.Ref, null, CascadeStatus.Failed, detail, parentRefs, before, []);

        string work = Path.Combine(context.TempDirectory, TemporaryFiles.Name($"cascade-{cascadeId}-{RepositoryContext.SafeFileName(step.Model)}"));
        try
        {
            var inputs = parents.Select(p => (p.Name, Path: checkouts.Get(p.ManifestId, context.WithDatabase(() => context.LoadManifest(p)), cancellationToken))).ToList();
            bool isFile = fromManifest.Kind == "file";
            string output = ModelPaths.ForWriting(work, isFile ? fromManifest.Files.Single().Path : RepositoryContext.SafeFileName(step.Model));
            Directory.CreateDirectory(work);
            string logPath = context.RunLogPath(Path.Combine("cascade", cascadeId.ToString(System.Globalization.CultureInfo.InvariantCulture)), RepositoryContext.SafeFileName(step.Model), context.Options.Clock.GetUtcNow());
            var outcome = CommandRunner.Run(Recipe.Expand(step.Recipe!, inputs, output), context.Root, options.RecipeTimeout, logPath, cancellationToken: cancellationToken);
            string logName = Path.GetRelativePath(context.Root, logPath);
            if (!outcome.Succeeded)
            {
                return (null, Failed($"recipe {outcome.Describe(options.RecipeTimeout)} (log: {logName})"));
            }

            if (isFile ? !File.Exists(output) : !Directory.Exists(output))
            {
                return (null, Failed($"the recipe exited 0 but wrote no {(isFile ? "file" : "folder")} at {{output}} (log: {logName})"));
            }

            var how = graph.ParentEdges(step.From, EdgeKind.Adapted).Select(e => e.How).FirstOrDefault(h => h is not null);
            AddResult added;
            try
            {
                added = context.WithDatabase(() => ingestion.Add(output, new AddOptions
                {
                    FollowSymlinks = fromManifest.Links is { Count: > 0 },
                    Name = step.Model,
                    VersionOf = step.From.Ref,
                    Parents = parentRefs,
                    How = how,
                    Message = $"cascade {plan.Old.Ref} -> {plan.New.Ref}: recipe replayed on {string.Join(", ", parentRefs)}",
                    Recipe = step.Recipe,
                }, madeByCascade: true, cancellationToken));
            }
            catch (MGitException e)
            {
                return (null, Failed($"the recipe's output could not be added: {e.Message}"));
            }

            IReadOnlyList<TestResult> after;
            try
            {
                after = tests.RunTests([added.Version], new TestRunOptions(), cancellationToken);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                // The version is made: the step is recorded as done, its tests not run, so that a resume does not make it again.
                return (added.Version, new CascadeStepResult(step.Model, step.From.Ref, added.Version.Ref, CascadeStatus.Rederived, "cancelled before its tests ran", parentRefs, before, []));
            }

            return (added.Version, new CascadeStepResult(step.Model, step.From.Ref, added.Version.Ref, CascadeStatus.Rederived, null, parentRefs, before, after));
        }
        finally
        {
            if (Directory.Exists(work))
            {
                Directory.Delete(work, recursive: true);
            }
        }
    }

    private void Finish(long cascadeId, CascadeLog log, CascadeOptions options, Dictionary<string, CascadeStepResult> results, CascadeStepResult result)
    {
        context.WithDatabase(() =>
        {
            log.Update(cascadeId, new CascadeRecordStep(result.Model, result.From, result.To, result.Status, result.Detail));
            results[result.Model] = result;
            options.OnStep?.Invoke(result);
        });
    }
}
