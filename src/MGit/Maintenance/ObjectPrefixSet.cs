using MGit.Primitives;

namespace MGit.Maintenance;

/// <summary>
/// A set of object ids kept as their first 64 bits in one open-addressing table: 16-32 bytes per
/// id and no object per id, so gc and fsck hold 10 million live objects in 160-320 MB. Two ids
/// that share 64 bits are one entry: at 10 million live and 10 million dead objects that happens
/// about once in 200,000 repositories, and costs gc one dead object kept (never a live one
/// deleted); fsck names missing and damaged objects by their full ids (it walks the manifests
/// again for them). Not thread-safe for adds; lookups may run concurrently once the adds are done.
/// </summary>
internal sealed class ObjectPrefixSet
{
    private ulong[] _keys = new ulong[1024];
    private int _mask = 1023;

    public int Count { get; private set; }

    /// <summary>Adds the id; true when it was not there yet.</summary>
    public bool Add(ObjectId id)
    {
        if ((Count + 1) * 2 > _keys.Length)
        {
            Grow();
        }

        if (!Insert(_keys, _mask, Key(id)))
        {
            return false;
        }

        Count++;
        return true;
    }

    public bool Contains(ObjectId id)
    {
        ulong key = Key(id);
        for (int slot = Slot(key, _mask); _keys[slot] != 0; slot = (slot + 1) & _mask)
        {
            if (_keys[slot] == key)
            {
                return true;
            }
        }

        return false;
    }

    // 0 marks an empty slot; an id whose first 64 bits are 0 is kept as 1.
    private static ulong Key(ObjectId id) => id.Prefix == 0 ? 1 : id.Prefix;

    private static int Slot(ulong key, int mask) => (int)(key & (ulong)mask);

    private static bool Insert(ulong[] keys, int mask, ulong key)
    {
        int slot = Slot(key, mask);
        while (keys[slot] != 0)
        {
            if (keys[slot] == key)
            {
                return false;
            }

            slot = (slot + 1) & mask;
        }

        keys[slot] = key;
        return true;
    }

    private void Grow()
    {
        var keys = new ulong[_keys.Length * 2];
        int mask = keys.Length - 1;
        foreach (ulong key in _keys)
        {
            if (key != 0)
            {
                Insert(keys, mask, key);
            }
        }

        (_keys, _mask) = (keys, mask);
    }
}
