using System.Buffers;

namespace MGit.Storage;

/// <summary>
/// A pooled byte buffer with the length actually used: large ones from
/// <see cref="HugePageBuffers"/>, small ones from the shared array pool.
/// </summary>
public sealed class RentedBuffer : IDisposable
{
    private byte[]? _array;
    private readonly HugePageBuffers.Block? _block;
    private readonly int _offset;

    public RentedBuffer(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        Length = length;
        if (length >= HugePageBuffers.MinimumLength && HugePageBuffers.Rent(length) is { } block)
        {
            (_block, _array, _offset) = (block, block.Array, block.Offset);
            return;
        }

        _array = ArrayPool<byte>.Shared.Rent(Math.Max(length, 1));
    }

    public int Length { get; private set; }

    public Span<byte> Span => (_array ?? throw new ObjectDisposedException(nameof(RentedBuffer))).AsSpan(_offset, Length);

    /// <summary>Shrinks the used length (the rented array stays).</summary>
    public void Truncate(int length)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, Length);
        Length = length;
    }

    public void Dispose()
    {
        var array = Interlocked.Exchange(ref _array, null);
        if (array is null)
        {
            return;
        }

        if (_block is not null)
        {
            HugePageBuffers.Return(_block);
        }
        else
        {
            ArrayPool<byte>.Shared.Return(array);
        }
    }
}
