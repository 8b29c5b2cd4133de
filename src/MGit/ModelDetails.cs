using MGit.Lineage;
using MGit.Storage;

namespace MGit;

/// <summary>A parent or child link as shown to users.</summary>
public sealed record EdgeView(string Ref, EdgeKind Kind, string? How, string? Message);

public sealed record StoredTensor(string File, string Name, string Dtype, IReadOnlyList<long> Shape, long Offset, long Length);

public sealed record ModelDetails(
    ModelVersion Version,
    Manifest Manifest,
    IReadOnlyList<EdgeView> Parents,
    IReadOnlyList<EdgeView> Children)
{
    public IEnumerable<StoredTensor> Tensors =>
        Manifest.Files.SelectMany(f => f.ListedTensors()
            .Select(t => new StoredTensor(f.Path, t.Tensor.Name, t.Tensor.Dtype, t.Tensor.Shape, t.Offset, t.Length)));
}

