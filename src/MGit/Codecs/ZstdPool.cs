using System.Collections.Concurrent;
using ZstdSharp;

namespace MGit.Codecs;

/// <summary>
/// Reusable zstd contexts. Pooled rather than per thread: checkout and fsck run on pool threads,
/// and a context per thread would keep megabytes of window buffers alive on every one of them.
/// </summary>
internal static class ZstdPool
{
    private static readonly ConcurrentDictionary<int, ConcurrentBag<Compressor>> Compressors = new();
    private static readonly ConcurrentBag<Decompressor> Decompressors = [];

    /// <summary>
    /// Level 1 tuned for byte planes: their redundancy is in the symbol frequencies, not in long
    /// repeats, so a short match search (min match 7, small hash table) keeps the ratio and halves the time.
    /// </summary>
    public const int PlaneProfile = -1000;

    public static int Compress(int level, ReadOnlySpan<byte> source, Span<byte> destination)
    {
        var bag = Compressors.GetOrAdd(level, _ => []);
        var compressor = bag.TryTake(out var pooled) ? pooled : Create(level);
        try
        {
            return compressor.Wrap(source, destination);
        }
        finally
        {
            bag.Add(compressor);
        }
    }

    private static Compressor Create(int level)
    {
        if (level != PlaneProfile)
        {
            return new Compressor(level);
        }

        var compressor = new Compressor(1);
        compressor.SetParameter(ZstdSharp.Unsafe.ZSTD_cParameter.ZSTD_c_minMatch, 7);
        compressor.SetParameter(ZstdSharp.Unsafe.ZSTD_cParameter.ZSTD_c_hashLog, 12);
        return compressor;
    }

    public static int Decompress(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        var decompressor = Decompressors.TryTake(out var pooled) ? pooled : new Decompressor();
        try
        {
            return decompressor.Unwrap(source, destination);
        }
        finally
        {
            Decompressors.Add(decompressor);
        }
    }

    public static int CompressBound(int length) => Compressor.GetCompressBound(length);
}
