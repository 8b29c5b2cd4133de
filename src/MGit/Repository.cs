using System.Collections.Concurrent;
using System.Text.Json;
using MGit.Errors;
using MGit.Formats;
using MGit.Lineage;
using MGit.Primitives;
using MGit.Storage;

namespace MGit;

/// <summary>Settings of a repository session that are not stored in the repository.</summary>
public sealed record RepositoryOptions
{
    /// <summary>Threads that hash, compress and verify chunks.</summary>
    public int Workers { get; init; } = System.Environment.ProcessorCount;
    /// <summary>Flush each object to disk before publishing it (survives power loss, not only a killed process).</summary>
    public bool FlushToDisk { get; init; } = true;
    public TimeProvider Clock { get; init; } = TimeProvider.System;
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
    public const long DefaultDirectWriteMinBytes = 256L << 20;
    /// <summary>Where remotes read AWS credentials and region (AWS_ACCESS_KEY_ID, AWS_REGION, ...).</summary>
    public Func<string, string?> Environment { get; init; } = System.Environment.GetEnvironmentVariable;
}

/// <summary>
/// An MGit repository: the facade a program (and the CLI) uses to add, list, walk, check out and
/// maintain models. Storage lives in <see cref="Storage"/>, formats in <see cref="Formats"/>, the
/// graph in <see cref="Lineage"/>.
/// </summary>
public sealed partial class Repository : IDisposable
{
    public const string DirectoryName = ".mgit";

    private readonly RepositoryOptions _options;
    private readonly ObjectStore _objects;
    private readonly LineageStore _lineage;
    private readonly SpaceReserve _reserve;

    private Repository(string root, RepositoryFormat format, LineageStore lineage, RepositoryOptions options)
    {
        Root = root;
        Format = format;
        _options = options;
        _lineage = lineage;
        _objects = new ObjectStore(Path.Combine(MetadataDirectory, "objects"), TempDirectory, options.FlushToDisk, format.MaxDeltaDepth);
        _reserve = new SpaceReserve(Path.Combine(MetadataDirectory, "reserve"));
        AttachLazyOrigin();
    }

    /// <summary>The folder that holds <c>.mgit</c>.</summary>
    public string Root { get; }

    public RepositoryFormat Format { get; private set; }

    public string MetadataDirectory => Path.Combine(Root, DirectoryName);

    private string TempDirectory => Path.Combine(MetadataDirectory, "tmp");

    private string LockPath => Path.Combine(MetadataDirectory, "lock");

    public ObjectStore Objects => _objects;

    /// <summary>
    /// Creates a repository in <paramref name="directory"/> (made if missing). The chunk size is
    /// fixed for the repository's life: equal tensors deduplicate because they are cut the same way.
    /// </summary>
    public static Repository Init(string directory, RepositoryOptions? options = null, int chunkSize = RepositoryFormat.DefaultChunkSize, int maxDeltaDepth = RepositoryFormat.DefaultMaxDeltaDepth)
    {
        string root = Path.GetFullPath(directory);
        string meta = Path.Combine(root, DirectoryName);
        if (File.Exists(Path.Combine(meta, RepositoryFormat.FileName)))
        {
            throw new MGitException($"{root} is already an mgit repository");
        }

        if (File.Exists(root))
        {
            throw new MGitException($"{root} is a file, not a folder");
        }

        Directory.CreateDirectory(Path.Combine(meta, "objects"));
        Directory.CreateDirectory(Path.Combine(meta, "tmp"));
        var format = new RepositoryFormat { ChunkSize = chunkSize, MaxDeltaDepth = maxDeltaDepth, CreatedBy = $"mgit {typeof(Repository).Assembly.GetName().Version}" };
        RepositoryFormat.Validate(format, "the requested format");
        var lineage = LineageStore.Open(Path.Combine(meta, "lineage.db"), create: true);
        // The format file is written last: a repository is only a repository once it is complete.
        format.Save(Path.Combine(meta, RepositoryFormat.FileName));
        var repository = new Repository(root, format, lineage, options ?? new RepositoryOptions());
        repository._reserve.Ensure();
        return repository;
    }

    /// <summary>Opens the repository at <paramref name="directory"/> or the nearest folder above it that has one.</summary>
    public static Repository Open(string directory, RepositoryOptions? options = null)
    {
        string? current = Path.GetFullPath(directory);
        while (current is not null)
        {
            string formatPath = Path.Combine(current, DirectoryName, RepositoryFormat.FileName);
            if (File.Exists(formatPath))
            {
                var format = RepositoryFormat.Load(formatPath);
                var lineage = LineageStore.Open(Path.Combine(current, DirectoryName, "lineage.db"), create: false);
                Directory.CreateDirectory(Path.Combine(current, DirectoryName, "tmp"));
                return new Repository(current, format, lineage, options ?? new RepositoryOptions());
            }

            current = Path.GetDirectoryName(current);
        }

        throw new MGitException($"not an mgit repository (or any parent up to /): {Path.GetFullPath(directory)}; run 'mgit init'");
    }

    /// <summary>
    /// Before the first write with this mgit, a repository of an older format is moved to the
    /// current one: the new objects it is about to get would be unreadable to the older mgit.
    /// Everything already stored stays as it is and is read as before.
    /// </summary>
    private void UpgradeFormatForWriting()
    {
        if (Format.FormatVersion < RepositoryFormat.CurrentVersion)
        {
            Format = Format with { FormatVersion = RepositoryFormat.CurrentVersion };
            Format.Save(Path.Combine(MetadataDirectory, RepositoryFormat.FileName));
        }
    }

    /// <summary>A consistent snapshot of the lineage graph.</summary>
    public LineageGraph Graph() => _lineage.ReadGraph();

    public ModelVersion Resolve(string reference) => Graph().Resolve(reference);

    public Manifest LoadManifest(ModelVersion version)
    {
        using var bytes = _objects.Read(ObjectId.Parse(version.ManifestId));
        return Manifest.FromJson(bytes.Span, version.Ref);
    }

    public ModelDetails Show(string reference)
    {
        var graph = Graph();
        var version = graph.Resolve(reference);
        return new ModelDetails(
            version,
            LoadManifest(version),
            graph.ParentEdges(version).Select(e => new EdgeView(graph[e.ParentId].Ref, e.Kind, e.How, e.Message)).ToList(),
            graph.ChildEdges(version).Select(e => new EdgeView(graph[e.ChildId].Ref, e.Kind, e.How, e.Message)).ToList());
    }

    /// <summary>
    /// Streams one tensor's bytes from the store without rebuilding the file. With several files
    /// (a sharded folder), <paramref name="file"/> picks one when the name is ambiguous.
    /// </summary>
    public Stream OpenTensor(string reference, string tensorName, string? file = null)
    {
        var version = Resolve(reference);
        var manifest = LoadManifest(version);
        var matches = manifest.Files
            .Where(f => file is null || f.Path == file)
            .SelectMany(f => f.ListedTensors().Where(t => t.Tensor.Name == tensorName).Select(t => (File: f, Listed: t)))
            .ToList();
        if (matches.Count == 0)
        {
            throw new MGitException($"{version.Ref} has no tensor named '{tensorName}'");
        }

        if (matches.Count > 1)
        {
            throw new MGitException($"{version.Ref} has {matches.Count} tensors named '{tensorName}'; name the file");
        }

        var (manifestFile, listed) = matches[0];
        if (listed.Segment is not { } segment || (listed.View is { } strided && !Formats.PyTorch.PyTorchFormat.IsContiguous(strided.Shape, strided.Stride)))
        {
            throw new MGitException($"{version.Ref}: tensor '{tensorName}' is not a contiguous run of stored bytes (a compressed or strided view); check the file out instead");
        }

        var stream = new ChunkedReadStream(_objects, segment.Chunks.Select(ObjectId.Parse).ToList(), manifestFile.ChunkBytesOf(segment), segment.Length);
        return listed.View is null ? stream : new SubReadStream(stream, listed.Offset - segment.Offset, listed.Length);
    }

    public RepositoryStats Stats()
    {
        var graph = Graph();
        long stored = 0;
        long objects = 0;
        // What the repository keeps: objects and the lineage database; not the checkout cache, logs or temporary files.
        string[] disposable = [CheckoutCacheDirectory, LogDirectory, TempDirectory, Path.Combine(MetadataDirectory, "cache"), _reserve.Path];
        foreach (var file in new DirectoryInfo(MetadataDirectory).EnumerateFiles("*", SearchOption.AllDirectories)
            .Where(f => !disposable.Any(d => IsInside(f.FullName, d))))
        {
            stored += file.Length;
            if (file.DirectoryName is { } dir && Path.GetDirectoryName(dir) == Path.Combine(MetadataDirectory, "objects"))
            {
                objects++;
            }
        }

        return new RepositoryStats(
            graph.Versions.Select(v => v.Name).Distinct().Count(),
            graph.Versions.Count,
            graph.Versions.Sum(v => v.LogicalBytes),
            stored,
            objects);
    }

    public void Dispose()
    {
        DisposeRemotes();
        _lineage.Dispose();
    }
}
