namespace MGit.Diff;

/// <summary>The statuses a tensor can have in a diff, as the CLI prints them.</summary>
public static class TensorStatus
{
    /// <summary>Same dtype, shape and bytes (a file: same bytes).</summary>
    public const string Identical = "identical";
    /// <summary>Same dtype and shape, different bytes (a file: different bytes).</summary>
    public const string Changed = "changed";
    /// <summary>Same shape, different element type.</summary>
    public const string DtypeChanged = "dtype_changed";
    /// <summary>Different dimensions (whatever the dtype).</summary>
    public const string ShapeChanged = "shape_changed";
    /// <summary>Only in the second model (tensor or file).</summary>
    public const string Added = "added";
    /// <summary>Only in the first model (tensor or file).</summary>
    public const string Removed = "removed";
    /// <summary>Only in the second model under this name, with the content of a tensor only in the first.</summary>
    public const string Renamed = "renamed";

    /// <summary>Every status, in the order the CLI reports them.</summary>
    public static IReadOnlyList<string> All { get; } = [Identical, Changed, DtypeChanged, ShapeChanged, Added, Removed, Renamed];
}

/// <summary>
/// One tensor's line in a diff. <see cref="A"/> and <see cref="B"/> are the tensor on each side
/// (one is null for added and removed); <see cref="Statistics"/> is set for changed tensors and
/// for dtype casts of equal shape.
/// </summary>
public sealed record TensorDiff(string Name, string Status, DiffTensor? A, DiffTensor? B, TensorStatistics? Statistics)
{
    /// <summary>The old name of a renamed tensor.</summary>
    public string? From => Status == TensorStatus.Renamed ? A!.Name : null;

    /// <summary>
    /// For a changed tensor: how many of its bytes differ (null for other statuses). Set whether or
    /// not its values could be read, so a change whose values all compare equal (a sign of zero, a
    /// NaN payload, a quantized block's unused sums) is still seen.
    /// </summary>
    public long? ChangedBytes { get; init; }

    /// <summary>Whether <see cref="Statistics"/> were computed from dequantised blocks (a quantized ggml type on either side).</summary>
    public bool Dequantized { get; init; }

    /// <summary>Whether the tensor changed but its dtype's values cannot be read: only its bytes were compared.</summary>
    public bool StatisticsUnavailable => Status == TensorStatus.Changed && Statistics is null;
}

/// <summary>One file's line in a diff: identical, changed, added or removed, with what can be said about the change.</summary>
public sealed record FileDiff(
    string Path,
    string Status,
    string Format,
    long? LengthA,
    long? LengthB,
    IReadOnlyList<JsonChange>? Json = null,
    IReadOnlyList<LineChange>? Lines = null,
    IReadOnlyList<JsonChange>? Metadata = null,
    StructuralDiffResult? Graph = null,
    string? Note = null);

/// <summary>The totals of a diff, as the CLI prints them under the tensor lines.</summary>
/// <param name="TensorsA">Number of tensors in the first model.</param>
/// <param name="TensorsB">Number of tensors in the second model.</param>
/// <param name="ParametersA">Number of elements over all tensors of the first model.</param>
/// <param name="ParametersB">Number of elements over all tensors of the second model.</param>
/// <param name="ParametersChanged">Number of elements whose values differ, over the changed and recast tensors compared element by element.</param>
/// <param name="Counts">Number of tensors with each status (keys from <see cref="TensorStatus"/>).</param>
/// <param name="FilesChanged">Number of files that are not identical.</param>
public sealed record DiffSummary(
    int TensorsA,
    int TensorsB,
    long ParametersA,
    long ParametersB,
    long ParametersChanged,
    IReadOnlyDictionary<string, int> Counts,
    int FilesChanged)
{
    /// <summary>Number of changed tensors whose values could not be read (a dtype without statistics): their bytes were compared.</summary>
    public int ChangedWithoutStatistics { get; init; }
}

/// <summary>The full comparison of two models: every tensor and every file, with totals.</summary>
/// <param name="A">The first side: a version's <c>NAME@VERSION</c>, or the path given.</param>
/// <param name="B">The second side: a version's <c>NAME@VERSION</c>, or the path given.</param>
/// <param name="Tensors">One line per tensor of either side.</param>
/// <param name="Files">One line per file of either side.</param>
/// <param name="Summary">The totals.</param>
public sealed record ModelDiffResult(string A, string B, IReadOnlyList<TensorDiff> Tensors, IReadOnlyList<FileDiff> Files, DiffSummary Summary);

/// <summary>
/// Compares two models tensor by tensor and file by file. Tensors pair by name (qualified by
/// file when a model repeats a name); left-over tensors of equal content pair as renames.
/// Equal chunk ids are equal bytes, so identical tensors are never read.
/// </summary>
internal static class ModelDiff
{
    /// <summary>Files larger than this get no JSON or line diff (they are named as changed).</summary>
    public const long MaxTextBytes = 4 * 1024 * 1024;

    public static ModelDiffResult Compare(DiffSide a, DiffSide b)
    {
        var tensorsA = Keyed(a.Tensors);
        var tensorsB = Keyed(b.Tensors);
        var diffs = new List<TensorDiff>();
        var removed = new List<(string Key, DiffTensor Tensor)>();
        foreach (var (key, ta) in tensorsA)
        {
            if (tensorsB.TryGetValue(key, out var tb))
            {
                diffs.Add(ComparePair(key, ta, tb));
            }
            else
            {
                removed.Add((key, ta));
            }
        }

        // Renames: a tensor only in B whose content equals one only in A.
        var removedByContent = removed.GroupBy(r => r.Tensor.ContentHash).ToDictionary(g => g.Key, g => new Queue<(string Key, DiffTensor Tensor)>(g));
        foreach (var (key, tb) in tensorsB.Where(p => !tensorsA.ContainsKey(p.Key)))
        {
            if (removedByContent.TryGetValue(tb.ContentHash, out var queue) && queue.Count > 0)
            {
                var (_, ta) = queue.Dequeue();
                diffs.Add(new TensorDiff(key, TensorStatus.Renamed, ta, tb, null));
            }
            else
            {
                diffs.Add(new TensorDiff(key, TensorStatus.Added, null, tb, null));
            }
        }

        foreach (var queue in removedByContent.Values)
        {
            diffs.AddRange(queue.Select(r => new TensorDiff(r.Key, TensorStatus.Removed, r.Tensor, null, null)));
        }

        var files = CompareFiles(a, b);
        var counts = TensorStatus.All.ToDictionary(s => s, s => diffs.Count(d => d.Status == s), StringComparer.Ordinal);
        var summary = new DiffSummary(
            a.Tensors.Count,
            b.Tensors.Count,
            a.Tensors.Sum(t => t.Elements),
            b.Tensors.Sum(t => t.Elements),
            diffs.Sum(d => d.Statistics?.ChangedElements ?? 0),
            counts,
            files.Count(f => f.Status != TensorStatus.Identical))
        {
            ChangedWithoutStatistics = diffs.Count(d => d.StatisticsUnavailable),
        };
        return new ModelDiffResult(a.Label, b.Label, diffs, files, summary);
    }

    private static Dictionary<string, DiffTensor> Keyed(IReadOnlyList<DiffTensor> tensors)
    {
        var repeated = tensors.GroupBy(t => t.Name, StringComparer.Ordinal).Where(g => g.Count() > 1).Select(g => g.Key).ToHashSet(StringComparer.Ordinal);
        var keyed = new Dictionary<string, DiffTensor>(StringComparer.Ordinal);
        foreach (var t in tensors)
        {
            keyed.TryAdd(repeated.Contains(t.Name) ? $"{t.File}:{t.Name}" : t.Name, t);
        }

        return keyed;
    }

    private static TensorDiff ComparePair(string key, DiffTensor a, DiffTensor b)
    {
        if (!a.Shape.SequenceEqual(b.Shape))
        {
            return new TensorDiff(key, TensorStatus.ShapeChanged, a, b, null);
        }

        bool readable = TensorStatisticsCalculator.CanCompute(a, b);
        bool dequantized = readable && (ElementValues.Decoder(a.Dtype)!.Quantized is not null || ElementValues.Decoder(b.Dtype)!.Quantized is not null);
        if (a.Dtype != b.Dtype)
        {
            return new TensorDiff(key, TensorStatus.DtypeChanged, a, b, readable ? TensorStatisticsCalculator.Compute(a, b).Statistics : null) { Dequantized = dequantized };
        }

        if (a.SameContent(b))
        {
            return new TensorDiff(key, TensorStatus.Identical, a, b, null);
        }

        if (readable)
        {
            var (statistics, changedBytes) = TensorStatisticsCalculator.Compute(a, b);
            return new TensorDiff(key, TensorStatus.Changed, a, b, statistics) { ChangedBytes = changedBytes, Dequantized = dequantized };
        }

        // Values that cannot be read are still compared byte for byte, so the change is named and sized.
        return new TensorDiff(key, TensorStatus.Changed, a, b, null) { ChangedBytes = ByteComparison.ChangedBytes(a, b, Math.Min(a.ByteLength, b.ByteLength)) };
    }

    private static List<FileDiff> CompareFiles(DiffSide a, DiffSide b)
    {
        var pairs = new List<(string Path, DiffFile? A, DiffFile? B)>();
        var restA = a.Files.ToList();
        var restB = b.Files.ToList();
        var modelA = a.Files.Where(f => f.TensorCount > 0).ToList();
        var modelB = b.Files.Where(f => f.TensorCount > 0).ToList();
        if ((a.SingleFile || b.SingleFile) && modelA.Count == 1 && modelB.Count == 1 && modelA[0].Path != modelB[0].Path)
        {
            // A model file against a model file (or a folder's only weights file): compare them whatever their names.
            pairs.Add(($"{modelA[0].Path} -> {modelB[0].Path}", modelA[0], modelB[0]));
            restA.Remove(modelA[0]);
            restB.Remove(modelB[0]);
        }

        var byPath = restB.ToDictionary(f => f.Path, StringComparer.Ordinal);
        foreach (var fa in restA)
        {
            pairs.Add((fa.Path, fa, byPath.GetValueOrDefault(fa.Path)));
        }

        var inA = restA.Select(f => f.Path).ToHashSet(StringComparer.Ordinal);
        pairs.AddRange(restB.Where(f => !inA.Contains(f.Path)).Select(f => (f.Path, (DiffFile?)null, (DiffFile?)f)));
        return pairs.Select(p => CompareFile(p.Path, p.A, p.B, a, b)).ToList();
    }

    private static FileDiff CompareFile(string path, DiffFile? fa, DiffFile? fb, DiffSide a, DiffSide b)
    {
        if (fa is null || fb is null)
        {
            var present = (fa ?? fb)!;
            return new FileDiff(path, fa is null ? TensorStatus.Added : TensorStatus.Removed, present.Format, fa?.Length, fb?.Length);
        }

        string format = fa.Format == fb.Format ? fa.Format : $"{fa.Format} -> {fb.Format}";
        if (fa.Length == fb.Length && fa.Chunks.SequenceEqual(fb.Chunks))
        {
            return new FileDiff(path, TensorStatus.Identical, format, fa.Length, fb.Length);
        }

        if (fa.TensorCount > 0 || fb.TensorCount > 0)
        {
            var metadata = MetadataChanges(fa.Metadata, fb.Metadata);
            StructuralDiffResult? graph = fa.Format == fb.Format && StructuralDiffs.For(fa.Format) is { } structural
                ? structural.Diff(fa, fb, a.Tensors.Where(t => t.File == fa.Path).ToList(), b.Tensors.Where(t => t.File == fb.Path).ToList())
                : null;
            return new FileDiff(path, TensorStatus.Changed, format, fa.Length, fb.Length, Metadata: metadata.Count > 0 ? metadata : null, Graph: graph, Note: "tensors compared above");
        }

        if (fa.Length > MaxTextBytes || fb.Length > MaxTextBytes)
        {
            return new FileDiff(path, TensorStatus.Changed, format, fa.Length, fb.Length, Note: $"larger than {MaxTextBytes / (1024 * 1024)} MiB: not compared line by line");
        }

        byte[] bytesA = fa.ReadAll(), bytesB = fb.ReadAll();
        bool looksJson = path.EndsWith(".json", StringComparison.OrdinalIgnoreCase);
        if (looksJson && JsonDiff.Compare(bytesA, bytesB) is { } json)
        {
            return new FileDiff(path, TensorStatus.Changed, format, fa.Length, fb.Length, Json: json, Note: json.Count == 0 ? "same JSON content, different bytes (formatting)" : null);
        }

        if (LineDiff.Lines(bytesA) is { } linesA && LineDiff.Lines(bytesB) is { } linesB)
        {
            var lines = LineDiff.Compare(linesA, linesB);
            return new FileDiff(path, TensorStatus.Changed, format, fa.Length, fb.Length, Lines: lines, Note: lines is null ? $"more than {LineDiff.MaxEdits} lines differ" : null);
        }

        return new FileDiff(path, TensorStatus.Changed, format, fa.Length, fb.Length, Note: "binary content differs");
    }

    private static List<JsonChange> MetadataChanges(IReadOnlyDictionary<string, string>? a, IReadOnlyDictionary<string, string>? b)
    {
        a ??= new Dictionary<string, string>();
        b ??= new Dictionary<string, string>();
        var changes = new List<JsonChange>();
        foreach (var (key, value) in a.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            if (!b.TryGetValue(key, out string? other))
            {
                changes.Add(new JsonChange(key, "removed", value, null));
            }
            else if (other != value)
            {
                changes.Add(new JsonChange(key, "changed", value, other));
            }
        }

        changes.AddRange(b.Where(p => !a.ContainsKey(p.Key)).OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => new JsonChange(p.Key, "added", null, p.Value)));
        return changes;
    }
}
