using MGit.Lineage;
using MGit.Storage;

namespace MGit;

/// <summary>A parent or child link as shown to users.</summary>
public sealed record EdgeView(string Ref, EdgeKind Kind, string? How, string? Message);

/// <summary>One tensor of a stored model version and where its bytes lie in its file.</summary>
/// <param name="File">Path of the file holding it, relative to the model root.</param>
/// <param name="Name">The tensor's name in the file.</param>
/// <param name="Dtype">The tensor's element type, as the format names it.</param>
/// <param name="Shape">The tensor's dimensions.</param>
/// <param name="Offset">Offset in the file of the tensor's first byte.</param>
/// <param name="Length">Bytes the tensor spans from <paramref name="Offset"/>.</param>
public sealed record StoredTensor(string File, string Name, string Dtype, IReadOnlyList<long> Shape, long Offset, long Length);

/// <summary>Everything stored about one model version: its record, its manifest and its lineage links.</summary>
/// <param name="Version">The version's record.</param>
/// <param name="Manifest">How its files are stored.</param>
/// <param name="Parents">The links to the versions it came from.</param>
/// <param name="Children">The links to the versions that came from it.</param>
public sealed record ModelDetails(
    ModelVersion Version,
    Manifest Manifest,
    IReadOnlyList<EdgeView> Parents,
    IReadOnlyList<EdgeView> Children)
{
    /// <summary>
    /// File metadata key of a PyTorch checkpoint: the globals its pickle refers to that MGit kept
    /// but did not interpret (argparse.Namespace, numpy scalars...), sorted and comma-separated.
    /// </summary>
    public const string UninterpretedGlobalsKey = Formats.PyTorch.PyTorchFormat.UninterpretedKey;

    /// <summary>The tags on the version, by name.</summary>
    public IReadOnlyList<ModelTag> Tags { get; init; } = [];

    /// <summary>The globals the version's PyTorch checkpoints refer to that were kept but not interpreted, sorted, each once.</summary>
    public IReadOnlyList<string> UninterpretedGlobals =>
        Manifest.Files
            .SelectMany(f => f.Metadata?.GetValueOrDefault(UninterpretedGlobalsKey)?.Split(", ", StringSplitOptions.RemoveEmptyEntries) ?? [])
            .Distinct(StringComparer.Ordinal)
            .Order(StringComparer.Ordinal)
            .ToList();

    /// <summary>Every tensor of every file of the version, with its location.</summary>
    public IEnumerable<StoredTensor> Tensors =>
        Manifest.Files.SelectMany(f => f.ListedTensors()
            .Select(t => new StoredTensor(f.Path, t.Tensor.Name, t.Tensor.Dtype, t.Tensor.Shape, t.Offset, t.Length)));
}

