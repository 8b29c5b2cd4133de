using MGit.Errors;

namespace MGit.Storage;

/// <summary>
/// Rebuilds files from manifests: each chunk is read, verified and written at its own offset by
/// a pool task, a bounded window of chunks at a time, so both reading and the copy into the page
/// cache run on every core. Every chunk is checked against its hash and the manifest naming them
/// is itself content-addressed, so the file is exact when the lengths add up.
/// </summary>
public sealed class FileMaterializer
{
    private readonly ObjectStore _store;
    private readonly int _window;
    private readonly DecodedChunkCache? _cache;

    /// <param name="cache">Decoded chunks shared with other files of the same operation, if any.</param>
    public FileMaterializer(ObjectStore store, int workers, DecodedChunkCache? cache = null)
    {
        _store = store;
        _window = Math.Max(2, workers * 2);
        _cache = cache;
    }

    /// <summary>Writes the file through <paramref name="output"/> (already sized to the file's length) and verifies lengths.</summary>
    public void Write(ManifestFile file, FileStream output, Action<long>? progress = null)
    {
        var pending = new Queue<Task>();
        var handle = output.SafeFileHandle;
        // ext4 (like xfs and btrfs) takes the inode lock exclusively for a buffered write, and a
        // second writer spun on it in the kernel (3-8% of a family checkout's CPU); waiting here
        // lets it sleep instead. The decoding, which is most of the work, still runs in parallel.
        var writeGate = new Lock();
        long offset = 0;
        try
        {
            foreach (var (id, expectedLength) in Chunks(file))
            {
                if (pending.Count >= _window)
                {
                    pending.Dequeue().GetAwaiter().GetResult();
                }

                var (chunkId, length, at) = (id, expectedLength, offset);
                pending.Enqueue(Task.Run(() =>
                {
                    using var chunk = _store.Read(chunkId, _cache);
                    if (chunk.Length != length)
                    {
                        throw new MGitException($"a chunk is {chunk.Length} bytes where the manifest expects {length}");
                    }

                    lock (writeGate)
                    {
                        RandomAccess.Write(handle, chunk.Span, at);
                    }
                    progress?.Invoke(length);
                }));
                offset += expectedLength;
            }

            while (pending.Count > 0)
            {
                pending.Dequeue().GetAwaiter().GetResult();
            }

            if (offset != file.Length)
            {
                throw new MGitException($"rebuilt {file.Path} has {offset} bytes where the manifest records {file.Length}");
            }
        }
        finally
        {
            // Let writes still in flight finish before an error propagates and the file is closed.
            foreach (var task in pending)
            {
                try
                {
                    task.GetAwaiter().GetResult();
                }
                catch (Exception e) when (e is MGitException or IOException or UnauthorizedAccessException)
                {
                    // The first failure is already on its way up.
                }
            }
        }
    }

    /// <summary>Every chunk of the file in order, with the length it must have.</summary>
    public static IEnumerable<(ObjectId Id, int Length)> Chunks(ManifestFile file)
    {
        foreach (var segment in file.Segments)
        {
            long remaining = segment.Length;
            foreach (string chunk in segment.Chunks)
            {
                int length = (int)Math.Min(file.ChunkBytesOf(segment), remaining);
                remaining -= length;
                yield return (ObjectId.Parse(chunk), length);
            }

            if (remaining != 0)
            {
                throw new MGitException($"manifest of {file.Path} is inconsistent: segment at {segment.Offset} lacks chunks");
            }
        }
    }
}
