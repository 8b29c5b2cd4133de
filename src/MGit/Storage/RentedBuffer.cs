using System.Buffers;

namespace MGit.Storage;

/// <summary>A byte array rented from the shared pool with the length actually used.</summary>
public sealed class RentedBuffer : IDisposable
{
    private byte[]? _array;

    public RentedBuffer(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        _array = ArrayPool<byte>.Shared.Rent(Math.Max(length, 1));
        Length = length;
    }

    public int Length { get; private set; }

    public byte[] Array => _array ?? throw new ObjectDisposedException(nameof(RentedBuffer));

    public Span<byte> Span => Array.AsSpan(0, Length);

    public ReadOnlyMemory<byte> Memory => Array.AsMemory(0, Length);

    /// <summary>Shrinks the used length (the rented array stays).</summary>
    public void Truncate(int length)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, Length);
        Length = length;
    }

    public void Dispose()
    {
        var array = Interlocked.Exchange(ref _array, null);
        if (array is not null)
        {
            ArrayPool<byte>.Shared.Return(array);
        }
    }
}
