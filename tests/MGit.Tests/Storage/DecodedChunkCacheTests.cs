using MGit.Primitives;
using MGit.Storage;

namespace MGit.Tests.Storage;

public sealed class DecodedChunkCacheTests
{
    private static ObjectId Id(int n) => ObjectId.Compute(BitConverter.GetBytes(n));

    private static RentedBuffer Content(int length, byte fill)
    {
        var buffer = new RentedBuffer(length);
        buffer.Span.Fill(fill);
        return buffer;
    }

    [Fact]
    public void Uses_are_counted_for_chunks_and_for_each_chunk_that_names_a_base()
    {
        // c2 -> c1 -> c0 (delta bases); c0 is read directly twice, c2 three times.
        var bases = new Dictionary<ObjectId, ObjectId> { [Id(2)] = Id(1), [Id(1)] = Id(0) };
        using var cache = DecodedChunkCache.ForChunks([Id(0), Id(2), Id(0), Id(2), Id(2)], id => bases.TryGetValue(id, out var b) ? b : null, 1 << 20);

        // c0: two direct reads and one as c1's base; c1: once as c2's base; c2: three direct reads.
        using (var c0 = Content(100, 0))
        {
            Assert.Null(cache.Take(Id(0)));
            Assert.True(cache.Wants(Id(0), 100));
            cache.Keep(Id(0), c0);
        }

        Assert.Equal(100, cache.HeldBytes);
        using (var hit = cache.Take(Id(0)))
        {
            Assert.NotNull(hit);
            Assert.Equal(-1, hit.Span.IndexOfAnyExcept((byte)0));
        }

        Assert.Null(cache.Take(Id(1)));
        Assert.False(cache.Wants(Id(1), 100));
        using (var last = cache.Take(Id(0)))
        {
            Assert.NotNull(last);
        }

        Assert.Equal(0, cache.HeldBytes);
        Assert.False(cache.Wants(Id(0), 100));
        Assert.Equal(2, cache.Hits);
    }

    [Fact]
    public void A_chunk_is_kept_only_while_uses_remain_and_it_fits_the_budget()
    {
        using var cache = new DecodedChunkCache(budgetBytes: 250);
        foreach (int n in new[] { 1, 1, 2, 2, 3, 3, 4 })
        {
            cache.ExpectUse(Id(n));
        }

        foreach (int n in new[] { 1, 2, 3, 4 })
        {
            Assert.Null(cache.Take(Id(n)));
            using var content = Content(100, (byte)n);
            cache.Keep(Id(n), content);
            Assert.InRange(cache.HeldBytes, 0, 250);
        }

        // 1 and 2 fit; 3 would pass the budget; 4 has no use left.
        Assert.Equal(200, cache.HeldBytes);
        using (var one = cache.Take(Id(1)))
        using (var two = cache.Take(Id(2)))
        {
            Assert.Equal(-1, one!.Span.IndexOfAnyExcept((byte)1));
            Assert.Equal(-1, two!.Span.IndexOfAnyExcept((byte)2));
        }

        Assert.Null(cache.Take(Id(3)));
        Assert.Equal(0, cache.HeldBytes);
    }

    [Fact]
    public void A_kept_chunk_outlives_the_reader_that_decoded_it_and_is_released_by_dispose()
    {
        var cache = new DecodedChunkCache(1 << 24);
        cache.ExpectUse(Id(7));
        cache.ExpectUse(Id(7));
        cache.ExpectUse(Id(7));
        Assert.Null(cache.Take(Id(7)));
        var decoded = Content(2 << 20, 0x77);
        cache.Keep(Id(7), decoded);
        decoded.Dispose();
        using (var hit = cache.Take(Id(7)))
        {
            Assert.Equal(-1, hit!.Span.IndexOfAnyExcept((byte)0x77));
        }

        cache.Dispose();
        Assert.Equal(0, cache.HeldBytes);
        Assert.Null(cache.Take(Id(7)));
    }
}
