using MGit.Lineage;
using MGit.Storage;

namespace MGit;

/// <summary>What to add and how it relates to the models already there.</summary>
public sealed record AddOptions
{
    /// <summary>Model name; defaults to the version-of model's name, else the file stem or folder name.</summary>
    public string? Name { get; init; }
    /// <summary>Refs of the models this one was derived from (adapted edges).</summary>
    public IReadOnlyList<string> Parents { get; init; } = [];
    /// <summary>How it was derived: one of <see cref="DerivationKinds.All"/>.</summary>
    public string? How { get; init; }
    /// <summary>Ref of the version this one succeeds (a versioned edge).</summary>
    public string? VersionOf { get; init; }
    public string? Type { get; init; }
    public IReadOnlyDictionary<string, string> Metadata { get; init; } = new Dictionary<string, string>();
    public string? Message { get; init; }
    /// <summary>
    /// Store float tensors that have a parent counterpart lossily, each element within this
    /// absolute bound (the MGit paper's default is 1e-4). Null: lossless (the default).
    /// </summary>
    public double? LossyErrorBound { get; init; }
    /// <summary>How the model was derived, replayable by the cascade (see <see cref="Cascade.Recipe"/>).</summary>
    public string? Recipe { get; init; }
    /// <summary>Choose the parent automatically from fingerprints (shared tensors, structure, parameter distance).</summary>
    public bool Auto { get; init; }
    /// <summary>
    /// Keep the symbolic links of a folder model that point inside it, as links (restored as
    /// links by checkout); without it any link in the folder refuses the add.
    /// </summary>
    public bool FollowSymlinks { get; init; }
    /// <summary>The reason kept on the new edges when it differs from <see cref="Message"/> (automatic placement).</summary>
    internal string? EdgeMessage { get; init; }
    /// <summary>Existing versions that get the new version as their parent (automatic placement).</summary>
    internal IReadOnlyList<(long ChildId, long? ReplacesParentId, string? How, string? Message)> ChildEdges { get; init; } = [];
}

/// <summary>What a lossy add checked: the registered tests run on the reconstruction, and whether the lossy encoding was kept.</summary>
public sealed record LossyCheck(bool Accepted, double ErrorBound, IReadOnlyList<Testing.TestResult> Results);

/// <summary>What an add stored: <paramref name="NewBytes"/> of content not stored before, taking <paramref name="StoredBytes"/> on disk.</summary>
public sealed record AddResult(ModelVersion Version, int Files, int Tensors, long LogicalBytes, long NewBytes, long StoredBytes, long ChunksNew, long ChunksReused)
{
    /// <summary>Set when --lossy was asked for: what was checked and whether the lossy encoding was kept.</summary>
    public LossyCheck? Lossy { get; init; }
    /// <summary>Set when the parent was chosen automatically.</summary>
    public PlacementResult? Placement { get; init; }
}

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

public sealed record RepositoryStats(int Models, int Versions, long LogicalBytes, long StoredBytes, long Objects)
{
    public double Ratio => StoredBytes == 0 ? 0 : (double)LogicalBytes / StoredBytes;
}

public sealed record GcResult(int ObjectsRemoved, long BytesFreed, int TempFilesRemoved);

/// <summary>Files of one kind on a remote: how many, and their bytes.</summary>
public sealed record RemoteFiles(int Count, long Bytes)
{
    public static RemoteFiles Of(IEnumerable<Remotes.RemoteFile> files) =>
        files.Aggregate(new RemoteFiles(0, 0), (sum, f) => new RemoteFiles(sum.Count + 1, sum.Bytes + f.Size));
}

/// <summary>
/// What <c>remote fsck</c> and <c>remote gc</c> found on a remote: the versions of its lineage,
/// its objects (those the lineage needs, and the rest), lineage snapshots the ref no longer names,
/// temporary files of interrupted writes, and every problem (exit 1 when there is one). After
/// <c>remote gc --prune</c>, <see cref="Removed"/> is what was deleted (what was older than the
/// grace period of the unreferenced, old and temporary files).
/// </summary>
public sealed record RemoteReport(
    string Url,
    int Versions,
    RemoteFiles Objects,
    RemoteFiles Referenced,
    RemoteFiles Unreferenced,
    RemoteFiles OldSnapshots,
    RemoteFiles TempFiles,
    IReadOnlyList<string> Problems)
{
    public RemoteFiles? Removed { get; init; }

    public bool Intact => Problems.Count == 0;
}

public sealed record FsckReport(int ObjectsChecked, int VersionsChecked, int Unreferenced, IReadOnlyList<string> Problems)
{
    public bool Intact => Problems.Count == 0;
}
