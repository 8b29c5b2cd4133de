using MGit.Primitives;

namespace MGit.Storage;

/// <summary>
/// A read-only, seekable stream over a run of stored chunks (one tensor's payload, or a whole
/// file's): chunks are fetched, decoded and verified only when read, and each must have exactly
/// the length the manifest gives it. The last few decoded chunks are kept (<see cref="CacheBytes"/>),
/// so a reader that goes back to a header or jumps between nearby tensors does not decode them again;
/// a reader going through in order has the next chunk decoded on another thread meanwhile.
/// </summary>
internal sealed class ChunkedReadStream : ReadOnlySeekableStream
{
    /// <summary>Decoded chunks kept for reads that come back to them: this many bytes, and at least one chunk.</summary>
    public const long CacheBytes = 16L << 20;

    private readonly ObjectStore _store;
    // Only the chunks that hold bytes (an empty tensor's chunk has none): their ids, where each
    // starts in the stream, and the length it must have; the lookup then never lands on an empty one.
    private readonly ObjectId[] _chunks;
    private readonly long[] _starts;
    private readonly int[] _lengths;
    private readonly long _length;
    private readonly int _capacity;
    // Most recently used last.
    private readonly List<(int Index, RentedBuffer Content)> _cache = [];
    private int _lastRead = -1;
    // The chunk after the last one read in order, being decoded ahead of the reader.
    private (int Index, Task<RentedBuffer> Content)? _ahead;

    /// <summary>Chunks of <paramref name="chunkSize"/> bytes each (the last may be shorter), <paramref name="length"/> bytes in all.</summary>
    public ChunkedReadStream(ObjectStore store, IReadOnlyList<ObjectId> chunks, int chunkSize, long length)
        : this(store, WithLengths(chunks, chunkSize, length))
    {
    }

    /// <summary>Chunks of differing lengths, as a whole file's are (each segment cuts its own).</summary>
    public ChunkedReadStream(ObjectStore store, IReadOnlyList<(ObjectId Id, int Length)> chunks)
    {
        _store = store;
        var held = chunks.Where(c => c.Length > 0).ToList();
        _chunks = held.Select(c => c.Id).ToArray();
        _lengths = held.Select(c => c.Length).ToArray();
        _starts = new long[held.Count];
        long offset = 0;
        for (int i = 0; i < held.Count; i++)
        {
            _starts[i] = offset;
            offset += held[i].Length;
        }

        _length = offset;
        _capacity = (int)Math.Clamp(CacheBytes / Math.Max(1, _lengths.DefaultIfEmpty(1).Max()), 1, 64);
    }

    public override long Length => _length;

    public override int Read(Span<byte> buffer)
    {
        int total = 0;
        while (buffer.Length > 0 && Position < _length)
        {
            int index = Array.BinarySearch(_starts, Position);
            index = index >= 0 ? index : ~index - 1;
            var content = Chunk(index);
            int within = (int)(Position - _starts[index]);
            int take = Math.Min(buffer.Length, content.Length - within);
            content.Span.Slice(within, take).CopyTo(buffer);
            buffer = buffer[take..];
            Position += take;
            total += take;
        }

        return total;
    }

    /// <summary>Chunk <paramref name="index"/>, decoded and verified, from the cache or the store.</summary>
    private RentedBuffer Chunk(int index)
    {
        int cached = _cache.FindIndex(c => c.Index == index);
        if (cached >= 0)
        {
            var hit = _cache[cached];
            _cache.RemoveAt(cached);
            _cache.Add(hit);
            return hit.Content;
        }

        RentedBuffer content;
        if (_ahead is { } ahead && ahead.Index == index)
        {
            _ahead = null;
            content = ahead.Content.GetAwaiter().GetResult(); // its damage, if any, is this read's
        }
        else
        {
            DropAhead();
            content = _store.Read(_chunks[index]);
        }

        bool inOrder = _lastRead >= 0 && index == _lastRead + 1; // the second of a run, at least
        _lastRead = index;
        if (content.Length != _lengths[index])
        {
            content.Dispose();
            throw new Errors.MGitException(Errors.ErrorKind.Damaged, $"a chunk is {content.Length} bytes where the manifest expects {_lengths[index]}");
        }

        if (_cache.Count >= _capacity)
        {
            _cache[0].Content.Dispose();
            _cache.RemoveAt(0);
        }

        _cache.Add((index, content));
        if (inOrder && index + 1 < _chunks.Length && _ahead is null && _cache.FindIndex(c => c.Index == index + 1) < 0)
        {
            var next = _chunks[index + 1];
            _ahead = (index + 1, Task.Run(() => _store.Read(next)));
        }

        return content;
    }

    /// <summary>Lets go of a chunk decoded ahead that the reader did not come to (waiting for it, to return its buffer).</summary>
    private void DropAhead()
    {
        if (_ahead is not { } ahead)
        {
            return;
        }

        _ahead = null;
        try
        {
            ahead.Content.GetAwaiter().GetResult().Dispose();
        }
        catch (Exception e) when (e is Errors.MGitException or IOException or UnauthorizedAccessException)
        {
            // Unread, so not this reader's error: a read that needs the chunk reports it.
        }
    }

    /// <summary>The length each chunk of an evenly cut run must have; a run with too few chunks for its length is refused.</summary>
    private static List<(ObjectId Id, int Length)> WithLengths(IReadOnlyList<ObjectId> chunks, int chunkSize, long length)
    {
        var result = new List<(ObjectId, int)>(chunks.Count);
        long remaining = length;
        foreach (var id in chunks)
        {
            int take = (int)Math.Min(Math.Max(chunkSize, 0), remaining);
            result.Add((id, take));
            remaining -= take;
        }

        if (remaining != 0)
        {
            throw new Errors.MGitException(Errors.ErrorKind.Damaged, $"manifest is inconsistent: {chunks.Count} chunks of {chunkSize} bytes cannot hold {length} bytes");
        }

        return result;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            DropAhead();
            foreach (var (_, content) in _cache)
            {
                content.Dispose();
            }

            _cache.Clear();
        }

        base.Dispose(disposing);
    }
}
