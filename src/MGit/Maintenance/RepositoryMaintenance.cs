using System.Collections.Concurrent;
using MGit.Errors;
using MGit.Lineage;
using MGit.Primitives;
using MGit.Storage;
using MGit.Workspace;

namespace MGit.Maintenance;

/// <summary>What <c>gc</c> removed from the repository.</summary>
/// <param name="ObjectsRemoved">Objects no version needs any more, deleted.</param>
/// <param name="BytesFreed">Disk space those objects took.</param>
/// <param name="TempFilesRemoved">Leftovers of interrupted operations, deleted.</param>
public sealed record GcResult(int ObjectsRemoved, long BytesFreed, int TempFilesRemoved);

/// <summary>What <c>fsck</c> found when it checked the repository.</summary>
/// <param name="ObjectsChecked">Objects read and verified against their ids.</param>
/// <param name="VersionsChecked">Versions whose manifests and chunks were checked.</param>
/// <param name="Unreferenced">Objects no version needs (gc removes them; not a problem).</param>
/// <param name="Problems">One line per damage found; empty when the repository is intact.</param>
public sealed record FsckReport(int ObjectsChecked, int VersionsChecked, int Unreferenced, IReadOnlyList<string> Problems)
{
    /// <summary>No problem was found.</summary>
    public bool Intact => Problems.Count == 0;
}

/// <summary>Removing versions, collecting garbage, and checking that everything stored is intact.</summary>
internal sealed class RepositoryMaintenance(RepositoryContext context)
{
    /// <summary>
    /// Removes a version (<c>NAME@V</c>) or every version of a model (<c>NAME</c>). Refused while
    /// other models derive from what is removed, unless <paramref name="force"/> (their edges to it
    /// are then dropped; their own data is untouched). Space is freed by <see cref="Gc"/>.
    /// Returns the refs removed.
    /// </summary>
    public IReadOnlyList<string> Remove(string reference, bool force = false)
    {
        var parsed = ModelRef.Parse(reference);
        // The model's versions with their parents, children and tags: all that removing them touches.
        var graph = context.Lineage.ReadAround([parsed.Name], [], withChildren: true);
        var doomed = parsed.Version is null && parsed.Tag is null ? graph.VersionsOf(parsed.Name) : [graph.Resolve(parsed)];
        if (doomed.Count == 0)
        {
            graph.Resolve(parsed); // throws the "no model named" error
        }

        var doomedIds = doomed.Select(v => v.Id).ToHashSet();
        var dependents = doomed
            .SelectMany(v => graph.Children(v))
            .Where(c => !doomedIds.Contains(c.Id))
            .Select(c => c.Ref)
            .Distinct()
            .ToList();
        if (dependents.Count > 0 && !force)
        {
            throw new MGitException(ErrorKind.Conflict, $"{string.Join(", ", doomed.Select(v => v.Ref))} has dependents ({string.Join(", ", dependents)}); pass --force to remove it anyway");
        }

        // A tag names a version someone relies on (production): removing it takes --force, which deletes the tag too (in its history).
        var tagged = graph.Tags.Where(t => doomedIds.Contains(t.VersionId)).ToList();
        if (tagged.Count > 0 && !force)
        {
            throw new MGitException(ErrorKind.Conflict, $"{string.Join(", ", tagged.Select(t => $"{graph[t.VersionId].Ref} is tagged {t.Ref}"))}; delete the tag first ('mgit tag -d {tagged[0].Ref}') or pass --force to remove it with its tags");
        }

        if (tagged.Count > 0)
        {
            TagRegistry.Over(context.Lineage, context.Options.Environment, context.Options.Clock).DeleteOn(graph, doomedIds);
        }

        try
        {
            context.Lineage.Delete(doomedIds);
        }
        catch (MGitException e) when (DiskSpace.IsNoSpace(e, context.MetadataDirectory) && context.Reserve.Release())
        {
            // A full disk: the reserve kept for this makes room for the database's log ('mgit gc' then frees the space).
            try
            {
                context.Lineage.Delete(doomedIds);
            }
            catch (MGitException again) when (DiskSpace.IsNoSpace(again, context.MetadataDirectory))
            {
                throw DiskSpace.NoSpace(context.MetadataDirectory, again);
            }
        }
        catch (MGitException e) when (DiskSpace.IsNoSpace(e, context.MetadataDirectory))
        {
            throw DiskSpace.NoSpace(context.MetadataDirectory, e);
        }

        return doomed.Select(v => v.Ref).ToList();
    }

    /// <summary>
    /// Deletes objects no version references, and leftovers of interrupted writes. Cancelled
    /// (taken between objects), what it deleted was garbage and the rest stays for the next gc.
    /// </summary>
    public GcResult Gc(CancellationToken cancellationToken)
    {
        using var exclusive = RepositoryLock.Exclusive(context.LockPath, context.Options.LockWait);
        var referenced = LiveObjects(context.Graph(), problems: null, cancellationToken);
        int removed = 0;
        long freed = 0;
        foreach (var id in context.Objects.Enumerate())
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (!referenced.Contains(id))
            {
                freed += context.Objects.StoredLength(id);
                context.Objects.Delete(id);
                removed++;
            }
        }

        int temps = 0;
        foreach (string temp in Directory.EnumerateFiles(context.TempDirectory))
        {
            File.Delete(temp);
            temps++;
        }

        // Work folders of interrupted cascades, and cached checkouts of content no version holds any more.
        foreach (string folder in Directory.EnumerateDirectories(context.TempDirectory))
        {
            Directory.Delete(folder, recursive: true);
            temps++;
        }

        if (Directory.Exists(context.CheckoutCacheDirectory))
        {
            foreach (string folder in Directory.EnumerateDirectories(context.CheckoutCacheDirectory))
            {
                string name = Path.GetFileName(folder);
                if (!ObjectId.TryParse(name, out var id) || !referenced.Contains(id))
                {
                    Directory.Delete(folder, recursive: true);
                    temps++;
                }
            }
        }

        context.Reserve.Ensure(); // taken again once there is room (rm may have used it on a full disk)
        return new GcResult(removed, freed, temps);
    }

    /// <summary>
    /// Verifies the lineage database, every manifest and every object (content against its hash),
    /// and names each damaged or missing object with the versions that need it. Cancellation is
    /// taken at every object (fsck only reads).
    /// </summary>
    public FsckReport Fsck(CancellationToken cancellationToken)
    {
        var problems = new List<string>();
        LineageGraph graph;
        bool lineageRead = true;
        try
        {
            problems.AddRange(context.Lineage.IntegrityCheck().Select(p => $"lineage database: {p}"));
            graph = context.Graph();
        }
        catch (MGitException e) when (LineageStore.IsDamageOrRefusal(e))
        {
            // Which versions need which objects is then unknown; every object is verified all the same.
            problems.Add($"lineage database: unreadable ({e.InnerException!.Message}); the objects are checked without it");
            graph = new LineageGraph([], []);
            lineageRead = false;
        }

        try
        {
            graph.TopologicalOrder();
        }
        catch (MGitException e)
        {
            problems.Add(e.Message);
        }

        var referenced = LiveObjects(graph, problems, cancellationToken);

        // One streaming pass over the objects (nothing kept per object but the damaged ones):
        // progress counts bytes, as every other long operation's, so their sizes are summed first.
        long total = 0;
        foreach (var id in context.Objects.Enumerate())
        {
            total += context.Objects.StoredLength(id);
        }

        var damaged = new ConcurrentDictionary<ObjectId, string>();
        int checkedObjects = 0, presentReferenced = 0, unreferencedObjects = 0;
        using (var progress = context.Options.Progress.Begin("verifying objects", total))
        {
            Parallel.ForEach(context.Objects.Enumerate(), new ParallelOptions { MaxDegreeOfParallelism = context.Options.Workers, CancellationToken = cancellationToken }, id =>
            {
                long length = context.Objects.StoredLength(id);
                try
                {
                    context.Objects.Read(id, Verification.Identity).Dispose();
                }
                catch (MGitException e)
                {
                    damaged[id] = e is DamagedObjectException d ? d.Message : $"object {id}: {e.Message}";
                }

                Interlocked.Increment(ref checkedObjects);
                Interlocked.Increment(ref referenced.Contains(id) ? ref presentReferenced : ref unreferencedObjects);
                progress.Advance(length);
            });
        }

        // Only a damaged repository pays for naming the versions that need each bad object.
        bool missing = presentReferenced < referenced.Count && context.Objects.FetchMissing is null;
        var neededBy = missing || !damaged.IsEmpty ? UsersOfBadObjects(graph, damaged, missing, cancellationToken) : [];
        foreach (var (id, users) in neededBy)
        {
            string problem = damaged.TryGetValue(id, out string? message) ? message : $"object {id} is missing";
            problems.Add($"{problem} (needed by {string.Join(", ", users.Order(StringComparer.Ordinal))})");
        }

        foreach (var (id, message) in damaged.Where(d => !neededBy.ContainsKey(d.Key)).OrderBy(d => d.Key))
        {
            problems.Add(lineageRead ? $"{message} (unreferenced)" : message);
        }

        return new FsckReport(checkedObjects, graph.Versions.Count, lineageRead ? unreferencedObjects : 0, problems);
    }

    /// <summary>
    /// The damaged objects, and (when <paramref name="missing"/>) those not in the store, that
    /// some version needs, each with the refs needing it: a second walk of the manifests.
    /// </summary>
    private SortedDictionary<ObjectId, SortedSet<string>> UsersOfBadObjects(LineageGraph graph, ConcurrentDictionary<ObjectId, string> damaged, bool missing, CancellationToken cancellationToken)
    {
        var bad = new SortedDictionary<ObjectId, SortedSet<string>>();
        var absent = new Dictionary<ObjectId, bool>();
        foreach (var version in graph.Versions)
        {
            var mine = new HashSet<ObjectId>();
            WalkObjects([version], problems: null, id => mine.Add(id), skipUnreadable: true, cancellationToken);
            foreach (var id in mine)
            {
                if (damaged.ContainsKey(id) || (missing && (absent.TryGetValue(id, out bool gone) ? gone : absent[id] = !context.Objects.Contains(id))))
                {
                    if (!bad.TryGetValue(id, out var users))
                    {
                        bad[id] = users = new SortedSet<string>(StringComparer.Ordinal);
                    }

                    users.Add(version.Ref);
                }
            }
        }

        return bad;
    }

    /// <summary>Every object some version needs: manifests, chunks, and the bases of delta chunks down their chains.</summary>
    public ObjectPrefixSet LiveObjects(LineageGraph graph, List<string>? problems, CancellationToken cancellationToken = default)
    {
        var live = new ObjectPrefixSet();
        WalkObjects(graph.Versions, problems, live.Add, skipUnreadable: problems is not null, cancellationToken);
        return live;
    }

    /// <summary>The objects these versions need, each once (push sends them).</summary>
    public List<ObjectId> ObjectsOf(IReadOnlyList<ModelVersion> versions, CancellationToken cancellationToken = default)
    {
        var objects = new HashSet<ObjectId>();
        WalkObjects(versions, problems: null, objects.Add, skipUnreadable: false, cancellationToken);
        return [.. objects];
    }

    /// <summary>
    /// Hands each object the versions need to <paramref name="add"/>, which says whether it is new
    /// (only a new one's delta base is looked up: each object header is read once). A manifest
    /// that cannot be read is a problem listed in <paramref name="problems"/> when
    /// <paramref name="skipUnreadable"/>, else an error naming the version.
    /// </summary>
    private void WalkObjects(IReadOnlyList<ModelVersion> versions, List<string>? problems, Func<ObjectId, bool> add, bool skipUnreadable, CancellationToken cancellationToken)
    {
        var pending = new Stack<ObjectId>();
        foreach (var version in versions)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (!ObjectId.TryParse(version.ManifestId, out var manifestId))
            {
                problems?.Add($"{version.Ref} names an invalid manifest id '{version.ManifestId}'");
                continue;
            }

            if (add(manifestId))
            {
                pending.Push(manifestId);
            }

            Manifest manifest;
            try
            {
                manifest = context.LoadManifest(version);
            }
            catch (MGitException e) when (skipUnreadable)
            {
                // The manifest object itself is reported with the other objects; name the version here.
                problems?.Add($"{version.Ref}: manifest refused ({e.Message})");
                continue;
            }
            catch (MGitException e)
            {
                throw new MGitException(e.Kind, $"{version.Ref}: manifest unreadable ({e.Message}); 'mgit fsck' lists every problem", e);
            }

            foreach (var id in manifest.ChunkIds)
            {
                if (add(id))
                {
                    pending.Push(id);
                }
            }

            // A delta chunk needs its base, and the base's base.
            while (pending.Count > 0)
            {
                if (context.Objects.TryInspect(pending.Pop())?.BaseId is { } baseId && add(baseId))
                {
                    pending.Push(baseId);
                }
            }
        }
    }
}
