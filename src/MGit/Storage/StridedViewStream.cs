namespace MGit.Storage;

/// <summary>
/// The elements of a strided view (a PyTorch tensor that is a transposed or sliced view of its
/// storage) in row-major order, gathered from a seekable stream of the storage's bytes, which it
/// owns. Runs along a last dimension of stride 1 are read at once; other views element by element.
/// </summary>
internal sealed class StridedViewStream : ReadOnlySeekableStream
{
    private readonly Stream _storage;
    private readonly long _first;
    private readonly int _elementSize;
    private readonly long[] _shape;
    private readonly long[] _stride;
    private readonly long _length;
    private readonly long[] _index;

    /// <param name="first">Byte offset in <paramref name="storage"/> of the view's first element.</param>
    /// <param name="stride">Elements between neighbours along each dimension (never negative in PyTorch).</param>
    /// <param name="storage">A seekable stream over the bytes the view reads from.</param>
    /// <param name="elementSize">Bytes per element.</param>
    /// <param name="shape">The view's dimensions.</param>
    public StridedViewStream(Stream storage, long first, int elementSize, IReadOnlyList<long> shape, IReadOnlyList<long> stride)
    {
        if (shape.Count != stride.Count || stride.Any(s => s < 0) || shape.Any(s => s < 0))
        {
            throw new Errors.MGitException(Errors.ErrorKind.Damaged, "a tensor view has a shape and strides that do not fit together");
        }

        _storage = storage;
        _first = first;
        _elementSize = elementSize;
        _shape = [.. shape];
        _stride = [.. stride];
        _index = new long[shape.Count];
        _length = checked(shape.Aggregate(1L, (a, b) => checked(a * b)) * elementSize);
    }

    public override long Length => _length;

    public override int Read(Span<byte> buffer)
    {
        int total = 0;
        while (buffer.Length > 0 && Position < _length)
        {
            long element = Position / _elementSize;
            int within = (int)(Position % _elementSize);

            // Where the element is in the storage, and how many elements follow it contiguously.
            long rest = element;
            long offset = 0;
            for (int d = _shape.Length - 1; d >= 0; d--)
            {
                _index[d] = rest % _shape[d];
                rest /= _shape[d];
                offset = checked(offset + (_index[d] * _stride[d]));
            }

            long run = _shape.Length > 0 && _stride[^1] == 1 ? _shape[^1] - _index[^1] : 1;
            int take = (int)Math.Min(buffer.Length, (run * _elementSize) - within);
            _storage.Position = checked(_first + (offset * _elementSize) + within);
            _storage.ReadExactly(buffer[..take]);
            buffer = buffer[take..];
            Position += take;
            total += take;
        }

        return total;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _storage.Dispose();
        }

        base.Dispose(disposing);
    }
}
