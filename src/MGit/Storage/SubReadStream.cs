namespace MGit.Storage;

/// <summary>A read-only window [start, start + length) of a seekable stream, which it owns.</summary>
internal sealed class SubReadStream : ReadOnlySeekableStream
{
    private readonly Stream _inner;
    private readonly long _start;
    private readonly long _length;

    public SubReadStream(Stream inner, long start, long length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(start);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        _inner = inner;
        _start = start;
        _length = length;
    }

    public override long Length => _length;

    public override int Read(Span<byte> buffer)
    {
        long left = _length - Position;
        if (left <= 0)
        {
            return 0;
        }

        _inner.Position = _start + Position;
        int read = _inner.Read(buffer[..(int)Math.Min(buffer.Length, left)]);
        Position += read;
        return read;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _inner.Dispose();
        }

        base.Dispose(disposing);
    }
}
