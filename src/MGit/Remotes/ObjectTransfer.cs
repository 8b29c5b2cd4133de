using MGit.Errors;
using MGit.Primitives;
using MGit.Storage;

namespace MGit.Remotes;

/// <summary>Moving object files between a store and a remote, many at once, with progress.</summary>
internal static class ObjectTransfer
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
        foreach (var (key, size, _) in await remote.ListAsync(RemoteLayout.ObjectPrefix, cancel).ConfigureAwait(false))
        {
            if (size >= ObjectStore.HeaderLength && RemoteLayout.TryParseObjectKey(key, out var id))
            {
                ids.Add(id);
            }
        }

        return ids;
    }

    /// <summary>
    /// Which of <paramref name="ids"/> the remote holds whole: asked object by object when they are
    /// few (a push of one model to a remote of millions of objects), else by one listing.
    /// </summary>
    public static async Task<HashSet<ObjectId>> PresentAsync(IRemoteBackend remote, IReadOnlyCollection<ObjectId> ids, CancellationToken cancel)
    {
        if (ids.Count > AskEachBelow)
        {
            var listed = await ListObjectsAsync(remote, cancel).ConfigureAwait(false);
            listed.IntersectWith(ids);
            return listed;
        }

        var present = new HashSet<ObjectId>();
        await Parallel.ForEachAsync(ids, new ParallelOptions { MaxDegreeOfParallelism = Concurrency, CancellationToken = cancel }, async (id, token) =>
        {
            if (await remote.SizeAsync(RemoteLayout.ObjectKey(id), token).ConfigureAwait(false) >= ObjectStore.HeaderLength)
            {
                lock (present)
                {
                    present.Add(id);
                }
            }
        }).ConfigureAwait(false);
        return present;
    }

    /// <summary>Up to this many objects are asked about one by one; more are found by listing every object (a LIST returns 1,000 keys).</summary>
    public const int AskEachBelow = 1000;

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
            await remote.UploadAsync(RemoteLayout.ObjectKey(id), path, CancellationToken.None).ConfigureAwait(false);
            Interlocked.Add(ref sent, length);
            progress.Advance(length);
        }).ConfigureAwait(false);
        return sent;
    }

    /// <summary>
    /// Downloads object files into <paramref name="tempDirectory"/>. Each file, as it arrives, is
    /// offered to <paramref name="arrived"/>, which installs it (verified) and returns true, or
    /// returns false to keep it for later (a delta whose base has not arrived yet): so an
    /// interrupted transfer keeps everything verified so far. Returns the files kept, and the
    /// count and bytes of all received. An id the remote lacks is an error.
    /// </summary>
    public static async Task<(Dictionary<ObjectId, string> Kept, long Objects, long Bytes)> DownloadAsync(
        IRemoteBackend remote, IReadOnlyCollection<ObjectId> ids, string tempDirectory, IProgressTask progress, Func<ObjectId, string, bool> arrived, CancellationToken cancel)
    {
        var kept = new Dictionary<ObjectId, string>();
        var inFlight = new Dictionary<ObjectId, string>();
        var gate = new Lock();
        long objects = 0;
        long bytes = 0;
        try
        {
            await Parallel.ForEachAsync(ids, new ParallelOptions { MaxDegreeOfParallelism = Concurrency, CancellationToken = cancel }, async (id, token) =>
            {
                string path = TempPath(tempDirectory, id);
                lock (gate)
                {
                    inFlight[id] = path;
                }

                if (!await remote.DownloadAsync(RemoteLayout.ObjectKey(id), path, RemoteLayout.MaxObjectFileBytes, token).ConfigureAwait(false))
                {
                    throw new MGitException(ErrorKind.Damaged, $"remote {remote.Url} lacks object {id}, which its lineage needs; the remote is incomplete");
                }

                long length = new FileInfo(path).Length;
                bool installed = arrived(id, path);
                lock (gate)
                {
                    inFlight.Remove(id);
                    if (!installed)
                    {
                        kept[id] = path;
                    }
                }

                Interlocked.Increment(ref objects);
                Interlocked.Add(ref bytes, length);
                progress.Advance(length);
            }).ConfigureAwait(false);
        }
        catch
        {
            foreach (string path in kept.Values.Concat(inFlight.Values).Where(File.Exists))
            {
                File.Delete(path);
            }

            throw;
        }

        return (kept, objects, bytes);
    }

    /// <summary>Verifies one received object file and moves it into the store; damage is refused and reported.</summary>
    public static void Install(ObjectStore store, ObjectId id, string file, string url)
    {
        try
        {
            store.Import(id, file);
        }
        catch (DamagedObjectException e)
        {
            throw new MGitException(ErrorKind.Damaged, $"remote {url}: {e.Message}; refused", e);
        }
    }

    public static string TempPath(string tempDirectory, ObjectId id) =>
        Path.Combine(tempDirectory, TemporaryFiles.Name($"{id}.fetch"));

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
                    throw new MGitException(ErrorKind.Damaged, $"remote {url}: objects {pending.Keys.First()} and others form a delta cycle; refused");
                }

                try
                {
                    Parallel.ForEach(ready, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount }, item => Install(store, item.Key, item.Value, url));
                }
                catch (AggregateException e) when (e.InnerExceptions.FirstOrDefault(i => i is MGitException) is MGitException first)
                {
                    throw first;
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
