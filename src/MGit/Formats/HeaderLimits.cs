using System.Text;

namespace MGit.Formats;

/// <summary>
/// Caps every format reader applies to one file's header, so that what a reader keeps (and what
/// the add does per tensor afterwards) is bounded whatever the file claims. Each reader's own
/// limits (safetensors header length, GGUF array nesting, pickle size...) come on top; see
/// docs/FORMATS.md, "Header caps".
/// </summary>
internal static class HeaderLimits
{
    /// <summary>Tensors in one file. Real checkpoints hold a few thousand per file; the largest unsharded MoE models a few hundred thousand.</summary>
    public const int MaxTensors = 1_000_000;

    /// <summary>One tensor name, in UTF-8 bytes. Real names are under 200; this leaves room for generated ones.</summary>
    public const int MaxNameBytes = 4096;

    /// <summary>
    /// All tensor names of one file together, in UTF-8 bytes. Names that are not spelled out in the
    /// file (a checkpoint's key paths, labels MGit gives unnamed ONNX tensors) could otherwise
    /// repeat a long prefix for every tensor; this keeps them to a small multiple of a real file's.
    /// </summary>
    public const long MaxTotalNameBytes = 128L * 1024 * 1024;

    /// <summary>Metadata entries of one file (GGUF keys, safetensors __metadata__, ONNX metadata_props). Real files have a few dozen.</summary>
    public const int MaxMetadataEntries = 65_536;

    /// <summary>Dimensions of one tensor (PyTorch's own limit is 64 too).</summary>
    public const int MaxDimensions = 64;

    /// <summary>A name shortened for an error message.</summary>
    public static string Excerpt(string name) => name.Length <= 60 ? name : name[..60] + "…";
}

/// <summary>
/// Counts one file's tensors and name bytes against <see cref="HeaderLimits"/> as a reader finds
/// them; <paramref name="bad"/> makes the reader's own one-line refusal from a problem.
/// </summary>
internal sealed class HeaderBudget(Func<string, Exception> bad)
{
    private int _tensors;
    private long _nameBytes;

    public int Tensors => _tensors;

    /// <summary>One more tensor, named <paramref name="name"/>: refused past the tensor count or the name caps.</summary>
    public void AddTensor(string name)
    {
        if (++_tensors > HeaderLimits.MaxTensors)
        {
            throw bad($"more than {HeaderLimits.MaxTensors} tensors, the limit per file");
        }

        AddName(name, "tensor name");
    }

    /// <summary>A name kept for the file (a tensor name, a metadata key): refused past the per-name or the per-file cap.</summary>
    public void AddName(string name, string what)
    {
        int bytes = Encoding.UTF8.GetByteCount(name);
        if (bytes > HeaderLimits.MaxNameBytes)
        {
            throw bad($"{what} '{HeaderLimits.Excerpt(name)}' is {bytes} bytes long, more than the limit of {HeaderLimits.MaxNameBytes}");
        }

        _nameBytes += bytes;
        if (_nameBytes > HeaderLimits.MaxTotalNameBytes)
        {
            throw bad($"tensor names and keys of more than {HeaderLimits.MaxTotalNameBytes} bytes together, the limit per file");
        }
    }

    /// <summary>Refuses a shape of more than <see cref="HeaderLimits.MaxDimensions"/> dimensions.</summary>
    public void CheckDimensions(string name, int dimensions)
    {
        if (dimensions > HeaderLimits.MaxDimensions)
        {
            throw bad($"tensor '{HeaderLimits.Excerpt(name)}' has {dimensions} dimensions, more than the limit of {HeaderLimits.MaxDimensions}");
        }
    }
}

/// <summary>A reader's refusal of a file over one of <see cref="HeaderLimits"/>, where the reader has no file name at hand to make it an <see cref="Errors.InvalidModelFileException"/>.</summary>
internal sealed class HeaderLimitException(string problem) : Exception(problem);
