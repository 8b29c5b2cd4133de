using MGit.Primitives;

namespace MGit.Storage;

/// <summary>
/// Decoded chunks kept for the rest of one operation that will ask for them again. In a checkout
/// of several models of a family, a parent's chunk is both a chunk of the parent's file and the
/// base of its children's deltas; kept, it is decoded once rather than once per child.
/// </summary>
/// <remarks>
/// Every use is counted before the operation starts (<see cref="ForChunks"/>). A chunk is kept
/// only while uses remain and only while the bytes held fit the budget, so memory stays bounded
/// whatever the size of the models; a chunk that does not fit is simply decoded again. Only
/// content verified as a read verifies it (its checksum, or its id) is kept, so a hit needs no second check.
/// </remarks>
internal sealed class DecodedChunkCache : IDisposable
{
    private readonly Lock _gate = new();
    private readonly Dictionary<ObjectId, Entry> _entries = [];
    private readonly long _budget;
    private long _held;

    public DecodedChunkCache(long budgetBytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(budgetBytes);
        _budget = budgetBytes;
    }

    /// <summary>
    /// A cache for reading <paramref name="chunks"/> (in order, repeats included): each chunk
    /// counts one use, and so does every delta base below it, once per chunk that names it.
    /// <paramref name="baseOf"/> gives a stored object's delta base, or null.
    /// </summary>
    public static DecodedChunkCache ForChunks(IEnumerable<ObjectId> chunks, Func<ObjectId, ObjectId?> baseOf, long budgetBytes)
    {
        var cache = new DecodedChunkCache(budgetBytes);
        var walked = new HashSet<ObjectId>();
        foreach (var chunk in chunks)
        {
            cache.ExpectUse(chunk);
            // A chunk decoded once (then kept) asks for its base once, however often it is used.
            var current = chunk;
            while (walked.Add(current) && baseOf(current) is { } baseId)
            {
                cache.ExpectUse(baseId);
                current = baseId;
            }
        }

        return cache;
    }

    /// <summary>Bytes of decoded content held now.</summary>
    public long HeldBytes
    {
        get
        {
            lock (_gate)
            {
                return _held;
            }
        }
    }

    /// <summary>Reads answered from the cache.</summary>
    public int Hits { get; private set; }

    /// <summary>Counts one more expected use of <paramref name="id"/>.</summary>
    public void ExpectUse(ObjectId id)
    {
        lock (_gate)
        {
            if (!_entries.TryGetValue(id, out var entry))
            {
                _entries[id] = entry = new Entry();
            }

            entry.Remaining++;
        }
    }

    /// <summary>
    /// Spends one use of <paramref name="id"/>: a handle to its content when held (the caller
    /// disposes it and must only read it), else null.
    /// </summary>
    public RentedBuffer? Take(ObjectId id)
    {
        lock (_gate)
        {
            if (!_entries.TryGetValue(id, out var entry))
            {
                return null;
            }

            entry.Remaining--;
            var held = entry.Content;
            if (held is null)
            {
                if (entry.Remaining <= 0)
                {
                    _entries.Remove(id);
                }

                return null;
            }

            Hits++;
            if (entry.Remaining > 0)
            {
                return held.Share();
            }

            // Its last use: the caller takes over the cache's handle.
            _entries.Remove(id);
            _held -= held.Length;
            return held;
        }
    }

    /// <summary>Whether content of <paramref name="length"/> bytes just decoded for <paramref name="id"/> would be kept.</summary>
    public bool Wants(ObjectId id, int length)
    {
        lock (_gate)
        {
            return _entries.TryGetValue(id, out var entry) && Fits(entry, length);
        }
    }

    /// <summary>Keeps a handle to <paramref name="verified"/> (content that passed its check) if it is still wanted.</summary>
    public void Keep(ObjectId id, RentedBuffer verified)
    {
        lock (_gate)
        {
            if (_entries.TryGetValue(id, out var entry) && Fits(entry, verified.Length))
            {
                entry.Content = verified.Share();
                _held += verified.Length;
            }
        }
    }

    /// <summary>Uses remain, nothing is held for it yet, and <paramref name="length"/> more bytes stay within the budget (under the gate).</summary>
    private bool Fits(Entry entry, int length) => entry.Remaining > 0 && entry.Content is null && _held + length <= _budget;

    public void Dispose()
    {
        lock (_gate)
        {
            foreach (var entry in _entries.Values)
            {
                entry.Content?.Dispose();
                entry.Content = null;
            }

            _entries.Clear();
            _held = 0;
        }
    }

    private sealed class Entry
    {
        public int Remaining;
        public RentedBuffer? Content;
    }
}
