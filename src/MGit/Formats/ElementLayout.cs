namespace MGit.Formats;

/// <summary>
/// How a dtype lays out its elements, as the format that reads it describes it: every
/// <see cref="BlockBytes"/> bytes hold <see cref="BlockElements"/> elements. Plain dtypes have
/// one-element blocks; block-quantised dtypes (GGUF's Q4_K...) pack a block of elements with
/// their scales, the smallest unit that means anything on its own. Storage cuts tensors into
/// chunks by this description alone, never by a format's dtype names.
/// </summary>
public sealed record ElementLayout
{
    private static readonly ElementLayout[] Scalars = [new(1, 1), new(1, 2), new(1, 4), new(1, 8)];

    private ElementLayout(int blockElements, int blockBytes)
    {
        BlockElements = blockElements;
        BlockBytes = blockBytes;
    }

    /// <summary>Elements per block: 1 for plain dtypes.</summary>
    public int BlockElements { get; }

    /// <summary>Bytes per block: the element size of plain dtypes.</summary>
    public int BlockBytes { get; }

    /// <summary>Whether elements come in blocks of more than one (block-quantised dtypes).</summary>
    public bool IsBlock => BlockElements > 1;

    /// <summary>A plain dtype of <paramref name="bytes"/> bytes per element.</summary>
    public static ElementLayout Scalar(int bytes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(bytes, 1);
        return bytes switch
        {
            1 => Scalars[0],
            2 => Scalars[1],
            4 => Scalars[2],
            8 => Scalars[3],
            _ => new ElementLayout(1, bytes),
        };
    }

    /// <summary>A block-quantised dtype: <paramref name="elements"/> elements in every <paramref name="bytes"/> bytes.</summary>
    public static ElementLayout Blocks(int elements, int bytes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(elements, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(bytes, 1);
        return elements == 1 ? Scalar(bytes) : new ElementLayout(elements, bytes);
    }
}
