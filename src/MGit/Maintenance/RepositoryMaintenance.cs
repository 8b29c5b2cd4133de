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
        var graph = context.Graph();
        var parsed = ModelRef.Parse(reference);
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
        var referenced = ReferencedObjects(context.Graph(), problems: null, cancellationToken);
        int removed = 0;
        long freed = 0;
        foreach (var id in context.Objects.Enumerate())
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (!referenced.ContainsKey(id))
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
                if (!ObjectId.TryParse(name, out var id) || !referenced.ContainsKey(id))
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

        var referenced = ReferencedObjects(graph, problems, cancellationToken);
        var present = context.Objects.Enumerate().ToList();
        var damaged = new ConcurrentDictionary<ObjectId, string>();
        // Progress counts bytes, as every other long operation's: what each object takes on disk.
        var lengths = present.ToDictionary(id => id, context.Objects.StoredLength);
        using (var progress = context.Options.Progress.Begin("verifying objects", lengths.Values.Sum()))
        {
            Parallel.ForEach(present, new ParallelOptions { MaxDegreeOfParallelism = context.Options.Workers, CancellationToken = cancellationToken }, id =>
            {
                try
                {
                    context.Objects.Read(id, Verification.Identity).Dispose();
                }
                catch (MGitException e)
                {
                    damaged[id] = e is DamagedObjectException d ? d.Message : $"object {id}: {e.Message}";
                }

                progress.Advance(lengths[id]);
            });
        }

        var presentSet = present.ToHashSet();
        foreach (var (id, users) in referenced.OrderBy(r => r.Key))
        {
            string? problem = damaged.TryGetValue(id, out string? message) ? message
                : presentSet.Contains(id) || context.Objects.FetchMissing is not null ? null // a lazy clone fetches what it lacks on use
                : $"object {id} is missing";
            if (problem is not null)
            {
                problems.Add($"{problem} (needed by {string.Join(", ", users.Order(StringComparer.Ordinal))})");
            }
        }

        foreach (var (id, message) in damaged.Where(d => !referenced.ContainsKey(d.Key)).OrderBy(d => d.Key))
        {
            problems.Add(lineageRead ? $"{message} (unreferenced)" : message);
        }

        int unreferenced = lineageRead ? present.Count(id => !referenced.ContainsKey(id)) : 0;
        return new FsckReport(present.Count, graph.Versions.Count, unreferenced, problems);
    }

    /// <summary>Every object some version needs (its manifest and chunks), with the refs needing it.</summary>
    public Dictionary<ObjectId, List<string>> ReferencedObjects(LineageGraph graph, List<string>? problems, CancellationToken cancellationToken = default)
    {
        var referenced = new Dictionary<ObjectId, List<string>>();
        bool Use(ObjectId id, string user)
        {
            if (!referenced.TryGetValue(id, out var users))
            {
                referenced[id] = users = [];
            }

            if (users.Contains(user))
            {
                return false;
            }

            users.Add(user);
            return true;
        }

        foreach (var version in graph.Versions)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (!ObjectId.TryParse(version.ManifestId, out var manifestId))
            {
                problems?.Add($"{version.Ref} names an invalid manifest id '{version.ManifestId}'");
                continue;
            }

            Use(manifestId, version.Ref);
            Manifest manifest;
            try
            {
                manifest = context.LoadManifest(version);
            }
            catch (MGitException e) when (problems is not null)
            {
                // The manifest object itself is reported with the other objects; name the version here.
                problems.Add($"{version.Ref}: manifest refused ({e.Message})");
                continue;
            }
            catch (MGitException e)
            {
                throw new MGitException(e.Kind, $"{version.Ref}: manifest unreadable ({e.Message}); 'mgit fsck' lists every problem", e);
            }

            foreach (var id in manifest.ChunkIds)
            {
                Use(id, version.Ref);
            }
        }

        // A delta chunk needs its base, and the base's base: they are referenced by whoever needs the delta.
        var pending = new Stack<ObjectId>(referenced.Keys);
        var bases = new Dictionary<ObjectId, ObjectId?>();
        while (pending.Count > 0)
        {
            var id = pending.Pop();
            if (!bases.TryGetValue(id, out var baseId))
            {
                bases[id] = baseId = context.Objects.TryInspect(id)?.BaseId;
            }

            if (baseId is not { } b)
            {
                continue;
            }

            bool grew = false;
            foreach (string user in referenced[id].ToList())
            {
                grew |= Use(b, user);
            }

            if (grew)
            {
                pending.Push(b); // its users grew: carry them on down the chain
            }
        }

        return referenced;
    }
}
