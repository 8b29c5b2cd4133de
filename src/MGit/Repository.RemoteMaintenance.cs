using MGit.Errors;
using MGit.Primitives;
using MGit.Remotes;
using MGit.Storage;

namespace MGit;

public sealed partial class Repository
{
    /// <summary>How old an unreferenced object, old snapshot or temporary file on a remote must be before <c>remote gc --prune</c> deletes it by default.</summary>
    public static readonly TimeSpan DefaultRemoteExpiry = TimeSpan.FromHours(1);

    /// <summary>How old a temporary file on a remote must be before a push deletes it (a push to a slow share may write one for long).</summary>
    private static readonly TimeSpan RemoteTempExpiryOnPush = TimeSpan.FromDays(1);

    /// <summary>
    /// Checks a remote without changing it: its lineage (as a pull would), that every manifest its
    /// versions name is there and sound, and every chunk and delta base they need; and reports
    /// what is not needed (unreferenced objects, old snapshots, temporary files). Manifests and
    /// object headers not held here are downloaded (the manifests, verified, enter this store).
    /// </summary>
    public RemoteReport RemoteFsck(string? remote = null)
    {
        using var backend = OpenRemote(remote);
        return InspectRemoteAsync(backend, CancellationToken.None).GetAwaiter().GetResult().Report;
    }

    /// <summary>
    /// What <see cref="RemoteFsck"/> reports and, with <paramref name="prune"/>, deletes from the
    /// remote what its lineage does not need and is older than <paramref name="expire"/>:
    /// unreferenced objects (of killed or abandoned pushes), lineage snapshots the ref no longer
    /// names, temporary files. Done under the remote's push lock; a push re-checks its objects
    /// under that lock before it publishes, so it never names an object gc removed. Refused while
    /// the remote's lineage or a manifest cannot be read (what is needed would be unknown).
    /// </summary>
    public RemoteReport RemoteGc(string? remote = null, bool prune = false, TimeSpan? expire = null) =>
        RemoteGcAsync(remote, prune, expire ?? DefaultRemoteExpiry, CancellationToken.None).GetAwaiter().GetResult();

    private async Task<RemoteReport> RemoteGcAsync(string? remote, bool prune, TimeSpan expire, CancellationToken cancel)
    {
        using var backend = OpenRemote(remote);
        if (!prune)
        {
            return (await InspectRemoteAsync(backend, cancel)).Report;
        }

        await using (await backend.LockAsync(RemoteLayout.LineageLock, RemoteLockWait, cancel))
        {
            var (report, inventory) = await InspectRemoteAsync(backend, cancel);
            if (!inventory.NeedsKnown)
            {
                throw new MGitException($"remote {backend.Url}: what its lineage needs cannot be told ({report.Problems[0]}); nothing was deleted ('mgit remote fsck' lists every problem)");
            }

            var cutoff = _options.Clock.GetUtcNow() - expire;
            bool Expired(RemoteFile file) => file.LastModified is { } at && at <= cutoff;
            var doomed = inventory.Unreferenced.Concat(inventory.OldSnapshots).Concat(inventory.TempFiles).Where(Expired).ToList();
            foreach (var file in doomed)
            {
                await backend.DeleteAsync(file.Key, cancel);
            }

            return report with { Removed = RemoteFiles.Of(doomed) };
        }
    }

    /// <summary>The files of a remote by what they are for, and whether what its lineage needs is fully known.</summary>
    private sealed record RemoteInventory(
        IReadOnlyList<RemoteFile> Unreferenced,
        IReadOnlyList<RemoteFile> OldSnapshots,
        IReadOnlyList<RemoteFile> TempFiles,
        bool NeedsKnown);

    private async Task<(RemoteReport Report, RemoteInventory Inventory)> InspectRemoteAsync(IRemoteBackend backend, CancellationToken cancel)
    {
        RemoveStaleTemporaries();
        var problems = new List<string>();
        var skipped = new List<string>();
        bool needsKnown = true;
        ObjectId? snapshotId = null;
        var lineage = LineageSnapshot.Empty;
        try
        {
            (snapshotId, lineage) = await ReadRemoteLineageAsync(backend, cancel, skipped);
        }
        catch (MGitException e)
        {
            problems.Add(e.Message);
            needsKnown = false;
        }

        problems.AddRange(skipped.Select(p => $"lineage: {p}"));
        // Object files cut off by an interrupted upload (shorter than a header) count as absent, and as leftovers.
        var objects = new Dictionary<ObjectId, RemoteFile>();
        var cutOff = new List<RemoteFile>();
        foreach (var file in await backend.ListAsync(RemoteLayout.ObjectPrefix, cancel))
        {
            if (RemoteLayout.TryParseObjectKey(file.Key, out var id) && file.Size >= ObjectStore.HeaderLength)
            {
                objects[id] = file;
            }
            else
            {
                cutOff.Add(file);
            }
        }

        // Every object the lineage needs, with the versions needing it: manifests, their chunks, and the delta bases below them.
        var users = new Dictionary<ObjectId, SortedSet<string>>();
        bool Use(ObjectId id, string user)
        {
            if (!users.TryGetValue(id, out var set))
            {
                users[id] = set = new SortedSet<string>(StringComparer.Ordinal);
            }

            return set.Add(user);
        }

        string scratch = Path.Combine(TempDirectory, TemporaryFiles.Name("remote-inspect"));
        Directory.CreateDirectory(scratch);
        try
        {
            var chunks = new Stack<(ObjectId Id, string User)>();
            foreach (var version in lineage.Versions)
            {
                var manifestId = ObjectId.Parse(version.Manifest);
                Use(manifestId, version.Ref);
                if (!objects.ContainsKey(manifestId))
                {
                    needsKnown = false; // its chunks are unknown
                    continue;
                }

                if (!_objects.Contains(manifestId) && !await DownloadVerifiedAsync(backend, manifestId, scratch, problems, cancel))
                {
                    needsKnown = false;
                    continue;
                }

                if (ManifestProblem(version.Manifest) is { } problem)
                {
                    problems.Add($"{version.Ref}: {problem}");
                    needsKnown = false;
                    continue;
                }

                using var content = _objects.Read(manifestId);
                foreach (var chunk in Manifest.FromJson(content.Span, version.Ref).ChunkIds)
                {
                    chunks.Push((chunk, version.Ref));
                }
            }

            var bases = new Dictionary<ObjectId, ObjectId?>();
            while (chunks.TryPop(out var item))
            {
                if (!Use(item.Id, item.User) || !objects.ContainsKey(item.Id))
                {
                    continue;
                }

                if (!bases.TryGetValue(item.Id, out var baseId))
                {
                    bases[item.Id] = baseId = await BaseOfAsync(backend, item.Id, scratch, cancel);
                }

                if (baseId is { } b)
                {
                    chunks.Push((b, item.User));
                }
            }
        }
        finally
        {
            Directory.Delete(scratch, recursive: true);
        }

        foreach (var (id, needing) in users.Where(u => !objects.ContainsKey(u.Key)).OrderBy(u => u.Key))
        {
            problems.Add($"object {id} is missing (needed by {string.Join(", ", needing)})");
        }

        var snapshots = await backend.ListAsync(RemoteLayout.SnapshotPrefix, cancel);
        var temps = (await backend.ListAsync(RemoteLayout.TempPrefix, cancel)).Concat(cutOff).ToList();
        var unreferenced = needsKnown ? objects.Where(o => !users.ContainsKey(o.Key)).Select(o => o.Value).ToList() : [];
        var inventory = new RemoteInventory(
            unreferenced,
            snapshots.Where(s => snapshotId is null || s.Key != RemoteLayout.SnapshotKey(snapshotId.Value)).ToList(),
            temps,
            needsKnown);
        var report = new RemoteReport(
            backend.Url,
            lineage.Versions.Count,
            RemoteFiles.Of(objects.Values),
            RemoteFiles.Of(objects.Where(o => users.ContainsKey(o.Key)).Select(o => o.Value)),
            RemoteFiles.Of(unreferenced),
            RemoteFiles.Of(inventory.OldSnapshots),
            RemoteFiles.Of(temps),
            problems);
        return (report, inventory);
    }

    /// <summary>Fetches one object into this store, verified; a damaged one is a problem, not an error.</summary>
    private async Task<bool> DownloadVerifiedAsync(IRemoteBackend backend, ObjectId id, string scratch, List<string> problems, CancellationToken cancel)
    {
        string path = Path.Combine(scratch, id.ToString());
        try
        {
            if (!await backend.DownloadAsync(RemoteLayout.ObjectKey(id), path, RemoteLayout.MaxObjectFileBytes, cancel))
            {
                problems.Add($"object {id} is missing");
                return false;
            }

            ObjectTransfer.Install(_objects, id, path, backend.Url);
            return true;
        }
        catch (MGitException e)
        {
            problems.Add(e.Message);
            return false;
        }
        finally
        {
            File.Delete(path);
        }
    }

    /// <summary>The delta base an object names: from its header here, or from the remote's copy when this store lacks it.</summary>
    private async Task<ObjectId?> BaseOfAsync(IRemoteBackend backend, ObjectId id, string scratch, CancellationToken cancel)
    {
        if (_objects.TryInspect(id) is { } local)
        {
            return local.BaseId;
        }

        string path = Path.Combine(scratch, id.ToString());
        try
        {
            return await backend.DownloadAsync(RemoteLayout.ObjectKey(id), path, RemoteLayout.MaxObjectFileBytes, cancel)
                ? ObjectStore.TryInspectFile(id, path)?.BaseId
                : null;
        }
        finally
        {
            File.Delete(path);
        }
    }

    /// <summary>
    /// Deletes a remote's temporary files that processes of this machine no longer running left,
    /// and any older than a day (best effort: a push is not failed for it).
    /// </summary>
    private async Task RemoveStaleRemoteTemporariesAsync(IRemoteBackend backend, CancellationToken cancel)
    {
        var cutoff = _options.Clock.GetUtcNow() - RemoteTempExpiryOnPush;
        try
        {
            foreach (var file in await backend.ListAsync(RemoteLayout.TempPrefix, cancel))
            {
                if (TemporaryFiles.IsThisHostsAndStale(file.Key[RemoteLayout.TempPrefix.Length..]) || (file.LastModified is { } at && at <= cutoff))
                {
                    await backend.DeleteAsync(file.Key, cancel);
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or MGitException)
        {
            // Left for 'mgit remote gc --prune'.
        }
    }
}
