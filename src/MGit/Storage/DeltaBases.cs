using MGit.Codecs;
using MGit.Formats;

namespace MGit.Storage;

/// <summary>
/// Finds, for each tensor of a new model, its counterparts in the parent models: the tensor of
/// the same name, or, for names no parent has, the parent tensor of the same shape in the same
/// order (how the MGit paper aligns renamed layers). Castable dtypes count (BF16/F16 from F32).
/// Which counterpart a chunk is stored against is then measured chunk by chunk in the store.
/// </summary>
internal sealed class DeltaBases
{
    /// <summary>More candidates cost more encoding time for rarely any gain.</summary>
    public const int MaxCandidates = 3;

    private readonly List<(ManifestFile File, ManifestSegment Segment)> _parentTensors = [];

    /// <summary>
    /// The parent tensors by name, in manifest order. A model of many tensors is matched by lookup:
    /// scanning every parent tensor for every new one cost minutes for 300,000 tensors.
    /// </summary>
    private readonly Dictionary<string, List<(ManifestFile File, ManifestSegment Segment)>> _byName = new(StringComparer.Ordinal);

    public DeltaBases(IEnumerable<Manifest> parentManifests)
    {
        foreach (var manifest in parentManifests)
        {
            foreach (var file in manifest.Files)
            {
                foreach (var segment in file.Segments.Where(s => s.Tensor is not null && s.Length > 0))
                {
                    _parentTensors.Add((file, segment));
                    if (!_byName.TryGetValue(segment.Tensor!.Name, out var named))
                    {
                        _byName[segment.Tensor.Name] = named = [];
                    }

                    named.Add((file, segment));
                }
            }
        }
    }

    public bool IsEmpty => _parentTensors.Count == 0;

    /// <summary>Candidates for every segment of a new file, by segment index.</summary>
    public IReadOnlyList<BaseSegment>[] For(FileLayout layout)
    {
        var result = new IReadOnlyList<BaseSegment>[layout.Segments.Count];
        var unmatched = new List<int>();
        var namesMatched = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < layout.Segments.Count; i++)
        {
            result[i] = [];
            if (layout.Segments[i].Tensor is not { } tensor || layout.Segments[i].Length == 0)
            {
                continue;
            }

            var byName = _byName.TryGetValue(tensor.Name, out var named) ? named.Where(p => Compatible(tensor, p.Segment.Tensor!)).ToList() : [];
            if (byName.Count > 0)
            {
                namesMatched.Add(tensor.Name);
                result[i] = Distinct(byName);
            }
            else
            {
                unmatched.Add(i);
            }
        }

        if (unmatched.Count == 0)
        {
            return result;
        }

        // Renamed tensors: the k-th unmatched tensor of a shape pairs with the k-th parent tensor of
        // that shape. The spare parent tensors are grouped by shape once (in manifest order), not
        // searched again for every shape.
        var spareByShape = new Dictionary<string, List<(ManifestFile File, ManifestSegment Segment)>>(StringComparer.Ordinal);
        foreach (var p in _parentTensors)
        {
            if (!namesMatched.Contains(p.Segment.Tensor!.Name))
            {
                string key = ShapeKey(p.Segment.Tensor.ToInfo());
                if (!spareByShape.TryGetValue(key, out var sameShape))
                {
                    spareByShape[key] = sameShape = [];
                }

                sameShape.Add(p);
            }
        }

        foreach (var group in unmatched.GroupBy(i => ShapeKey(layout.Segments[i].Tensor!)))
        {
            if (!spareByShape.TryGetValue(group.Key, out var parents))
            {
                continue;
            }

            int k = 0;
            foreach (int i in group)
            {
                if (k < parents.Count && Compatible(layout.Segments[i].Tensor!, parents[k].Segment.Tensor!.ToInfo()))
                {
                    result[i] = Distinct([parents[k]]);
                }

                k++;
            }
        }

        return result;
    }

    private static List<BaseSegment> Distinct(IEnumerable<(ManifestFile File, ManifestSegment Segment)> candidates) =>
        candidates
            .DistinctBy(c => string.Join(',', c.Segment.Chunks.Take(2)))
            .Take(MaxCandidates)
            .Select(c =>
            {
                var kind = ElementKinds.FromDtype(c.Segment.Tensor!.Dtype);
                return new BaseSegment(c.Segment.Chunks, kind, c.File.ChunkBytesOf(c.Segment) / Math.Max(1, kind.Width()));
            })
            .ToList();

    /// <summary>
    /// A dtype the codecs can relate (equal, or a cast from F32). Shapes may differ: a grown
    /// vocabulary matches by name and its extra rows are stored as they are.
    /// </summary>
    private static bool Compatible(TensorInfo child, ManifestTensor parent) => Compatible(child, parent.ToInfo());

    private static bool Compatible(TensorInfo child, TensorInfo parent) =>
        child.Dtype == parent.Dtype || (parent.Dtype == "F32" && child.Dtype is "BF16" or "F16");

    private static string ShapeKey(TensorInfo tensor) => string.Join('x', tensor.Shape);
}
