using MGit.Primitives;
using MGit.Storage;

namespace MGit.Tests.Storage;

public sealed class RentedBufferTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData((1 << 20) - 1)]
    [InlineData(1 << 20)]
    [InlineData((4 << 20) + 17)]
    [InlineData(16 << 20)]
    [InlineData((16 << 20) + 1)]
    public void A_buffer_has_the_length_asked_for_and_is_gone_after_dispose(int length)
    {
        var buffer = new RentedBuffer(length);
        Assert.Equal(length, buffer.Span.Length);
        buffer.Span.Fill(0x5A);
        buffer.Dispose();
        buffer.Dispose();
        Assert.Throws<ObjectDisposedException>(() => buffer.Span.Length);
    }

    [Fact]
    public void Large_buffers_in_use_at_once_never_share_memory()
    {
        // Many threads renting and returning the large (huge-page pooled) sizes at once: each
        // fills its buffer with its own byte and must find it unchanged before giving it back.
        int[] lengths = [1 << 20, (4 << 20) - 3, 4 << 20, (4 << 20) + 16_400, 9 << 20];
        int failures = 0;
        Parallel.For(0, 64, new ParallelOptions { MaxDegreeOfParallelism = 8 }, i =>
        {
            byte mark = (byte)(i + 1);
            using var held = new RentedBuffer(lengths[i % lengths.Length]);
            using var other = new RentedBuffer(lengths[(i + 1) % lengths.Length]);
            held.Span.Fill(mark);
            other.Span.Fill((byte)(mark ^ 0xFF));
            Thread.Sleep(1);
            if (held.Span.IndexOfAnyExcept(mark) >= 0 || other.Span.IndexOfAnyExcept((byte)(mark ^ 0xFF)) >= 0)
            {
                Interlocked.Increment(ref failures);
            }
        });
        Assert.Equal(0, failures);
    }

    [Theory]
    [InlineData(1000)]
    [InlineData(4 << 20)]
    public void A_shared_buffer_keeps_its_bytes_until_its_last_handle_is_disposed(int length)
    {
        var original = new RentedBuffer(length);
        original.Span.Fill(0x3C);
        var shared = original.Share();
        original.Dispose();
        Assert.Throws<ObjectDisposedException>(() => original.Span.Length);

        // Were the memory back in its pool, these would be handed it and overwrite it.
        var others = Enumerable.Range(0, 40).Select(_ => new RentedBuffer(length)).ToList();
        others.ForEach(b => b.Span.Fill(0xC3));
        Assert.Equal(length, shared.Span.Length);
        Assert.Equal(-1, shared.Span.IndexOfAnyExcept((byte)0x3C));
        others.ForEach(b => b.Dispose());
        shared.Dispose();
        shared.Dispose();
        Assert.Throws<ObjectDisposedException>(() => shared.Share());
    }
}
