using MGit.Errors;
using MGit.Primitives;

namespace MGit.Storage;

/// <summary>
/// Rebuilds files from manifests: each chunk is read, verified and written at its own offset by
/// a pool task, a bounded window of chunks at a time, so both reading and the copy into the page
/// cache run on every core. Every chunk is checked against its hash and the manifest naming them
/// is itself content-addressed, so a file is exact when the lengths add up.
/// </summary>
/// <remarks>
/// Several files are written in one pipeline, their chunks interleaved by index: chunk i of a
/// derived model usually stands on chunk i of its parent (chunking cuts every tensor at the same
/// elements whatever its dtype), so with a <see cref="DecodedChunkCache"/> a parent's chunk is
/// decoded, written, and used by its children's chunks while it is still held, and let go. Each
/// generation of the family runs a few chunk indices behind the one before, so a parent's chunk
/// is done before its children ask for it; what the cache holds is then a few chunks per
/// generation, whatever the size of the models.
/// </remarks>
internal sealed class FileMaterializer
{
    private readonly ObjectStore _store;
    private readonly int _window;
    private readonly DecodedChunkCache? _cache;

    /// <param name="cache">Decoded chunks shared between the files written, if any.</param>
    /// <param name="store">Where the chunks are read from.</param>
    /// <param name="workers">Threads that decode chunks; the chunks in flight are bounded by twice as many.</param>
    public FileMaterializer(ObjectStore store, int workers, DecodedChunkCache? cache = null)
    {
        _store = store;
        _window = Math.Max(2, workers * 2);
        _cache = cache;
    }

    /// <summary>
    /// A file to write: the manifest's entry, the file opened and sized to its length, and its
    /// generation (0 for a root; one more than the deepest ancestor being written with it).
    /// </summary>
    public sealed record Output(ManifestFile File, CheckoutFile Target, int Generation = 0);

    /// <summary>
    /// Writes every file through its handle and verifies the lengths. Cancellation is taken before
    /// each chunk; chunks in flight finish, then <see cref="OperationCanceledException"/> is thrown
    /// and the files are incomplete (the caller removes them).
    /// </summary>
    public void Write(IReadOnlyList<Output> outputs, Action<long>? progress = null, CancellationToken cancellationToken = default)
    {
        var pending = new Queue<Task>();
        try
        {
            foreach (var (output, chunk) in Interleaved(outputs))
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (pending.Count >= _window)
                {
                    pending.Dequeue().GetAwaiter().GetResult();
                }

                var target = outputs[output].Target;
                pending.Enqueue(Task.Run(() =>
                {
                    using var content = _store.Read(chunk.Id, _cache);
                    if (content.Length != chunk.Length)
                    {
                        throw new MGitException(ErrorKind.Damaged, $"a chunk is {content.Length} bytes where the manifest expects {chunk.Length}");
                    }

                    target.Write(content.Span, chunk.Offset);

                    progress?.Invoke(chunk.Length);
                }, cancellationToken));
            }

            while (pending.Count > 0)
            {
                pending.Dequeue().GetAwaiter().GetResult();
            }
        }
        finally
        {
            // Let writes still in flight finish before an error propagates and the files are closed.
            foreach (var task in pending)
            {
                try
                {
                    task.GetAwaiter().GetResult();
                }
                catch (Exception e) when (e is MGitException or IOException or UnauthorizedAccessException or OperationCanceledException)
                {
                    // The first failure (or the cancel) is already on its way up.
                }
            }
        }
    }

    /// <summary>
    /// Every chunk of every file, each file's in order: by chunk index, a generation running
    /// <c>window + 2</c> indices behind the one before it (so far behind that a parent's chunk is
    /// written before a child's chunk on it is started), and at equal positions in file order.
    /// The manifests are checked before anything is read.
    /// </summary>
    private List<(int Output, (ObjectId Id, int Length, long Offset) Chunk)> Interleaved(IReadOnlyList<Output> outputs)
    {
        int lag = _window + 2;
        var work = new List<(long Position, int Output, (ObjectId, int, long) Chunk)>();
        for (int i = 0; i < outputs.Count; i++)
        {
            var file = outputs[i].File;
            long offset = 0;
            int index = 0;
            foreach (var (id, length) in Chunks(file))
            {
                work.Add(((long)outputs[i].Generation * lag + index++, i, (id, length, offset)));
                offset += length;
            }

            if (offset != file.Length)
            {
                throw new MGitException(ErrorKind.Damaged, $"manifest of {file.Path} is inconsistent: its chunks make {offset} bytes where it records {file.Length}");
            }
        }

        return work.OrderBy(w => w.Position).ThenBy(w => w.Output).Select(w => (w.Output, w.Chunk)).ToList();
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
                throw new MGitException(ErrorKind.Damaged, $"manifest of {file.Path} is inconsistent: segment at {segment.Offset} lacks chunks");
            }
        }
    }
}
