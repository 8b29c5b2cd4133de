using MGit.Storage;

namespace MGit.Cli.Rendering;

/// <summary>How a tensor shares its bytes with others of the same version.</summary>
/// <param name="How">
/// <c>tied</c>: the same view of the same storage (tied weights); <c>storage</c>: another view of
/// the same storage; <c>data</c>: a separate tensor whose bytes are the same stored objects.
/// </param>
/// <param name="With">The other tensors, as <c>NAME</c> (same file) or <c>FILE:NAME</c>: the first <see cref="MaxNames"/>.</param>
/// <param name="Count">How many other tensors share it (all-zero biases of a big model can be hundreds).</param>
public sealed record TensorSharing(string How, IReadOnlyList<string> With, int Count)
{
    /// <summary>Names listed per tensor: a group of n equal tensors would otherwise list n² names (36 MB of JSON for a DenseNet).</summary>
    public const int MaxNames = 16;

    /// <summary>For each tensor of <paramref name="manifest"/>, in <see cref="ModelDetails.Tensors"/> order, what it shares (null: nothing).</summary>
    public static IReadOnlyList<TensorSharing?> Of(Manifest manifest)
    {
        var listed = manifest.Files.SelectMany(f => f.ListedTensors().Select(t => (File: f.Path, Tensor: t))).ToList();
        var result = new TensorSharing?[listed.Count];
        string Name(int other, int of) => listed[other].File == listed[of].File ? listed[other].Tensor.Tensor.Name : $"{listed[other].File}:{listed[other].Tensor.Tensor.Name}";

        // Views (PyTorch) of one storage point at the same segment.
        var views = Enumerable.Range(0, listed.Count)
            .Where(i => listed[i].Tensor.View is not null && listed[i].Tensor.Segment is not null)
            .GroupBy(i => (object)listed[i].Tensor.Segment!, ReferenceEqualityComparer.Instance);
        foreach (var group in views.Where(g => g.Count() > 1))
        {
            foreach (int i in group)
            {
                var others = group.Where(j => j != i).ToList();
                var tied = others.Where(j => SameView(listed[i].Tensor.View!, listed[j].Tensor.View!)).ToList();
                result[i] = tied.Count > 0
                    ? new TensorSharing("tied", tied.Take(MaxNames).Select(j => Name(j, i)).ToList(), tied.Count)
                    : new TensorSharing("storage", others.Take(MaxNames).Select(j => Name(j, i)).ToList(), others.Count);
            }
        }

        // Separate tensors whose bytes are the same objects (deduplicated: stored once).
        var contents = Enumerable.Range(0, listed.Count)
            .Where(i => result[i] is null && listed[i].Tensor.Segment is { Length: > 0, Chunks.Count: > 0 })
            .GroupBy(i => string.Join(',', listed[i].Tensor.Segment!.Chunks), StringComparer.Ordinal);
        foreach (var group in contents.Select(g => g.ToList()).Where(g => g.Count > 1))
        {
            foreach (int i in group)
            {
                result[i] = new TensorSharing("data", group.Where(j => j != i).Take(MaxNames).Select(j => Name(j, i)).ToList(), group.Count - 1);
            }
        }

        return result;
    }

    private static bool SameView(ManifestView a, ManifestView b) =>
        a.StorageOffset == b.StorageOffset && a.Dtype == b.Dtype && a.Shape.SequenceEqual(b.Shape) && a.Stride.SequenceEqual(b.Stride);

    /// <summary>The table cell: "tied to X", "shares storage with X", "same data as X (stored once)".</summary>
    public string Describe()
    {
        string names = Count <= 3 ? string.Join(", ", With) : $"{string.Join(", ", With.Take(3))} and {Count - 3} more";
        return How switch
        {
            "tied" => $"tied to {names}",
            "storage" => $"shares storage with {names}",
            _ => $"same data as {names} (stored once)",
        };
    }
}
