using MGit.Lineage;
using MGit.Scheduling;
using MGit.Workspace;

namespace MGit.Testing;

/// <summary>
/// Tests on a cluster scheduler: each test on each version is one job that runs
/// <c>mgit test run REF --test NAME</c> on the shared repository (on the checkout prepared here),
/// so it judges and records its result exactly as a local run does. At most
/// <see cref="TestRunOptions.Jobs"/> are queued or running at once. A job that records nothing
/// (killed for its time limit, its node lost, cancelled) is recorded as a failed result with the
/// scheduler's reason, so <c>mgit test show</c> says what happened.
/// </summary>
internal sealed partial class TestRunner
{
    /// <summary>Cluster jobs of test runs are recorded under this work name, each unit <c>REF\nTEST</c>.</summary>
    public const string ClusterWork = "tests";

    /// <summary>A unit of a test run, as recorded with its job.</summary>
    public static string ClusterUnit(string reference, string test) => reference + "\n" + test;

    private List<TestResult> RunOnCluster(List<(ModelVersion Version, TestDefinition Test)> work, TestRunOptions options, ClusterOptions cluster, CancellationToken cancellationToken)
    {
        var config = RepositoryConfig.Load(context.MetadataDirectory);
        var defaults = config.SchedulerDefaults(cluster.Scheduler.Name);
        var run = new ClusterRun(cluster.Scheduler, context.Lineage, ClusterWork, context.Root, context.Options.Clock.GetUtcNow);
        var graph = context.Graph();
        // What each cell held before: a job that records a result changes it.
        var before = Tests.Latest(graph, work.Select(w => w.Version.Id).Distinct().ToList()).ToDictionary(r => (r.Ref, r.Test));
        var results = new TestResult?[work.Count];
        var indexOf = new Dictionary<string, int>(StringComparer.Ordinal);
        var logOf = new Dictionary<string, string>(StringComparer.Ordinal);
        int next = 0;
        int inFlight = 0;
        int limit = Math.Max(1, options.Jobs);

        IReadOnlyDictionary<string, string> SubmitMore()
        {
            var submitted = new Dictionary<string, string>(StringComparer.Ordinal);
            while (inFlight < limit && next < work.Count)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var (version, test) = work[next];
                string unit = ClusterUnit(version.Ref, test.Name);
                indexOf[unit] = next++;
                var settings = cluster.Options.Over(config.ForTest(test.Name, cluster.Scheduler.Name)).Over(defaults);
                string log = context.RunLogPath(Path.Combine("tests", RepositoryContext.SafeFileName(version.Ref)), test.Name + "." + cluster.Scheduler.Name, context.Options.Clock.GetUtcNow());
                var command = cluster.MgitOn(context.Root, "test", "run", version.Ref, "--test", test.Name);
                submitted[unit] = run.Submit(unit, new ClusterJob($"mgit-test-{test.Name}", command, context.Root, log, [], settings));
                logOf[unit] = Path.GetRelativePath(context.Root, log);
                inFlight++;
            }

            return submitted;
        }

        var first = new Dictionary<string, string>(StringComparer.Ordinal);
        try
        {
            foreach (var (unit, id) in SubmitMore())
            {
                first[unit] = id;
            }

            run.Wait(first, (unit, state) =>
            {
                inFlight--;
                int index = indexOf[unit];
                var (version, test) = work[index];
                var result = ResultOf(graph, version, test, state, before.GetValueOrDefault((version.Ref, test.Name)), cluster.Scheduler.Name, logOf[unit]);
                context.WithDatabase(() => options.OnResult?.Invoke(result));
                results[index] = result;
            }, cluster.PollInterval, cancellationToken, () => next < work.Count ? SubmitMore() : new Dictionary<string, string>());
        }
        catch (Exception e) when (e is OperationCanceledException or Errors.MGitException)
        {
            // Only this run's jobs: every test run shares the work name, and another may be running.
            run.CancelSubmitted();
            throw;
        }

        return results.Select(r => r!).ToList();
    }

    /// <summary>The result the job recorded, or, when it recorded none, a failed result saying what the scheduler did.</summary>
    private TestResult ResultOf(LineageGraph graph, ModelVersion version, TestDefinition test, ClusterJobState state, TestResult? previous, string scheduler, string jobLog)
    {
        var latest = Tests.Latest(graph, [version.Id]).FirstOrDefault(r => r.Test == test.Name);
        // The job's own result, unless the scheduler stopped the job: a test killed with it recorded "exit 143", which is not why it ended.
        if (latest is not null && !state.StoppedByScheduler && (previous is null || latest.LogPath != previous.LogPath || latest.RanAt != previous.RanAt))
        {
            return latest;
        }

        var failed = new TestResult(
            version.Ref,
            test.Name,
            false,
            state.ExitCode,
            new Dictionary<string, System.Text.Json.JsonElement>(),
            state.RunTime?.TotalSeconds ?? 0,
            $"{scheduler} job {state.JobId} {state.Describe()}",
            TailOf(Path.Combine(context.Root, jobLog)),
            jobLog,
            context.Options.Clock.GetUtcNow());
        context.WithDatabase(() => Tests.Record(version, failed));
        return failed;
    }

    /// <summary>The last lines of a job's log, as a local run keeps them.</summary>
    private static string TailOf(string path)
    {
        try
        {
            var lines = File.ReadLines(path).TakeLast(Execution.CommandRunner.TailLines);
            string tail = string.Join('\n', lines);
            return tail.Length > 4096 ? tail[^4096..] : tail;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return "";
        }
    }
}
