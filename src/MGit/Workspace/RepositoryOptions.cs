using MGit.Primitives;
using MGit.Storage;

namespace MGit.Workspace;

/// <summary>Settings of a repository session that are not stored in the repository.</summary>
public sealed record RepositoryOptions
{
    /// <summary>Threads that hash, compress and verify chunks.</summary>
    public int Workers { get; init; } = System.Environment.ProcessorCount;
    /// <summary>Flush each object to disk before publishing it (survives power loss, not only a killed process).</summary>
    public bool FlushToDisk { get; init; } = true;
    /// <summary>The clock that stamps new versions, test runs and cascades; replace it for reproducible times.</summary>
    public TimeProvider Clock { get; init; } = TimeProvider.System;
    /// <summary>Where long operations report progress; by default nowhere.</summary>
    public IProgressSink Progress { get; init; } = NoProgress.Instance;
    /// <summary>How long to wait for a lock held by gc (or, for gc, by other commands).</summary>
    public TimeSpan LockWait { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>
    /// Decoded chunks a checkout of several models may hold for the later ones (parents' chunks
    /// that are their children's delta bases); beyond it chunks are decoded again. 0 turns it off.
    /// </summary>
    public long CheckoutCacheBytes { get; init; } = 256L << 20;
    /// <summary>
    /// Checked-out files of at least this many bytes are written with direct I/O where the
    /// platform and file system allow it (<see cref="CheckoutFile"/>); 0 for every file,
    /// <see cref="long.MaxValue"/> for none.
    /// </summary>
    public long DirectWriteMinBytes { get; init; } = DefaultDirectWriteMinBytes;
    /// <summary>Default of <see cref="DirectWriteMinBytes"/>, 256 MiB.</summary>
    public const long DefaultDirectWriteMinBytes = 256L << 20;
    /// <summary>
    /// How many lineage segments a remote's ref names before a push folds them into a new
    /// checkpoint (see REMOTES.md): fewer means smaller refs, more means checkpoints rewritten less often.
    /// </summary>
    public int LineageSegmentsPerCheckpoint { get; init; } = DefaultLineageSegmentsPerCheckpoint;
    /// <summary>Default of <see cref="LineageSegmentsPerCheckpoint"/>.</summary>
    public const int DefaultLineageSegmentsPerCheckpoint = 128;
    /// <summary>
    /// How many stored models automatic placement ranks by their full fingerprints: the nearest by
    /// sketch (see DIFF.md, "Placement at size"), with their versions and parents. 0 ranks every
    /// stored model (the full scan); so does a repository of at most this many versions.
    /// </summary>
    public int PlacementCandidates { get; init; } = DefaultPlacementCandidates;
    /// <summary>Default of <see cref="PlacementCandidates"/>.</summary>
    public const int DefaultPlacementCandidates = 64;
    /// <summary>Where remotes read AWS credentials and region (AWS_ACCESS_KEY_ID, AWS_REGION, ...).</summary>
    public Func<string, string?> Environment { get; init; } = System.Environment.GetEnvironmentVariable;
}
