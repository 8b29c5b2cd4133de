using System.Buffers.Binary;
using System.IO.Hashing;
using MGit.Codecs;
using MGit.Errors;
using MGit.Primitives;
using Microsoft.Win32.SafeHandles;

namespace MGit.Storage;

/// <summary>
/// Content-addressed loose objects under <c>.mgit/objects/xx/yyyy…</c>. An object is written once,
/// atomically (temporary file, flush, rename), and its decoded content is checked on every read.
/// </summary>
/// <remarks>
/// On-disk object layout (object format 2; format 1 ends the header at byte 16, without the checksum):
/// <code>
/// 0  4  magic "MGOB"
/// 4  1  object format version (2)
/// 5  1  codec: 0 = raw, 1 = zstd, 2 = byte planes, 3 = delta against a base object (see Codecs/)
/// 6  2  reserved, zero
/// 8  8  u64 LE uncompressed length
/// 16 16 u128 LE XXH3-128 (seed 0) of the uncompressed content
/// 32 .. payload
/// </code>
/// A version bump is forced by any change to this header or to what a codec id means.
/// Why a checksum beside the id: the id (BLAKE3) is what the content is and is checked where
/// trust is at stake (objects received from a remote, <c>fsck</c>); XXH3-128 catches the same
/// accidental damage (disk, a truncated payload, a wrong delta base, a decoder fault) at about
/// ten times the speed, and BLAKE3 was a third of a checkout's CPU time.
/// </remarks>
internal sealed class ObjectStore
{
    /// <summary>Header length of the objects this store writes (format 2).</summary>
    public const int HeaderLength = 32;
    /// <summary>Header length of format-1 objects, which carry no checksum.</summary>
    public const int HeaderLengthV1 = 16;
    public const byte ObjectFormatVersion = 2;

    /// <summary>The largest object this store reads; a length above it in a header is damage, not data.</summary>
    public const int MaxObjectLength = 256 * 1024 * 1024;

    private static ReadOnlySpan<byte> Magic => "MGOB"u8;

    /// <summary>Deepest delta chain a read follows; deeper means a damaged or hostile store.</summary>
    public const int MaxReadDepth = 64;

    private readonly string _objectsDirectory;
    private readonly string _tempDirectory;
    private readonly bool _flushToDisk;
    private readonly int _maxDeltaDepth;

    public ObjectStore(string objectsDirectory, string tempDirectory, bool flushToDisk = true, int maxDeltaDepth = 8)
    {
        _objectsDirectory = objectsDirectory;
        _tempDirectory = tempDirectory;
        _flushToDisk = flushToDisk;
        _maxDeltaDepth = Math.Clamp(maxDeltaDepth, 0, MaxReadDepth - 1);
    }

    /// <summary>Whether new objects are flushed to disk before they become visible (off with MGIT_FSYNC=0).</summary>
    public bool FlushesToDisk => _flushToDisk;

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
        return (id, PutWithId(id, content, kind) > 0);
    }

    /// <summary>Stores content whose id the caller already computed; returns the bytes written, 0 when it was already stored.</summary>
    /// <param name="publishing">When given (and objects are flushed to disk), the flush and rename happen there; the object is visible only after its <see cref="DeferredPublishing.Complete"/>.</param>
    /// <param name="id">The id of <paramref name="content"/>, as <see cref="ObjectId.Compute"/> gives it.</param>
    /// <param name="content">The uncompressed bytes.</param>
    /// <param name="kind">The content's element type, which picks the encodings to try.</param>
    /// <param name="bases">Stored chunks the content may be stored as a delta against, or null for none.</param>
    public long PutWithId(ObjectId id, ReadOnlySpan<byte> content, ElementKind kind = ElementKind.Opaque, IReadOnlyList<BaseCandidate>? bases = null, DeferredPublishing? publishing = null)
    {
        string path = PathOf(id);
        if (File.Exists(path))
        {
            return 0;
        }

        byte codec = ChooseEncoding(id, content, kind, bases, out var encoded);
        using var compressed = encoded;
        WriteObject(id, path, codec, content, compressed is null ? content : compressed.Span, publishing);
        return HeaderLength + (compressed?.Length ?? content.Length);
    }

    private void WriteObject(ObjectId id, string path, byte codec, ReadOnlySpan<byte> content, ReadOnlySpan<byte> payload, DeferredPublishing? publishing = null)
    {
        Span<byte> header = stackalloc byte[HeaderLength];
        Magic.CopyTo(header);
        header[4] = ObjectFormatVersion;
        header[5] = codec;
        header[6] = 0;
        header[7] = 0;
        BinaryPrimitives.WriteUInt64LittleEndian(header[8..], (ulong)content.Length);
        BinaryPrimitives.WriteUInt128LittleEndian(header[16..], XxHash128.HashToUInt128(content));

        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        // Unique per write: the same content may be in flight twice before either is published.
        string temp = Path.Combine(_tempDirectory, TemporaryFiles.Name(id.ToString()));
        var file = File.OpenHandle(temp, FileMode.CreateNew, FileAccess.Write);
        try
        {
            RandomAccess.Write(file, header, 0);
            RandomAccess.Write(file, payload, HeaderLength);
        }
        catch
        {
            file.Dispose();
            File.Delete(temp);
            throw;
        }

        if (publishing is not null && _flushToDisk)
        {
            publishing.Publish(file, temp, path);
            return;
        }

        try
        {
            Publish(file, temp, path, _flushToDisk);
        }
        finally
        {
            if (File.Exists(temp))
            {
                File.Delete(temp);
            }
        }
    }

    /// <summary>
    /// Makes a fully written temporary object file the object: flushes it to disk (when asked),
    /// closes it, and renames it to its final name, in that order, so a visible object is whole.
    /// </summary>
    internal static void Publish(SafeFileHandle file, string temp, string path, bool flushToDisk)
    {
        using (file)
        {
            if (flushToDisk)
            {
                using var stream = new FileStream(file, FileAccess.Write, bufferSize: 0);
                stream.Flush(flushToDisk: true);
            }
        }

        // Another process may have stored the same content meanwhile; its bytes are equal, so either copy wins.
        File.Move(temp, path, overwrite: true);
    }

    /// <summary>
    /// Lossy storage (opt-in): quantizes the content against the first candidate of the same kind
    /// within <paramref name="errorBound"/> per element, and stores the reconstruction under its
    /// own hash. Null when no base fits (the caller stores the chunk losslessly instead).
    /// </summary>
    public (ObjectId Id, long Stored)? PutLossy(ReadOnlySpan<byte> content, ElementKind kind, IReadOnlyList<BaseCandidate> bases, double errorBound)
    {
        if (!LossyCodec.Supports(kind))
        {
            return null;
        }

        foreach (var candidate in bases.Where(b => b.Kind == kind))
        {
            var info = TryInspect(candidate.Id);
            if (info is null || info.Depth >= _maxDeltaDepth)
            {
                continue;
            }

            using var baseContent = Read(candidate.Id);
            var (reconstruction, payload) = LossyCodec.Encode(content, kind, baseContent.Span, candidate.Id, info.Depth, errorBound);
            using (reconstruction)
            using (payload)
            {
                var id = ObjectId.Compute(reconstruction.Span);
                using var check = new RentedBuffer(content.Length);
                DeltaCodec.Decode(DeltaCodec.ReadHeader(payload.Span, id), payload.Span, baseContent.Span, check.Span, id);
                if (!check.Span.SequenceEqual(reconstruction.Span))
                {
                    throw new InvalidOperationException($"lossy encoding of {id} did not rebuild its reconstruction");
                }

                return (id, PutEncoded(id, ChunkCodec.Delta, reconstruction.Span, payload.Span));
            }
        }

        return null;
    }

    /// <summary>Stores an object its caller encoded (a lossy reconstruction's delta); returns the bytes written, 0 when present.</summary>
    public long PutEncoded(ObjectId id, byte codec, ReadOnlySpan<byte> content, ReadOnlySpan<byte> payload)
    {
        string path = PathOf(id);
        if (File.Exists(path))
        {
            return 0;
        }

        WriteObject(id, path, codec, content, payload);
        return HeaderLength + payload.Length;
    }

    /// <summary>
    /// Picks the smallest encoding: a delta against one of the candidate bases (cast, prune, XOR or
    /// integer difference) or a standalone codec. Candidates are compared on a sample of the chunk
    /// (every candidate on the whole chunk when it is small), then only the winner encodes the
    /// whole chunk. Bases at the maximum chain depth are passed over, so reading any chunk stays a
    /// bounded number of steps. A delta is decoded and compared before it is kept.
    /// </summary>
    private byte ChooseEncoding(ObjectId id, ReadOnlySpan<byte> content, ElementKind kind, IReadOnlyList<BaseCandidate>? bases, out RentedBuffer? encoded)
    {
        int width = kind.Width();
        int elements = content.Length / width;
        bool sampled = content.Length > SampleThreshold;
        int sampleStart = sampled ? ((elements - SampleElements) / 2) : 0;
        int sampleCount = sampled ? SampleElements : elements;
        var sample = content.Slice(sampleStart * width, sampleCount * width);

        // The standalone estimate on the same sample.
        ChunkCodec.Encode(sample, kind, out var standaloneSample);
        int bestEstimate = standaloneSample?.Length ?? sample.Length;
        standaloneSample?.Dispose();
        (RentedBuffer Base, BaseCandidate Candidate, ObjectInfo Info, DeltaRule Rule)? winner = null;
        var opened = new List<RentedBuffer>();
        try
        {
            foreach (var candidate in bases ?? [])
            {
                if (candidate.Id == id || _maxDeltaDepth == 0)
                {
                    continue;
                }

                var info = TryInspect(candidate.Id);
                if (info is null || info.Depth >= _maxDeltaDepth)
                {
                    continue;
                }

                RentedBuffer baseContent;
                try
                {
                    baseContent = Read(candidate.Id);
                }
                catch (MGitException)
                {
                    continue; // a damaged base is fsck's to report; this chunk just does without it
                }

                opened.Add(baseContent);
                int baseWidth = candidate.Kind.Width();
                int baseStart = Math.Min(sampleStart * baseWidth, baseContent.Length);
                var baseSample = baseContent.Span[baseStart..Math.Min(baseContent.Length, baseStart + (sampleCount * baseWidth))];
                foreach (var rule in DeltaCodec.RulesFor(kind, candidate.Kind))
                {
                    if (rule == DeltaRule.Prune && !DeltaCodec.WorthMasking(sample, baseSample, width))
                    {
                        continue;
                    }

                    using var estimate = DeltaCodec.Encode(sample, kind, baseSample, candidate.Kind, candidate.Id, info.Depth, rule);
                    if (estimate is not null && estimate.Length < bestEstimate)
                    {
                        bestEstimate = estimate.Length;
                        winner = (baseContent, candidate, info, rule);
                    }
                }
            }

            if (winner is { } w)
            {
                var delta = DeltaCodec.Encode(content, kind, w.Base.Span, w.Candidate.Kind, w.Candidate.Id, w.Info.Depth, w.Rule);
                if (delta is not null && delta.Length < content.Length)
                {
                    // Never store a derivation that does not rebuild the chunk bit for bit.
                    using var check = new RentedBuffer(content.Length);
                    DeltaCodec.Decode(DeltaCodec.ReadHeader(delta.Span, id), delta.Span, w.Base.Span, check.Span, id);
                    if (!check.Span.SequenceEqual(content))
                    {
                        delta.Dispose();
                        throw new InvalidOperationException($"delta encoding of {id} did not round-trip");
                    }

                    encoded = delta;
                    return ChunkCodec.Delta;
                }

                delta?.Dispose();
            }

            return ChunkCodec.Encode(content, kind, out encoded);
        }
        finally
        {
            foreach (var buffer in opened)
            {
                buffer.Dispose();
            }
        }
    }

    /// <summary>Chunks above this size choose their codec on a sample of <see cref="SampleElements"/> elements.</summary>
    private const int SampleThreshold = 512 * 1024;
    private const int SampleElements = 32 * 1024;

    /// <summary>What an object is, from its header alone: codec, length, and for deltas the base and chain depth.</summary>
    public ObjectInfo? TryInspect(ObjectId id) => TryInspectFile(id, PathOf(id));

    /// <summary>As <see cref="TryInspect"/>, for an object file that is not (yet) in the store.</summary>
    public static ObjectInfo? TryInspectFile(ObjectId id, string path)
    {
        try
        {
            using var file = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
            long fileLength = RandomAccess.GetLength(file);
            Span<byte> head = stackalloc byte[HeaderLength + DeltaCodec.FixedLength];
            int read = ReadAt(file, head, 0);
            var header = ParseHeader(id, head[..read]);
            if (header.Codec != ChunkCodec.Delta)
            {
                return new ObjectInfo(id, header.Codec, header.Length, fileLength, null, 0, null, false);
            }

            if (read < header.PayloadOffset + DeltaCodec.FixedLength)
            {
                return null;
            }

            var delta = DeltaCodec.ReadHeader(head[header.PayloadOffset..], id, (int)Math.Min(int.MaxValue, fileLength - header.PayloadOffset));
            return new ObjectInfo(id, header.Codec, header.Length, fileLength, delta.BaseId, delta.Depth, delta.Rule, delta.ResidualCodec == DeltaCodec.ExactResidual);
        }
        catch (Exception e) when (e is IOException or MGitException)
        {
            return null;
        }
    }

    /// <summary>Reads and verifies an object; the caller disposes the buffer.</summary>
    /// <param name="verification">How the decoded content is checked (see <see cref="Verification"/>).</param>
    /// <param name="id">The object to read.</param>
    public RentedBuffer Read(ObjectId id, Verification verification = Verification.Checksum) => Read(id, PathOf(id), ChainStep.Start(verification), verification);

    /// <summary>
    /// As <see cref="Read(ObjectId, Verification)"/>, answering from <paramref name="cache"/> where it holds the
    /// object (or a delta base on the way) and leaving there what it will be asked for again. The
    /// buffer may be shared with the cache: read it, do not write to it.
    /// </summary>
    public RentedBuffer Read(ObjectId id, DecodedChunkCache? cache) => Read(id, PathOf(id), ChainStep.Start(Verification.Checksum), Verification.Checksum, cache);

    /// <summary>
    /// Set in a lazy clone: fetches an object this store lacks (verified, into the store) and
    /// returns whether it now has it. Reads call it before they report an object missing.
    /// </summary>
    public Func<ObjectId, bool>? FetchMissing { get; set; }

    /// <summary>
    /// Moves an object file received from elsewhere into the store after verifying its content
    /// against its id (a delta decoded against its base, which must already be here) and against
    /// its checksum: damaged or substituted content never enters the store. The file is consumed
    /// either way.
    /// </summary>
    public void Import(ObjectId id, string receivedFile)
    {
        try
        {
            Read(id, receivedFile, ChainStep.Start(Verification.Identity), Verification.Identity).Dispose();
            string path = PathOf(id);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            if (_flushToDisk)
            {
                using var stream = new FileStream(receivedFile, FileMode.Open, FileAccess.ReadWrite, FileShare.None, bufferSize: 1);
                stream.Flush(flushToDisk: true);
            }

            File.Move(receivedFile, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(receivedFile))
            {
                File.Delete(receivedFile);
            }
        }
    }

    /// <summary>
    /// Where a read is in a delta chain (how many bases down), and whether payloads may be read
    /// through a memory mapping. A mapping turns a disk's read error into a signal that ends the
    /// process (SIGBUS), where a read turns it into an error that names the object; so reads that
    /// check identity (fsck, and objects received from a remote), whose job is to find damage,
    /// read every payload, down the whole chain, without one.
    /// </summary>
    private readonly record struct ChainStep(int Hops, bool MayMap)
    {
        public static ChainStep Start(Verification verification) => new(0, verification != Verification.Identity);

        public ChainStep Down => this with { Hops = Hops + 1 };
    }

    /// <param name="verification">
    /// Null for the bases inside a delta chain: the chain's end is verified, and any damage below
    /// it shows there (a base is then re-read verified to name the damaged object).
    /// </param>
    /// <param name="id">The object to read.</param>
    /// <param name="path">Its file in the store.</param>
    /// <param name="step">Where the read is in a delta chain.</param>
    /// <param name="cache">Decoded chunks to answer from and keep verified content in, if any.</param>
    private RentedBuffer Read(ObjectId id, string path, ChainStep step, Verification? verification, DecodedChunkCache? cache = null)
    {
        if (cache?.Take(id) is { } kept)
        {
            return kept;
        }

        var content = ReadFile(id, path, step, verification, cache, out var checksum);
        if (cache is not null && cache.Wants(id, content.Length))
        {
            // The cache holds verified content only, so that a hit needs no check.
            if (verification is null && !Matches(id, content.Span, checksum, Verification.Checksum))
            {
                content.Dispose();
                throw new DamagedObjectException(id.ToString(), "content does not match its hash");
            }

            cache.Keep(id, content);
        }

        return content;
    }

    private RentedBuffer ReadFile(ObjectId id, string path, ChainStep step, Verification? verification, DecodedChunkCache? cache, out UInt128? checksum)
    {
        SafeFileHandle file;
        try
        {
            file = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            if (path == PathOf(id) && FetchMissing is { } fetch && fetch(id))
            {
                return ReadFile(id, path, step, verification, cache, out checksum);
            }

            throw new DamagedObjectException(id.ToString(), "missing");
        }

        using (file)
        {
            Span<byte> head = stackalloc byte[HeaderLength];
            var header = ParseHeader(id, head[..ReadObjectAt(id, file, head, 0)]);
            checksum = header.Checksum;
            long payloadLength = RandomAccess.GetLength(file) - header.PayloadOffset;
            if (header.Codec == ChunkCodec.Raw)
            {
                // Raw payloads are read straight into the result: no second copy on the checkout path.
                if (payloadLength != header.Length)
                {
                    throw new DamagedObjectException(id.ToString(), $"raw payload is {payloadLength} bytes, expected {header.Length}");
                }

                var content = new RentedBuffer(header.Length);
                try
                {
                    ReadExactlyAt(id, file, content.Span, header.PayloadOffset);
                    return Checked(id, content, header.Checksum, verification);
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

            if (step.MayMap && payloadLength >= MinMappedPayload && MappedFile.TryMap(file, header.PayloadOffset, (int)payloadLength) is { } mapped)
            {
                using (mapped)
                {
                    return Decode(id, header, mapped.Span, step, verification, cache);
                }
            }

            using var payload = new RentedBuffer((int)payloadLength);
            ReadExactlyAt(id, file, payload.Span, header.PayloadOffset);
            return Decode(id, header, payload.Span, step, verification, cache);
        }
    }

    private RentedBuffer Decode(ObjectId id, ObjectHeader header, ReadOnlySpan<byte> payload, ChainStep step, Verification? verification, DecodedChunkCache? cache) =>
        header.Codec == ChunkCodec.Delta
            ? DecodeDelta(id, header, payload, step, verification, cache)
            : DecodePayload(id, header, payload, verification);

    /// <summary>Payloads from this size on are mapped rather than read (below it the mapping costs more than the copy).</summary>
    private const int MinMappedPayload = 256 << 10;

    /// <summary>Reads from <paramref name="offset"/> until the buffer is full or the file ends; returns the bytes read.</summary>
    private static int ReadAt(SafeFileHandle file, Span<byte> buffer, long offset)
    {
        int total = 0;
        while (total < buffer.Length)
        {
            int read = RandomAccess.Read(file, buffer[total..], offset + total);
            if (read == 0)
            {
                break;
            }

            total += read;
        }

        return total;
    }

    /// <summary>
    /// As <see cref="ReadAt"/> for an object file: a read error (a disk's EIO) is damage to that
    /// object, so that checkout names it and fsck reports it and goes on with the others.
    /// </summary>
    private static int ReadObjectAt(ObjectId id, SafeFileHandle file, Span<byte> buffer, long offset)
    {
        try
        {
            return ReadAt(file, buffer, offset);
        }
        catch (IOException e)
        {
            throw new DamagedObjectException(id.ToString(), $"could not be read ({e.Message})");
        }
    }

    private static void ReadExactlyAt(ObjectId id, SafeFileHandle file, Span<byte> buffer, long offset)
    {
        if (ReadObjectAt(id, file, buffer, offset) != buffer.Length)
        {
            throw new DamagedObjectException(id.ToString(), "shorter than its header says");
        }
    }

    private RentedBuffer DecodeDelta(ObjectId id, ObjectHeader objectHeader, ReadOnlySpan<byte> payload, ChainStep step, Verification? verification, DecodedChunkCache? cache)
    {
        var header = DeltaCodec.ReadHeader(payload, id);
        if (step.Hops >= MaxReadDepth)
        {
            throw new DamagedObjectException(id.ToString(), "delta chain is deeper than any mgit writes (a cycle?)");
        }

        RentedBuffer baseContent;
        try
        {
            baseContent = Read(header.BaseId, PathOf(header.BaseId), step.Down, verification: null, cache);
        }
        catch (DamagedObjectException e)
        {
            throw new DamagedObjectException(id.ToString(), $"its delta base is unusable ({e.Message})");
        }

        using (baseContent)
        {
            var content = new RentedBuffer(objectHeader.Length);
            try
            {
                DeltaCodec.Decode(header, payload, baseContent.Span, content.Span, id);
                if (verification is not { } how || Matches(id, content.Span, objectHeader.Checksum, how))
                {
                    return content;
                }

                // Wrong content: name the base if it is the damaged one, else this object.
                try
                {
                    Read(header.BaseId, PathOf(header.BaseId), step.Down, how).Dispose();
                }
                catch (DamagedObjectException e)
                {
                    throw new DamagedObjectException(id.ToString(), $"its delta base is unusable ({e.Message})");
                }

                throw new DamagedObjectException(id.ToString(), "content does not match its hash");
            }
            catch
            {
                content.Dispose();
                throw;
            }
        }
    }

    /// <summary>An object file's header: codec, content length, where the payload starts, and the content checksum (format 2).</summary>
    private readonly record struct ObjectHeader(byte Codec, int Length, int PayloadOffset, UInt128? Checksum);

    /// <summary>Parses the header at the start of <paramref name="head"/> (the file's first bytes, up to <see cref="HeaderLength"/> or more).</summary>
    private static ObjectHeader ParseHeader(ObjectId id, ReadOnlySpan<byte> head)
    {
        if (head.Length < HeaderLengthV1)
        {
            throw new DamagedObjectException(id.ToString(), "shorter than an object header");
        }

        if (!head[..4].SequenceEqual(Magic) || head[4] == 0)
        {
            throw new DamagedObjectException(id.ToString(), "bad object header");
        }

        if (head[4] > ObjectFormatVersion)
        {
            throw new MGitException(ErrorKind.Unsupported, $"object {id} was written by a newer mgit (object format {head[4]}); upgrade mgit");
        }

        ulong length = BinaryPrimitives.ReadUInt64LittleEndian(head[8..]);
        if (length > MaxObjectLength)
        {
            throw new DamagedObjectException(id.ToString(), $"implausible length {length}");
        }

        if (head[4] == 1)
        {
            return new ObjectHeader(head[5], (int)length, HeaderLengthV1, null);
        }

        if (head.Length < HeaderLength)
        {
            throw new DamagedObjectException(id.ToString(), "shorter than an object header");
        }

        return new ObjectHeader(head[5], (int)length, HeaderLength, BinaryPrimitives.ReadUInt128LittleEndian(head[16..]));
    }

    private static RentedBuffer DecodePayload(ObjectId id, ObjectHeader header, ReadOnlySpan<byte> payload, Verification? verification)
    {
        var content = new RentedBuffer(header.Length);
        try
        {
            ChunkCodec.Decode(header.Codec, payload, content.Span, id);
            return Checked(id, content, header.Checksum, verification);
        }
        catch
        {
            content.Dispose();
            throw;
        }
    }

    private static RentedBuffer Checked(ObjectId id, RentedBuffer content, UInt128? checksum, Verification? verification)
    {
        if (verification is { } how && !Matches(id, content.Span, checksum, how))
        {
            throw new DamagedObjectException(id.ToString(), "content does not match its hash");
        }

        return content;
    }

    /// <summary>
    /// Whether decoded content is the object's: its checksum, where the object has one, must
    /// match; and its BLAKE3 must be the id when identity is asked for or there is no checksum.
    /// </summary>
    private static bool Matches(ObjectId id, ReadOnlySpan<byte> content, UInt128? checksum, Verification verification)
    {
        if (checksum is { } expected && XxHash128.HashToUInt128(content) != expected)
        {
            return false;
        }

        return (checksum is not null && verification == Verification.Checksum) || ObjectId.Compute(content) == id;
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

/// <summary>How a read checks the content it decoded.</summary>
internal enum Verification
{
    /// <summary>
    /// Against the checksum stored in the object (XXH3-128; format-2 objects), which catches
    /// damage and decoding faults; an object without one is checked against its id.
    /// </summary>
    Checksum,

    /// <summary>Against its id (BLAKE3), and its checksum where it has one: for content from elsewhere, and fsck.</summary>
    Identity,
}

/// <summary>A chunk of a parent model that a new chunk may be stored against.</summary>
internal readonly record struct BaseCandidate(ObjectId Id, ElementKind Kind);

/// <summary>An object's header: codec, sizes, and for a delta its base, depth in the chain, rule, and whether the rule alone rebuilds it.</summary>
internal sealed record ObjectInfo(ObjectId Id, byte Codec, int Length, long StoredLength, ObjectId? BaseId, int Depth, DeltaRule? Rule, bool Exact)
{
    /// <summary>"raw", "zstd", "planes", or "delta:RULE" (with "-exact" when no residual was needed).</summary>
    public string CodecName => Rule is { } rule
        ? $"delta:{DeltaRuleNames.Name(rule)}{(Exact ? "-exact" : "")}"
        : ChunkCodec.Name(Codec);
}
