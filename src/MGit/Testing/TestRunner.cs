using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using MGit.Checkout;
using MGit.Errors;
using MGit.Execution;
using MGit.Lineage;
using MGit.Storage;
using MGit.Testing;
using MGit.Workspace;

namespace MGit.Testing;

/// <summary>How <see cref="Repository.RunTests"/> runs: parallelism, an optional single test, and a callback per result.</summary>
public sealed record TestRunOptions
{
    /// <summary>Tests run at once.</summary>
    public int Jobs { get; init; } = 1;
    /// <summary>Run only this test (it runs even where its scope does not apply, as bisect needs).</summary>
    public string? OnlyTest { get; init; }
    /// <summary>Called as each result is recorded (from the thread that ran it, one at a time).</summary>
    public Action<TestResult>? OnResult { get; init; }
    /// <summary>Where the tests run: null for this process (the default), or a cluster scheduler, each test on each version one job (at most <see cref="Jobs"/> at once).</summary>
    public MGit.Scheduling.ClusterOptions? Cluster { get; init; }
}

/// <summary>One step of a bisect: the version tried and whether the test passed on it.</summary>
public sealed record BisectRun(string Ref, bool Passed, string Reason);

/// <summary>What a bisect found: where along a chain of versions a test started to fail.</summary>
/// <param name="Test">The test's name.</param>
/// <param name="Chain">The versions searched, oldest first.</param>
/// <param name="FirstFailing">The first version of the chain on which the test fails.</param>
/// <param name="LastPassing">The version just before it, on which the test passes.</param>
/// <param name="Runs">Every version tried, in the order they ran.</param>
public sealed record BisectResult(string Test, IReadOnlyList<string> Chain, string FirstFailing, string LastPassing, IReadOnlyList<BisectRun> Runs);

/// <summary>Runs registered tests on stored versions (on cached read-only checkouts), records their results, and bisects a chain.</summary>
internal sealed partial class TestRunner(RepositoryContext context, CheckoutCache checkouts)
{
    /// <summary>Registered tests and their results.</summary>
    public TestRegistry Tests => new(context.Lineage);

    private string CheckoutCacheDirectory => Path.Combine(context.MetadataDirectory, "cache", "checkouts");

    private string LogDirectory => Path.Combine(context.MetadataDirectory, "logs");

    public void RegisterTest(TestDefinition test, bool replace = false) => Tests.Add(test, context.Options.Clock.GetUtcNow(), replace);

    /// <summary>The tests whose scope covers <paramref name="version"/>: all, its type, or its model.</summary>
    public IReadOnlyList<TestDefinition> TestsFor(ModelVersion version) => TestsFor(version.Name, version.Type);

    /// <summary>The tests whose scope covers a model of this name and type (also one not stored yet).</summary>
    public IReadOnlyList<TestDefinition> TestsFor(string name, string? type) =>
        Tests.All().Where(t => t.Scope.AppliesTo(name, type)).ToList();

    /// <summary>
    /// Runs every applicable test (or <see cref="TestRunOptions.OnlyTest"/>) on each version, on
    /// read-only checkouts kept in <c>.mgit/cache/checkouts</c> (one per stored content, so a model
    /// is materialised once however many tests and runs use it), and records each result.
    /// Cancelled, it starts no more tests and kills those running (with every process they
    /// started); nothing is recorded for a killed test.
    /// </summary>
    public IReadOnlyList<TestResult> RunTests(IReadOnlyList<ModelVersion> versions, TestRunOptions options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        context.RemoveStaleTemporaries();
        var tests = context.WithDatabase(Tests.All);
        if (options.OnlyTest is { } only && tests.All(t => t.Name != only))
        {
            throw new MGitException(ErrorKind.NotFound, $"no test named '{only}' (see 'mgit test ls')");
        }

        var work = versions
            .Select(v => (Version: v, Tests: tests.Where(t => options.OnlyTest is null ? t.Scope.AppliesTo(v.Name, v.Type) : t.Name == options.OnlyTest).ToList()))
            .Where(v => v.Tests.Count > 0)
            .SelectMany(v =>
            {
                var manifest = context.WithDatabase(() => context.LoadManifest(v.Version));
                return v.Tests.Select(t => (v.Version, Manifest: manifest, Test: t));
            })
            .ToList();
        checkouts.Prepare(work.Select(w => (w.Version, w.Manifest)), cancellationToken);
        if (options.Cluster is not null)
        {
            return RunOnCluster(work.Select(w => (w.Version, w.Test)).ToList(), options, options.Cluster, cancellationToken);
        }

        var results = new TestResult?[work.Count];
        Parallel.For(0, work.Count, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, options.Jobs), CancellationToken = cancellationToken }, i =>
        {
            var (version, manifest, test) = work[i];
            string model = checkouts.Get(version.ManifestId, manifest, cancellationToken);
            var result = RunTest(test, version.Ref, model, cancellationToken);
            context.WithDatabase(() =>
            {
                Tests.Record(version, result);
                options.OnResult?.Invoke(result);
            });

            results[i] = result;
        });
        return results.Select(r => r!).ToList();
    }

    /// <summary>Runs one test on a model at <paramref name="modelPath"/> and judges it; records nothing.</summary>
    public TestResult RunTest(TestDefinition test, string reference, string modelPath, CancellationToken cancellationToken)
    {
        var arguments = TestDefinition.ParseCommand(test.Command).Expand(name => name == "model" ? [modelPath] : [reference]);
        var startedAt = context.Options.Clock.GetUtcNow();
        string log = context.RunLogPath(Path.Combine("tests", RepositoryContext.SafeFileName(reference)), test.Name, startedAt);
        var outcome = CommandRunner.Run(arguments, context.Root, test.Timeout, log, cancellationToken: cancellationToken);
        var metrics = TestRegistry.ParseMetrics(outcome.LastOutputLine);
        bool passed;
        string reason;
        if (!outcome.Succeeded)
        {
            (passed, reason) = (false, outcome.Describe(test.Timeout));
        }
        else if (test.Pass is null)
        {
            (passed, reason) = (true, "exit 0");
        }
        else
        {
            (passed, reason) = PassCondition.Parse(test.Pass).Evaluate(metrics, outcome.ExitCode);
        }

        return new TestResult(reference, test.Name, passed, outcome.ExitCode, metrics, outcome.Duration.TotalSeconds, reason, outcome.LogTail, Path.GetRelativePath(context.Root, log), startedAt);
    }

    /// <summary>
    /// Finds where <paramref name="testName"/> started failing along the chain of adapted parents
    /// from <paramref name="ancestor"/> (default: the chain's root) to <paramref name="from"/>: it
    /// checks that the newest fails and the oldest passes, then halves the chain, so n models cost
    /// about log2(n) + 2 runs.
    /// </summary>
    public BisectResult Bisect(string testName, string from, string? ancestor, Action<BisectRun>? onRun, CancellationToken cancellationToken)
    {
        var test = Tests.Get(testName);
        var graph = context.Graph();
        var chain = BisectChain(graph, graph.Resolve(from), ancestor is null ? null : graph.Resolve(ancestor));
        var runs = new List<BisectRun>();
        bool Passes(ModelVersion version)
        {
            var result = RunTests([version], new TestRunOptions { OnlyTest = test.Name }, cancellationToken).Single();
            var run = new BisectRun(version.Ref, result.Passed, result.Reason);
            runs.Add(run);
            onRun?.Invoke(run);
            return result.Passed;
        }

        if (Passes(chain[^1]))
        {
            throw new MGitException(ErrorKind.InvalidInput, $"{chain[^1].Ref} passes {test.Name}; there is no failure to bisect");
        }

        if (!Passes(chain[0]))
        {
            throw new MGitException(ErrorKind.InvalidInput, $"{chain[0].Ref} fails {test.Name} too, so the failure is older than the chain; name a passing ancestor with --to");
        }

        int good = 0;
        int bad = chain.Count - 1;
        while (bad - good > 1)
        {
            int middle = good + ((bad - good) / 2);
            if (Passes(chain[middle]))
            {
                good = middle;
            }
            else
            {
                bad = middle;
            }
        }

        return new BisectResult(test.Name, chain.Select(v => v.Ref).ToList(), chain[bad].Ref, chain[good].Ref, runs);
    }

    /// <summary>The chain oldest first: adapted parents up to <paramref name="ancestor"/>, or to the root when none is named.</summary>
    private static List<ModelVersion> BisectChain(LineageGraph graph, ModelVersion from, ModelVersion? ancestor)
    {
        var chain = new List<ModelVersion>();
        if (ancestor is null)
        {
            var current = from;
            chain.Add(current);
            while (true)
            {
                var parents = graph.Parents(current, EdgeKind.Adapted);
                if (parents.Count == 0)
                {
                    break;
                }

                if (parents.Count > 1)
                {
                    throw new MGitException(ErrorKind.InvalidInput, $"{current.Ref} has several parents ({string.Join(", ", parents.Select(p => p.Ref))}); name the ancestor to bisect from with --to");
                }

                current = parents[0];
                chain.Add(current);
            }

            chain.Reverse();
        }
        else
        {
            // Breadth-first up the parents, adapted edges before versioned ones: the shortest path, preferring provenance.
            var previous = new Dictionary<long, ModelVersion> { [from.Id] = from };
            var queue = new Queue<ModelVersion>([from]);
            while (queue.Count > 0 && !previous.ContainsKey(ancestor.Id))
            {
                var current = queue.Dequeue();
                foreach (var parent in graph.Parents(current, EdgeKind.Adapted).Concat(graph.Parents(current, EdgeKind.Versioned)))
                {
                    if (previous.TryAdd(parent.Id, current))
                    {
                        queue.Enqueue(parent);
                    }
                }
            }

            if (!previous.ContainsKey(ancestor.Id) || ancestor.Id == from.Id)
            {
                throw new MGitException(ErrorKind.InvalidInput, $"{ancestor.Ref} is not an ancestor of {from.Ref}");
            }

            for (var current = ancestor; ; current = previous[current.Id])
            {
                chain.Add(current);
                if (current.Id == from.Id)
                {
                    break;
                }
            }
        }

        if (chain.Count < 2)
        {
            throw new MGitException(ErrorKind.InvalidInput, $"{from.Ref} has no parent to bisect along");
        }

        return chain;
    }
}
