using MGit.Errors;
using ZstdSharp;

namespace MGit.Storage;

/// <summary>
/// Per-chunk lossless codec choice: zstd when it saves, raw otherwise. A quick probe on a slice
/// of the chunk skips the full compression attempt for data zstd cannot shrink (most float weights),
/// which keeps ingest near copy speed.
/// </summary>
public static class ChunkCodec
{
    public const byte Raw = 0;
    public const byte Zstd = 1;

    private const int ZstdLevel = 3;
    private const int ProbeLength = 64 * 1024;

    [ThreadStatic] private static Compressor? t_compressor;
    [ThreadStatic] private static Decompressor? t_decompressor;

    public static string Name(byte codec) => codec switch
    {
        Raw => "raw",
        Zstd => "zstd",
        _ => $"codec-{codec}",
    };

    /// <summary>
    /// The zstd encoding of the content when it saves at least 1/64 of it (tiny savings cost
    /// decode time for nothing); null when the content is best stored raw.
    /// </summary>
    public static RentedBuffer? TryCompress(ReadOnlySpan<byte> content)
    {
        var compressor = t_compressor ??= new Compressor(ZstdLevel);
        if (content.Length < 256 || !WorthCompressing(compressor, content))
        {
            return null;
        }

        var output = new RentedBuffer(Compressor.GetCompressBound(content.Length));
        int written = compressor.Wrap(content, output.Span);
        if (written < content.Length - (content.Length >> 6))
        {
            output.Truncate(written);
            return output;
        }

        output.Dispose();
        return null;
    }

    private static bool WorthCompressing(Compressor compressor, ReadOnlySpan<byte> content)
    {
        if (content.Length <= ProbeLength * 2)
        {
            return true;
        }

        // Probe the middle of the chunk: headers and padding at the edges are not representative.
        var probe = content.Slice((content.Length - ProbeLength) / 2, ProbeLength);
        using var scratch = new RentedBuffer(Compressor.GetCompressBound(ProbeLength));
        int written = compressor.Wrap(probe, scratch.Span);
        return written < ProbeLength * 15 / 16;
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
                int written;
                try
                {
                    var decompressor = t_decompressor ??= new Decompressor();
                    written = decompressor.Unwrap(payload, destination);
                }
                catch (Exception e) when (e is ZstdException or ArgumentException or InvalidOperationException)
                {
                    throw new DamagedObjectException(id.ToString(), "compressed payload does not decode");
                }

                if (written != destination.Length)
                {
                    throw new DamagedObjectException(id.ToString(), $"decoded {written} bytes, expected {destination.Length}");
                }

                return;
            default:
                throw new MGitException($"object {id} uses codec {codec}, unknown to this mgit; upgrade mgit");
        }
    }
}
