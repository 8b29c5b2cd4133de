using MGit.Cascade;
using MGit.Checkout;
using MGit.Diff;
using MGit.Errors;
using MGit.Execution;
using MGit.Ingest;
using MGit.Lineage;
using MGit.Maintenance;
using MGit.Primitives;
using MGit.Remotes;
using MGit.Storage;
using MGit.Testing;
using MGit.Workspace;

namespace MGit;

/// <summary>
/// An MGit repository: the facade a program (and the CLI) uses to add, list, walk, check out,
/// test, cascade, share and maintain models. It holds no logic of its own: each call goes to the
/// service of its feature (<see cref="Ingestion"/>, <see cref="ModelWriter"/>,
/// <see cref="TestRunner"/>, <see cref="CascadeRunner"/>, <see cref="RemoteSync"/>,
/// <see cref="RepositoryMaintenance"/>, ...), which share one <see cref="RepositoryContext"/>.
/// </summary>
/// <remarks>
/// Errors are <see cref="MGitException"/>s: switch on their <see cref="MGitException.Kind"/>
/// (<see cref="ErrorKind"/>), never on the message. Each method names the kinds it throws for its
/// own reasons; any call that reads or writes the lineage database may also throw
/// <see cref="ErrorKind.Locked"/> (busy beyond the timeout), <see cref="ErrorKind.Damaged"/>,
/// <see cref="ErrorKind.Io"/> or <see cref="ErrorKind.NoSpace"/> from it (never a SQLite exception).
/// <see cref="IOException"/> and <see cref="UnauthorizedAccessException"/> from the file system
/// (mostly on paths the caller gave: a model to add, a checkout's output) pass through unwrapped.
/// </remarks>
public sealed partial class Repository : IDisposable
{
    /// <summary>The folder a repository keeps its data in, inside its root.</summary>
    public const string DirectoryName = RepositoryContext.DirectoryName;

    /// <summary>The remote a clone comes from and push/pull use when none is named.</summary>
    public const string DefaultRemote = RemoteSync.DefaultRemote;

    private readonly RepositoryContext _context;
    private readonly ModelWriter _writer;
    private readonly CheckoutCache _checkouts;
    private readonly ModelPlacement _placement;
    private readonly ModelComparison _comparison;
    private readonly RepositoryMaintenance _maintenance;
    private readonly StorageReport _storage;
    private readonly TestRunner _tests;
    private readonly Ingestion _ingestion;
    private readonly StreamIngestion _streams;
    private readonly StoredFiles _files;
    private readonly CascadeRunner _cascade;
    private readonly LinkedCheckout _linked;
    private readonly RemoteComparer _remoteComparer;
    private readonly RemoteSync _remotes;
    private readonly RemoteMaintenance _remoteMaintenance;
    private readonly TagRegistry _tags;
    private readonly ParentEditor _parents;

    private Repository(string root, RepositoryFormat format, LineageStore lineage, RepositoryOptions options)
    {
        _context = new RepositoryContext(root, format, lineage, options);
        _writer = new ModelWriter(_context);
        _checkouts = new CheckoutCache(_context, _writer);
        _placement = new ModelPlacement(_context);
        _comparison = new ModelComparison(_context);
        _maintenance = new RepositoryMaintenance(_context);
        _storage = new StorageReport(_context);
        _tests = new TestRunner(_context, _checkouts);
        _ingestion = new Ingestion(_context, _placement, _tests, _checkouts, _maintenance);
        _streams = new StreamIngestion(_context, _ingestion);
        _files = new StoredFiles(_context);
        _cascade = new CascadeRunner(_context, _ingestion, _tests, _checkouts);
        _linked = new LinkedCheckout(_context, _writer, _checkouts);
        _remotes = new RemoteSync(_context, _maintenance);
        _remoteComparer = new RemoteComparer(_context, _remotes);
        _remoteMaintenance = new RemoteMaintenance(_context, _remotes);
        _tags = TagRegistry.Over(_context.Lineage, options.Environment, options.Clock);
        _parents = new ParentEditor(_context.Lineage, TagRegistry.UserOf(options.Environment), options.Clock);
        _remotes.AttachLazyOrigin();
    }

    /// <summary>The folder that holds <c>.mgit</c>.</summary>
    public string Root => _context.Root;

    /// <summary>The repository's on-disk format (<c>.mgit/mgit.json</c>): format version, hash and chunking.</summary>
    public RepositoryFormat Format => _context.Format;

    /// <summary>The <c>.mgit</c> folder itself, holding objects, the lineage database and configuration.</summary>
    public string MetadataDirectory => _context.MetadataDirectory;

    internal ObjectStore Objects => _context.Objects;

    /// <exception cref="MGitException">Conflict (already a repository), InvalidInput (a file, or a chunk size or delta depth out of range), NoSpace, Io.</exception>
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
            throw new MGitException(ErrorKind.Conflict, $"{root} is already an mgit repository");
        }

        if (File.Exists(root))
        {
            throw new MGitException(ErrorKind.InvalidInput, $"{root} is a file, not a folder");
        }

        Directory.CreateDirectory(Path.Combine(meta, "objects"));
        Directory.CreateDirectory(Path.Combine(meta, "tmp"));
        var format = new RepositoryFormat { ChunkSize = chunkSize, MaxDeltaDepth = maxDeltaDepth, CreatedBy = $"mgit {typeof(Repository).Assembly.GetName().Version}" };
        RepositoryFormat.Validate(format, "the requested format", ErrorKind.InvalidInput);
        var lineage = LineageStore.Open(Path.Combine(meta, "lineage.db"), create: true);
        // The format file is written last: a repository is only a repository once it is complete.
        format.Save(Path.Combine(meta, RepositoryFormat.FileName));
        var repository = new Repository(root, format, lineage, options ?? new RepositoryOptions());
        repository._context.Reserve.Ensure();
        return repository;
    }

    /// <exception cref="MGitException">NotFound (no repository there or above), Unsupported (made by a newer mgit), Damaged (its format file or lineage database), Locked, Io.</exception>
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

        throw new MGitException(ErrorKind.NotFound, $"not an mgit repository (or any parent up to /): {Path.GetFullPath(directory)}; run 'mgit init'");
    }

    /// <exception cref="MGitException">Conflict (the folder is not empty), InvalidInput (the URL), NotFound (the remote), Damaged or Unsupported (what the remote holds), Io (the server), Locked, NoSpace.</exception>
    /// <summary>
    /// Copies a remote into a new repository at <paramref name="directory"/> with the remote as
    /// <c>origin</c>. Lazy: only the lineage and manifests come now; objects arrive when a
    /// checkout needs them. A clone that fails or is cancelled leaves no repository behind.
    /// </summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled; nothing is left at <paramref name="directory"/>.</exception>
    public static Repository Clone(string url, string directory, string? endpoint = null, bool lazy = false, RepositoryOptions? options = null, CancellationToken cancellationToken = default) =>
        CloneAsync(url, directory, endpoint, lazy, options, cancellationToken).GetAwaiter().GetResult();

    /// <inheritdoc cref="Clone(string, string, string?, bool, RepositoryOptions?, CancellationToken)"/>
    /// <param name="url">The remote to copy (<c>file://</c>, <c>s3://</c>, or another registered scheme).</param>
    /// <param name="directory">The folder for the new repository; it must not exist or be empty.</param>
    /// <param name="endpoint">The server for schemes that need one (an S3-compatible endpoint); null for the default.</param>
    /// <param name="lazy">Fetch only the lineage and manifests now, and objects when a checkout needs them.</param>
    /// <param name="skipBroken">Leave out the broken parts of the remote's lineage instead of refusing the clone.</param>
    /// <param name="options">How the new repository works (workers, clock, progress, lock wait); null for the defaults.</param>
    /// <param name="skipped">With <paramref name="skipBroken"/>, the broken parts of the remote left out (see <see cref="Pull(string?, bool, CancellationToken)"/>).</param>
    /// <param name="cancellationToken">Cancelled, the clone stops and leaves nothing at <paramref name="directory"/>.</param>
    public static Repository Clone(string url, string directory, string? endpoint, bool lazy, bool skipBroken, RepositoryOptions? options, out IReadOnlyList<string> skipped, CancellationToken cancellationToken = default)
    {
        var clone = CloneAsync(url, directory, endpoint, lazy, skipBroken, options, cancellationToken).GetAwaiter().GetResult();
        skipped = clone.Skipped;
        return clone.Repository;
    }

    /// <inheritdoc cref="Clone(string, string, string?, bool, bool, RepositoryOptions?, out IReadOnlyList{string}, CancellationToken)"/>
    /// <remarks>With <c>withResults</c>, the remote's recorded test results come too (registered tests always come).</remarks>
    public static Repository Clone(string url, string directory, string? endpoint, bool lazy, bool skipBroken, bool withResults, RepositoryOptions? options, out IReadOnlyList<string> skipped, CancellationToken cancellationToken = default)
    {
        var clone = CloneAsync(url, directory, endpoint, lazy, skipBroken, withResults, options, cancellationToken).GetAwaiter().GetResult();
        skipped = clone.Skipped;
        return clone.Repository;
    }

    /// <inheritdoc cref="Clone(string, string, string?, bool, RepositoryOptions?, CancellationToken)"/>
    public static async Task<Repository> CloneAsync(string url, string directory, string? endpoint = null, bool lazy = false, RepositoryOptions? options = null, CancellationToken cancellationToken = default) =>
        (await CloneAsync(url, directory, endpoint, lazy, skipBroken: false, options, cancellationToken).ConfigureAwait(false)).Repository;

    /// <inheritdoc cref="Clone(string, string, string?, bool, RepositoryOptions?, CancellationToken)"/>
    /// <returns>The new repository, and with <paramref name="skipBroken"/> the broken parts of the remote left out.</returns>
    public static Task<CloneResult> CloneAsync(string url, string directory, string? endpoint, bool lazy, bool skipBroken, RepositoryOptions? options, CancellationToken cancellationToken = default) =>
        CloneAsync(url, directory, endpoint, lazy, skipBroken, withResults: false, options, cancellationToken);

    /// <inheritdoc cref="CloneAsync(string, string, string?, bool, bool, RepositoryOptions?, CancellationToken)"/>
    /// <remarks>With <c>withResults</c>, the remote's recorded test results come too (registered tests always come).</remarks>
    public static async Task<CloneResult> CloneAsync(string url, string directory, string? endpoint, bool lazy, bool skipBroken, bool withResults, RepositoryOptions? options, CancellationToken cancellationToken = default)
    {
        options ??= new RepositoryOptions();
        string target = Path.GetFullPath(directory);
        bool existed = Directory.Exists(target);
        if (File.Exists(target) || (existed && Directory.EnumerateFileSystemEntries(target).Any()))
        {
            throw new MGitException(ErrorKind.Conflict, $"{directory} already exists and is not an empty folder");
        }

        Repository? repository = null;
        try
        {
            IReadOnlyList<string> skipped;
            using (var backend = RemoteBackends.Open(url, endpoint, options.Environment))
            {
                var format = await RemoteSync.ReadRemoteFormatAsync(backend, cancellationToken).ConfigureAwait(false);
                repository = Init(target, options, format?.ChunkSize ?? RepositoryFormat.DefaultChunkSize, format?.MaxDeltaDepth ?? RepositoryFormat.DefaultMaxDeltaDepth);
                new RemoteConfig { Remotes = [new RemoteEntry(DefaultRemote, url, endpoint)], LazyFrom = lazy ? DefaultRemote : null }.Save(repository.MetadataDirectory);
                skipped = (await repository._remotes.PullAsync(backend, lazy, skipBroken, cancellationToken, withResults).ConfigureAwait(false)).Skipped;
            }

            repository._remotes.AttachLazyOrigin();
            return new CloneResult(repository, skipped);
        }
        catch
        {
            repository?.Dispose();
            string doomed = existed ? Path.Combine(target, DirectoryName) : target;
            if (Directory.Exists(doomed))
            {
                Directory.Delete(doomed, recursive: true);
            }

            throw;
        }
    }

    // --- Reading

    /// <exception cref="MGitException">Locked, Damaged, Io (the lineage database).</exception>
    /// <summary>A consistent snapshot of the lineage graph.</summary>
    public LineageGraph Graph() => _context.Graph();

    /// <summary>
    /// The versions <paramref name="filter"/> selects (every version when null), oldest first, read
    /// from the lineage database as they are enumerated: one statement, so a consistent snapshot,
    /// and memory that does not grow with the repository. Enumerate it on one thread, once per call.
    /// </summary>
    /// <param name="filter">Conditions that must all hold; null for none.</param>
    /// <exception cref="MGitException">InvalidInput (a limit below 1, an empty metadata key, a malformed ref), NotFound (the ref of <see cref="VersionFilter.DescendantsOf"/>); Locked, Damaged, Io while reading.</exception>
    public IEnumerable<VersionListing> ListVersions(VersionFilter? filter = null) =>
        _context.Lineage.ListVersions(VersionQuery.From(filter ?? new VersionFilter(), _context.Lineage.ResolveId))
            .Select(row => new VersionListing(row.Version, row.Parents.Select(p => new EdgeView(p.Ref, p.Kind, p.How, p.Message)).ToList(), row.Tags));

    /// <summary>
    /// The <paramref name="count"/> versions added last, newest first (by time of adding, then
    /// id), with their parents and tags (what <c>mgit status</c> shows): one pass over the times of
    /// adding, not the whole graph.
    /// </summary>
    /// <param name="count">How many; at least 1.</param>
    public IReadOnlyList<VersionListing> LatestAdded(int count)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        var (graph, latest) = _context.Lineage.ReadLatestAdded(count);
        return latest.Select(id => VersionListing.Of(graph, graph[id])).ToList();
    }

    /// <summary>
    /// The version <paramref name="reference"/> names with its ancestors and descendants and the
    /// edges and tags among them (what <c>mgit log NAME</c> draws), read without the rest of the graph.
    /// </summary>
    /// <param name="reference">The version (<c>NAME</c>, <c>NAME@N</c>, <c>NAME@TAG</c>).</param>
    /// <exception cref="MGitException">InvalidInput (a malformed reference), NotFound (no such model, version or tag).</exception>
    public ModelLineage LineageOf(string reference) => _context.Lineage.ReadLine(ModelRef.Parse(reference));

    /// <summary>
    /// A part of the lineage graph (<c>mgit graph --root --depth</c>): the version
    /// <paramref name="root"/> names and every version below it, or, without a root, every version
    /// without parents and every version below those; with <paramref name="depth"/>, only versions
    /// at most that many edges below (by the shortest way). The edges and tags among them come too.
    /// With neither, the whole graph (<see cref="Graph()"/>).
    /// </summary>
    /// <param name="root">The top version; null for the graph's roots.</param>
    /// <param name="depth">The most edges below the top, from 0 (the top alone); null for no limit.</param>
    /// <exception cref="MGitException">InvalidInput (a malformed reference, a negative depth), NotFound (the root).</exception>
    public LineageGraph Subgraph(string? root, int? depth)
    {
        if (depth is < 0)
        {
            throw new MGitException(ErrorKind.InvalidInput, $"the depth must be 0 or more (got {depth})");
        }

        return root is null && depth is null ? _context.Graph() : _context.Lineage.ReadBelow(root is null ? null : ModelRef.Parse(root), depth);
    }

    /// <exception cref="MGitException">InvalidInput (a malformed reference), NotFound (no such model or version).</exception>
    public ModelVersion Resolve(string reference) => _context.Resolve(reference);

    /// <summary>The version with this id (as <see cref="ModelTag.VersionId"/> and edges name them), or null when there is none; read without the rest of the graph.</summary>
    public ModelVersion? FindVersion(long id) => _context.Lineage.FindVersion(id);

    /// <summary>Every tag with the versions they point at (and the edges among those), read without the rest of the graph.</summary>
    public LineageGraph TaggedVersions() => _context.Lineage.ReadTagged();

    /// <exception cref="MGitException">Damaged (the manifest or its object), Unsupported (a newer manifest schema).</exception>
    public Manifest LoadManifest(ModelVersion version) => _context.LoadManifest(version);

    /// <exception cref="MGitException">InvalidInput, NotFound (the reference), Damaged (its manifest).</exception>
    public ModelDetails Show(string reference)
    {
        // The version, its parents and its children, read through indexes: not the whole graph.
        var (graph, version) = _context.Lineage.ReadNeighbourhood(ModelRef.Parse(reference));
        return new ModelDetails(
            version,
            _context.LoadManifest(version),
            graph.ParentEdges(version).Select(e => new EdgeView(graph[e.ParentId].Ref, e.Kind, e.How, e.Message)).ToList(),
            graph.ChildEdges(version).Select(e => new EdgeView(graph[e.ChildId].Ref, e.Kind, e.How, e.Message)).ToList())
        {
            Tags = graph.TagsOf(version),
        };
    }

    /// <exception cref="MGitException">NotFound (the reference or the tensor), InvalidInput (several tensors of that name: name the file), Unsupported (not a contiguous run of stored bytes), Damaged.</exception>
    /// <inheritdoc cref="StoredFiles.OpenTensor"/>
    public Stream OpenTensor(string reference, string tensorName, string? file = null) => _files.OpenTensor(reference, tensorName, file);

    /// <inheritdoc cref="StoredFiles.OpenFile"/>
    public Stream OpenFile(string reference, string? path = null) => _files.OpenFile(reference, path);

    /// <inheritdoc cref="StoredFiles.ReadTensor"/>
    public void ReadTensor<T>(string reference, string tensorName, Span<T> destination, string? file = null)
        where T : unmanaged => _files.ReadTensor(reference, tensorName, destination, file);

    /// <inheritdoc cref="ModelComparison.Diff"/>
    public ModelDiffResult Diff(string a, string b, string? workingDirectory = null) => _comparison.Diff(a, b, workingDirectory);

    /// <exception cref="MGitException">NotFound (a path), InvalidInput (a model file that does not follow its format), Unsupported.</exception>
    /// <inheritdoc cref="ModelComparison.DiffPaths"/>
    public static ModelDiffResult DiffPaths(string a, string b) => ModelComparison.DiffPaths(a, b);

    // --- Tags

    /// <summary>
    /// Points tag <paramref name="name"/> of the model <paramref name="reference"/> names at that
    /// version (<c>mgit tag resnet@3 production</c> makes <c>resnet@production</c>), recording
    /// who (<c>MGIT_USER</c>, else <c>USER</c>) and when (UTC). A tag that points at another version
    /// is moved only with <paramref name="force"/>; one left in conflict by a pull is settled by
    /// setting it with <paramref name="force"/> (the change supersedes both sides' changes).
    /// </summary>
    /// <param name="reference">The version to tag (<c>NAME@VERSION</c>, <c>NAME@TAG</c> or <c>NAME</c>).</param>
    /// <param name="name">The tag's name (<see cref="TagNames"/>), or <c>NAME@TAG</c> of the same model.</param>
    /// <param name="force">Move the tag if it points at another version.</param>
    /// <exception cref="MGitException">InvalidInput (the reference or tag name), NotFound (the reference), Conflict (the tag points at another version: pass force).</exception>
    public TagChange Tag(string reference, string name, bool force = false) => _tags.Set(reference, name, force);

    /// <summary>Deletes a tag (<c>MODEL@TAG</c>, or a bare <c>TAG</c> only one model has), recording who and when.</summary>
    /// <param name="tag">The tag.</param>
    /// <returns>The tag as it was.</returns>
    /// <exception cref="MGitException">InvalidInput (the name, or a bare name several models have), NotFound (no such tag).</exception>
    public ModelTag DeleteTag(string tag) => _tags.Delete(tag);

    /// <summary>Every change of a tag (<c>MODEL@TAG</c>, or a bare <c>TAG</c> only one model has), oldest first: who pointed it where, when.</summary>
    /// <param name="tag">The tag (also one deleted since).</param>
    /// <exception cref="MGitException">InvalidInput, NotFound (the tag never existed here).</exception>
    public IReadOnlyList<TagMove> TagHistory(string tag) => _tags.History(tag);

    // --- Fixing lineage by hand

    /// <summary>
    /// Changes the adapted parents of the version <paramref name="reference"/> names, to fix an
    /// edge that placement (<c>add --auto</c>, <c>infer</c>) or a user got wrong: they become
    /// exactly <see cref="ReparentOptions.Parents"/>, or none (<see cref="ReparentOptions.Root"/>),
    /// or lose <see cref="ReparentOptions.RemoveParents"/>. Versioned edges are never touched. The
    /// new edges' message records who (<c>MGIT_USER</c>, else <c>USER</c>) and when (UTC); such
    /// edges are never moved by later placements. The change is kept in the version's history
    /// (<see cref="ParentHistory"/>) and travels with push and pull.
    /// </summary>
    /// <param name="reference">The version whose parents change (<c>NAME</c>, <c>NAME@N</c>, <c>NAME@TAG</c>).</param>
    /// <param name="options">What to change.</param>
    /// <exception cref="MGitException">InvalidInput (no change or several kinds of change asked, a parent that is the version itself, another version of its model, or derives from it: a cycle, named), NotFound (a reference; a parent to remove that is not one), Conflict (a version was removed or renumbered meanwhile).</exception>
    public ParentChange Reparent(string reference, ReparentOptions options) => _parents.Reparent(reference, options);

    /// <summary>Every change of a version's adapted parents made with <see cref="Reparent"/> (here or in a repository pulled from), oldest first.</summary>
    /// <param name="reference">The version.</param>
    /// <exception cref="MGitException">InvalidInput, NotFound (the reference).</exception>
    public IReadOnlyList<ParentChange> ParentHistory(string reference) => _parents.History(reference);

    // --- Adding and placing

    /// <exception cref="MGitException">NotFound (the path or a parent), InvalidInput (the options, a model file that does not follow its format), Unsupported, Conflict (the name is taken, or another process changed the lineage meanwhile: add again), Locked (gc is running), NoSpace, Damaged (a parent's stored data).</exception>
    /// <inheritdoc cref="Ingestion.Add(string, AddOptions, CancellationToken)"/>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled; no version is stored and the objects the add wrote are removed.</exception>
    public AddResult Add(string path, AddOptions options, CancellationToken cancellationToken = default) => _ingestion.Add(path, options, cancellationToken);

    /// <inheritdoc cref="StreamIngestion.Add(string, ModelFileContent, AddOptions, CancellationToken)"/>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled; no version is stored, the copies and the objects the add wrote are removed.</exception>
    public AddResult Add(string name, ModelFileContent file, AddOptions options, CancellationToken cancellationToken = default) => _streams.Add(name, file, options, cancellationToken);

    /// <inheritdoc cref="StreamIngestion.Add(string, IReadOnlyList{ModelFileContent}, AddOptions, CancellationToken)"/>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled; no version is stored, the copies and the objects the add wrote are removed.</exception>
    public AddResult Add(string name, IReadOnlyList<ModelFileContent> files, AddOptions options, CancellationToken cancellationToken = default) => _streams.Add(name, files, options, cancellationToken);

    /// <exception cref="MGitException">NotFound (the folder), InvalidInput (no models in it, a model file that does not follow its format), Conflict (a name is taken), Locked, NoSpace.</exception>
    /// <inheritdoc cref="Ingestion.Infer"/>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled; the models added before it stay, the one being added is not stored.</exception>
    public IReadOnlyList<InferredModel> Infer(string directory, AddOptions? common = null, CancellationToken cancellationToken = default) => _ingestion.Infer(directory, common, cancellationToken);

    /// <inheritdoc cref="Ingestion.PlanInference"/>
    /// <param name="directory">The folder <see cref="Infer"/> would read.</param>
    /// <param name="cancellationToken">Stops reading the files.</param>
    public IReadOnlyList<InferencePlanEntry> PlanInference(string directory, CancellationToken cancellationToken = default) => _ingestion.PlanInference(directory, cancellationToken);

    /// <exception cref="MGitException">Damaged or Unsupported (a stored fingerprint), Locked.</exception>
    /// <inheritdoc cref="ModelPlacement.LoadFingerprints"/>
    internal IReadOnlyDictionary<long, IndexedFingerprint> LoadFingerprints(LineageGraph graph) => _placement.LoadFingerprints(graph);

    /// <exception cref="MGitException">Damaged (a stored fingerprint, a cycle in the lineage).</exception>
    /// <inheritdoc cref="ModelPlacement.Place(ModelFingerprint, string, LineageGraph)"/>
    internal PlacementDecision Place(ModelFingerprint fingerprint, string name, LineageGraph graph) => _placement.Place(fingerprint, name, graph);

    // --- Checking out

    /// <exception cref="MGitException">InvalidInput, NotFound (the reference), Conflict (the output exists: pass overwrite), Damaged (stored data failed verification; nothing is left at the output), NoSpace, Io (a lazy clone's remote).</exception>
    /// <inheritdoc cref="ModelWriter.Checkout(string, string, bool, CancellationToken)"/>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled; no partial file is left, nor any file or folder the checkout created.</exception>
    public string Checkout(string reference, string output, bool overwrite = false, CancellationToken cancellationToken = default) => _writer.Checkout(reference, output, overwrite, cancellationToken);

    /// <exception cref="MGitException">InvalidInput (no references; the folder is a file), NotFound, Conflict (an output exists: pass overwrite), Damaged, NoSpace, Io (a lazy clone's remote).</exception>
    /// <inheritdoc cref="ModelWriter.Checkout(IReadOnlyList{string}, string, bool, CancellationToken)"/>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled; no partial file is left, nor any file or folder the checkout created.</exception>
    public IReadOnlyList<(string Ref, string Path)> Checkout(IReadOnlyList<string> references, string folder, bool overwrite = false, CancellationToken cancellationToken = default) => _writer.Checkout(references, folder, overwrite, cancellationToken);

    /// <exception cref="MGitException">InvalidInput, NotFound (the reference), Conflict (the output exists: pass overwrite), Damaged, NoSpace, Io.</exception>
    /// <inheritdoc cref="LinkedCheckout.Checkout"/>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled; nothing the checkout created is left.</exception>
    public LinkedCheckoutResult CheckoutLinked(string reference, string output, bool overwrite = false, CancellationToken cancellationToken = default) => _linked.Checkout(reference, output, overwrite, cancellationToken);

    /// <exception cref="MGitException">NotFound (the reference), Damaged (its manifest).</exception>
    /// <inheritdoc cref="ModelWriter.DefaultOutput"/>
    public string DefaultCheckoutPath(string reference, string directory) => _writer.DefaultOutput(reference, directory);

    // --- Tests

    /// <summary>Registered tests and their results.</summary>
    public TestRegistry Tests => _tests.Tests;

    /// <exception cref="MGitException">InvalidInput (the name, command, scope or pass condition), Conflict (a test of that name exists: pass replace).</exception>
    public void RegisterTest(TestDefinition test, bool replace = false) => _tests.RegisterTest(test, replace);

    /// <exception cref="MGitException">Locked, Damaged, Io (the lineage database).</exception>
    /// <inheritdoc cref="TestRunner.TestsFor(ModelVersion)"/>
    public IReadOnlyList<TestDefinition> TestsFor(ModelVersion version) => _tests.TestsFor(version);

    /// <exception cref="MGitException">Locked, Damaged, Io (the lineage database).</exception>
    /// <inheritdoc cref="TestRunner.TestsFor(string, string?)"/>
    public IReadOnlyList<TestDefinition> TestsFor(string name, string? type) => _tests.TestsFor(name, type);

    /// <exception cref="MGitException">NotFound (the test named), Damaged (a model's stored data), NoSpace; a test that fails is a result, not an exception.</exception>
    /// <inheritdoc cref="TestRunner.RunTests"/>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled; test commands still running are killed (with every process they started), and their results are not recorded.</exception>
    public IReadOnlyList<TestResult> RunTests(IReadOnlyList<ModelVersion> versions, TestRunOptions options, CancellationToken cancellationToken = default) => _tests.RunTests(versions, options, cancellationToken);

    /// <exception cref="MGitException">Failed (the command was interrupted), InvalidInput (its command template); a test that fails is a result.</exception>
    /// <inheritdoc cref="TestRunner.RunTest"/>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled; the test command is killed with every process it started.</exception>
    public TestResult RunTest(TestDefinition test, string reference, string modelPath, CancellationToken cancellationToken = default) => _tests.RunTest(test, reference, modelPath, cancellationToken);

    /// <exception cref="MGitException">NotFound (the test or a reference), InvalidInput (no failure to bisect, or no single chain to bisect along: name the ancestor).</exception>
    /// <inheritdoc cref="TestRunner.Bisect"/>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled; the test command running is killed, nothing is recorded for it.</exception>
    public BisectResult Bisect(string testName, string from, string? ancestor, Action<BisectRun>? onRun = null, CancellationToken cancellationToken = default) => _tests.Bisect(testName, from, ancestor, onRun, cancellationToken);

    // --- Recipes and the update cascade

    internal RecipeStore Recipes => _cascade.Recipes;

    /// <exception cref="MGitException">InvalidInput, NotFound (the reference).</exception>
    /// <inheritdoc cref="CascadeRunner.RecipeOf"/>
    public (ModelVersion Version, string? Recipe, IReadOnlyList<ModelVersion> Parents) RecipeOf(string reference) => _cascade.RecipeOf(reference);

    /// <exception cref="MGitException">InvalidInput (the command, or a model without parents), NotFound (the reference), Conflict (the version was removed meanwhile).</exception>
    /// <inheritdoc cref="CascadeRunner.SetRecipe"/>
    public void SetRecipe(string reference, string command) => _cascade.SetRecipe(reference, command);

    /// <exception cref="MGitException">InvalidInput (the references), NotFound, Damaged; a recipe or test that fails is in the result.</exception>
    /// <inheritdoc cref="CascadeRunner.UpdateCascade"/>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled; running recipes and tests are killed, the versions made so far stay, and <see cref="ResumeCascade"/> goes on from there.</exception>
    public CascadeResult UpdateCascade(string? oldRef, string newRef, CascadeOptions options, CancellationToken cancellationToken = default) => _cascade.UpdateCascade(oldRef, newRef, options, cancellationToken);

    /// <exception cref="MGitException">NotFound (no cascade has run), Conflict (the latest is complete); a recipe or test that fails is in the result.</exception>
    /// <inheritdoc cref="CascadeRunner.ResumeCascade"/>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled; as for <see cref="UpdateCascade"/>.</exception>
    public CascadeResult ResumeCascade(CascadeOptions options, CancellationToken cancellationToken = default) => _cascade.ResumeCascade(options, cancellationToken);

    /// <exception cref="MGitException">NotFound (the cascade or its step), and as for <see cref="UpdateCascade"/>.</exception>
    /// <inheritdoc cref="CascadeRunner.RunRecordedStep"/>
    public CascadeStepResult RunCascadeStep(long cascadeId, string model, TimeSpan recipeTimeout, CancellationToken cancellationToken = default) => _cascade.RunRecordedStep(cascadeId, model, recipeTimeout, cancellationToken);

    /// <exception cref="MGitException">NotFound (no cascade has run), Failed (the scheduler did not answer).</exception>
    /// <inheritdoc cref="CascadeRunner.CascadeProgress"/>
    public CascadeProgress CascadeProgress() => _cascade.CascadeProgress();

    /// <exception cref="MGitException">NotFound (no cascade has run), Failed (the scheduler refused).</exception>
    /// <inheritdoc cref="CascadeRunner.CancelCascade"/>
    public int CancelCascade() => _cascade.CancelCascade();

    /// <summary>The latest cluster job of each step of cascade <paramref name="cascadeId"/>, as last recorded (the scheduler is not asked).</summary>
    public IReadOnlyList<ClusterJobRecord> CascadeJobs(long cascadeId) => _context.Lineage.LatestClusterJobs(CascadeRunner.WorkOf(cascadeId));

    /// <summary>The latest cluster job of each test run on a version (<c>REF</c>, <c>TEST</c>), for <c>test show</c>.</summary>
    public IReadOnlyDictionary<(string Ref, string Test), ClusterJobRecord> TestJobs() =>
        _context.Lineage.LatestClusterJobs(TestRunner.ClusterWork)
            .Select(j => (Job: j, Parts: j.Unit.Split('\n', 2)))
            .Where(j => j.Parts.Length == 2)
            .ToDictionary(j => (j.Parts[0], j.Parts[1]), j => j.Job);

    /// <summary>The repository's local settings (<c>.mgit/config.json</c>), read now.</summary>
    /// <exception cref="MGitException">Damaged (the file is not a JSON object of strings).</exception>
    public RepositoryConfig Config() => RepositoryConfig.Load(_context.MetadataDirectory);

    // --- Remotes

    /// <inheritdoc cref="RemoteSync.DefaultRemoteName"/>
    public string DefaultRemoteName() => _remotes.DefaultRemoteName();

    /// <inheritdoc cref="RemoteComparer.CompareAllAsync"/>
    /// <param name="cancellationToken">Stops reading the remotes.</param>
    public Task<IReadOnlyList<RemoteComparison>> CompareWithRemotesAsync(CancellationToken cancellationToken = default) => _remoteComparer.CompareAllAsync(cancellationToken);

    /// <inheritdoc cref="CascadeRunner.LatestCascade"/>
    public CascadeRecord? LatestCascade() => _cascade.LatestCascade();

    /// <exception cref="MGitException">Damaged (the remotes file).</exception>
    public IReadOnlyList<RemoteEntry> Remotes() => _remotes.Remotes();

    /// <exception cref="MGitException">InvalidInput (the name or URL), Conflict (a remote of that name exists).</exception>
    public void AddRemote(string name, string url, string? endpoint = null) => _remotes.AddRemote(name, url, endpoint);

    /// <exception cref="MGitException">NotFound (no such remote), Conflict (the remote a lazy clone fetches from).</exception>
    public void RemoveRemote(string name) => _remotes.RemoveRemote(name);

    /// <exception cref="MGitException">NotFound (no such remote, folder or bucket), InvalidInput (its URL or credentials), Unsupported.</exception>
    /// <inheritdoc cref="RemoteSync.OpenRemote"/>
    public IRemoteBackend OpenRemote(string? name = null) => _remotes.OpenRemote(name);

    /// <exception cref="MGitException">NotFound (the remote or a reference), Conflict (the remote has versions not merged here: pull first), Locked (another push holds the remote), Damaged (the lineage here or there is broken), Io (the server).</exception>
    /// <inheritdoc cref="RemoteSync.PushAsync(string?, IReadOnlyList{string}?, CancellationToken, bool)"/>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled; the remote's lineage has not moved (it may hold some more complete objects).</exception>
    public PushResult Push(string? remote = null, IReadOnlyList<string>? refs = null, CancellationToken cancellationToken = default) =>
        PushAsync(remote, refs, cancellationToken).GetAwaiter().GetResult();

    /// <inheritdoc cref="Push(string?, IReadOnlyList{string}?, CancellationToken)"/>
    public PushResult Push(string? remote, IReadOnlyList<string>? refs, bool withResults, CancellationToken cancellationToken = default) =>
        _remotes.PushAsync(remote, refs, cancellationToken, withResults).GetAwaiter().GetResult();

    /// <inheritdoc cref="Push(string?, IReadOnlyList{string}?, CancellationToken)"/>
    public PushResult Push(IRemoteBackend backend, string remoteName, IReadOnlyList<string>? refs = null, CancellationToken cancellationToken = default) =>
        PushAsync(backend, remoteName, refs, cancellationToken).GetAwaiter().GetResult();

    /// <inheritdoc cref="Push(string?, IReadOnlyList{string}?, CancellationToken)"/>
    public Task<PushResult> PushAsync(string? remote = null, IReadOnlyList<string>? refs = null, CancellationToken cancellationToken = default) =>
        _remotes.PushAsync(remote, refs, cancellationToken);

    /// <inheritdoc cref="Push(string?, IReadOnlyList{string}?, CancellationToken)"/>
    public Task<PushResult> PushAsync(IRemoteBackend backend, string remoteName, IReadOnlyList<string>? refs = null, CancellationToken cancellationToken = default) =>
        _remotes.PushAsync(backend, remoteName, refs, cancellationToken);

    /// <exception cref="MGitException">NotFound (the remote), Damaged (the remote's lineage, manifests or objects; skipBroken takes the rest), Unsupported (a newer remote), Conflict (the lineage changed meanwhile), Io (the server), NoSpace.</exception>
    /// <inheritdoc cref="RemoteSync.PullAsync(string?, bool, CancellationToken, bool)"/>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled; the lineage is as before (objects received whole and verified stay, and are not fetched again).</exception>
    public PullResult Pull(string? remote = null, bool skipBroken = false, CancellationToken cancellationToken = default) =>
        PullAsync(remote, skipBroken, cancellationToken).GetAwaiter().GetResult();

    /// <inheritdoc cref="RemoteSync.PullAsync(string?, bool, CancellationToken, bool)"/>
    public PullResult Pull(string? remote, bool skipBroken, bool withResults, CancellationToken cancellationToken = default) =>
        _remotes.PullAsync(remote, skipBroken, cancellationToken, withResults).GetAwaiter().GetResult();

    /// <inheritdoc cref="Pull(string?, bool, CancellationToken)"/>
    public PullResult Pull(IRemoteBackend backend, bool lazy = false, bool skipBroken = false, CancellationToken cancellationToken = default) =>
        PullAsync(backend, lazy, skipBroken, cancellationToken).GetAwaiter().GetResult();

    /// <inheritdoc cref="Pull(string?, bool, CancellationToken)"/>
    public Task<PullResult> PullAsync(string? remote = null, bool skipBroken = false, CancellationToken cancellationToken = default) =>
        _remotes.PullAsync(remote, skipBroken, cancellationToken);

    /// <inheritdoc cref="Pull(string?, bool, CancellationToken)"/>
    public Task<PullResult> PullAsync(IRemoteBackend backend, bool lazy = false, bool skipBroken = false, CancellationToken cancellationToken = default) =>
        _remotes.PullAsync(backend, lazy, skipBroken, cancellationToken);

    /// <summary>Whether objects missing here may be on the lazy clone's remote rather than lost.</summary>
    public bool IsLazyClone => _remotes.IsLazyClone;

    /// <summary>How old an unreferenced remote file must be before <c>remote gc --prune</c> deletes it.</summary>
    public static readonly TimeSpan DefaultRemoteExpiry = RemoteMaintenance.DefaultRemoteExpiry;

    /// <exception cref="MGitException">NotFound (the remote), Unsupported, Io (the server); what is broken is in the report.</exception>
    /// <inheritdoc cref="RemoteMaintenance.RemoteFsckAsync"/>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled; the remote is unchanged.</exception>
    public RemoteReport RemoteFsck(string? remote = null, CancellationToken cancellationToken = default) =>
        RemoteFsckAsync(remote, cancellationToken).GetAwaiter().GetResult();

    /// <inheritdoc cref="RemoteFsck"/>
    public Task<RemoteReport> RemoteFsckAsync(string? remote = null, CancellationToken cancellationToken = default) =>
        _remoteMaintenance.RemoteFsckAsync(remote, cancellationToken);

    /// <exception cref="MGitException">NotFound (the remote), Damaged (what the remote's lineage needs cannot be told), Locked (another push holds the remote), Io.</exception>
    /// <inheritdoc cref="RemoteMaintenance.RemoteGcAsync"/>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled; what was deleted was not needed, the rest stays for the next run.</exception>
    public RemoteReport RemoteGc(string? remote = null, bool prune = false, TimeSpan? expire = null, CancellationToken cancellationToken = default) =>
        RemoteGcAsync(remote, prune, expire, cancellationToken).GetAwaiter().GetResult();

    /// <inheritdoc cref="RemoteGc"/>
    public Task<RemoteReport> RemoteGcAsync(string? remote = null, bool prune = false, TimeSpan? expire = null, CancellationToken cancellationToken = default) =>
        _remoteMaintenance.RemoteGcAsync(remote, prune, expire, cancellationToken);

    // --- Maintenance

    /// <exception cref="MGitException">InvalidInput, NotFound (the reference), Conflict (other models derive from it: pass force), NoSpace.</exception>
    /// <inheritdoc cref="RepositoryMaintenance.Remove"/>
    public IReadOnlyList<string> Remove(string reference, bool force = false) => _maintenance.Remove(reference, force);

    /// <exception cref="MGitException">Locked (another mgit process is using the repository).</exception>
    /// <inheritdoc cref="RepositoryMaintenance.Gc"/>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled; what was deleted was garbage, the rest stays for the next gc.</exception>
    public GcResult Gc(CancellationToken cancellationToken = default) => _maintenance.Gc(cancellationToken);

    /// <exception cref="MGitException">Locked, Io; damage is in the report, not thrown.</exception>
    /// <inheritdoc cref="RepositoryMaintenance.Fsck"/>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled; nothing is changed (fsck only reads).</exception>
    public FsckReport Fsck(CancellationToken cancellationToken = default) => _maintenance.Fsck(cancellationToken);

    /// <exception cref="MGitException">Damaged (a manifest), Locked, Io.</exception>
    /// <inheritdoc cref="StorageReport.Stats"/>
    public RepositoryStats Stats() => _storage.Stats();

    /// <exception cref="MGitException">Damaged (a manifest), Locked, Io.</exception>
    /// <inheritdoc cref="StorageReport.StorageByVersion"/>
    public IReadOnlyList<VersionStorage> StorageByVersion() => _storage.StorageByVersion();

    /// <exception cref="MGitException">InvalidInput, NotFound (the reference), Damaged.</exception>
    /// <inheritdoc cref="StorageReport.TensorStorageOf"/>
    public IReadOnlyList<TensorStorage> TensorStorageOf(string reference) => _storage.TensorStorageOf(reference);

    /// <summary>Closes the lineage database and any open remote connection; use the repository no more afterwards.</summary>
    public void Dispose()
    {
        _remotes.Dispose();
        _context.Dispose();
    }
}
