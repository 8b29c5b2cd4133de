using MGit.Errors;
using MGit.Storage;

namespace MGit.Remotes;

/// <summary>Moving object files between a store and a remote, many at once, with progress.</summary>
public static class ObjectTransfer
{
    /// <summary>Transfers in flight: object stores answer slowly per request and fast in bulk.</summary>
    public const int Concurrency = 8;

    /// <summary>
    /// The ids of every object file the remote holds. One shorter than an object header is the
    /// leftover of an upload cut short on a server whose writes are not atomic (real S3 never
    /// shows one): it counts as absent, so the next push sends it again.
    /// </summary>
    public static async Task<HashSet<ObjectId>> ListObjectsAsync(IRemoteBackend remote, CancellationToken cancel)
    {
        var ids = new HashSet<ObjectId>();
        foreach (var (key, size) in await remote.ListAsync(RemoteLayout.ObjectPrefix, cancel))
        {
            if (size >= ObjectStore.HeaderLength && RemoteLayout.TryParseObjectKey(key, out var id))
            {
                ids.Add(id);
            }
        }

        return ids;
    }

    /// <summary>Uploads object files from the store; returns the bytes sent.</summary>
    public static async Task<long> UploadAsync(IRemoteBackend remote, ObjectStore store, IReadOnlyCollection<ObjectId> ids, IProgressTask progress, CancellationToken cancel)
    {
        long sent = 0;
        await Parallel.ForEachAsync(ids, new ParallelOptions { MaxDegreeOfParallelism = Concurrency, CancellationToken = cancel }, async (id, _) =>
        {
            string path = store.PathOf(id);
            long length = new FileInfo(path).Length;
            // Not cancelled once started: when another upload fails, those in flight still finish
            // whole rather than leave cut-off objects on servers that store partial bodies.
            await remote.UploadAsync(RemoteLayout.ObjectKey(id), path, CancellationToken.None);
            Interlocked.Add(ref sent, length);
            progress.Advance(length);
        });
        return sent;
    }

    /// <summary>
    /// Downloads object files into <paramref name="tempDirectory"/> (not yet into the store: they are
    /// verified there first). Returns each id's file; an id the remote lacks is an error.
    /// </summary>
    public static async Task<Dictionary<ObjectId, string>> DownloadAsync(IRemoteBackend remote, IReadOnlyCollection<ObjectId> ids, string tempDirectory, IProgressTask progress, CancellationToken cancel)
    {
        var files = new Dictionary<ObjectId, string>();
        var gate = new Lock();
        try
        {
            await Parallel.ForEachAsync(ids, new ParallelOptions { MaxDegreeOfParallelism = Concurrency, CancellationToken = cancel }, async (id, token) =>
            {
                string path = TempPath(tempDirectory, id);
                lock (gate)
                {
                    files[id] = path;
                }

                if (!await remote.DownloadAsync(RemoteLayout.ObjectKey(id), path, RemoteLayout.MaxObjectFileBytes, token))
                {
                    throw new MGitException($"remote {remote.Url} lacks object {id}, which its lineage needs; the remote is incomplete");
                }

                progress.Advance(new FileInfo(path).Length);
            });
        }
        catch
        {
            foreach (string path in files.Values.Where(File.Exists))
            {
                File.Delete(path);
            }

            throw;
        }

        return files;
    }

    public static string TempPath(string tempDirectory, ObjectId id) =>
        Path.Combine(tempDirectory, $"{id}.fetch.{Environment.ProcessId}.{Guid.NewGuid():N}");

    /// <summary>
    /// Verifies downloaded objects and moves them into the store, bases before the deltas stored
    /// against them (a delta is verified by decoding it against its base). A damaged object is
    /// refused and reported, and nothing that depends on it enters the store.
    /// </summary>
    public static void Install(ObjectStore store, Dictionary<ObjectId, string> files, string url)
    {
        var pending = new Dictionary<ObjectId, string>(files);
        try
        {
            while (pending.Count > 0)
            {
                var ready = pending.Where(p => ObjectStore.TryInspectFile(p.Key, p.Value)?.BaseId is not { } b || !pending.ContainsKey(b)).ToList();
                if (ready.Count == 0)
                {
                    throw new MGitException($"remote {url}: objects {pending.Keys.First()} and others form a delta cycle; refused");
                }

                try
                {
                    Parallel.ForEach(ready, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount }, item => store.Import(item.Key, item.Value));
                }
                catch (AggregateException e) when (e.InnerExceptions.FirstOrDefault(i => i is MGitException) is MGitException first)
                {
                    throw new MGitException($"remote {url}: {first.Message}; refused", first);
                }
                foreach (var item in ready)
                {
                    pending.Remove(item.Key);
                }
            }
        }
        finally
        {
            foreach (string path in pending.Values.Where(File.Exists))
            {
                File.Delete(path);
            }
        }
    }
}
