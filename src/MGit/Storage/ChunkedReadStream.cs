using MGit.Primitives;

namespace MGit.Storage;

/// <summary>
/// A read-only, seekable stream over a run of stored chunks (one tensor's payload, say): chunks
/// are fetched and verified only when read, one at a time.
/// </summary>
public sealed class ChunkedReadStream : ReadOnlySeekableStream
{
    private readonly ObjectStore _store;
    private readonly IReadOnlyList<ObjectId> _chunks;
    private readonly long[] _starts;
    private readonly long _length;
    private int _loadedIndex = -1;
    private RentedBuffer? _loaded;

    /// <summary>Chunks of <paramref name="chunkSize"/> bytes each (the last may be shorter), <paramref name="length"/> bytes in all.</summary>
    public ChunkedReadStream(ObjectStore store, IReadOnlyList<ObjectId> chunks, int chunkSize, long length)
    {
        _store = store;
        _chunks = chunks;
        _starts = new long[chunks.Count];
        for (int i = 0; i < chunks.Count; i++)
        {
            _starts[i] = (long)i * chunkSize;
        }

        _length = length;
    }

    /// <summary>Chunks of differing lengths, as a whole file's are (each segment cuts its own).</summary>
    public ChunkedReadStream(ObjectStore store, IReadOnlyList<(ObjectId Id, int Length)> chunks)
    {
        _store = store;
        _chunks = chunks.Select(c => c.Id).ToList();
        _starts = new long[chunks.Count];
        long offset = 0;
        for (int i = 0; i < chunks.Count; i++)
        {
            _starts[i] = offset;
            offset += chunks[i].Length;
        }

        _length = offset;
    }

    public override long Length => _length;

    public override int Read(Span<byte> buffer)
    {
        int total = 0;
        while (buffer.Length > 0 && Position < _length)
        {
            int index = Array.BinarySearch(_starts, Position);
            index = index >= 0 ? index : ~index - 1;
            if (index != _loadedIndex)
            {
                _loaded?.Dispose();
                _loaded = _store.Read(_chunks[index]);
                _loadedIndex = index;
            }

            int within = (int)(Position - _starts[index]);
            int take = Math.Min(buffer.Length, _loaded!.Length - within);
            if (take <= 0)
            {
                throw new Errors.MGitException("a stored chunk is shorter than its manifest says");
            }

            _loaded.Span.Slice(within, take).CopyTo(buffer);
            buffer = buffer[take..];
            Position += take;
            total += take;
        }

        return total;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _loaded?.Dispose();
            _loaded = null;
        }

        base.Dispose(disposing);
    }
}
