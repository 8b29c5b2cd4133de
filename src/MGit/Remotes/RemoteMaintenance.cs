using MGit.Errors;
using MGit.Primitives;
using MGit.Remotes;
using MGit.Storage;
using MGit.Workspace;

namespace MGit.Remotes;

/// <summary>Files of one kind on a remote: how many, and their bytes.</summary>
public sealed record RemoteFiles(int Count, long Bytes)
{
    /// <summary>Counts files and adds up their sizes.</summary>
    public static RemoteFiles Of(IEnumerable<RemoteFile> files) =>
        files.Aggregate(new RemoteFiles(0, 0), (sum, f) => new RemoteFiles(sum.Count + 1, sum.Bytes + f.Size));
}

/// <summary>
/// What <c>remote fsck</c> and <c>remote gc</c> found on a remote: the versions of its lineage,
/// its objects (those the lineage needs, and the rest), lineage snapshots the ref no longer names,
/// temporary files of interrupted writes, and every problem (exit 1 when there is one). After
/// <c>remote gc --prune</c>, <see cref="Removed"/> is what was deleted (what was older than the
/// grace period of the unreferenced, old and temporary files).
/// </summary>
public sealed record RemoteReport(
    string Url,
    int Versions,
    RemoteFiles Objects,
    RemoteFiles Referenced,
    RemoteFiles Unreferenced,
    RemoteFiles OldSnapshots,
    RemoteFiles TempFiles,
    IReadOnlyList<string> Problems)
{
    /// <summary>What <c>remote gc --prune</c> deleted; null when nothing was pruned.</summary>
    public RemoteFiles? Removed { get; init; }

    /// <summary>No problem was found.</summary>
    public bool Intact => Problems.Count == 0;
}

/// <summary>Checking a remote (<c>remote fsck</c>) and collecting its garbage (<c>remote gc</c>).</summary>
internal sealed class RemoteMaintenance(RepositoryContext context, RemoteSync remotes)
{
    /// <summary>How old an unreferenced object, old snapshot or temporary file on a remote must be before <c>remote gc --prune</c> deletes it by default.</summary>
    public static readonly TimeSpan DefaultRemoteExpiry = TimeSpan.FromHours(1);

    /// <summary>
    /// Checks a remote without changing it: its lineage (as a pull would), that every manifest its
    /// versions name is there and sound, and every chunk and delta base they need; and reports
    /// what is not needed (unreferenced objects, old snapshots, temporary files). Manifests and
    /// object headers not held here are downloaded (the manifests, verified, enter this store).
    /// </summary>
    public async Task<RemoteReport> RemoteFsckAsync(string? remote, CancellationToken cancel)
    {
        using var backend = remotes.OpenRemote(remote);
        return (await InspectRemoteAsync(backend, cancel).ConfigureAwait(false)).Report;
    }

    /// <summary>
    /// What <see cref="RemoteFsckAsync"/> reports and, with <paramref name="prune"/>, deletes from the
    /// remote what its lineage does not need and is older than <paramref name="expire"/>:
    /// unreferenced objects (of killed or abandoned pushes), lineage snapshots the ref no longer
    /// names, temporary files. Done under the remote's push lock; a push re-checks its objects
    /// under that lock before it publishes, so it never names an object gc removed. Refused while
    /// the remote's lineage or a manifest cannot be read (what is needed would be unknown).
    /// </summary>
    /// <remarks>Cancelled, it stops between deletions: what is deleted was not needed, the rest stays for the next run.</remarks>
    public async Task<RemoteReport> RemoteGcAsync(string? remote, bool prune, TimeSpan? expire, CancellationToken cancel)
    {
        using var backend = remotes.OpenRemote(remote);
        if (!prune)
        {
            return (await InspectRemoteAsync(backend, cancel).ConfigureAwait(false)).Report;
        }

        var remoteLock = await backend.LockAsync(RemoteLayout.LineageLock, RemoteSync.RemoteLockWait, cancel).ConfigureAwait(false);
        await using (remoteLock.ConfigureAwait(false))
        {
            var (report, inventory) = await InspectRemoteAsync(backend, cancel).ConfigureAwait(false);
            if (!inventory.NeedsKnown)
            {
                throw new MGitException(ErrorKind.Damaged, $"remote {backend.Url}: what its lineage needs cannot be told ({report.Problems[0]}); nothing was deleted ('mgit remote fsck' lists every problem)");
            }

            var cutoff = context.Options.Clock.GetUtcNow() - (expire ?? DefaultRemoteExpiry);
            bool Expired(RemoteFile file) => file.LastModified is { } at && at <= cutoff;
            var doomed = inventory.Unreferenced.Concat(inventory.OldSnapshots).Concat(inventory.TempFiles).Where(Expired).ToList();
            foreach (var file in doomed)
            {
                await backend.DeleteAsync(file.Key, cancel).ConfigureAwait(false);
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
        context.RemoveStaleTemporaries();
        var problems = new List<string>();
        var skipped = new List<string>();
        bool needsKnown = true;
        LineageLogHead? head = null;
        var lineage = LineageSnapshot.Empty;
        try
        {
            (head, lineage) = await remotes.ReadRemoteLineageAsync(backend, cancel, skipped).ConfigureAwait(false);
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
        foreach (var file in await backend.ListAsync(RemoteLayout.ObjectPrefix, cancel).ConfigureAwait(false))
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

        string scratch = Path.Combine(context.TempDirectory, TemporaryFiles.Name("remote-inspect"));
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

                if (!context.Objects.Contains(manifestId) && !await DownloadVerifiedAsync(backend, manifestId, scratch, problems, cancel).ConfigureAwait(false))
                {
                    needsKnown = false;
                    continue;
                }

                if (remotes.ManifestProblem(version.Manifest) is { } problem)
                {
                    problems.Add($"{version.Ref}: {problem}");
                    needsKnown = false;
                    continue;
                }

                using var content = context.Objects.Read(manifestId);
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
                    bases[item.Id] = baseId = await BaseOfAsync(backend, item.Id, scratch, cancel).ConfigureAwait(false);
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

        var snapshots = await backend.ListAsync(RemoteLayout.SnapshotPrefix, cancel).ConfigureAwait(false);
        // Every lineage file the ref names is live, with what its checkpoint was compacted from (clones fold those).
        var live = (head?.LiveFiles ?? []).Select(id => RemoteLayout.SnapshotPrefix + id).ToHashSet(StringComparer.Ordinal);
        var temps = (await backend.ListAsync(RemoteLayout.TempPrefix, cancel).ConfigureAwait(false)).Concat(cutOff).ToList();
        var unreferenced = needsKnown ? objects.Where(o => !users.ContainsKey(o.Key)).Select(o => o.Value).ToList() : [];
        var inventory = new RemoteInventory(
            unreferenced,
            snapshots.Where(s => !live.Contains(s.Key)).ToList(),
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
            if (!await backend.DownloadAsync(RemoteLayout.ObjectKey(id), path, RemoteLayout.MaxObjectFileBytes, cancel).ConfigureAwait(false))
            {
                problems.Add($"object {id} is missing");
                return false;
            }

            ObjectTransfer.Install(context.Objects, id, path, backend.Url);
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
        if (context.Objects.TryInspect(id) is { } local)
        {
            return local.BaseId;
        }

        string path = Path.Combine(scratch, id.ToString());
        try
        {
            return await backend.DownloadAsync(RemoteLayout.ObjectKey(id), path, RemoteLayout.MaxObjectFileBytes, cancel).ConfigureAwait(false)
                ? ObjectStore.TryInspectFile(id, path)?.BaseId
                : null;
        }
        finally
        {
            File.Delete(path);
        }
    }
}
