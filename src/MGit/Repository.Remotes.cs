using MGit.Errors;
using MGit.Lineage;
using MGit.Primitives;
using MGit.Remotes;
using MGit.Storage;

namespace MGit;

/// <summary>What a push sent: object files and their bytes (the lineage snapshot not counted), and whether the remote's lineage moved.</summary>
public sealed record PushResult(long ObjectsSent, long BytesSent, int VersionsPublished, bool LineageUpdated);

/// <summary>
/// What a pull received, the versions it added (by their local refs), the local versions it
/// renumbered, and (with skipBroken) the broken parts of the remote it left out.
/// </summary>
public sealed record PullResult(long ObjectsReceived, long BytesReceived, IReadOnlyList<string> NewVersions, IReadOnlyList<Renumbered> Renumbered)
{
    public IReadOnlyList<string> Skipped { get; init; } = [];
}

public sealed partial class Repository
{
    public const string DefaultRemote = "origin";

    /// <summary>How long a push waits for another push to the same remote to finish.</summary>
    private static readonly TimeSpan RemoteLockWait = TimeSpan.FromSeconds(60);

    private IRemoteBackend? _lazyOrigin;

    public IReadOnlyList<RemoteEntry> Remotes() => RemoteConfig.Load(MetadataDirectory).Remotes;

    public void AddRemote(string name, string url, string? endpoint = null)
    {
        RemoteConfig.ValidateName(name);
        RemoteBackends.Validate(url, endpoint);
        var config = RemoteConfig.Load(MetadataDirectory);
        if (config.Remotes.Any(r => r.Name == name))
        {
            throw new MGitException($"remote '{name}' already exists ({config.Get(name).Url}); 'mgit remote rm {name}' first");
        }

        (config with { Remotes = [.. config.Remotes, new RemoteEntry(name, url, endpoint)] }).Save(MetadataDirectory);
    }

    public void RemoveRemote(string name)
    {
        var config = RemoteConfig.Load(MetadataDirectory);
        config.Get(name);
        if (config.LazyFrom == name)
        {
            throw new MGitException($"this is a lazy clone of '{name}': objects not yet fetched come from it, so it cannot be removed");
        }

        (config with { Remotes = config.Remotes.Where(r => r.Name != name).ToList() }).Save(MetadataDirectory);
    }

    /// <summary>Opens a configured remote's backend (the caller disposes it).</summary>
    public IRemoteBackend OpenRemote(string? name = null)
    {
        var entry = RemoteConfig.Load(MetadataDirectory).Get(name ?? DefaultRemote);
        return RemoteBackends.Open(entry.Url, entry.Endpoint, _options.Environment, create: true);
    }

    /// <summary>
    /// Sends the versions named (every version when none are; with their ancestors, so their
    /// lineage is whole) and every object they need that the remote lacks, then moves the remote's
    /// lineage to the union of both. Refused with "pull first" when the remote holds versions this
    /// repository has not seen, as git refuses a push that is not a fast-forward.
    /// </summary>
    public PushResult Push(string? remote = null, IReadOnlyList<string>? refs = null)
    {
        using var backend = OpenRemote(remote);
        return Push(backend, remote ?? DefaultRemote, refs);
    }

    public PushResult Push(IRemoteBackend backend, string remoteName, IReadOnlyList<string>? refs = null) =>
        PushAsync(backend, remoteName, refs ?? [], CancellationToken.None).GetAwaiter().GetResult();

    private async Task<PushResult> PushAsync(IRemoteBackend backend, string remoteName, IReadOnlyList<string> refs, CancellationToken cancel)
    {
        RemoveStaleTemporaries();
        var graph = Graph();
        var selection = SelectForPush(graph, refs);
        var local = LineageSnapshot.FromGraph(graph, selection, Recipes.All());
        // What fsck would call broken never leaves: every clone and pull of the remote would fail on it.
        if (local.WithoutBrokenParts().Problems is [var broken, ..])
        {
            throw new MGitException($"this repository's lineage is broken ({broken}); nothing was pushed ('mgit fsck' lists every problem)");
        }

        var (_, remoteLineage) = await ReadRemoteLineageAsync(backend, cancel);
        CheckNotBehind(graph, remoteLineage, backend.Url, remoteName);

        using var repositoryLock = RepositoryLock.Shared(LockPath, _options.LockWait);
        // Also loads (and so checks) the manifest of every version sent.
        var needed = ReferencedObjects(new LineageGraph(selection.ToList(), graph.Edges), problems: null).Keys;
        var present = await ObjectTransfer.ListObjectsAsync(backend, cancel);
        var missing = needed.Where(id => !present.Contains(id)).ToList();
        CheckHeld(missing, backend);

        long bytes;
        using (var progress = _options.Progress.Begin($"pushing to {remoteName}", missing.Sum(id => _objects.StoredLength(id))))
        {
            bytes = await ObjectTransfer.UploadAsync(backend, _objects, missing, progress, cancel);
        }

        // Objects first, lineage last: until the ref moves, the remote's lineage names only objects it has.
        if (await ReadSmallAsync(backend, RemoteLayout.FormatKey, 64 * 1024, cancel) is null)
        {
            await backend.PutAsync(RemoteLayout.FormatKey, new RemoteFormat { ChunkSize = Format.ChunkSize, MaxDeltaDepth = Format.MaxDeltaDepth }.ToJson(), cancel);
        }

        await using (await backend.LockAsync(RemoteLayout.LineageLock, RemoteLockWait, cancel))
        {
            // Another push may have landed since the first look: check again under the lock.
            var (currentId, current) = await ReadRemoteLineageAsync(backend, cancel);
            CheckNotBehind(graph, current, backend.Url, remoteName);

            // A 'remote gc --prune' may have deleted objects sent before the lock was taken (they
            // were unreferenced until now): the lineage is published only over objects that are there.
            var there = await ObjectTransfer.ListObjectsAsync(backend, cancel);
            var resend = needed.Where(id => !there.Contains(id)).ToList();
            if (resend.Count > 0)
            {
                CheckHeld(resend, backend);
                using var progress = _options.Progress.Begin($"pushing to {remoteName} again", resend.Sum(id => _objects.StoredLength(id)));
                bytes += await ObjectTransfer.UploadAsync(backend, _objects, resend, progress, cancel);
            }

            var merged = LineageMerge.Union(current, local).Merged;
            if (merged.WithoutBrokenParts().Problems is [var problem, ..])
            {
                throw new MGitException($"{backend.Url}: merged with this repository, its lineage would be broken ({problem}); nothing was published ('mgit remote fsck {remoteName}' lists every problem)");
            }

            byte[] json = merged.ToJson();
            var mergedId = ObjectId.Compute(json);
            if (mergedId == currentId)
            {
                return new PushResult(missing.Count, bytes, 0, LineageUpdated: false);
            }

            await backend.PutAsync(RemoteLayout.SnapshotKey(mergedId), json, cancel);
            await backend.PutAsync(RemoteLayout.LineageRef, System.Text.Encoding.ASCII.GetBytes(mergedId + "\n"), cancel);
            await RemoveStaleRemoteTemporariesAsync(backend, cancel);
            return new PushResult(missing.Count, bytes, merged.Versions.Count - current.Versions.Count, LineageUpdated: true);
        }
    }

    /// <summary>Objects a push must send have to be here (a lazy clone may lack what it never checked out).</summary>
    private void CheckHeld(IEnumerable<ObjectId> toSend, IRemoteBackend backend)
    {
        if (toSend.Where(id => !_objects.Contains(id)).Take(1).ToList() is [var absent])
        {
            throw new MGitException($"object {absent} is neither here nor on {backend.Url} (a lazy clone pushing to another remote? check out its versions first)");
        }
    }

    private static IReadOnlyCollection<ModelVersion> SelectForPush(LineageGraph graph, IReadOnlyList<string> refs)
    {
        if (refs.Count == 0)
        {
            return graph.Versions;
        }

        var selected = new Dictionary<long, ModelVersion>();
        foreach (string reference in refs)
        {
            var version = graph.Resolve(reference);
            foreach (var v in graph.Ancestors(version).Prepend(version))
            {
                selected.TryAdd(v.Id, v);
            }
        }

        return selected.Values.OrderBy(v => v.Id).ToList();
    }

    /// <summary>A push may only add to the remote: every remote version must be here under its remote number.</summary>
    private static void CheckNotBehind(LineageGraph graph, LineageSnapshot remote, string url, string remoteName)
    {
        var local = graph.Versions.ToDictionary(LineageSnapshot.KeyOf, v => v.Version, StringComparer.Ordinal);
        var unseen = remote.Versions.Where(v => !local.TryGetValue(v.Key, out int number) || number != v.Version).ToList();
        if (unseen.Count > 0)
        {
            string examples = string.Join(", ", unseen.Take(3).Select(v => v.Ref)) + (unseen.Count > 3 ? ", ..." : "");
            throw new MGitException($"{url} has versions this repository has not merged ({examples}); pull first ('mgit pull {remoteName}')");
        }
    }

    /// <summary>
    /// Fetches the remote's lineage and every object its new versions need (only their manifests
    /// in a lazy clone), verifies each object against its id before it enters the store, then
    /// merges the graphs in one transaction (see <see cref="LineageMerge"/>).
    /// </summary>
    /// <param name="skipBroken">
    /// Leave out what of the remote's lineage is broken (a malformed version, an edge to nowhere or
    /// closing a cycle, a manifest naming an unsafe path) and take the rest, reporting each part
    /// left out; by default a broken remote is refused whole.
    /// </param>
    public PullResult Pull(string? remote = null, bool skipBroken = false)
    {
        using var backend = OpenRemote(remote);
        return Pull(backend, lazy: RemoteConfig.Load(MetadataDirectory).LazyFrom == (remote ?? DefaultRemote), skipBroken);
    }

    public PullResult Pull(IRemoteBackend backend, bool lazy = false, bool skipBroken = false)
    {
        try
        {
            return PullAsync(backend, lazy, skipBroken, CancellationToken.None).GetAwaiter().GetResult();
        }
        catch (Exception e) when (DiskSpace.IsNoSpace(e, MetadataDirectory))
        {
            throw DiskSpace.NoSpace(MetadataDirectory, e);
        }
    }

    private async Task<PullResult> PullAsync(IRemoteBackend backend, bool lazy, bool skipBroken, CancellationToken cancel)
    {
        RemoveStaleTemporaries();
        var skipped = new List<string>();
        var (refId, remote) = await ReadRemoteLineageAsync(backend, cancel, skipBroken ? skipped : null);
        if (refId is null)
        {
            return new PullResult(0, 0, [], []);
        }

        using var repositoryLock = RepositoryLock.Shared(LockPath, _options.LockWait);
        long objects = 0;
        long bytes = 0;
        for (int attempt = 1; ; attempt++)
        {
            string stamp = _lineage.Stamp();
            var graph = Graph();
            var localKeys = graph.Versions.ToDictionary(LineageSnapshot.KeyOf, v => v, StringComparer.Ordinal);
            var recipes = Recipes.All();
            var merged = LineageMerge.Union(remote, LineageSnapshot.FromGraph(graph, recipes: recipes)).Merged;
            // In the order they were added, so that listings read the same in every clone.
            var incoming = merged.Versions
                .Where(v => !localKeys.ContainsKey(v.Key))
                .OrderBy(v => DateTimeOffset.Parse(v.AddedAt, System.Globalization.CultureInfo.InvariantCulture))
                .ThenBy(v => v.Key, StringComparer.Ordinal)
                .ToList();

            if (incoming.Count > 0)
            {
                UpgradeFormatForWriting(); // the objects received may be of this mgit's object format
            }

            // Manifests first, each checked before anything is fetched for it: a version whose
            // manifest is unreadable or names an unsafe path never reaches the lineage.
            var (fetched, fetchedBytes) = await FetchObjectsAsync(backend, incoming.Select(v => ObjectId.Parse(v.Manifest)), manifestsOnly: true, cancel);
            objects += fetched;
            bytes += fetchedBytes;
            var broken = incoming
                .Select(v => (Version: v, Problem: ManifestProblem(v.Manifest)))
                .Where(b => b.Problem is not null)
                .ToList();
            var localEdges = graph.Edges
                .Select(e => (LineageSnapshot.KeyOf(graph[e.ParentId]), LineageSnapshot.KeyOf(graph[e.ChildId]), e.Kind.ToName()))
                .ToHashSet();
            // Each side is acyclic on its own, but their union need not be: the remote's edges
            // are refused where they close a cycle with the local ones.
            var newEdges = merged.Edges.Where(e => !localEdges.Contains((e.Parent, e.Child, e.Kind))).ToList();
            var unionEdges = localEdges.Select(e => (e.Item1, e.Item2)).Concat(newEdges.Select(e => (e.Parent, e.Child))).ToList();
            var cycles = Acyclic.CycleClosingEdges(unionEdges).Where(i => i >= localEdges.Count).Select(i => newEdges[i - localEdges.Count]).ToList();
            if (broken.Count > 0 || cycles.Count > 0)
            {
                var problems = broken.Select(b => $"version {b.Version.Ref}: {b.Problem}")
                    .Concat(cycles.Select(e => $"the edge from {RefOfKey(merged, e.Parent)} to {RefOfKey(merged, e.Child)} would close a cycle with this repository's lineage"))
                    .ToList();
                if (!skipBroken)
                {
                    throw BrokenRemote(backend, problems);
                }

                skipped.AddRange(problems);
                remote = remote.Without(broken.Select(b => b.Version.Key).ToHashSet(StringComparer.Ordinal)).Without(cycles.ToHashSet());
                attempt--;
                continue; // merge again without them
            }

            (fetched, fetchedBytes) = await FetchObjectsAsync(backend, incoming.Select(v => ObjectId.Parse(v.Manifest)), lazy, cancel);
            objects += fetched;
            bytes += fetchedBytes;
            var renumber = merged.Versions
                .Where(v => localKeys.TryGetValue(v.Key, out var local) && local.Version != v.Version)
                .Select(v => (Local: localKeys[v.Key], Number: v.Version))
                .ToList();
            var plan = new ImportPlan(
                localKeys.ToDictionary(p => p.Key, p => p.Value.Id, StringComparer.Ordinal),
                renumber.Select(r => (r.Local.Id, r.Number)).ToList(),
                incoming.Select(v => new ImportedVersion(v.Key, v.Name, v.Version, v.Type, v.Manifest, v.LogicalBytes, v.AddedAt, v.Message, v.ErrorBound, v.Metadata, v.Recipe)).ToList(),
                newEdges.Select(e => new ImportedEdge(e.Parent, e.Child, EdgeKindNames.Parse(e.Kind), e.How, e.Message)).ToList(),
                stamp)
            {
                Recipes = merged.Versions
                    .Where(v => v.Recipe is not null && localKeys.TryGetValue(v.Key, out var held) && !recipes.ContainsKey(held.Id))
                    .Select(v => (v.Key, v.Recipe!))
                    .ToList(),
            };
            try
            {
                _lineage.Import(plan);
            }
            catch (LineageChangedException) when (attempt < 5)
            {
                continue; // a local add or pull landed meanwhile: merge again against the new state
            }

            return new PullResult(
                objects,
                bytes,
                incoming.Select(v => v.Ref).ToList(),
                renumber.Select(r => new Renumbered(r.Local.Name, r.Local.Version, r.Number, LineageSnapshot.KeyOf(r.Local))).ToList())
            {
                Skipped = skipped,
            };
        }
    }

    /// <summary>Why a stored manifest (fetched from a remote) cannot be taken, or null when it can.</summary>
    private string? ManifestProblem(string manifestId)
    {
        try
        {
            using var content = _objects.Read(ObjectId.Parse(manifestId));
            Manifest.FromJson(content.Span, manifestId);
            return null;
        }
        catch (MGitException e)
        {
            return e.Message;
        }
    }

    private static string RefOfKey(LineageSnapshot snapshot, string key) =>
        snapshot.Versions.FirstOrDefault(v => v.Key == key)?.Ref ?? key;

    /// <summary>One line for a remote whose lineage is refused, with how to take the rest of it anyway.</summary>
    private static MGitException BrokenRemote(IRemoteBackend backend, IReadOnlyList<string> problems) =>
        new($"remote {backend.Url}: {problems[0]}{(problems.Count > 1 ? $" (and {problems.Count - 1} more problem(s))" : "")}; refused ('--skip-broken' takes the rest, 'mgit remote fsck' lists every problem)");

    /// <summary>
    /// Fetches the manifests named and, unless lazy, every chunk and delta base they need that is
    /// not here (also after an interrupted pull that got the manifests but not all chunks).
    /// </summary>
    private async Task<(long Objects, long Bytes)> FetchObjectsAsync(IRemoteBackend backend, IEnumerable<ObjectId> manifestIds, bool manifestsOnly, CancellationToken cancel)
    {
        var manifests = manifestIds.Distinct().ToList();
        Dictionary<ObjectId, long>? sizes = null;
        async Task<IProgressTask> Progress(List<ObjectId> ids, string what)
        {
            // The remote's object sizes, for the progress bar (one LIST per 1,000 objects).
            sizes ??= (await backend.ListAsync(RemoteLayout.ObjectPrefix, cancel))
                .Select(f => (Ok: RemoteLayout.TryParseObjectKey(f.Key, out var id), Id: id, f.Size))
                .Where(f => f.Ok)
                .ToDictionary(f => f.Id, f => f.Size);
            return _options.Progress.Begin($"fetching {what} from {backend.Url}", ids.Sum(id => sizes.GetValueOrDefault(id)));
        }

        // Manifests first (they are never deltas): they name the chunks.
        long objects = 0;
        long bytes = 0;
        var wanted = manifests.Where(id => !_objects.Contains(id)).ToList();
        if (wanted.Count > 0)
        {
            using var progress = await Progress(wanted, "manifests");
            (objects, bytes) = await DownloadAndInstallAsync(backend, wanted, progress, cancel);
        }

        if (manifestsOnly)
        {
            return (objects, bytes);
        }

        var chunkRoots = new List<ObjectId>();
        foreach (var id in manifests)
        {
            using var content = _objects.Read(id);
            chunkRoots.AddRange(Manifest.FromJson(content.Span, id.ToString()).ChunkIds);
        }

        // Then chunks, and the bases of deltas among them, round by round until nothing is missing.
        var manifestSet = manifests.ToHashSet();
        var received = new Dictionary<ObjectId, string>();
        try
        {
            var round = chunkRoots.Where(id => !_objects.Contains(id)).Distinct().ToList();
            while (round.Count > 0)
            {
                // Whatever can be verified on arrival (not a delta, or its base is here) enters the store at once.
                var bases = new System.Collections.Concurrent.ConcurrentBag<ObjectId>();
                bool Arrived(ObjectId id, string path)
                {
                    if (ObjectStore.TryInspectFile(id, path)?.BaseId is { } b && !_objects.Contains(b))
                    {
                        bases.Add(b);
                        return false;
                    }

                    ObjectTransfer.Install(_objects, id, path, backend.Url);
                    return true;
                }

                using (var progress = await Progress(round, "objects"))
                {
                    var (kept, count, size) = await ObjectTransfer.DownloadAsync(backend, round, TempDirectory, progress, Arrived, cancel);
                    objects += count;
                    bytes += size;
                    foreach (var (id, path) in kept)
                    {
                        received[id] = path;
                    }
                }

                round = bases.Distinct()
                    .Where(b => !received.ContainsKey(b) && !_objects.Contains(b) && !manifestSet.Contains(b))
                    .ToList();
            }

            ObjectTransfer.Install(_objects, received, backend.Url);
            received.Clear();
        }
        finally
        {
            foreach (string path in received.Values.Where(File.Exists))
            {
                File.Delete(path);
            }
        }

        return (objects, bytes);
    }

    private async Task<(long Objects, long Bytes)> DownloadAndInstallAsync(IRemoteBackend backend, List<ObjectId> ids, IProgressTask progress, CancellationToken cancel)
    {
        if (ids.Count == 0)
        {
            return (0, 0);
        }

        var (_, objects, bytes) = await ObjectTransfer.DownloadAsync(backend, ids, TempDirectory, progress, (id, path) =>
        {
            ObjectTransfer.Install(_objects, id, path, backend.Url);
            return true;
        }, cancel);
        return (objects, bytes);
    }

    /// <summary>
    /// The remote's current snapshot id and lineage (empty, with no id, for a remote nobody pushed
    /// to). A snapshot with broken parts is refused, or, given <paramref name="skipped"/>, read
    /// without them, each part left out described there.
    /// </summary>
    private async Task<(ObjectId? Id, LineageSnapshot Lineage)> ReadRemoteLineageAsync(IRemoteBackend backend, CancellationToken cancel, List<string>? skipped = null)
    {
        byte[]? refBytes = await ReadSmallAsync(backend, RemoteLayout.LineageRef, 1024, cancel);
        if (refBytes is null)
        {
            return (null, LineageSnapshot.Empty);
        }

        if (!ObjectId.TryParse(System.Text.Encoding.ASCII.GetString(refBytes).Trim(), out var id))
        {
            throw new MGitException($"remote {backend.Url}: {RemoteLayout.LineageRef} is damaged (not an object id)");
        }

        byte[] json = await ReadSmallAsync(backend, RemoteLayout.SnapshotKey(id), RemoteLayout.MaxSnapshotBytes, cancel)
            ?? throw new MGitException($"remote {backend.Url}: the lineage snapshot {id} named by {RemoteLayout.LineageRef} is missing");
        if (ObjectId.Compute(json) != id)
        {
            throw new MGitException($"remote {backend.Url}: the lineage snapshot {id} does not match its hash; refused");
        }

        var (sound, problems) = LineageSnapshot.ParseSkippingBroken(json, $"remote {backend.Url}: lineage snapshot {id}");
        if (problems.Count > 0 && skipped is null)
        {
            throw BrokenRemote(backend, problems);
        }

        skipped?.AddRange(problems);
        return (id, sound);
    }

    private async Task<byte[]?> ReadSmallAsync(IRemoteBackend backend, string key, int maxBytes, CancellationToken cancel)
    {
        string temp = Path.Combine(TempDirectory, TemporaryFiles.Name("remote"));
        try
        {
            return await backend.DownloadAsync(key, temp, maxBytes, cancel) ? await File.ReadAllBytesAsync(temp, cancel) : null;
        }
        finally
        {
            File.Delete(temp);
        }
    }

    /// <summary>
    /// Copies a remote into a new repository at <paramref name="directory"/> with the remote as
    /// <c>origin</c>. Lazy: only the lineage and manifests come now; objects arrive when a
    /// checkout needs them. A clone that fails leaves no repository behind.
    /// </summary>
    public static Repository Clone(string url, string directory, string? endpoint = null, bool lazy = false, RepositoryOptions? options = null) =>
        Clone(url, directory, endpoint, lazy, skipBroken: false, options, out _);

    /// <inheritdoc cref="Clone(string, string, string?, bool, RepositoryOptions?)"/>
    /// <param name="skipped">With <paramref name="skipBroken"/>, the broken parts of the remote left out (see <see cref="Pull(string?, bool)"/>).</param>
    public static Repository Clone(string url, string directory, string? endpoint, bool lazy, bool skipBroken, RepositoryOptions? options, out IReadOnlyList<string> skipped)
    {
        options ??= new RepositoryOptions();
        string target = Path.GetFullPath(directory);
        bool existed = Directory.Exists(target);
        if (File.Exists(target) || (existed && Directory.EnumerateFileSystemEntries(target).Any()))
        {
            throw new MGitException($"{directory} already exists and is not an empty folder");
        }

        Repository? repository = null;
        try
        {
            using (var backend = RemoteBackends.Open(url, endpoint, options.Environment))
            {
                var format = ReadRemoteFormat(backend);
                repository = Init(target, options, format?.ChunkSize ?? RepositoryFormat.DefaultChunkSize, format?.MaxDeltaDepth ?? RepositoryFormat.DefaultMaxDeltaDepth);
                new RemoteConfig { Remotes = [new RemoteEntry(DefaultRemote, url, endpoint)], LazyFrom = lazy ? DefaultRemote : null }.Save(repository.MetadataDirectory);
                skipped = repository.Pull(backend, lazy, skipBroken).Skipped;
            }

            repository.AttachLazyOrigin();
            return repository;
        }
        catch
        {
            repository?.Dispose();
            string doomed = existed ? Path.Combine(target, DirectoryName) : target;
            if (Directory.Exists(doomed))
            {
                Directory.Delete(doomed, recursive: true);
            }

            throw;
        }
    }

    private static RemoteFormat? ReadRemoteFormat(IRemoteBackend backend)
    {
        string temp = Path.Combine(Path.GetTempPath(), $"mgit-remote-format.{Environment.ProcessId}.{Guid.NewGuid():N}");
        try
        {
            return backend.DownloadAsync(RemoteLayout.FormatKey, temp, 64 * 1024, CancellationToken.None).GetAwaiter().GetResult()
                ? RemoteFormat.Parse(File.ReadAllBytes(temp), backend.Url)
                : null;
        }
        finally
        {
            File.Delete(temp);
        }
    }

    /// <summary>In a lazy clone, reads of objects not yet here fetch them from the remote (verified).</summary>
    private void AttachLazyOrigin()
    {
        if (!File.Exists(Path.Combine(MetadataDirectory, RemoteConfig.FileName)) || RemoteConfig.Load(MetadataDirectory).LazyFrom is not { } name)
        {
            return;
        }

        var gate = new Lock();
        _objects.FetchMissing = id =>
        {
            IRemoteBackend backend;
            lock (gate)
            {
                backend = _lazyOrigin ??= OpenRemote(name);
            }

            string temp = ObjectTransfer.TempPath(TempDirectory, id);
            if (!backend.DownloadAsync(RemoteLayout.ObjectKey(id), temp, RemoteLayout.MaxObjectFileBytes, CancellationToken.None).GetAwaiter().GetResult())
            {
                return false;
            }

            ObjectTransfer.Install(_objects, id, temp, backend.Url);
            return true;
        };
    }

    /// <summary>Whether objects missing here may be on the lazy clone's remote rather than lost.</summary>
    public bool IsLazyClone => _objects.FetchMissing is not null;

    private void DisposeRemotes() => _lazyOrigin?.Dispose();
}
