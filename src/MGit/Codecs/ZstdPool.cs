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

    public static int Compress(int level, ReadOnlySpan<byte> source, Span<byte> destination)
    {
        var bag = Compressors.GetOrAdd(level, _ => []);
        var compressor = bag.TryTake(out var pooled) ? pooled : new Compressor(level);
        try
        {
            return compressor.Wrap(source, destination);
        }
        finally
        {
            bag.Add(compressor);
        }
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
