using System.Buffers.Binary;
using MGit.Errors;

namespace MGit.Storage;

/// <summary>
/// Content-addressed loose objects under <c>.mgit/objects/xx/yyyy…</c>. An object is written once,
/// atomically (temporary file, flush, rename), and verified against its id on every read.
/// </summary>
/// <remarks>
/// On-disk object layout (object format 1):
/// <code>
/// 0  4  magic "MGOB"
/// 4  1  object format version (1)
/// 5  1  codec: 0 = raw, 1 = zstd
/// 6  2  reserved, zero
/// 8  8  u64 LE uncompressed length
/// 16 .. payload
/// </code>
/// A version bump is forced by any change to this header or to what a codec id means.
/// </remarks>
public sealed class ObjectStore
{
    public const int HeaderLength = 16;
    public const byte ObjectFormatVersion = 1;

    /// <summary>The largest object this store reads; a length above it in a header is damage, not data.</summary>
    public const int MaxObjectLength = 256 * 1024 * 1024;

    private static ReadOnlySpan<byte> Magic => "MGOB"u8;

    private readonly string _objectsDirectory;
    private readonly string _tempDirectory;
    private readonly bool _flushToDisk;

    public ObjectStore(string objectsDirectory, string tempDirectory, bool flushToDisk = true)
    {
        _objectsDirectory = objectsDirectory;
        _tempDirectory = tempDirectory;
        _flushToDisk = flushToDisk;
    }

    public string PathOf(ObjectId id)
    {
        string hex = id.ToString();
        return Path.Combine(_objectsDirectory, hex[..2], hex[2..]);
    }

    public bool Contains(ObjectId id) => File.Exists(PathOf(id));

    public long StoredLength(ObjectId id)
    {
        var info = new FileInfo(PathOf(id));
        return info.Exists ? info.Length : 0;
    }

    /// <summary>Stores content under its hash unless already present. Returns the id and whether bytes were written.</summary>
    public (ObjectId Id, bool Written) Put(ReadOnlySpan<byte> content)
    {
        var id = ObjectId.Compute(content);
        return (id, PutWithId(id, content));
    }

    /// <summary>Stores content whose id the caller already computed.</summary>
    public bool PutWithId(ObjectId id, ReadOnlySpan<byte> content)
    {
        string path = PathOf(id);
        if (File.Exists(path))
        {
            return false;
        }

        using var encoded = ChunkCodec.Encode(content, out byte codec);
        Span<byte> header = stackalloc byte[HeaderLength];
        Magic.CopyTo(header);
        header[4] = ObjectFormatVersion;
        header[5] = codec;
        header[6] = 0;
        header[7] = 0;
        BinaryPrimitives.WriteUInt64LittleEndian(header[8..], (ulong)content.Length);

        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        string temp = Path.Combine(_tempDirectory, $"{id}.{Environment.ProcessId}.{Environment.CurrentManagedThreadId}.tmp");
        try
        {
            using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 1))
            {
                stream.Write(header);
                stream.Write(encoded.Span);
                stream.Flush(_flushToDisk);
            }

            // Another process may have stored the same content meanwhile; its bytes are equal, so either copy wins.
            File.Move(temp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp))
            {
                File.Delete(temp);
            }
        }

        return true;
    }

    /// <summary>Reads and verifies an object; the caller disposes the buffer.</summary>
    public RentedBuffer Read(ObjectId id)
    {
        string path = PathOf(id);
        byte[] stored;
        try
        {
            stored = File.ReadAllBytes(path);
        }
        catch (FileNotFoundException)
        {
            throw new DamagedObjectException(id.ToString(), "missing");
        }
        catch (DirectoryNotFoundException)
        {
            throw new DamagedObjectException(id.ToString(), "missing");
        }

        return Decode(id, stored);
    }

    /// <summary>Decodes stored object bytes and checks them against the id.</summary>
    public static RentedBuffer Decode(ObjectId id, ReadOnlySpan<byte> stored)
    {
        if (stored.Length < HeaderLength || !stored[..4].SequenceEqual(Magic))
        {
            throw new DamagedObjectException(id.ToString(), "bad object header");
        }

        if (stored[4] > ObjectFormatVersion)
        {
            throw new MGitException($"object {id} was written by a newer mgit (object format {stored[4]}); upgrade mgit");
        }

        ulong length = BinaryPrimitives.ReadUInt64LittleEndian(stored[8..]);
        if (length > MaxObjectLength)
        {
            throw new DamagedObjectException(id.ToString(), $"implausible length {length}");
        }

        var content = new RentedBuffer((int)length);
        try
        {
            ChunkCodec.Decode(stored[5], stored[HeaderLength..], content.Span, id);
            if (ObjectId.Compute(content.Span) != id)
            {
                throw new DamagedObjectException(id.ToString(), "content does not match its hash");
            }

            return content;
        }
        catch
        {
            content.Dispose();
            throw;
        }
    }

    public void Delete(ObjectId id) => File.Delete(PathOf(id));

    /// <summary>Every object id present (files with names that are not ids are ignored).</summary>
    public IEnumerable<ObjectId> Enumerate()
    {
        if (!Directory.Exists(_objectsDirectory))
        {
            yield break;
        }

        foreach (string fanout in Directory.EnumerateDirectories(_objectsDirectory))
        {
            string prefix = Path.GetFileName(fanout);
            foreach (string file in Directory.EnumerateFiles(fanout))
            {
                if (ObjectId.TryParse(prefix + Path.GetFileName(file), out var id))
                {
                    yield return id;
                }
            }
        }
    }
}
