using System.Text.Json;
using MGit.Diff;
using MGit.Errors;
using MGit.Formats;
using MGit.Formats.Catalog;
using MGit.Lineage;
using MGit.Primitives;
using MGit.Storage;

namespace MGit;

public sealed partial class Repository
{
    private const string ShardIndexSuffix = ".safetensors.index.json";

    /// <summary>
    /// Adds a model file or model folder as a new version. Every file is read and validated before
    /// anything is stored; the version appears in one transaction after all its objects are written.
    /// </summary>
    public AddResult Add(string path, AddOptions options) => Add(path, options, madeByCascade: false);

    /// <param name="madeByCascade">The model is a recipe's output in the repository's own work folder, which users may not add from.</param>
    private AddResult Add(string path, AddOptions options, bool madeByCascade)
    {
        string fullPath = Path.GetFullPath(path);
        bool isFolder = Directory.Exists(fullPath);
        if (!isFolder && !File.Exists(fullPath))
        {
            throw new MGitException($"{path}: no such file or folder");
        }

        if (IsInside(fullPath, MetadataDirectory) && !madeByCascade)
        {
            throw new MGitException($"{path} is inside the repository's own {DirectoryName} folder");
        }

        var graph = Graph();
        var plan = PlanLineage(graph, fullPath, options);

        // Read every file's structure first: a bad file refuses the whole add before any byte is stored.
        var folder = isFolder ? EnumerateFolder(fullPath, options.FollowSymlinks) : null;
        var files = folder?.Files ?? [(fullPath, Path.GetFileName(fullPath))];
        var layouts = FolderLayouts.Read(files, relative => DisplayPath(path, isFolder, relative), isFolder);
        if (isFolder)
        {
            CheckShardIndexes(fullPath, layouts.Select(l => (l.RelativePath, l.Layout)).ToList(), path);
        }

        PlacementResult? placement = null;
        if (options.Auto)
        {
            (options, placement) = PlanAutomatically(graph, options, layouts.Select(l => (l.FullPath, l.Layout)), plan.Name);
            plan = PlanLineage(graph, fullPath, options);
        }

        // Parents, the version being succeeded, and the parents' own previous versions: the base of
        // each chunk is then chosen among their counterparts by measured size.
        var direct = plan.Edges.Select(e => e.ParentId).Distinct().Select(id => graph[id]).ToList();
        var relatives = direct.Concat(direct.SelectMany(p => graph.Parents(p, EdgeKind.Versioned))).DistinctBy(v => v.Id).ToList();
        var bases = new DeltaBases(relatives.Select(LoadManifest));

        var recipe = ChooseRecipe(graph, plan, options);
        var startedAt = DateTime.UtcNow;
        RemoveStaleTemporaries();
        _reserve.Ensure();
        try
        {
            using (RepositoryLock.Shared(LockPath, _options.LockWait))
            {
                UpgradeFormatForWriting();
                var stored = Ingest(plan.Name, layouts, bases, folder, options.LossyErrorBound);
                LossyCheck? lossyCheck = null;
                if (options.LossyErrorBound is double bound)
                {
                    lossyCheck = CheckLossy(graph, plan, stored, bound);
                    if (!lossyCheck.Accepted)
                    {
                        // The lossy objects stay unreferenced until gc; the version is stored exactly.
                        stored = Ingest(plan.Name, layouts, bases, folder, lossyErrorBound: null);
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
                long id = _lineage.Insert(newVersion, _options.Clock.GetUtcNow());
                RecordForPlacement(id, stored.ManifestId, stored.Fingerprint);
                var version = _lineage.ReadGraph()[id];
                if (lossy)
                {
                    foreach (var result in lossyCheck!.Results)
                    {
                        Tests.Record(version, result with { Ref = version.Ref });
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
            if (DiskSpace.IsNoSpace(e, MetadataDirectory))
            {
                throw DiskSpace.NoSpace(MetadataDirectory, e);
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
    private void RemoveWhatAFailedAddWrote(DateTime startedAt)
    {
        using var alone = RepositoryLock.TryExclusive(LockPath);
        if (alone is null)
        {
            return;
        }

        try
        {
            var referenced = ReferencedObjects(Graph(), problems: null);
            var since = startedAt - TimeSpan.FromSeconds(2); // file times may run a little behind the clock
            foreach (var id in _objects.Enumerate().Where(id => !referenced.ContainsKey(id)))
            {
                if (File.GetLastWriteTimeUtc(_objects.PathOf(id)) >= since)
                {
                    _objects.Delete(id);
                }
            }

            TemporaryFiles.RemoveOwn(TempDirectory);
        }
        catch (Exception e) when (e is MGitException or IOException or Microsoft.Data.Sqlite.SqliteException)
        {
            // Best effort: what is left is unreferenced, and gc removes it.
        }
    }

    /// <summary>A stored manifest, what storing it cost, and the fingerprint taken from the data as it streamed by.</summary>
    private sealed record StoredModel(ObjectId ManifestId, Manifest Manifest, IngestTotals Totals, byte[] Fingerprint);

    /// <summary>Stores every file's chunks and the manifest; nothing refers to them until the version is inserted.</summary>
    private StoredModel Ingest(string name, IReadOnlyList<(string FullPath, string RelativePath, FileLayout Layout)> layouts, DeltaBases bases, FolderEntries? folder, double? lossyErrorBound)
    {
        var totals = new IngestTotals();
        var manifestFiles = new List<ManifestFile>();
        var sketched = new List<(ManifestFile, TensorSketch?[])>();
        var ingester = new FileIngester(_objects, Format, _options.Workers);
        long totalBytes = layouts.Sum(l => l.Layout.Length);
        // One set of sync threads for every file of the add: a folder of many small files then
        // neither starts threads per file nor waits for each file's flushes before the next.
        using (var publishing = _objects.FlushesToDisk ? new DeferredPublishing() : null)
        using (var progress = _options.Progress.Begin($"adding {name}", totalBytes))
        {
            foreach (var (filePath, relativePath, layout) in layouts)
            {
                var candidates = bases.IsEmpty ? null : bases.For(layout);
                var sketches = Fingerprints.SketchesFor(layout);
                manifestFiles.Add(ingester.Ingest(filePath, relativePath, layout, totals, progress.Advance, candidates is null ? null : s => candidates[s], lossyErrorBound, Fingerprints.Observer(sketches), publishing));
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
        var (manifestId, _) = _objects.Put(manifest.ToJson());
        return new StoredModel(manifestId, manifest, totals, Fingerprints.FromIngest(sketched).Serialize());
    }

    /// <summary>
    /// A lossy encoding is kept only if every registered test that applies to the new version passes
    /// on the reconstruction (what checkout will give back). With no applicable test it is kept,
    /// and the result says nothing was checked.
    /// </summary>
    private LossyCheck CheckLossy(LineageGraph graph, NewVersion plan, StoredModel stored, double bound)
    {
        var tests = TestsFor(plan.Name, plan.Type);
        if (tests.Count == 0)
        {
            return new LossyCheck(true, bound, []);
        }

        int next = (graph.Latest(plan.Name)?.Version ?? 0) + 1;
        string reference = $"{plan.Name}@{next}";
        string model = CachedCheckout(stored.ManifestId.ToString(), stored.Manifest);
        var results = tests.Select(t => RunTest(t, reference, model)).ToList();
        return new LossyCheck(results.All(r => r.Passed), bound, results);
    }

    /// <summary>The recipe to record: the one given (checked against the parents), else the previous version's when it still fits.</summary>
    private string? ChooseRecipe(LineageGraph graph, NewVersion plan, AddOptions options)
    {
        var parentNames = plan.Edges.Where(e => e.Kind == EdgeKind.Adapted).Select(e => graph[e.ParentId].Name).ToList();
        if (options.Recipe is { } given)
        {
            Cascade.Recipe.Parse(given, parentNames);
            return given;
        }

        if (options.VersionOf is null || new Cascade.RecipeStore(_lineage).Get(graph.Resolve(options.VersionOf)) is not { } inherited)
        {
            return null;
        }

        try
        {
            Cascade.Recipe.Parse(inherited, parentNames);
            return inherited;
        }
        catch (MGitException)
        {
            return null;
        }
    }

    private static NewVersion PlanLineage(LineageGraph graph, string fullPath, AddOptions options)
    {
        ModelVersion? previous = options.VersionOf is { } versionOf ? graph.Resolve(versionOf) : null;
        string name = options.Name ?? previous?.Name ?? DefaultName(fullPath);
        ModelRef.ValidateName(name);
        if (previous is not null && previous.Name != name)
        {
            throw new MGitException($"--version-of {options.VersionOf} names model '{previous.Name}', but the new version is named '{name}'");
        }

        if (previous is null && graph.Latest(name) is not null)
        {
            throw new MGitException($"model '{name}' already exists; use --version-of {name} to add a new version of it, or --name to pick another name");
        }

        if (options.How is { } how && !DerivationKinds.All.Contains(how))
        {
            throw new MGitException($"--how must be one of {string.Join(", ", DerivationKinds.All)}, not '{how}'");
        }

        if (options.LossyErrorBound is double bound && !(bound > 0 && bound < 1))
        {
            throw new MGitException($"--error-bound must be a positive number below 1, not {bound}");
        }

        if (options.LossyErrorBound is not null && options.Parents.Count == 0 && previous is null)
        {
            throw new MGitException("--lossy stores a model as a quantized delta against its parent; give one with --parent or --version-of");
        }

        if (options.How is not null && options.Parents.Count == 0 && previous is null)
        {
            throw new MGitException("--how describes a derivation; give the model it was derived from with --parent");
        }

        foreach (string key in options.Metadata.Keys)
        {
            if (string.IsNullOrWhiteSpace(key) || key.Any(char.IsControl))
            {
                throw new MGitException($"invalid metadata key '{key}'");
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
                    throw new MGitException($"{parent.Ref} is a version of '{name}' itself; use --version-of for a new version");
                }

                if (edges.Any(e => e.Item1 == parent.Id))
                {
                    throw new MGitException($"parent {parent.Ref} is given twice");
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

    private static bool IsInside(string path, string folder)
    {
        string relative = Path.GetRelativePath(folder, path);
        return relative == "." || (!relative.StartsWith("..", StringComparison.Ordinal) && !Path.IsPathRooted(relative));
    }

    /// <summary>What a folder model holds: its files, its symbolic links and its empty folders, each by '/'-separated relative path in ordinal order.</summary>
    private sealed record FolderEntries(List<(string FullPath, string RelativePath)> Files, List<ManifestLink> Links, List<string> EmptyDirectories);

    /// <summary>
    /// Every entry under a folder (a <c>.mgit</c> folder in it excepted). A symbolic link is
    /// refused, so nothing outside the folder is stored by accident (a <c>tokenizer.json</c>
    /// pointing at <c>/etc/passwd</c>); with <paramref name="keepLinks"/> a link is recorded as a
    /// link, and only when it points inside the folder, both as written and where it leads.
    /// Each path must also be one every platform can check out (<see cref="ModelPaths"/>).
    /// </summary>
    private static FolderEntries EnumerateFolder(string folder, bool keepLinks = false)
    {
        string root = Path.TrimEndingDirectorySeparator(Path.GetFullPath(folder));
        var entries = new FolderEntries([], [], []);
        var pending = new Stack<string>();
        pending.Push(root);
        while (pending.Count > 0)
        {
            var directory = new DirectoryInfo(pending.Pop());
            bool empty = true;
            foreach (var entry in directory.EnumerateFileSystemInfos())
            {
                empty = false;
                string relative = Path.GetRelativePath(root, entry.FullName).Replace(Path.DirectorySeparatorChar, '/');
                if (entry.LinkTarget is { } target)
                {
                    entries.Links.Add(new ManifestLink(relative, LinkInside(root, entry, relative, target, keepLinks)));
                }
                else if (entry is DirectoryInfo sub)
                {
                    if (sub.Name != DirectoryName)
                    {
                        pending.Push(sub.FullName);
                    }
                }
                else
                {
                    entries.Files.Add((entry.FullName, relative));
                }

                if (ModelPaths.Problem(relative) is { } problem)
                {
                    throw new MGitException($"{entry.FullName}: mgit cannot store this name ({problem})");
                }
            }

            if (empty && directory.FullName != root)
            {
                entries.EmptyDirectories.Add(Path.GetRelativePath(root, directory.FullName).Replace(Path.DirectorySeparatorChar, '/'));
            }
        }

        entries.Files.Sort((a, b) => string.CompareOrdinal(a.RelativePath, b.RelativePath));
        entries.Links.Sort((a, b) => string.CompareOrdinal(a.Path, b.Path));
        entries.EmptyDirectories.Sort(StringComparer.Ordinal);
        return entries;
    }

    /// <summary>The target to record for a link in a folder model (relative), or why it is refused.</summary>
    private static string LinkInside(string root, FileSystemInfo link, string relative, string target, bool keepLinks)
    {
        if (!keepLinks)
        {
            throw new MGitException($"{link.FullName} is a symbolic link (to {target}); mgit does not store links unless told to: --follow-symlinks keeps those that point inside the folder (to store what links point to, add a copy made with 'cp -rL')");
        }

        // Where it leads after every link on the way, and the target as written, made relative.
        FileSystemInfo? final;
        try
        {
            final = link.ResolveLinkTarget(returnFinalTarget: true);
        }
        catch (IOException)
        {
            final = null; // a loop of links
        }

        string written = Path.IsPathRooted(target) ? Path.GetRelativePath(Path.GetDirectoryName(link.FullName)!, target) : target;
        written = written.Replace(Path.DirectorySeparatorChar, '/');
        if (final is null || !final.Exists || !IsInside(final.FullName, root) || final.FullName == root
            || ModelPaths.LinkTargetProblem(relative, written, _ => false) is not null)
        {
            throw new MGitException($"{link.FullName} is a symbolic link to {target}, {(final is { Exists: true } ? "outside the folder" : "which does not exist")}; only links that point inside the folder can be kept (to store what links point to, add a copy made with 'cp -rL')");
        }

        return written;
    }

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
}
