using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using MGit.Errors;
using MGit.Execution;
using MGit.Lineage;
using MGit.Storage;
using MGit.Testing;

namespace MGit;

/// <summary>How <see cref="Repository.RunTests"/> runs: parallelism, an optional single test, and a callback per result.</summary>
public sealed record TestRunOptions
{
    public int Jobs { get; init; } = 1;
    /// <summary>Run only this test (it runs even where its scope does not apply, as bisect needs).</summary>
    public string? OnlyTest { get; init; }
    public Action<TestResult>? OnResult { get; init; }
}

/// <summary>One step of a bisect: the version tried and whether the test passed on it.</summary>
public sealed record BisectRun(string Ref, bool Passed, string Reason);

public sealed record BisectResult(string Test, IReadOnlyList<string> Chain, string FirstFailing, string LastPassing, IReadOnlyList<BisectRun> Runs);

public sealed partial class Repository
{
    private readonly ConcurrentDictionary<string, object> _checkoutGates = new(StringComparer.Ordinal);
    private readonly object _databaseGate = new();

    /// <summary>Registered tests and their results.</summary>
    public TestRegistry Tests => new(_lineage);

    private string CheckoutCacheDirectory => Path.Combine(MetadataDirectory, "cache", "checkouts");

    private string LogDirectory => Path.Combine(MetadataDirectory, "logs");

    public void RegisterTest(TestDefinition test, bool replace = false) => Tests.Add(test, _options.Clock.GetUtcNow(), replace);

    /// <summary>The tests whose scope covers <paramref name="version"/>: all, its type, or its model.</summary>
    public IReadOnlyList<TestDefinition> TestsFor(ModelVersion version) => TestsFor(version.Name, version.Type);

    /// <summary>The tests whose scope covers a model of this name and type (also one not stored yet).</summary>
    public IReadOnlyList<TestDefinition> TestsFor(string name, string? type) =>
        Tests.All().Where(t => t.Scope.AppliesTo(name, type)).ToList();

    /// <summary>
    /// Runs every applicable test (or <see cref="TestRunOptions.OnlyTest"/>) on each version, on
    /// read-only checkouts kept in <c>.mgit/cache/checkouts</c> (one per stored content, so a model
    /// is materialised once however many tests and runs use it), and records each result.
    /// </summary>
    public IReadOnlyList<TestResult> RunTests(IReadOnlyList<ModelVersion> versions, TestRunOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        RemoveStaleTemporaries();
        var tests = WithDatabase(Tests.All);
        if (options.OnlyTest is { } only && tests.All(t => t.Name != only))
        {
            throw new MGitException($"no test named '{only}' (see 'mgit test ls')");
        }

        var work = versions
            .Select(v => (Version: v, Tests: tests.Where(t => options.OnlyTest is null ? t.Scope.AppliesTo(v.Name, v.Type) : t.Name == options.OnlyTest).ToList()))
            .Where(v => v.Tests.Count > 0)
            .SelectMany(v =>
            {
                var manifest = WithDatabase(() => LoadManifest(v.Version));
                return v.Tests.Select(t => (v.Version, Manifest: manifest, Test: t));
            })
            .ToList();
        PrepareCheckouts(work.Select(w => (w.Version, w.Manifest)));
        var results = new TestResult?[work.Count];
        Parallel.For(0, work.Count, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, options.Jobs) }, i =>
        {
            var (version, manifest, test) = work[i];
            string model = CachedCheckout(version.ManifestId, manifest);
            var result = RunTest(test, version.Ref, model);
            lock (_databaseGate)
            {
                Tests.Record(version, result);
                options.OnResult?.Invoke(result);
            }

            results[i] = result;
        });
        return results.Select(r => r!).ToList();
    }

    /// <summary>Runs one test on a model at <paramref name="modelPath"/> and judges it; records nothing.</summary>
    public TestResult RunTest(TestDefinition test, string reference, string modelPath)
    {
        var arguments = TestDefinition.ParseCommand(test.Command).Expand(name => name == "model" ? [modelPath] : [reference]);
        var startedAt = _options.Clock.GetUtcNow();
        string log = Path.Combine(LogDirectory, "tests", SafeFileName(reference), $"{test.Name}-{Stamp(startedAt)}.log");
        var outcome = CommandRunner.Run(arguments, Root, test.Timeout, log);
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

        return new TestResult(reference, test.Name, passed, outcome.ExitCode, metrics, outcome.Duration.TotalSeconds, reason, outcome.LogTail, Path.GetRelativePath(Root, log), startedAt);
    }

    /// <summary>
    /// Finds where <paramref name="testName"/> started failing along the chain of adapted parents
    /// from <paramref name="ancestor"/> (default: the chain's root) to <paramref name="from"/>: it
    /// checks that the newest fails and the oldest passes, then halves the chain, so n models cost
    /// about log2(n) + 2 runs.
    /// </summary>
    public BisectResult Bisect(string testName, string from, string? ancestor, Action<BisectRun>? onRun = null)
    {
        var test = Tests.Get(testName);
        var graph = Graph();
        var chain = BisectChain(graph, graph.Resolve(from), ancestor is null ? null : graph.Resolve(ancestor));
        var runs = new List<BisectRun>();
        bool Passes(ModelVersion version)
        {
            var result = RunTests([version], new TestRunOptions { OnlyTest = test.Name }).Single();
            var run = new BisectRun(version.Ref, result.Passed, result.Reason);
            runs.Add(run);
            onRun?.Invoke(run);
            return result.Passed;
        }

        if (Passes(chain[^1]))
        {
            throw new MGitException($"{chain[^1].Ref} passes {test.Name}; there is no failure to bisect");
        }

        if (!Passes(chain[0]))
        {
            throw new MGitException($"{chain[0].Ref} fails {test.Name} too, so the failure is older than the chain; name a passing ancestor with --to");
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
                    throw new MGitException($"{current.Ref} has several parents ({string.Join(", ", parents.Select(p => p.Ref))}); name the ancestor to bisect from with --to");
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
                throw new MGitException($"{ancestor.Ref} is not an ancestor of {from.Ref}");
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
            throw new MGitException($"{from.Ref} has no parent to bisect along");
        }

        return chain;
    }

    /// <summary>
    /// The path of a read-only checkout of a stored model under <c>.mgit/cache/checkouts/ID</c>,
    /// written on first use (to a temporary name, published by rename, so concurrent runs and
    /// processes never see half a model). Deleting the cache is always safe.
    /// </summary>
    internal string CachedCheckout(string manifestId, Manifest manifest)
    {
        var slot = CheckoutSlot(manifestId, manifest);
        lock (_checkoutGates.GetOrAdd(manifestId, _ => new object()))
        {
            if (Directory.Exists(slot.Folder))
            {
                return slot.Model;
            }

            try
            {
                WriteModel(manifestId[..12], manifest, slot.PartialModel, overwrite: false);
                slot.Publish();
            }
            finally
            {
                slot.Discard();
            }

            return slot.Model;
        }
    }

    /// <summary>
    /// Writes the checkouts a test run will need and the cache lacks in one pipeline, as
    /// <c>checkout REF...</c> does, so a run over a family decodes each parent chunk once; each is
    /// published as <see cref="CachedCheckout"/> publishes one.
    /// </summary>
    private void PrepareCheckouts(IEnumerable<(ModelVersion Version, Manifest Manifest)> needed)
    {
        var missing = needed
            .DistinctBy(m => m.Version.ManifestId, StringComparer.Ordinal)
            .Where(m => !Directory.Exists(CheckoutSlot(m.Version.ManifestId, m.Manifest).Folder))
            .ToDictionary(m => m.Version.Id);
        if (missing.Count < 2)
        {
            return;
        }

        var graph = WithDatabase(Graph);
        var versions = graph.ParentsFirst(missing.Values.Select(m => m.Version));
        var slots = versions.Select(v => CheckoutSlot(v.ManifestId, missing[v.Id].Manifest)).ToList();
        try
        {
            WriteFamily(graph, versions, (version, i) => (missing[version.Id].Manifest, slots[i].PartialModel), overwrite: false);
            slots.ForEach(slot => slot.Publish());
        }
        finally
        {
            slots.ForEach(slot => slot.Discard());
        }
    }

    private CheckoutCacheSlot CheckoutSlot(string manifestId, Manifest manifest) =>
        new(Path.Combine(CheckoutCacheDirectory, manifestId), manifest.Kind == "file" ? manifest.Files.Single().Path : "model");

    /// <summary>
    /// Where the read-only checkout of one stored content lives (<c>.mgit/cache/checkouts/ID</c>,
    /// the model at <see cref="Model"/> inside it) and the private folder it is written in first,
    /// published by rename so that concurrent runs and processes never see half a model.
    /// </summary>
    private sealed class CheckoutCacheSlot(string directory, string modelName)
    {
        private readonly string _partial = Path.Combine(Path.GetDirectoryName(directory)!, TemporaryFiles.Name($"{Path.GetFileName(directory)}.partial"));

        public string Folder { get; } = directory;

        public string Model => ModelPaths.ForWriting(Folder, modelName);

        /// <summary>Where the model is written before it is published.</summary>
        public string PartialModel => ModelPaths.ForWriting(_partial, modelName);

        /// <summary>Makes the written model read-only and renames it into place, unless another got there first.</summary>
        public void Publish()
        {
            MakeReadOnly(PartialModel);
            try
            {
                Directory.Move(_partial, Folder);
            }
            catch (IOException) when (Directory.Exists(Folder))
            {
                // Another process published the same content first; theirs is as good as ours.
            }
        }

        /// <summary>Removes what is left of the private folder (all of it, if it was never published).</summary>
        public void Discard()
        {
            if (Directory.Exists(_partial))
            {
                Directory.Delete(_partial, recursive: true);
            }
        }
    }

    private static void MakeReadOnly(string path)
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        const UnixFileMode ReadOnly = UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead;
        if (File.Exists(path))
        {
            File.SetUnixFileMode(path, ReadOnly);
            return;
        }

        // Links are left as they are: a mode set on one is set on its target (maybe a folder).
        foreach (var file in new DirectoryInfo(path).EnumerateFiles("*", SearchOption.AllDirectories).Where(f => f.LinkTarget is null))
        {
            file.UnixFileMode = ReadOnly;
        }
    }

    /// <summary>A file name for a ref that may hold any character: the safe characters, then a short hash that keeps names distinct.</summary>
    internal static string SafeFileName(string text)
    {
        var safe = new StringBuilder();
        foreach (char c in text)
        {
            safe.Append(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or '@' ? c : '_');
        }

        string hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..8];
        return $"{(safe.Length > 60 ? safe.ToString(0, 60) : safe)}-{hash}";
    }

    private static string Stamp(DateTimeOffset at) =>
        at.UtcDateTime.ToString("yyyyMMdd'T'HHmmss.fff", CultureInfo.InvariantCulture) + "-" + Guid.NewGuid().ToString("N")[..6];
}
