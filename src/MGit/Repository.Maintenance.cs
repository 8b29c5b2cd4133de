using System.Collections.Concurrent;
using MGit.Errors;
using MGit.Lineage;
using MGit.Primitives;
using MGit.Storage;
using Microsoft.Data.Sqlite;

namespace MGit;

public sealed partial class Repository
{
    /// <summary>
    /// Removes a version (<c>NAME@V</c>) or every version of a model (<c>NAME</c>). Refused while
    /// other models derive from what is removed, unless <paramref name="force"/> (their edges to it
    /// are then dropped; their own data is untouched). Space is freed by <see cref="Gc"/>.
    /// Returns the refs removed.
    /// </summary>
    public IReadOnlyList<string> Remove(string reference, bool force = false)
    {
        var graph = Graph();
        var parsed = ModelRef.Parse(reference);
        var doomed = parsed.Version is null ? graph.VersionsOf(parsed.Name) : [graph.Resolve(parsed)];
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
            throw new MGitException($"{string.Join(", ", doomed.Select(v => v.Ref))} has dependents ({string.Join(", ", dependents)}); pass --force to remove it anyway");
        }

        try
        {
            _lineage.Delete(doomedIds);
        }
        catch (SqliteException e) when (DiskSpace.IsNoSpace(e, MetadataDirectory) && _reserve.Release())
        {
            // A full disk: the reserve kept for this makes room for the database's log ('mgit gc' then frees the space).
            try
            {
                _lineage.Delete(doomedIds);
            }
            catch (SqliteException again) when (DiskSpace.IsNoSpace(again, MetadataDirectory))
            {
                throw DiskSpace.NoSpace(MetadataDirectory, again);
            }
        }
        catch (SqliteException e) when (DiskSpace.IsNoSpace(e, MetadataDirectory))
        {
            throw DiskSpace.NoSpace(MetadataDirectory, e);
        }

        return doomed.Select(v => v.Ref).ToList();
    }

    /// <summary>
    /// Deletes what killed processes left in the repository's temporary folders (their names carry
    /// the process id: see <see cref="TemporaryFiles"/>); every command that writes starts so.
    /// </summary>
    private void RemoveStaleTemporaries()
    {
        TemporaryFiles.RemoveStale(TempDirectory);
        TemporaryFiles.RemoveStale(CheckoutCacheDirectory);
    }

    /// <summary>Deletes objects no version references, and leftovers of interrupted writes.</summary>
    public GcResult Gc()
    {
        using var exclusive = RepositoryLock.Exclusive(LockPath, _options.LockWait);
        var referenced = ReferencedObjects(Graph(), problems: null);
        int removed = 0;
        long freed = 0;
        foreach (var id in _objects.Enumerate())
        {
            if (!referenced.ContainsKey(id))
            {
                freed += _objects.StoredLength(id);
                _objects.Delete(id);
                removed++;
            }
        }

        int temps = 0;
        foreach (string temp in Directory.EnumerateFiles(TempDirectory))
        {
            File.Delete(temp);
            temps++;
        }

        // Work folders of interrupted cascades, and cached checkouts of content no version holds any more.
        foreach (string folder in Directory.EnumerateDirectories(TempDirectory))
        {
            Directory.Delete(folder, recursive: true);
            temps++;
        }

        if (Directory.Exists(CheckoutCacheDirectory))
        {
            foreach (string folder in Directory.EnumerateDirectories(CheckoutCacheDirectory))
            {
                string name = Path.GetFileName(folder);
                if (!ObjectId.TryParse(name, out var id) || !referenced.ContainsKey(id))
                {
                    Directory.Delete(folder, recursive: true);
                    temps++;
                }
            }
        }

        _reserve.Ensure(); // taken again once there is room (rm may have used it on a full disk)
        return new GcResult(removed, freed, temps);
    }

    /// <summary>
    /// Verifies the lineage database, every manifest and every object (content against its hash),
    /// and names each damaged or missing object with the versions that need it.
    /// </summary>
    public FsckReport Fsck()
    {
        var problems = new List<string>();
        LineageGraph graph;
        bool lineageRead = true;
        try
        {
            problems.AddRange(_lineage.IntegrityCheck().Select(p => $"lineage database: {p}"));
            graph = Graph();
        }
        catch (SqliteException e) when (LineageStore.IsDamageOrRefusal(e))
        {
            // Which versions need which objects is then unknown; every object is verified all the same.
            problems.Add($"lineage database: unreadable ({e.Message}); the objects are checked without it");
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

        var referenced = ReferencedObjects(graph, problems);
        var present = _objects.Enumerate().ToList();
        var damaged = new ConcurrentDictionary<ObjectId, string>();
        using (var progress = _options.Progress.Begin("verifying objects", present.Count))
        {
            Parallel.ForEach(present, new ParallelOptions { MaxDegreeOfParallelism = _options.Workers }, id =>
            {
                try
                {
                    _objects.Read(id, Verification.Identity).Dispose();
                }
                catch (MGitException e)
                {
                    damaged[id] = e is DamagedObjectException d ? d.Message : $"object {id}: {e.Message}";
                }

                progress.Advance(1);
            });
        }

        var presentSet = present.ToHashSet();
        foreach (var (id, users) in referenced.OrderBy(r => r.Key))
        {
            string? problem = damaged.TryGetValue(id, out string? message) ? message
                : presentSet.Contains(id) || IsLazyClone ? null // a lazy clone fetches what it lacks on use
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
    private Dictionary<ObjectId, List<string>> ReferencedObjects(LineageGraph graph, List<string>? problems)
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
            if (!ObjectId.TryParse(version.ManifestId, out var manifestId))
            {
                problems?.Add($"{version.Ref} names an invalid manifest id '{version.ManifestId}'");
                continue;
            }

            Use(manifestId, version.Ref);
            Manifest manifest;
            try
            {
                manifest = LoadManifest(version);
            }
            catch (MGitException e) when (problems is not null)
            {
                // The manifest object itself is reported with the other objects; name the version here.
                problems.Add($"{version.Ref}: manifest refused ({e.Message})");
                continue;
            }
            catch (MGitException e)
            {
                throw new MGitException($"{version.Ref}: manifest unreadable ({e.Message}); 'mgit fsck' lists every problem");
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
                bases[id] = baseId = _objects.TryInspect(id)?.BaseId;
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
