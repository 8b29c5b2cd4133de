using MGit.Diff;
using MGit.Lineage;
using MGit.Testing;

namespace MGit.Ingest;

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
    /// <summary>The model's type (say <c>llm</c>), which test scopes like <c>type:llm</c> select on; null for none.</summary>
    public string? Type { get; init; }
    /// <summary>Free-form key/value pairs stored with the version.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; init; } = new Dictionary<string, string>();
    /// <summary>A note on the version (as a commit message), shown by <c>mgit show</c> and in the lineage tree.</summary>
    public string? Message { get; init; }
    /// <summary>
    /// Store float tensors that have a parent counterpart lossily, each element within this
    /// absolute bound (the MGit paper's default is 1e-4). Null: lossless (the default).
    /// </summary>
    public double? LossyErrorBound { get; init; }
    /// <summary>How the model was derived, replayable by the cascade (see <see cref="Execution.Recipe"/>).</summary>
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
public sealed record LossyCheck(bool Accepted, double ErrorBound, IReadOnlyList<TestResult> Results);

/// <summary>What an add stored: <paramref name="NewBytes"/> of content not stored before, taking <paramref name="StoredBytes"/> on disk.</summary>
public sealed record AddResult(ModelVersion Version, int Files, int Tensors, long LogicalBytes, long NewBytes, long StoredBytes, long ChunksNew, long ChunksReused)
{
    /// <summary>Set when --lossy was asked for: what was checked and whether the lossy encoding was kept.</summary>
    public LossyCheck? Lossy { get; init; }
    /// <summary>Set when the parent was chosen automatically.</summary>
    public PlacementResult? Placement { get; init; }
}
