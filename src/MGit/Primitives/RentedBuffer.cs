using System.Buffers;

namespace MGit.Primitives;

/// <summary>
/// A pooled byte buffer with the length actually used: large ones from
/// <see cref="HugePageBuffers"/>, small ones from the shared array pool. <see cref="Share"/> hands
/// out further read-only handles to the same memory, which goes back to its pool when the last
/// handle is disposed.
/// </summary>
internal sealed class RentedBuffer : IDisposable
{
    private Memory? _memory;

    public RentedBuffer(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        Length = length;
        _memory = length >= HugePageBuffers.MinimumLength && HugePageBuffers.Rent(length) is { } block
            ? new Memory(block.Array, block.Offset, block)
            : new Memory(ArrayPool<byte>.Shared.Rent(Math.Max(length, 1)), 0, null);
    }

    private RentedBuffer(Memory memory, int length)
    {
        _memory = memory;
        Length = length;
    }

    public int Length { get; private set; }

    public Span<byte> Span
    {
        get
        {
            var memory = _memory ?? throw new ObjectDisposedException(nameof(RentedBuffer));
            return memory.Array.AsSpan(memory.Offset, Length);
        }
    }

    /// <summary>
    /// Another handle to the same bytes, valid until it is itself disposed. Holders of shared
    /// handles must only read: a write through one shows through every other.
    /// </summary>
    public RentedBuffer Share()
    {
        var memory = _memory ?? throw new ObjectDisposedException(nameof(RentedBuffer));
        Interlocked.Increment(ref memory.Handles);
        return new RentedBuffer(memory, Length);
    }

    /// <summary>Shrinks the used length of this handle (the rented array stays).</summary>
    public void Truncate(int length)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, Length);
        Length = length;
    }

    public void Dispose() => Interlocked.Exchange(ref _memory, null)?.Release();

    /// <summary>The rented array, returned to its pool when its last handle lets go.</summary>
    private sealed class Memory(byte[] array, int offset, HugePageBuffers.Block? block)
    {
        public int Handles = 1;

        public byte[] Array { get; } = array;

        public int Offset { get; } = offset;

        public void Release()
        {
            if (Interlocked.Decrement(ref Handles) != 0)
            {
                return;
            }

            if (block is not null)
            {
                HugePageBuffers.Return(block);
            }
            else
            {
                ArrayPool<byte>.Shared.Return(Array);
            }
        }
    }
}
