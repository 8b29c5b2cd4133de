namespace MGit.Formats;

/// <summary>
/// A tensor as a format describes it: name, element type and shape (outermost dimension first),
/// and how the dtype lays out its elements. <see cref="Layout"/> is null where the reader does not
/// describe one (sub-byte and variable-size dtypes, dtypes it does not know): such tensors are
/// chunked as plain bytes. It must depend on the dtype alone: it decides where chunks are cut,
/// which deduplication across versions relies on.
/// </summary>
public sealed record TensorInfo(string Name, string Dtype, IReadOnlyList<long> Shape, ElementLayout? Layout = null);

/// <summary>
/// A run of bytes of a model file: tensor payload when <see cref="Tensor"/> is set, otherwise
/// skeleton (headers, metadata, padding) kept verbatim.
/// </summary>
public sealed record Segment(long Offset, long Length, TensorInfo? Tensor);

/// <summary>A tensor kept in a side file: the file's path relative to the model file's folder, and where in it.</summary>
public sealed record ExternalTensorSpan(string Location, long Offset, long Length, TensorInfo Tensor);

/// <summary>
/// A tensor that is a strided view into a tensor segment's bytes, for formats where several
/// tensors share one buffer (PyTorch storages). <see cref="Segment"/> is the index of that
/// segment in the layout, or null when its bytes are not a span of the file (a compressed zip
/// member); <see cref="StorageOffset"/> and <see cref="Stride"/> count elements;
/// <see cref="ByteOffset"/> (in the file) and <see cref="ByteLength"/> bound the bytes it reads.
/// </summary>
public sealed record TensorView(TensorInfo Tensor, int? Segment, long StorageOffset, IReadOnlyList<long> Stride, long ByteOffset, long ByteLength)
{
    /// <summary>Whether a view of this shape and stride (in elements) reads one run of elements in order; dimensions of size 1 may have any stride.</summary>
    public static bool IsContiguous(IReadOnlyList<long> shape, IReadOnlyList<long> stride)
    {
        long expected = 1;
        for (int i = shape.Count - 1; i >= 0; i--)
        {
            if (shape[i] != 1 && stride[i] != expected)
            {
                return false;
            }

            expected = checked(expected * shape[i]);
        }

        return true;
    }
}

/// <summary>
/// A model file seen as skeleton plus tensor spans. The segments cover the file from 0 to
/// <see cref="Length"/> in order, so writing them back in order rebuilds it byte for byte.
/// </summary>
public sealed record FileLayout(string Format, long Length, IReadOnlyList<Segment> Segments, IReadOnlyDictionary<string, string>? Metadata = null)
{
    /// <summary>
    /// Tensors whose bytes this file says are in other files (ONNX external data); they lay out
    /// those side files when the folder holding both is added (see <c>FolderLayouts</c>).
    /// </summary>
    public IReadOnlyList<ExternalTensorSpan> ExternalTensors { get; init; } = [];

    /// <summary>Builds a layout from tensor spans, filling every gap with a skeleton segment.</summary>
    public static FileLayout FromTensorSpans(string format, long fileLength, IEnumerable<Segment> tensorSpans, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var segments = new List<Segment>();
        long position = 0;
        foreach (var span in tensorSpans.OrderBy(s => s.Offset).ThenBy(s => s.Length))
        {
            if (span.Offset < position)
            {
                throw new InvalidOperationException($"tensor spans overlap at offset {span.Offset}");
            }

            if (span.Offset > position)
            {
                segments.Add(new Segment(position, span.Offset - position, null));
            }

            segments.Add(span);
            position = checked(span.Offset + span.Length);
        }

        if (position > fileLength)
        {
            throw new InvalidOperationException($"tensor spans end at {position}, beyond the file's {fileLength} bytes");
        }

        if (position < fileLength)
        {
            segments.Add(new Segment(position, fileLength - position, null));
        }

        return new FileLayout(format, fileLength, segments, metadata);
    }

    /// <summary>The tensors as the format defines them, when they are views into shared segments rather than the segments themselves.</summary>
    public IReadOnlyList<TensorView>? Views { get; init; }

    /// <summary>The file's tensors as the format defines them: the views when there are any, else the tensor segments.</summary>
    public IEnumerable<TensorInfo> Tensors => Views is { } views ? views.Select(v => v.Tensor) : Segments.Where(s => s.Tensor is not null).Select(s => s.Tensor!);
}
