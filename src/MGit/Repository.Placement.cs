using MGit.Diff;
using MGit.Errors;
using MGit.Formats;
using MGit.Formats.Catalog;
using MGit.Lineage;
using MGit.Primitives;
using MGit.Storage;

namespace MGit;

/// <summary>Where automatic placement put a model: its parent (null for a root), why, and how sure.</summary>
public sealed record PlacementResult(string? Parent, string Reason, double Score, IReadOnlyList<string> Adopted)
{
    /// <summary>How many stored versions the model was compared with.</summary>
    public int Compared { get; init; }
    /// <summary>Time to load the stored fingerprints and rank every candidate (the new model's own fingerprinting excluded).</summary>
    public TimeSpan Elapsed { get; init; }
    /// <summary>Processor time the process spent meanwhile: on a busy machine a truer cost than <see cref="Elapsed"/>.</summary>
    public TimeSpan ProcessorTime { get; init; }
}

/// <summary>One model <see cref="Repository.Infer"/> added, with its placement.</summary>
public sealed record InferredModel(AddResult Added, PlacementResult Placement);

public sealed partial class Repository
{
    /// <summary>
    /// Every version's fingerprint, packed for placement. They come from the placement cache
    /// (<see cref="PlacementCache"/>); versions the cache lacks are read from the lineage
    /// database and added to it. Versions stored by an mgit without fingerprints (lineage schema
    /// below 4) get one computed from their stored data on first use, which is then kept.
    /// </summary>
    public IReadOnlyDictionary<long, IndexedFingerprint> LoadFingerprints(LineageGraph graph)
    {
        var result = new Dictionary<long, IndexedFingerprint>();
        using var stored = PlacementCache.Scan(PlacementCacheDirectory, TempDirectory, graph.Versions, FetchFingerprints, (p, fingerprint) => result[graph.Versions[p].Id] = fingerprint, cursor: false);
        return result;
    }

    private string PlacementCacheDirectory => Path.Combine(MetadataDirectory, "cache");

    /// <summary>Adds a new version's fingerprint to the placement cache (when there is one), so the next placement need not read it from the database.</summary>
    private void RecordForPlacement(long versionId, ObjectId manifestId, byte[] fingerprint) =>
        PlacementCache.Record(PlacementCacheDirectory, () => new IndexedFingerprint(ModelFingerprint.Deserialize(fingerprint, "the new version"), versionId, manifestId));

    /// <summary>The fingerprints of these versions from the lineage database, computing (and keeping) those it lacks.</summary>
    private Dictionary<long, ModelFingerprint> FetchFingerprints(IReadOnlyList<ModelVersion> versions)
    {
        var stored = _lineage.ReadFingerprints(versions.Select(v => v.Id).ToList());
        var present = versions.Where(v => stored.ContainsKey(v.Id)).ToArray();
        var decoded = new ModelFingerprint[present.Length];
        void Decode(int i) => decoded[i] = ModelFingerprint.Deserialize(stored[present[i].Id], present[i].Ref);
        // Only a cold cache decodes many (the first placement in a repository): spread it over the cores.
        if (present.Length >= 64)
        {
            Parallel.For(0, present.Length, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, _options.Workers) }, Decode);
        }
        else
        {
            for (int i = 0; i < present.Length; i++)
            {
                Decode(i);
            }
        }

        var result = new Dictionary<long, ModelFingerprint>();
        for (int i = 0; i < present.Length; i++)
        {
            result[present[i].Id] = decoded[i];
        }

        var computed = new Dictionary<long, byte[]>();
        foreach (var version in versions.Where(v => !stored.ContainsKey(v.Id)))
        {
            using (RepositoryLock.Shared(LockPath, _options.LockWait))
            {
                var fingerprint = Fingerprints.FromStored(LoadManifest(version), _objects);
                result[version.Id] = fingerprint;
                computed[version.Id] = fingerprint.Serialize();
            }
        }

        if (computed.Count > 0)
        {
            _lineage.StoreFingerprints(computed);
        }

        return result;
    }

    /// <summary>Where a model with this fingerprint would go in the graph now (nothing is changed).</summary>
    public PlacementDecision Place(ModelFingerprint fingerprint, string name, LineageGraph graph) =>
        Place(new IndexedFingerprint(fingerprint), name, graph);

    /// <summary>
    /// Streams every stored fingerprint past the new model (one pass over the placement cache,
    /// one reused buffer: no per-model allocation), then decides.
    /// </summary>
    private PlacementDecision Place(IndexedFingerprint model, string name, LineageGraph graph)
    {
        var placementGraph = new PlacementGraph(graph, IsPlacementEdge);
        var ranked = new Ranked?[graph.Versions.Count];
        using var stored = PlacementCache.Scan(
            PlacementCacheDirectory,
            TempDirectory,
            graph.Versions,
            FetchFingerprints,
            (p, fingerprint) => ranked[p] = Placement.Rank(model, name, placementGraph.Candidate(p), fingerprint),
            cursor: true);
        var candidates = new List<Ranked>(ranked.Length);
        foreach (var r in ranked)
        {
            if (r is not null)
            {
                candidates.Add(r);
            }
        }

        // The few adoption checks read both models again, into two reused cursors; NaN (unreadable) never adopts.
        // Siblings share their former parent, so it is read again only when it changes.
        IndexedFingerprint? childCursor = null, formerCursor = null, formerPrint = null;
        int formerPosition = -1;
        double Divergence(PlacementCandidate child, PlacementCandidate former)
        {
            if (former.Position != formerPosition)
            {
                formerPrint = stored.Load(former.Position, ref formerCursor);
                formerPosition = former.Position;
            }

            return formerPrint is { } f && stored.Load(child.Position, ref childCursor) is { } c ? Kinship.Compare(c, f).Divergence : double.NaN;
        }

        return Placement.Decide(candidates, placementGraph.IsAncestor, Divergence);
    }

    /// <summary>Edges placement made carry this prefix in their message; placement may revise them, never a user's.</summary>
    private static bool IsPlacementEdge(LineageEdge edge) =>
        edge.Kind == EdgeKind.Adapted && edge.Message is { } m && (m.StartsWith("auto: ", StringComparison.Ordinal) || m.StartsWith("infer: ", StringComparison.Ordinal));

    /// <summary>The format new chunks are cut with (an older repository is upgraded by its first write).</summary>
    private RepositoryFormat WritingFormat => Format.FormatVersion < RepositoryFormat.CurrentVersion ? Format with { FormatVersion = RepositoryFormat.CurrentVersion } : Format;

    /// <summary>For <c>add --auto</c>: fingerprints the files (one read, no store) and turns the placement into lineage options.</summary>
    private (AddOptions Options, PlacementResult Placement) PlanAutomatically(LineageGraph graph, AddOptions options, IEnumerable<(string FullPath, FileLayout Layout)> files, string name)
    {
        if (options.Parents.Count > 0 || options.VersionOf is not null)
        {
            throw new MGitException("--auto chooses the parent itself; leave out --parent and --version-of");
        }

        var fingerprint = Fingerprints.FromFiles(files, WritingFormat);
        using var process = System.Diagnostics.Process.GetCurrentProcess();
        var processorBefore = process.TotalProcessorTime;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var decision = Place(fingerprint, name, graph);
        var elapsed = clock.Elapsed;
        process.Refresh();
        var timing = ToResult(decision) with { Compared = graph.Versions.Count, Elapsed = elapsed, ProcessorTime = process.TotalProcessorTime - processorBefore };
        return (ApplyPlacement(options, decision, "auto"), timing);
    }

    private static AddOptions ApplyPlacement(AddOptions options, PlacementDecision decision, string origin) => options with
    {
        Parents = decision.ParentRef is { } parent ? [parent] : [],
        How = decision.ParentRef is null ? null : options.How ?? decision.How,
        EdgeMessage = $"{origin}: {decision.Reason}",
        ChildEdges = decision.Adoptions.Select(a => (a.ChildId, a.FormerParentId, a.How, (string?)$"{origin}: {a.Reason}")).ToList(),
    };

    private static PlacementResult ToResult(PlacementDecision decision) =>
        new(decision.ParentRef, decision.Reason, decision.Score, decision.Adoptions.Select(a => a.ChildRef).ToList());

    /// <summary>
    /// Adds every model file (a file some format reader understands) and model folder directly
    /// inside <paramref name="directory"/>, naming each by its file stem or folder name, and
    /// builds their lineage at once: <see cref="LineageInference"/> orders them parents first
    /// (a spanning tree of the nearest relations, rooted where the direction rules and
    /// centrality say), then each is placed as <c>add --auto</c> places a model, among the
    /// models already in the repository and those inferred before it.
    /// </summary>
    public IReadOnlyList<InferredModel> Infer(string directory, AddOptions? common = null)
    {
        common ??= new AddOptions();
        string root = Path.GetFullPath(directory);
        if (!Directory.Exists(root))
        {
            throw new MGitException($"{directory}: no such folder");
        }

        var graph = Graph();
        var entries = new List<(string Name, string Path, IndexedFingerprint Fingerprint)>();
        foreach (var entry in new DirectoryInfo(root).EnumerateFileSystemInfos().OrderBy(e => e.Name, StringComparer.Ordinal))
        {
            if (entry.Name.StartsWith('.'))
            {
                continue;
            }

            bool isFolder = entry is DirectoryInfo;
            var files = isFolder ? EnumerateFolder(entry.FullName).Files : [(entry.FullName, entry.Name)];
            var layouts = files.Select(f => (f.FullPath, Layout: ModelFormats.ReadLayout(f.FullPath, Path.Combine(directory, entry.Name)))).ToList();
            if (!isFolder && layouts[0].Layout.Format == "blob")
            {
                continue; // not a model file: READMEs, scripts
            }

            string name = DefaultName(entry.FullName);
            ModelRef.ValidateName(name);
            if (graph.Latest(name) is not null || entries.Any(e => e.Name == name))
            {
                throw new MGitException($"model '{name}' ({entry.Name}) already exists; rename it or add it with 'mgit add'");
            }

            entries.Add((name, entry.FullName, new IndexedFingerprint(Fingerprints.FromFiles(layouts, WritingFormat))));
        }

        if (entries.Count == 0)
        {
            throw new MGitException($"{directory} holds no model files or model folders");
        }

        var results = new List<InferredModel>();
        foreach (int i in LineageInference.Order(entries.Select(e => (e.Name, e.Fingerprint)).ToList()))
        {
            graph = Graph();
            var (name, path, fingerprint) = entries[i];
            var decision = Place(fingerprint, name, graph);
            var added = Add(path, ApplyPlacement(common with { Name = name }, decision, "infer"));
            results.Add(new InferredModel(added, ToResult(decision)));
        }

        return results;
    }
}

