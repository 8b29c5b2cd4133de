using MGit.Errors;

namespace MGit.Storage;

/// <summary>
/// Rebuilds files from manifests: chunks are read and verified in parallel, a bounded window
/// ahead of the writer, and written in order. Every chunk is checked against its hash and the
/// manifest naming them is itself content-addressed, so the file is exact when the lengths add up.
/// </summary>
public sealed class FileMaterializer
{
    private readonly ObjectStore _store;
    private readonly int _window;

    public FileMaterializer(ObjectStore store, int workers)
    {
        _store = store;
        _window = Math.Max(2, workers * 2);
    }

    /// <summary>Writes the file to <paramref name="output"/> and verifies length and hash.</summary>
    public void Write(ManifestFile file, Stream output, Action<long>? progress = null)
    {
        var pending = new Queue<(Task<RentedBuffer> Read, int ExpectedLength)>();
        long written = 0;
        try
        {
            foreach (var (id, expectedLength) in Chunks(file))
            {
                if (pending.Count >= _window)
                {
                    written += Drain(pending.Dequeue(), output, progress);
                }

                var chunkId = id;
                pending.Enqueue((Task.Run(() => _store.Read(chunkId)), expectedLength));
            }

            while (pending.Count > 0)
            {
                written += Drain(pending.Dequeue(), output, progress);
            }

            if (written != file.Length)
            {
                throw new MGitException($"rebuilt {file.Path} has {written} bytes where the manifest records {file.Length}");
            }
        }
        finally
        {
            // Let reads still in flight finish and return their buffers before an error propagates.
            foreach (var (read, _) in pending)
            {
                try
                {
                    read.GetAwaiter().GetResult().Dispose();
                }
                catch (MGitException)
                {
                }
            }
        }
    }

    private static long Drain((Task<RentedBuffer> Read, int ExpectedLength) item, Stream output, Action<long>? progress)
    {
        using var chunk = item.Read.GetAwaiter().GetResult();
        if (chunk.Length != item.ExpectedLength)
        {
            throw new MGitException($"a chunk is {chunk.Length} bytes where the manifest expects {item.ExpectedLength}");
        }

        output.Write(chunk.Span);
        progress?.Invoke(chunk.Length);
        return chunk.Length;
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
