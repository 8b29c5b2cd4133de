using System.Text.Json;
using MGit.Checkout;
using MGit.Diff;
using MGit.Diff.Evidence;
using MGit.Errors;
using MGit.Execution;
using MGit.Formats;
using MGit.Formats.Catalog;
using MGit.Lineage;
using MGit.Maintenance;
using MGit.Primitives;
using MGit.Storage;
using MGit.Testing;
using MGit.Workspace;

namespace MGit.Ingest;

/// <summary>One model <see cref="Repository.Infer"/> added, with its placement, or found stored already.</summary>
public sealed record InferredModel(AddResult Added, PlacementResult Placement)
{
    /// <summary>The model was stored already (same name, same bytes) and was skipped: <see cref="AddResult.Version"/> is the stored version.</summary>
    public bool AlreadyStored { get; init; }

    /// <summary>Every parent the model got (several for a declared merge); <see cref="PlacementResult.Parent"/> is the first.</summary>
    public IReadOnlyList<string> Parents { get; init; } = [];

    /// <summary>How sure inference is of the edge and its direction, 0 to 1 (1 for a root or a declared base).</summary>
    public double Confidence { get; init; }
}

/// <summary>
/// One model of an <c>mgit infer</c> plan: where it would go and why, nothing written.
/// </summary>
/// <param name="Name">The model's name (its file stem or folder name).</param>
/// <param name="Path">The model file or folder.</param>
/// <param name="Parents">Its parents' refs (a model of the same run is <c>NAME@1</c>); empty for a root.</param>
/// <param name="How">The derivation the evidence implies (quantize, prune, merge, ...), or null.</param>
/// <param name="Reason">The evidence for the edge and for its direction, in words.</param>
/// <param name="Confidence">How sure inference is, 0 to 1: the direction evidence (declared 1, content rules 0.95, file times 0.7, none 0.5) bounded by how clearly the parent beats the next candidate.</param>
/// <param name="Adopted">Stored roots that would become its children.</param>
public sealed record InferencePlanEntry(string Name, string Path, IReadOnlyList<string> Parents, string? How, string Reason, double Confidence, IReadOnlyList<string> Adopted)
{
    /// <summary>The ref the model has or would get.</summary>
    public string Ref { get; init; } = "";

    /// <summary>Stored already with the same name and bytes: infer skips it.</summary>
    public bool AlreadyStored { get; init; }
}

/// <summary>Adds models: reads and validates every file, stores chunks and the manifest, places the version in the graph.</summary>
internal sealed class Ingestion(RepositoryContext context, ModelPlacement placer, TestRunner tests, CheckoutCache checkouts, RepositoryMaintenance maintenance)
{
    private const string ShardIndexSuffix = ".safetensors.index.json";

    /// <summary>
    /// Adds a model file or model folder as a new version. Every file is read and validated before
    /// anything is stored; the version appears in one transaction after all its objects are written.
    /// Cancellation is taken at every chunk, up to that transaction: a cancelled add stores no
    /// version, and the objects it wrote are removed as those of a failed add are.
    /// </summary>
    public AddResult Add(string path, AddOptions options, CancellationToken cancellationToken) => Add(path, options, madeByCascade: false, cancellationToken);

    /// <param name="path">The model file or model folder to add.</param>
    /// <param name="options">The model's name, parents and metadata.</param>
    /// <param name="madeByCascade">The model is a recipe's output in the repository's own work folder, which users may not add from.</param>
    /// <param name="cancellationToken">Cancelled, the add stores no version and removes the objects it wrote.</param>
    public AddResult Add(string path, AddOptions options, bool madeByCascade, CancellationToken cancellationToken)
    {
        string fullPath = Path.GetFullPath(path);
        bool isFolder = Directory.Exists(fullPath);
        if (!isFolder && !File.Exists(fullPath))
        {
            throw new MGitException(ErrorKind.NotFound, $"{path}: no such file or folder");
        }

        if (ModelFolder.IsInside(fullPath, context.MetadataDirectory) && !madeByCascade)
        {
            throw new MGitException(ErrorKind.InvalidInput, $"{path} is inside the repository's own {RepositoryContext.DirectoryName} folder");
        }

        // Placement ranks every stored version (and reads only what it needs of each); an add with
        // given parents needs only the models it names.
        var graph = options.Auto ? context.Lineage.ReadPlacementGraph() : ReadAround(fullPath, options);
        var plan = PlanLineage(graph, fullPath, options);

        // Read every file's structure first: a bad file refuses the whole add before any byte is stored.
        var folder = isFolder ? ModelFolder.Enumerate(fullPath, options.FollowSymlinks) : null;
        var files = folder?.Files ?? [(fullPath, Path.GetFileName(fullPath))];
        var layouts = FolderLayouts.Read(files, relative => DisplayPath(path, isFolder, relative), isFolder);
        if (isFolder)
        {
            CheckShardIndexes(fullPath, layouts.Select(l => (l.RelativePath, l.Layout)).ToList(), path);
        }

        PlacementResult? placement = null;
        if (options.Auto)
        {
            var declared = DeclaredLineageReader.Read(files, layouts.ToDictionary(l => l.RelativePath, l => l.Layout, StringComparer.Ordinal));
            (options, placement) = PlanAutomatically(graph, options, layouts.Select(l => (l.FullPath, l.Layout)), plan.Name, declared, cancellationToken);
            graph = ReadAround(fullPath, options); // the whole versions of the parent and children chosen
            plan = PlanLineage(graph, fullPath, options);
        }

        // Parents, the version being succeeded, and the parents' own previous versions: the base of
        // each chunk is then chosen among their counterparts by measured size.
        var direct = plan.Edges.Select(e => e.ParentId).Distinct().Select(id => graph[id]).ToList();
        var relatives = direct.Concat(direct.SelectMany(p => graph.Parents(p, EdgeKind.Versioned))).DistinctBy(v => v.Id).ToList();
        var bases = new DeltaBases(relatives.Select(context.LoadManifest));

        var recipe = ChooseRecipe(graph, plan, options);
        var startedAt = DateTime.UtcNow;
        context.RemoveStaleTemporaries();
        context.Reserve.Ensure();
        try
        {
            using (RepositoryLock.Shared(context.LockPath, context.Options.LockWait))
            {
                context.UpgradeFormatForWriting();
                var stored = Ingest(plan.Name, layouts, bases, folder, options.LossyErrorBound, cancellationToken);
                LossyCheck? lossyCheck = null;
                if (options.LossyErrorBound is double bound)
                {
                    lossyCheck = CheckLossy(graph, plan, stored, bound, cancellationToken);
                    if (!lossyCheck.Accepted)
                    {
                        // The lossy objects stay unreferenced until gc; the version is stored exactly.
                        stored = Ingest(plan.Name, layouts, bases, folder, lossyErrorBound: null, cancellationToken);
                    }
                }

                bool lossy = lossyCheck?.Accepted == true;
                var newVersion = plan with
                {
                    ManifestId = stored.ManifestId.ToString(),
                    LogicalBytes = stored.Manifest.LogicalBytes,
                    ErrorBound = lossy ? options.LossyErrorBound : null,
                    Recipe = recipe,
                    Fingerprint = stored.Fingerprint,
                    ChildEdges = options.ChildEdges,
                    PlannedRefs = plan.Edges.Select(e => e.ParentId).Concat(options.ChildEdges.Select(e => e.ChildId)).Distinct().ToDictionary(id => id, id => graph[id].Ref),
                };
                // The last moment a cancel is taken: the version appears in one transaction, or not at all.
                cancellationToken.ThrowIfCancellationRequested();
                long id = context.Lineage.Insert(newVersion, context.Options.Clock.GetUtcNow());
                placer.Record(id, stored.ManifestId, stored.Fingerprint);
                var version = context.Lineage.ReadVersion(id);
                if (lossy)
                {
                    foreach (var result in lossyCheck!.Results)
                    {
                        tests.Tests.Record(version, result with { Ref = version.Ref });
                    }
                }

                var totals = stored.Totals;
                return new AddResult(
                    version,
                    stored.Manifest.Files.Count,
                    stored.Manifest.Files.Sum(f => f.ListedTensors().Count()),
                    stored.Manifest.LogicalBytes,
                    totals.BytesNew,
                    totals.StoredNew,
                    totals.ChunksNew,
                    totals.ChunksReused)
                {
                    Lossy = lossyCheck,
                    Placement = placement,
                };
            }
        }
        catch (Exception e)
        {
            RemoveWhatAFailedAddWrote(startedAt);
            if (DiskSpace.IsNoSpace(e, context.MetadataDirectory))
            {
                throw DiskSpace.NoSpace(context.MetadataDirectory, e);
            }

            throw;
        }
    }

    /// <summary>
    /// After an add failed, deletes the objects it wrote that no version took (a full disk would
    /// otherwise stay full of them), and this process's temporary files. Only when no other
    /// command is using the repository (the lock taken exclusive, without waiting): an object
    /// written here may also be what a concurrent add found already stored; else 'mgit gc' does it.
    /// </summary>
    public void RemoveWhatAFailedAddWrote(DateTime startedAt)
    {
        using var alone = RepositoryLock.TryExclusive(context.LockPath);
        if (alone is null)
        {
            return;
        }

        try
        {
            var referenced = maintenance.LiveObjects(context.Graph(), problems: null);
            var since = startedAt - TimeSpan.FromSeconds(2); // file times may run a little behind the clock
            foreach (var id in context.Objects.Enumerate().Where(id => !referenced.Contains(id)))
            {
                if (File.GetLastWriteTimeUtc(context.Objects.PathOf(id)) >= since)
                {
                    context.Objects.Delete(id);
                }
            }

            TemporaryFiles.RemoveOwn(context.TempDirectory);
        }
        catch (Exception e) when (e is MGitException or IOException)
        {
            // Best effort: what is left is unreferenced, and gc removes it.
        }
    }

    /// <summary>A stored manifest, what storing it cost, and the fingerprint taken from the data as it streamed by.</summary>
    private sealed record StoredModel(ObjectId ManifestId, Manifest Manifest, IngestTotals Totals, byte[] Fingerprint);

    /// <summary>Stores every file's chunks and the manifest; nothing refers to them until the version is inserted.</summary>
    private StoredModel Ingest(string name, IReadOnlyList<(string FullPath, string RelativePath, FileLayout Layout)> layouts, DeltaBases bases, ModelFolder? folder, double? lossyErrorBound, CancellationToken cancellationToken)
    {
        var totals = new IngestTotals();
        var manifestFiles = new List<ManifestFile>();
        var sketched = new List<(ManifestFile, TensorSketch?[])>();
        var ingester = new FileIngester(context.Objects, context.Format, context.Options.Workers);
        long totalBytes = layouts.Sum(l => l.Layout.Length);
        // One set of sync threads for every file of the add: a folder of many small files then
        // neither starts threads per file nor waits for each file's flushes before the next.
        using (var publishing = context.Objects.FlushesToDisk ? new DeferredPublishing() : null)
        using (var progress = context.Options.Progress.Begin($"adding {name}", totalBytes))
        {
            foreach (var (filePath, relativePath, layout) in layouts)
            {
                var candidates = bases.IsEmpty ? null : bases.For(layout);
                var sketches = Fingerprints.SketchesFor(layout);
                manifestFiles.Add(ingester.Ingest(filePath, relativePath, layout, totals, progress.Advance, candidates is null ? null : s => candidates[s], lossyErrorBound, Fingerprints.Observer(sketches), publishing, cancellationToken));
                sketched.Add((manifestFiles[^1], sketches));
            }

            // Every object is on disk under its name before the manifest names it.
            publishing?.Complete();
        }

        var manifest = new Manifest
        {
            Kind = folder is not null ? "folder" : "file",
            Files = manifestFiles,
            EmptyDirectories = folder?.EmptyDirectories ?? [],
            Links = folder is { Links.Count: > 0 } ? folder.Links : null,
            Schema = folder is { Links.Count: > 0 } ? Manifest.LinksSchema : 1,
        };
        var (manifestId, _) = context.Objects.Put(manifest.ToJson());
        return new StoredModel(manifestId, manifest, totals, Fingerprints.FromIngest(sketched).Serialize());
    }

    /// <summary>
    /// A lossy encoding is kept only if every registered test that applies to the new version passes
    /// on the reconstruction (what checkout will give back). With no applicable test it is kept,
    /// and the result says nothing was checked.
    /// </summary>
    private LossyCheck CheckLossy(LineageGraph graph, NewVersion plan, StoredModel stored, double bound, CancellationToken cancellationToken)
    {
        var applicable = tests.TestsFor(plan.Name, plan.Type);
        if (applicable.Count == 0)
        {
            return new LossyCheck(true, bound, []);
        }

        int next = (graph.Latest(plan.Name)?.Version ?? 0) + 1;
        string reference = $"{plan.Name}@{next}";
        string model = checkouts.Get(stored.ManifestId.ToString(), stored.Manifest, cancellationToken);
        var results = applicable.Select(t => tests.RunTest(t, reference, model, cancellationToken)).ToList();
        return new LossyCheck(results.All(r => r.Passed), bound, results);
    }

    /// <summary>The recipe to record: the one given (checked against the parents), else the previous version's when it still fits.</summary>
    private string? ChooseRecipe(LineageGraph graph, NewVersion plan, AddOptions options)
    {
        var parentNames = plan.Edges.Where(e => e.Kind == EdgeKind.Adapted).Select(e => graph[e.ParentId].Name).ToList();
        if (options.Recipe is { } given)
        {
            Recipe.Parse(given, parentNames);
            return given;
        }

        if (options.VersionOf is null || new RecipeStore(context.Lineage).Get(graph.Resolve(options.VersionOf)) is not { } inherited)
        {
            return null;
        }

        try
        {
            Recipe.Parse(inherited, parentNames);
            return inherited;
        }
        catch (MGitException)
        {
            return null;
        }
    }

    /// <summary>
    /// The part of the graph <see cref="PlanLineage"/> and the delta bases look at: every version
    /// of the new model and of the models its parents and <c>--version-of</c> name (so those refs
    /// resolve and the latest of each is known), the versions its child edges name, and their parents.
    /// </summary>
    private LineageGraph ReadAround(string fullPath, AddOptions options)
    {
        var names = new HashSet<string>(StringComparer.Ordinal) { options.Name ?? DefaultName(fullPath) };
        // A malformed ref finds nothing here and is refused when resolved.
        names.UnionWith(options.Parents.Append(options.VersionOf).OfType<string>().Select(ModelRef.NameOf));

        var ids = options.ChildEdges.SelectMany(e => e.ReplacesParentId is long former ? [e.ChildId, former] : new[] { e.ChildId }).ToList();
        return context.Lineage.ReadAround(names, ids);
    }

    private static NewVersion PlanLineage(LineageGraph graph, string fullPath, AddOptions options)
    {
        ModelVersion? previous = options.VersionOf is { } versionOf ? graph.Resolve(versionOf) : null;
        string name = options.Name ?? previous?.Name ?? DefaultName(fullPath);
        ModelRef.ValidateName(name);
        if (previous is not null && previous.Name != name)
        {
            throw new MGitException(ErrorKind.InvalidInput, $"--version-of {options.VersionOf} names model '{previous.Name}', but the new version is named '{name}'");
        }

        if (previous is null && graph.Latest(name) is not null)
        {
            throw new MGitException(ErrorKind.Conflict, $"model '{name}' already exists; use --version-of {name} to add a new version of it, or --name to pick another name");
        }

        if (options.How is { } how && !DerivationKinds.All.Contains(how))
        {
            throw new MGitException(ErrorKind.InvalidInput, $"--how must be one of {string.Join(", ", DerivationKinds.All)}, not '{how}'");
        }

        if (options.LossyErrorBound is double bound && !(bound > 0 && bound < 1))
        {
            throw new MGitException(ErrorKind.InvalidInput, $"--error-bound must be a positive number below 1, not {bound}");
        }

        if (options.LossyErrorBound is not null && options.Parents.Count == 0 && previous is null)
        {
            throw new MGitException(ErrorKind.InvalidInput, "--lossy stores a model as a quantized delta against its parent; give one with --parent or --version-of");
        }

        if (options.How is not null && options.Parents.Count == 0 && previous is null)
        {
            throw new MGitException(ErrorKind.InvalidInput, "--how describes a derivation; give the model it was derived from with --parent");
        }

        foreach (string key in options.Metadata.Keys)
        {
            if (string.IsNullOrWhiteSpace(key) || key.Any(char.IsControl))
            {
                throw new MGitException(ErrorKind.InvalidInput, $"invalid metadata key '{key}'");
            }
        }

        var edges = new List<(long, EdgeKind, string?, string?)>();
        if (options.Parents.Count > 0)
        {
            foreach (string parentRef in options.Parents)
            {
                var parent = graph.Resolve(parentRef);
                if (parent.Name == name)
                {
                    throw new MGitException(ErrorKind.InvalidInput, $"{parent.Ref} is a version of '{name}' itself; use --version-of for a new version");
                }

                if (edges.Any(e => e.Item1 == parent.Id))
                {
                    throw new MGitException(ErrorKind.InvalidInput, $"parent {parent.Ref} is given twice");
                }

                edges.Add((parent.Id, EdgeKind.Adapted, options.How, options.EdgeMessage ?? options.Message));
            }
        }
        else if (previous is not null)
        {
            // A new version keeps the provenance of the version it replaces.
            foreach (var edge in graph.ParentEdges(previous, EdgeKind.Adapted))
            {
                edges.Add((edge.ParentId, EdgeKind.Adapted, options.How ?? edge.How, edge.Message));
            }
        }

        if (previous is not null)
        {
            edges.Add((previous.Id, EdgeKind.Versioned, null, options.Message));
        }

        return new NewVersion(
            name,
            options.Type ?? previous?.Type,
            ManifestId: "",
            LogicalBytes: 0,
            options.Message,
            options.Metadata,
            edges,
            MustBeNewModel: previous is null,
            ExpectedLatestId: null);
    }

    private static string DefaultName(string fullPath)
    {
        string trimmed = Path.TrimEndingDirectorySeparator(fullPath);
        return Directory.Exists(trimmed) ? Path.GetFileName(trimmed) : Path.GetFileNameWithoutExtension(trimmed);
    }

    private static string DisplayPath(string userPath, bool isFolder, string relativePath) =>
        isFolder ? Path.Combine(userPath, relativePath) : userPath;

    /// <summary>
    /// A sharded checkpoint's index must point at shards that exist and hold the tensors it names,
    /// or loaders would fail on the checked-out folder.
    /// </summary>
    private static void CheckShardIndexes(string root, IReadOnlyList<(string RelativePath, FileLayout Layout)> files, string userPath)
    {
        foreach (var (relativePath, _) in files.Where(f => f.RelativePath.EndsWith(ShardIndexSuffix, StringComparison.Ordinal)))
        {
            string display = Path.Combine(userPath, relativePath);
            string directory = Path.GetDirectoryName(relativePath.Replace('/', Path.DirectorySeparatorChar)) ?? "";
            Dictionary<string, string> weightMap;
            try
            {
                using var document = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(root, relativePath)));
                if (!document.RootElement.TryGetProperty("weight_map", out var map) || map.ValueKind != JsonValueKind.Object)
                {
                    throw new InvalidModelFileException(display, "has no weight_map object");
                }

                weightMap = map.EnumerateObject().ToDictionary(
                    p => p.Name,
                    p => p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString()! : throw new InvalidModelFileException(display, $"weight_map entry '{p.Name}' is not a file name"),
                    StringComparer.Ordinal);
            }
            catch (JsonException e)
            {
                throw new InvalidModelFileException(display, $"is not valid JSON ({e.Message.Split('\n')[0]})");
            }

            var byPath = files.ToDictionary(f => f.RelativePath, f => f.Layout, StringComparer.Ordinal);
            foreach (var group in weightMap.GroupBy(e => e.Value, StringComparer.Ordinal))
            {
                string shard = Path.Combine(directory, group.Key).Replace(Path.DirectorySeparatorChar, '/');
                if (!byPath.TryGetValue(shard, out var layout))
                {
                    throw new InvalidModelFileException(display, $"names shard '{group.Key}', which is not in the folder");
                }

                var names = layout.Tensors.Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
                string? missing = group.Select(e => e.Key).FirstOrDefault(n => !names.Contains(n));
                if (missing is not null)
                {
                    throw new InvalidModelFileException(display, $"maps tensor '{missing}' to shard '{group.Key}', which does not contain it");
                }
            }
        }
    }

    /// <summary>For <c>add --auto</c>: fingerprints the files (one read, no store) and turns the placement into lineage options.</summary>
    private (AddOptions Options, PlacementResult Placement) PlanAutomatically(LineageGraph graph, AddOptions options, IEnumerable<(string FullPath, FileLayout Layout)> files, string name, DeclaredLineage declared, CancellationToken cancellationToken)
    {
        if (options.Parents.Count > 0 || options.VersionOf is not null)
        {
            throw new MGitException(ErrorKind.InvalidInput, "--auto chooses the parent itself; leave out --parent and --version-of");
        }

        // What the files say of their base comes first: a model card naming a stored model is
        // worth more than any likeness of weights.
        // Claims are matched against names and metadata, which placement's graph leaves out.
        var (bases, unmatched) = MatchDeclared(declared, name, declared.Claims.Count == 0 ? [] : context.Graph().LatestVersions(), []);
        if (bases.Count > 0)
        {
            var parents = bases.Select(b => b.Version!).DistinctBy(v => v.Id).ToList();
            string reason = string.Join("; ", bases.Select(b => $"its {b.Claim.Source} names {b.Version!.Ref}"));
            string? how = parents.Count > 1 ? "merge" : bases[0].Claim.Relation;
            var declaredDecision = new PlacementDecision(parents[0].Id, parents[0].Ref, reason, 1, how, []);
            var declaredOptions = ApplyPlacement(options, declaredDecision, "auto") with { Parents = parents.Select(v => v.Ref).ToList() };
            return (declaredOptions, new PlacementResult(parents[0].Ref, reason, 1, []) { Compared = graph.Versions.Count, Stored = graph.Versions.Count });
        }

        var fingerprint = Fingerprints.FromFiles(files, context.WritingFormat, cancellationToken: cancellationToken);
        using var process = System.Diagnostics.Process.GetCurrentProcess();
        var processorBefore = process.TotalProcessorTime;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var decision = placer.Place(fingerprint, name, graph);
        if (unmatched.Count > 0)
        {
            decision = decision with { Reason = $"{decision.Reason}; {string.Join("; ", unmatched)}" };
        }

        var elapsed = clock.Elapsed;
        process.Refresh();
        var timing = ModelPlacement.ToResult(decision) with { Compared = decision.Compared, Stored = graph.Versions.Count, Elapsed = elapsed, ProcessorTime = process.TotalProcessorTime - processorBefore };
        return (ApplyPlacement(options, decision, "auto"), timing);
    }

    /// <summary>
    /// The declared bases that name a stored model (<paramref name="stored"/>) or a model of the
    /// same run (<paramref name="runNames"/>, index into it), and a note for each claim that names
    /// none (the base is not in the repository, or two models fit it equally).
    /// </summary>
    private static (List<(BaseClaim Claim, ModelVersion? Version, int? Model)> Bases, List<string> Unmatched) MatchDeclared(DeclaredLineage declared, string name, List<ModelVersion> stored, List<string> runNames)
    {
        var candidates = stored.Select(v => (v.Name, v.Metadata))
            .Concat(runNames.Select(n => (Name: n, Metadata: (IReadOnlyDictionary<string, string>)new Dictionary<string, string>())))
            .ToList();
        var bases = new List<(BaseClaim, ModelVersion?, int?)>();
        var unmatched = new List<string>(declared.Notes);
        foreach (var claim in declared.Claims)
        {
            string? match = BaseNameMatcher.Match(claim.Base, name, candidates);
            int run = match is null ? -1 : runNames.IndexOf(match);
            if (run >= 0)
            {
                bases.Add((claim, null, run));
            }
            else if (match is not null && stored.Find(v => v.Name == match) is { } version)
            {
                bases.Add((claim, version, null));
            }
            else
            {
                unmatched.Add($"its {claim.Source} names '{claim.Base}', which is not in the repository");
            }
        }

        return (bases, unmatched);
    }

    private static AddOptions ApplyPlacement(AddOptions options, PlacementDecision decision, string origin) => options with
    {
        Parents = decision.ParentRef is { } parent ? [parent] : [],
        How = decision.ParentRef is null ? null : options.How ?? decision.How,
        EdgeMessage = $"{origin}: {decision.Reason}",
        ChildEdges = decision.Adoptions.Select(a => (a.ChildId, a.FormerParentId, a.How, (string?)$"{origin}: {a.Reason}")).ToList(),
    };

    /// <summary>
    /// Adds every model file (a file some format reader understands) and model folder directly
    /// inside <paramref name="directory"/>, naming each by its file stem or folder name, and
    /// builds their lineage at once (<see cref="PlanInference"/>): parents are added before
    /// their children, each with the edge the plan gives it.
    /// </summary>
    public IReadOnlyList<InferredModel> Infer(string directory, AddOptions? common, CancellationToken cancellationToken)
    {
        common ??= new AddOptions();
        var (plan, skipped) = Plan(directory, cancellationToken);
        var results = new List<InferredModel>(skipped.Select(s => new InferredModel(
            new AddResult(s.Version, 0, 0, s.Version.LogicalBytes, 0, 0, 0, 0),
            new PlacementResult(s.Entry.Parents.Count > 0 ? s.Entry.Parents[0] : null, s.Entry.Reason, 1, []))
        { AlreadyStored = true, Parents = s.Entry.Parents, Confidence = 1 }));
        var added = new Dictionary<int, string>();
        foreach (var (entry, placement, path) in plan)
        {
            var parents = placement.Parents.Select(p => p.Model is int m ? added[m] : p.Stored!.Ref).ToList();
            var how = placement.Parents.Select(p => p.How).FirstOrDefault(h => h is not null);
            var options = common with
            {
                Name = entry.Name,
                Parents = parents,
                How = parents.Count == 0 ? null : common.How ?? (parents.Count > 1 ? "merge" : how),
                EdgeMessage = $"infer: {placement.Reason}",
                ChildEdges = placement.Adoptions.Select(a => (a.ChildId, a.FormerParentId, a.How, (string?)$"infer: {a.Reason}")).ToList(),
            };
            var result = Add(path, options, cancellationToken);
            added[placement.Model] = result.Version.Ref;
            results.Add(new InferredModel(result, new PlacementResult(parents.Count > 0 ? parents[0] : null, placement.Reason, placement.Confidence, placement.Adoptions.Select(a => a.ChildRef).ToList()))
            {
                Parents = parents,
                Confidence = placement.Confidence,
            });
        }

        return results;
    }

    /// <summary>
    /// What <see cref="Infer"/> would do with <paramref name="directory"/>, nothing written:
    /// each model with its parents, the evidence for each edge and how sure it is; models stored
    /// already (same name, same bytes) are listed as skipped.
    /// </summary>
    public IReadOnlyList<InferencePlanEntry> PlanInference(string directory, CancellationToken cancellationToken)
    {
        var (plan, skipped) = Plan(directory, cancellationToken);
        return skipped.Select(s => s.Entry).Concat(plan.Select(p => p.Entry)).ToList();
    }

    private (List<(InferencePlanEntry Entry, InferredPlacement Placement, string Path)> Plan, List<(InferencePlanEntry Entry, ModelVersion Version)> Skipped) Plan(string directory, CancellationToken cancellationToken)
    {
        string root = Path.GetFullPath(directory);
        if (!Directory.Exists(root))
        {
            throw new MGitException(ErrorKind.NotFound, $"{directory}: no such folder");
        }

        var graph = context.Graph();
        var entries = new List<(string Name, string Path, IndexedFingerprint Fingerprint, DateTime WrittenAt, DeclaredLineage Declared, Dictionary<string, double> Kurtosis)>();
        var skipped = new List<(InferencePlanEntry, ModelVersion)>();
        foreach (var entry in new DirectoryInfo(root).EnumerateFileSystemInfos().OrderBy(e => e.Name, StringComparer.Ordinal))
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (entry.Name.StartsWith('.'))
            {
                continue;
            }

            bool isFolder = entry is DirectoryInfo;
            var files = isFolder ? ModelFolder.Enumerate(entry.FullName).Files : [(entry.FullName, entry.Name)];
            var layouts = files.Select(f => (f.FullPath, Layout: ModelFormats.ReadLayout(f.FullPath, Path.Combine(directory, entry.Name)))).ToList();
            if (!isFolder && layouts[0].Layout.Format == "blob")
            {
                continue; // not a model file: READMEs, scripts
            }

            string name = DefaultName(entry.FullName);
            ModelRef.ValidateName(name);
            if (entries.Any(e => e.Name == name))
            {
                throw new MGitException(ErrorKind.Conflict, $"two entries of {directory} are both named '{name}' ({entry.Name}); rename one");
            }

            if (graph.Latest(name) is { } stored)
            {
                // Infer runs again as files arrive: what is stored already (same name, same bytes) is skipped.
                if (StoredContent.Matches(context.WithDatabase(() => context.LoadManifest(stored)), files, cancellationToken))
                {
                    var parents = graph.Parents(stored).Select(p => p.Ref).ToList();
                    skipped.Add((new InferencePlanEntry(name, entry.FullName, parents, null, "already stored", 1, []) { AlreadyStored = true, Ref = stored.Ref }, stored));
                    continue;
                }

                throw new MGitException(ErrorKind.Conflict, $"model '{name}' ({entry.Name}) already exists with other content; add it as a new version with 'mgit add {entry.Name} --version-of {name}', or rename it");
            }

            var writtenAt = files.Max(f => File.GetLastWriteTimeUtc(f.FullPath));
            var declared = DeclaredLineageReader.Read(files, files.Zip(layouts).ToDictionary(f => f.First.RelativePath, f => f.Second.Layout, StringComparer.Ordinal));
            var kurtosis = new Dictionary<string, double>(StringComparer.Ordinal);
            entries.Add((name, entry.FullName, new IndexedFingerprint(Fingerprints.FromFiles(layouts, context.WritingFormat, kurtosis, cancellationToken)), writtenAt, declared, kurtosis));
        }

        if (entries.Count == 0 && skipped.Count == 0)
        {
            throw new MGitException(ErrorKind.InvalidInput, $"{directory} holds no model files or model folders");
        }

        var related = entries.Count == 0 ? [] : placer.RankStored(entries.Select(e => (e.Name, e.Fingerprint)).ToList(), graph, keep: 8);
        var latest = graph.LatestVersions();
        var runNames = entries.Select(e => e.Name).ToList();
        var notes = new List<string>[entries.Count];
        var inputs = new List<InferenceInput>();
        for (int i = 0; i < entries.Count; i++)
        {
            var (bases, unmatched) = MatchDeclared(entries[i].Declared, entries[i].Name, latest, runNames);
            notes[i] = unmatched;
            var declaredParents = bases
                .Where(b => b.Model != i)
                .Select(b => new DeclaredParent(b.Model, b.Version is { } v ? new PlacementCandidate(v.Id, v.Ref, v.Name, -1, 0, [], HasUserParents: true) : null, b.Claim.Relation, b.Claim.Source))
                .DistinctBy(d => (d.Model, d.Stored?.Id))
                .ToList();
            inputs.Add(new InferenceInput(entries[i].Name, entries[i].Fingerprint, entries[i].WrittenAt, declaredParents, entries[i].Kurtosis));
        }

        var plan = LineageInference.Plan(inputs, related)
            .Select(p => notes[p.Model].Count == 0 ? p : p with { Reason = $"{p.Reason}; {string.Join("; ", notes[p.Model])}" })
            .ToList();
        string NewRef(int model) => $"{entries[model].Name}@1";
        var planned = plan.Select(p => (
            new InferencePlanEntry(
                entries[p.Model].Name,
                entries[p.Model].Path,
                p.Parents.Select(q => q.Model is int m ? NewRef(m) : q.Stored!.Ref).ToList(),
                p.Parents.Count > 1 ? "merge" : p.Parents.Select(q => q.How).FirstOrDefault(h => h is not null),
                p.Reason,
                p.Confidence,
                p.Adoptions.Select(a => a.ChildRef).ToList())
            { Ref = NewRef(p.Model) },
            p,
            entries[p.Model].Path)).ToList();
        return (planned, skipped);
    }
}
