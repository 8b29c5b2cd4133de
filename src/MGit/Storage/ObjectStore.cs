using System.Buffers.Binary;
using MGit.Codecs;
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
/// 5  1  codec: 0 = raw, 1 = zstd, 2 = byte planes (see ChunkCodec)
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
    public (ObjectId Id, bool Written) Put(ReadOnlySpan<byte> content, ElementKind kind = ElementKind.Opaque)
    {
        var id = ObjectId.Compute(content);
        return (id, PutWithId(id, content, kind));
    }

    /// <summary>Stores content whose id the caller already computed.</summary>
    public bool PutWithId(ObjectId id, ReadOnlySpan<byte> content, ElementKind kind = ElementKind.Opaque)
    {
        string path = PathOf(id);
        if (File.Exists(path))
        {
            return false;
        }

        byte codec = ChunkCodec.Encode(content, kind, out var encoded);
        using var compressed = encoded;
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
                stream.Write(compressed is null ? content : compressed.Span);
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
        FileStream stream;
        try
        {
            stream = new FileStream(PathOf(id), FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new DamagedObjectException(id.ToString(), "missing");
        }

        using (stream)
        {
            Span<byte> header = stackalloc byte[HeaderLength];
            if (stream.ReadAtLeast(header, HeaderLength, throwOnEndOfStream: false) < HeaderLength)
            {
                throw new DamagedObjectException(id.ToString(), "shorter than an object header");
            }

            var (codec, length) = ParseHeader(id, header);
            long payloadLength = stream.Length - HeaderLength;
            if (codec == ChunkCodec.Raw)
            {
                // Raw payloads are read straight into the result: no second copy on the checkout path.
                if (payloadLength != length)
                {
                    throw new DamagedObjectException(id.ToString(), $"raw payload is {payloadLength} bytes, expected {length}");
                }

                var content = new RentedBuffer(length);
                try
                {
                    stream.ReadExactly(content.Span);
                    return Verified(id, content);
                }
                catch
                {
                    content.Dispose();
                    throw;
                }
            }

            if (payloadLength > MaxObjectLength)
            {
                throw new DamagedObjectException(id.ToString(), $"implausible payload length {payloadLength}");
            }

            using var payload = new RentedBuffer((int)payloadLength);
            stream.ReadExactly(payload.Span);
            return DecodePayload(id, codec, length, payload.Span);
        }
    }

    /// <summary>Decodes stored object bytes (header and payload) and checks them against the id.</summary>
    public static RentedBuffer Decode(ObjectId id, ReadOnlySpan<byte> stored)
    {
        if (stored.Length < HeaderLength)
        {
            throw new DamagedObjectException(id.ToString(), "shorter than an object header");
        }

        var (codec, length) = ParseHeader(id, stored[..HeaderLength]);
        return DecodePayload(id, codec, length, stored[HeaderLength..]);
    }

    private static (byte Codec, int Length) ParseHeader(ObjectId id, ReadOnlySpan<byte> header)
    {
        if (!header[..4].SequenceEqual(Magic))
        {
            throw new DamagedObjectException(id.ToString(), "bad object header");
        }

        if (header[4] > ObjectFormatVersion)
        {
            throw new MGitException($"object {id} was written by a newer mgit (object format {header[4]}); upgrade mgit");
        }

        ulong length = BinaryPrimitives.ReadUInt64LittleEndian(header[8..]);
        if (length > MaxObjectLength)
        {
            throw new DamagedObjectException(id.ToString(), $"implausible length {length}");
        }

        return (header[5], (int)length);
    }

    private static RentedBuffer DecodePayload(ObjectId id, byte codec, int length, ReadOnlySpan<byte> payload)
    {
        var content = new RentedBuffer(length);
        try
        {
            ChunkCodec.Decode(codec, payload, content.Span, id);
            return Verified(id, content);
        }
        catch
        {
            content.Dispose();
            throw;
        }
    }

    private static RentedBuffer Verified(ObjectId id, RentedBuffer content)
    {
        if (ObjectId.Compute(content.Span) != id)
        {
            throw new DamagedObjectException(id.ToString(), "content does not match its hash");
        }

        return content;
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
