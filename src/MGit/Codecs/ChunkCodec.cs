using System.Buffers.Binary;
using MGit.Errors;
using MGit.Primitives;
using ZstdSharp;

namespace MGit.Codecs;

/// <summary>
/// Lossless per-chunk codecs, chosen by trying: floats are split into byte planes (exponent on
/// its own) and each plane is zstd-coded only where that pays; other data is zstd-coded when a
/// probe shows it pays; anything else is stored raw. An encoded chunk is never larger than raw.
/// </summary>
/// <remarks>
/// Planes payload (codec 2): u8 element kind, then per plane u8 codec (0 raw, 1 zstd) and u32 LE
/// encoded length, then the planes' bytes in order. Codec ids are stored: never renumber them.
/// </remarks>
internal static class ChunkCodec
{
    public const byte Raw = 0;
    public const byte Zstd = 1;
    public const byte Planes = 2;
    /// <summary>Stored against a base chunk; see <see cref="DeltaCodec"/> (decoded by the object store, which can read bases).</summary>
    public const byte Delta = 3;

    private const int BlobLevel = 3;
    private const int PlaneLevel = ZstdPool.PlaneProfile;
    private const int ProbeLength = 16 * 1024;
    private const int PlaneHeaderLength = 5;

    public static string Name(byte codec) => codec switch
    {
        Raw => "raw",
        Zstd => "zstd",
        Planes => "planes",
        Delta => "delta",
        _ => $"codec-{codec}",
    };

    /// <summary>Encodes content; returns the codec and its payload, or <see cref="Raw"/> and null when nothing pays.</summary>
    public static byte Encode(ReadOnlySpan<byte> content, ElementKind kind, out RentedBuffer? payload)
    {
        int width = kind.Width();
        if (width > 1 && content.Length % width == 0 && content.Length >= 64 * width)
        {
            payload = TryPlanes(content, kind);
            return payload is null ? Raw : Planes;
        }

        payload = TryZstd(content, BlobLevel);
        return payload is null ? Raw : Zstd;
    }

    /// <summary>The zstd encoding when it saves at least 1/64 of the content (tiny savings cost decode time for nothing).</summary>
    private static RentedBuffer? TryZstd(ReadOnlySpan<byte> content, int level)
    {
        if (content.Length < 256 || !ProbeSaysCompressible(content, level))
        {
            return null;
        }

        var output = new RentedBuffer(ZstdPool.CompressBound(content.Length));
        int written = ZstdPool.Compress(level, content, output.Span);
        if (written < content.Length - (content.Length >> 6))
        {
            output.Truncate(written);
            return output;
        }

        output.Dispose();
        return null;
    }

    private static bool ProbeSaysCompressible(ReadOnlySpan<byte> content, int level)
    {
        if (content.Length <= ProbeLength * 4)
        {
            return true;
        }

        // Probe the middle: headers and padding at the edges are not representative.
        var probe = content.Slice((content.Length - ProbeLength) / 2, ProbeLength);
        using var scratch = new RentedBuffer(ZstdPool.CompressBound(ProbeLength));
        return ZstdPool.Compress(level, probe, scratch.Span) < ProbeLength * 31 / 32;
    }

    private static RentedBuffer? TryPlanes(ReadOnlySpan<byte> content, ElementKind kind)
    {
        int width = kind.Width();
        int n = content.Length / width;
        using var planes = new RentedBuffer(content.Length);
        BytePlanes.Split(content, kind, planes.Span);

        int headerLength = 1 + (width * PlaneHeaderLength);
        var output = new RentedBuffer(headerLength + content.Length);
        var span = output.Span;
        span[0] = (byte)kind;
        int position = headerLength;
        for (int p = 0; p < width; p++)
        {
            var plane = planes.Span.Slice(p * n, n);
            using var compressed = TryZstd(plane, PlaneLevel);
            var header = span.Slice(1 + (p * PlaneHeaderLength), PlaneHeaderLength);
            var encoded = compressed is null ? plane : compressed.Span;
            header[0] = compressed is null ? Raw : Zstd;
            BinaryPrimitives.WriteUInt32LittleEndian(header[1..], (uint)encoded.Length);
            encoded.CopyTo(span[position..]);
            position += encoded.Length;
        }

        if (position >= content.Length)
        {
            output.Dispose();
            return null;
        }

        output.Truncate(position);
        return output;
    }

    public static void Decode(byte codec, ReadOnlySpan<byte> payload, Span<byte> destination, ObjectId id)
    {
        switch (codec)
        {
            case Raw:
                if (payload.Length != destination.Length)
                {
                    throw new DamagedObjectException(id.ToString(), $"raw payload is {payload.Length} bytes, expected {destination.Length}");
                }

                payload.CopyTo(destination);
                return;
            case Zstd:
                DecodeZstd(payload, destination, id);
                return;
            case Planes:
                DecodePlanes(payload, destination, id);
                return;
            default:
                throw new MGitException(ErrorKind.Unsupported, $"object {id} uses codec {codec}, unknown to this mgit; upgrade mgit");
        }
    }

    private static void DecodeZstd(ReadOnlySpan<byte> payload, Span<byte> destination, ObjectId id)
    {
        int written;
        try
        {
            written = ZstdPool.Decompress(payload, destination);
        }
        catch (Exception e) when (e is ZstdException or ArgumentException or InvalidOperationException)
        {
            throw new DamagedObjectException(id.ToString(), "compressed payload does not decode");
        }

        if (written != destination.Length)
        {
            throw new DamagedObjectException(id.ToString(), $"decoded {written} bytes, expected {destination.Length}");
        }
    }

    private static void DecodePlanes(ReadOnlySpan<byte> payload, Span<byte> destination, ObjectId id)
    {
        DamagedObjectException Bad(string problem) => new(id.ToString(), problem);
        if (payload.Length < 1)
        {
            throw Bad("empty planes payload");
        }

        var kind = (ElementKind)payload[0];
        int width = kind.Width();
        if (width < 2 || !Enum.IsDefined(kind))
        {
            throw Bad($"unknown element kind {payload[0]}");
        }

        if (destination.Length % width != 0)
        {
            throw Bad("length is not a whole number of elements");
        }

        int n = destination.Length / width;
        int headerLength = 1 + (width * PlaneHeaderLength);
        if (payload.Length < headerLength)
        {
            throw Bad("truncated planes header");
        }

        // Compressed planes are decoded into a scratch buffer. F32 and BF16 join planes stored raw
        // straight from the payload, which saves copying most of a float chunk, so their scratch
        // holds only the compressed planes; other widths join from a scratch holding all of them.
        bool joinsInPlace = kind is ElementKind.F32 or ElementKind.BF16;
        Span<int> planeStart = stackalloc int[width];
        Span<int> scratchStart = stackalloc int[width];
        int position = headerLength;
        int inScratch = 0;
        for (int p = 0; p < width; p++)
        {
            var header = payload.Slice(1 + (p * PlaneHeaderLength), PlaneHeaderLength);
            uint length = BinaryPrimitives.ReadUInt32LittleEndian(header[1..]);
            if (length > (uint)(payload.Length - position))
            {
                throw Bad("plane runs past the end of the payload");
            }

            if (!(header[0] == Zstd || (header[0] == Raw && length == n)))
            {
                throw Bad($"plane {p} has codec {header[0]} or a wrong length");
            }

            planeStart[p] = position;
            scratchStart[p] = header[0] == Zstd || !joinsInPlace ? inScratch++ * n : -1;
            position += (int)length;
        }

        if (position != payload.Length)
        {
            throw Bad("trailing bytes after the planes");
        }

        using var planes = new RentedBuffer(inScratch * n);
        var scratch = planes.Span;
        for (int p = 0; p < width; p++)
        {
            int end = p + 1 < width ? planeStart[p + 1] : payload.Length;
            var encoded = payload[planeStart[p]..end];
            if (payload[1 + (p * PlaneHeaderLength)] == Zstd)
            {
                DecodeZstd(encoded, scratch.Slice(scratchStart[p], n), id);
            }
            else if (scratchStart[p] >= 0)
            {
                encoded.CopyTo(scratch.Slice(scratchStart[p], n));
            }
        }

        switch (kind)
        {
            case ElementKind.F32:
                BytePlanes.JoinF32(Plane(payload, scratch, planeStart, scratchStart, 0, n), Plane(payload, scratch, planeStart, scratchStart, 1, n), Plane(payload, scratch, planeStart, scratchStart, 2, n), Plane(payload, scratch, planeStart, scratchStart, 3, n), destination);
                return;
            case ElementKind.BF16:
                BytePlanes.JoinBF16(Plane(payload, scratch, planeStart, scratchStart, 0, n), Plane(payload, scratch, planeStart, scratchStart, 1, n), destination);
                return;
            default:
                BytePlanes.Join(scratch, kind, destination);
                return;
        }
    }

    /// <summary>Plane <paramref name="p"/> of <paramref name="n"/> bytes: in the payload when stored raw, else decoded into the scratch buffer.</summary>
    private static ReadOnlySpan<byte> Plane(ReadOnlySpan<byte> payload, ReadOnlySpan<byte> scratch, ReadOnlySpan<int> planeStart, ReadOnlySpan<int> scratchStart, int p, int n) =>
        scratchStart[p] < 0 ? payload.Slice(planeStart[p], n) : scratch.Slice(scratchStart[p], n);
}
