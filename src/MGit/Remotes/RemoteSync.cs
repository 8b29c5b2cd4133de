using MGit.Errors;
using MGit.Execution;
using MGit.Lineage;
using MGit.Maintenance;
using MGit.Primitives;
using MGit.Remotes;
using MGit.Storage;
using MGit.Testing;
using MGit.Workspace;

namespace MGit.Remotes;

/// <summary>What a push sent: object files and their bytes (the lineage snapshot not counted), and whether the remote's lineage moved.</summary>
public sealed record PushResult(long ObjectsSent, long BytesSent, int VersionsPublished, bool LineageUpdated)
{
    /// <summary>
    /// The push found that this repository had only added versions since its last push to the
    /// remote, which had not moved since, and sent just those, without reading either whole lineage.
    /// </summary>
    public bool FromAddsOnly { get; init; }
}

/// <summary>
/// What a pull received, the versions it added (by their local refs), the local versions it
/// renumbered, and (with skipBroken) the broken parts of the remote it left out.
/// </summary>
public sealed record PullResult(long ObjectsReceived, long BytesReceived, IReadOnlyList<string> NewVersions, IReadOnlyList<Renumbered> Renumbered)
{
    /// <summary>With skipBroken, one line per broken part of the remote left out; empty otherwise.</summary>
    public IReadOnlyList<string> Skipped { get; init; } = [];

    /// <summary>Tags moved both here and on the remote, differently: left as they were here (see <see cref="TagConflict"/>).</summary>
    public IReadOnlyList<TagConflict> TagConflicts { get; init; } = [];

    /// <summary>Tags the pull set or moved here, as <c>MODEL@TAG</c>.</summary>
    public IReadOnlyList<string> TagsMoved { get; init; } = [];

    /// <summary>Tests defined differently here and on the remote, one line each: left as they were here.</summary>
    public IReadOnlyList<string> TestConflicts { get; init; } = [];

    /// <summary>Tests the pull registered or replaced here, by name.</summary>
    public IReadOnlyList<string> TestsMoved { get; init; } = [];

    /// <summary>Test results received (with results only; runs already held not counted twice).</summary>
    public int TestResultsReceived { get; init; }

    /// <summary>Versions whose adapted parents were changed by hand both here and on the remote, differently, one line each: left as they are here.</summary>
    public IReadOnlyList<string> ParentConflicts { get; init; } = [];

    /// <summary>Versions held here before the pull whose adapted parents it changed (a reparent made on the remote, or a new edge), by ref.</summary>
    public IReadOnlyList<string> ParentsChanged { get; init; } = [];

    /// <summary>
    /// The pull found that the remote had only had new versions pushed since this repository last
    /// pushed or pulled, and nothing changed here since, and imported just those, without reading
    /// either whole lineage.
    /// </summary>
    public bool FromAddsOnly { get; init; }
}

/// <summary>Configured remotes and the exchange with them: push, pull, and the lazy fetch of a lazy clone.</summary>
internal sealed class RemoteSync(RepositoryContext context, RepositoryMaintenance maintenance) : IDisposable
{
    public const string DefaultRemote = "origin";

    /// <summary>How old a temporary file on a remote must be before a push deletes it (a push to a slow share may write one for long).</summary>
    private static readonly TimeSpan RemoteTempExpiryOnPush = TimeSpan.FromDays(1);

    /// <summary>How long a push waits for another push to the same remote to finish.</summary>
    public static readonly TimeSpan RemoteLockWait = TimeSpan.FromSeconds(60);

    private IRemoteBackend? _lazyOrigin;

    public IReadOnlyList<RemoteEntry> Remotes() => RemoteConfig.Load(context.MetadataDirectory).Remotes;

    public void AddRemote(string name, string url, string? endpoint = null)
    {
        RemoteConfig.ValidateName(name);
        RemoteBackends.Validate(url, endpoint);
        var config = RemoteConfig.Load(context.MetadataDirectory);
        if (config.Remotes.Any(r => r.Name == name))
        {
            throw new MGitException(ErrorKind.Conflict, $"remote '{name}' already exists ({config.Get(name).Url}); 'mgit remote rm {name}' first");
        }

        (config with { Remotes = [.. config.Remotes, new RemoteEntry(name, url, endpoint)] }).Save(context.MetadataDirectory);
    }

    public void RemoveRemote(string name)
    {
        var config = RemoteConfig.Load(context.MetadataDirectory);
        config.Get(name);
        if (config.LazyFrom == name)
        {
            throw new MGitException(ErrorKind.Conflict, $"this is a lazy clone of '{name}': objects not yet fetched come from it, so it cannot be removed");
        }

        (config with { Remotes = config.Remotes.Where(r => r.Name != name).ToList() }).Save(context.MetadataDirectory);
    }

    /// <summary>The remote a command without one means: the only one there is, whatever its name, else <see cref="DefaultRemote"/>.</summary>
    public string DefaultRemoteName() =>
        RemoteConfig.Load(context.MetadataDirectory).Remotes is [var only] ? only.Name : DefaultRemote;

    /// <summary>Opens a configured remote's backend (the caller disposes it); without a name, the <see cref="DefaultRemoteName"/>.</summary>
    public IRemoteBackend OpenRemote(string? name = null)
    {
        var entry = RemoteConfig.Load(context.MetadataDirectory).Get(name ?? DefaultRemoteName());
        return RemoteBackends.Open(entry.Url, entry.Endpoint, context.Options.Environment, create: true);
    }

    /// <summary>
    /// Sends the versions named (every version when none are; with their ancestors, so their
    /// lineage is whole) and every object they need that the remote lacks, then moves the remote's
    /// lineage to the union of both. Refused with "pull first" when the remote holds versions this
    /// repository has not seen, as git refuses a push that is not a fast-forward.
    /// </summary>
    /// <remarks>
    /// Cancelled, a push stops starting uploads (those in flight finish whole) and never moves the
    /// remote's lineage: the remote is as before, with at most some complete objects more.
    /// </remarks>
    /// <param name="remote">The configured remote's name; null for <c>origin</c>.</param>
    /// <param name="refs">The versions to push (with their ancestors); null or empty for every version.</param>
    /// <param name="cancel">Stops the push (see remarks).</param>
    /// <param name="withResults">Send the recorded test results of the versions pushed too (registered tests always go).</param>
    public async Task<PushResult> PushAsync(string? remote, IReadOnlyList<string>? refs, CancellationToken cancel, bool withResults = false)
    {
        using var backend = OpenRemote(remote);
        return await PushAsync(backend, remote ?? DefaultRemoteName(), refs, cancel, withResults).ConfigureAwait(false);
    }

    /// <inheritdoc cref="PushAsync(string?, IReadOnlyList{string}?, CancellationToken, bool)"/>
    public async Task<PushResult> PushAsync(IRemoteBackend backend, string remoteName, IReadOnlyList<string>? refs, CancellationToken cancel, bool withResults = false)
    {
        refs ??= [];
        context.RemoveStaleTemporaries();
        return await TryPushAddedAsync(backend, remoteName, refs, withResults, cancel).ConfigureAwait(false)
            ?? await PushWholeAsync(backend, remoteName, refs, withResults, cancel).ConfigureAwait(false);
    }

    /// <summary>
    /// The push of a repository that has only added versions since its last push to this remote,
    /// which has not moved since (its ref is the one that push left): the new versions and their
    /// edges go as one segment, found in a few indexed reads, without reading either whole
    /// lineage. Both conditions are what <see cref="PushWholeAsync"/> proves by comparing the
    /// lineages, so the remote ends as it would have. Null when they do not hold (or a ref names
    /// less than every new version): the caller compares whole lineages.
    /// </summary>
    private async Task<PushResult?> TryPushAddedAsync(IRemoteBackend backend, string remoteName, IReadOnlyList<string> refs, bool withResults, CancellationToken cancel)
    {
        var cache = new RemoteLineageCache(context.MetadataDirectory, context.TempDirectory, backend.Url);
        if (cache.LoadMark() is not { } mark || (withResults && !mark.WithResults)
            || context.Lineage.ReadAppendedSince(mark.Local, withResults) is not { } appended
            || (refs.Count > 0 && !NamesEveryAdded(refs, appended)))
        {
            return null;
        }

        var lineages = Lineages;
        if (await lineages.ReadHeadAsync(backend, cancel).ConfigureAwait(false) is not { } head || !head.SameAs(mark.Ref))
        {
            return null;
        }

        if (appended.Added.Count == 0)
        {
            return new PushResult(0, 0, 0, LineageUpdated: false) { FromAddsOnly = true };
        }

        var format = await ReadRemoteFormatAsync(backend, cancel).ConfigureAwait(false);
        if (!lineages.TakesSegment(head) || format is null || format.Version < RemoteFormat.CurrentVersion)
        {
            return null; // a checkpoint is due, or the remote's format is to be upgraded: both need the whole lineage
        }

        var segment = LineageSnapshot.OfAdded(appended.Graph, appended.Added);
        if (segment.WithoutBrokenParts(LineageSnapshot.FromGraph(appended.Graph)).Problems is [var broken, ..])
        {
            throw BrokenHere(broken);
        }

        using var repositoryLock = RepositoryLock.Shared(context.LockPath, context.Options.LockWait);
        var added = appended.Added.Select(id => appended.Graph[id]).ToList();
        var needed = maintenance.ObjectsOf(added, cancel);
        var (sent, bytes) = await SendMissingAsync(backend, remoteName, needed, cancel).ConfigureAwait(false);

        var remoteLock = await backend.LockAsync(RemoteLayout.LineageLock, RemoteLockWait, cancel).ConfigureAwait(false);
        await using (remoteLock.ConfigureAwait(false))
        {
            // Another push may have landed since the first look: then the lineages are compared after all.
            if (await lineages.ReadHeadAsync(backend, cancel).ConfigureAwait(false) is not { } current || !current.SameAs(mark.Ref))
            {
                return null;
            }

            bytes += await ResendPrunedAsync(backend, remoteName, needed, cancel).ConfigureAwait(false);
            var written = await RemoteLineage.AppendAsync(backend, current, segment, cancel).ConfigureAwait(false);
            cache.SaveMark(new RemoteLineageCache.PushMark(written, appended.Now, withResults));
            await RemoveStaleRemoteTemporariesAsync(backend, cancel).ConfigureAwait(false);
            return new PushResult(sent, bytes, added.Count, LineageUpdated: true) { FromAddsOnly = true };
        }
    }

    /// <summary>Whether the versions <paramref name="refs"/> name, with their ancestors, hold every version added since the mark (refs that do not resolve: no, so the whole push reports them).</summary>
    private bool NamesEveryAdded(IReadOnlyList<string> refs, AppendedLineage appended)
    {
        var added = appended.Added.ToHashSet();
        var reached = new HashSet<long>();
        var pending = new Stack<long>();
        try
        {
            foreach (string reference in refs)
            {
                pending.Push(context.Lineage.ResolveId(ModelRef.Parse(reference)));
            }
        }
        catch (MGitException)
        {
            return false;
        }

        while (pending.TryPop(out long id))
        {
            if (added.Contains(id) && reached.Add(id))
            {
                foreach (var edge in appended.Graph.Edges.Where(e => e.ChildId == id))
                {
                    pending.Push(edge.ParentId);
                }
            }
        }

        return reached.Count == added.Count;
    }

    /// <summary>
    /// The push that compares whole lineages: the local snapshot of the selection against the
    /// remote's lineage (read through the cache), checked not behind, merged and published as a
    /// segment or a checkpoint. When the remote then holds exactly this repository's lineage, it
    /// leaves the mark that lets the next push send only what was added.
    /// </summary>
    private async Task<PushResult> PushWholeAsync(IRemoteBackend backend, string remoteName, IReadOnlyList<string> refs, bool withResults, CancellationToken cancel)
    {
        var markBefore = CurrentChangeMark();
        var graph = context.Graph();
        var selection = SelectForPush(graph, refs);
        var tagState = context.Lineage.ReadTagState();
        var tests = new TestRegistry(context.Lineage);
        var local = LineageSnapshot.FromGraph(graph, selection, new RecipeStore(context.Lineage).All(), tagState, tests.ReadDefinitions(), withResults ? tests.ReadAllResults() : null, context.Lineage.ReadEdgeEvents());
        // What fsck would call broken never leaves: every clone and pull of the remote would fail on it.
        if (local.WithoutBrokenParts().Problems is [var broken, ..])
        {
            throw BrokenHere(broken);
        }

        var firstRead = await ReadRemoteLineageAsync(backend, cancel).ConfigureAwait(false);
        var remoteLineage = firstRead.Lineage;
        CheckNotBehind(graph, remoteLineage, backend.Url, remoteName);
        CheckTagsNotBehind(graph, tagState, remoteLineage, backend.Url, remoteName);
        CheckTestsNotBehind(local, remoteLineage, backend.Url, remoteName);
        CheckParentsNotBehind(local, remoteLineage, backend.Url, remoteName);

        using var repositoryLock = RepositoryLock.Shared(context.LockPath, context.Options.LockWait);
        // Only versions new to the remote need objects: the remote's lineage names only versions
        // whose objects it holds (they go first, and gc never prunes what the lineage needs). This
        // also loads (and so checks) the manifest of every version sent.
        var onRemote = remoteLineage.Versions.Select(v => v.Key).ToHashSet(StringComparer.Ordinal);
        var sending = selection.Where(v => !onRemote.Contains(LineageSnapshot.KeyOf(v))).ToList();
        var needed = maintenance.ObjectsOf(sending, cancel);
        var (sent, bytes) = await SendMissingAsync(backend, remoteName, needed, cancel).ConfigureAwait(false);

        // Objects first, lineage last: until the ref moves, the remote's lineage names only objects it has.
        var format = await ReadRemoteFormatAsync(backend, cancel).ConfigureAwait(false);
        if (format is null)
        {
            format = new RemoteFormat { ChunkSize = context.Format.ChunkSize, MaxDeltaDepth = context.Format.MaxDeltaDepth };
            await backend.PutAsync(RemoteLayout.FormatKey, format.ToJson(), cancel).ConfigureAwait(false);
        }

        var remoteLock = await backend.LockAsync(RemoteLayout.LineageLock, RemoteLockWait, cancel).ConfigureAwait(false);
        await using (remoteLock.ConfigureAwait(false))
        {
            // Another push may have landed since the first look: check again under the lock.
            var currentState = await Lineages.ReadAsync(backend, cancel, known: firstRead).ConfigureAwait(false);
            var current = currentState.Lineage;
            CheckNotBehind(graph, current, backend.Url, remoteName);
            CheckTagsNotBehind(graph, tagState, current, backend.Url, remoteName);
            CheckTestsNotBehind(local, current, backend.Url, remoteName);
            CheckParentsNotBehind(local, current, backend.Url, remoteName);

            // A 'remote gc --prune' may have deleted objects sent before the lock was taken (they
            // were unreferenced until now): the lineage is published only over objects that are there.
            bytes += await ResendPrunedAsync(backend, remoteName, needed, cancel).ConfigureAwait(false);

            var merged = LineageMerge.Union(current, local).Merged;
            if (merged.WithoutBrokenParts().Problems is [var problem, ..])
            {
                throw new MGitException(ErrorKind.Damaged, $"{backend.Url}: merged with this repository, its lineage would be broken ({problem}); nothing was published ('mgit remote fsck {remoteName}' lists every problem)");
            }

            // A format-1 remote becomes format 2 as its ref becomes a lineage log: an older mgit then
            // refuses the remote ("upgrade mgit") instead of reading the log as a damaged ref.
            async Task UpgradeFormat()
            {
                if (format.Version < RemoteFormat.CurrentVersion)
                {
                    await backend.PutAsync(RemoteLayout.FormatKey, (format with { Version = RemoteFormat.CurrentVersion }).ToJson(), cancel).ConfigureAwait(false);
                }
            }

            var written = await Lineages.PublishAsync(backend, currentState, merged, UpgradeFormat, cancel).ConfigureAwait(false);
            if (written is not null)
            {
                await RemoveStaleRemoteTemporariesAsync(backend, cancel).ConfigureAwait(false);
            }

            if ((written ?? currentState.Head) is { } head && refs.Count == 0 && markBefore is not null && CurrentChangeMark() == markBefore && AddsNothing(local, withResults ? merged : merged with { TestResults = null }))
            {
                new RemoteLineageCache(context.MetadataDirectory, context.TempDirectory, backend.Url).SaveMark(new RemoteLineageCache.PushMark(head, markBefore, withResults));
            }

            return written is null
                ? new PushResult(sent, bytes, 0, LineageUpdated: false)
                : new PushResult(sent, bytes, merged.Versions.Count - current.Versions.Count, LineageUpdated: true);
        }
    }

    /// <summary>The local lineage's change mark, migrating an older database first so it has one (null when it cannot be written: the mark is only a shortcut).</summary>
    private ChangeMark? CurrentChangeMark()
    {
        try
        {
            context.Lineage.EnsureCurrentSchema();
            return context.Lineage.ReadChangeMark();
        }
        catch (MGitException)
        {
            return null;
        }
    }

    /// <summary>Whether <paramref name="other"/> holds nothing <paramref name="lineage"/> lacks (LineageSegments.Delta is empty): merging it in changes nothing.</summary>
    private static bool AddsNothing(LineageSnapshot lineage, LineageSnapshot other) =>
        LineageSegments.IsEmpty(LineageSegments.Delta(lineage, other));

    /// <summary>The error of a push refused because this repository's lineage is broken.</summary>
    private static MGitException BrokenHere(string problem) =>
        new(ErrorKind.Damaged, $"this repository's lineage is broken ({problem}); nothing was pushed ('mgit fsck' lists every problem)");

    /// <summary>Uploads the objects of <paramref name="needed"/> the remote lacks, with a progress bar; returns how many and their bytes.</summary>
    private async Task<(long Objects, long Bytes)> SendMissingAsync(IRemoteBackend backend, string remoteName, IReadOnlyCollection<ObjectId> needed, CancellationToken cancel)
    {
        var present = await ObjectTransfer.PresentAsync(backend, needed, cancel).ConfigureAwait(false);
        var missing = needed.Where(id => !present.Contains(id)).ToList();
        CheckHeld(missing, backend);
        using var progress = context.Options.Progress.Begin($"pushing to {remoteName}", missing.Sum(id => context.Objects.StoredLength(id)));
        return (missing.Count, await ObjectTransfer.UploadAsync(backend, context.Objects, missing, progress, cancel).ConfigureAwait(false));
    }

    /// <summary>
    /// Under the push lock: sends again what a <c>remote gc --prune</c> deleted after it was sent
    /// (unreferenced until the ref moves), so the lineage is published only over objects that are there.
    /// </summary>
    private async Task<long> ResendPrunedAsync(IRemoteBackend backend, string remoteName, IReadOnlyCollection<ObjectId> needed, CancellationToken cancel)
    {
        var there = await ObjectTransfer.PresentAsync(backend, needed, cancel).ConfigureAwait(false);
        var resend = needed.Where(id => !there.Contains(id)).ToList();
        if (resend.Count == 0)
        {
            return 0;
        }

        CheckHeld(resend, backend);
        using var progress = context.Options.Progress.Begin($"pushing to {remoteName} again", resend.Sum(id => context.Objects.StoredLength(id)));
        return await ObjectTransfer.UploadAsync(backend, context.Objects, resend, progress, cancel).ConfigureAwait(false);
    }

    /// <summary>Objects a push must send have to be here (a lazy clone may lack what it never checked out).</summary>
    private void CheckHeld(IEnumerable<ObjectId> toSend, IRemoteBackend backend)
    {
        if (toSend.Where(id => !context.Objects.Contains(id)).Take(1).ToList() is [var absent])
        {
            throw new MGitException(ErrorKind.NotFound, $"object {absent} is neither here nor on {backend.Url} (a lazy clone pushing to another remote? check out its versions first)");
        }
    }

    private static IReadOnlyCollection<ModelVersion> SelectForPush(LineageGraph graph, IReadOnlyList<string> refs)
    {
        if (refs.Count == 0)
        {
            return graph.Versions;
        }

        var selected = new Dictionary<long, ModelVersion>();
        foreach (string reference in refs)
        {
            var version = graph.Resolve(reference);
            foreach (var v in graph.Ancestors(version).Prepend(version))
            {
                selected.TryAdd(v.Id, v);
            }
        }

        return selected.Values.OrderBy(v => v.Id).ToList();
    }

    /// <summary>A push may only add to the remote: every remote version must be here under its remote number.</summary>
    private static void CheckNotBehind(LineageGraph graph, LineageSnapshot remote, string url, string remoteName)
    {
        var local = graph.Versions.ToDictionary(LineageSnapshot.KeyOf, v => v.Version, StringComparer.Ordinal);
        var unseen = remote.Versions.Where(v => !local.TryGetValue(v.Key, out int number) || number != v.Version).ToList();
        if (unseen.Count > 0)
        {
            string examples = string.Join(", ", unseen.Take(3).Select(v => v.Ref)) + (unseen.Count > 3 ? ", ..." : "");
            throw new MGitException(ErrorKind.Conflict, $"{url} has versions this repository has not merged ({examples}); pull first ('mgit pull {remoteName}')");
        }
    }

    /// <summary>A push may only move the remote's tests forward: each must be here, defined alike or replaced here since.</summary>
    private static void CheckTestsNotBehind(LineageSnapshot local, LineageSnapshot remote, string url, string remoteName)
    {
        var mine = local.TestList.ToDictionary(t => t.Name, StringComparer.Ordinal);
        var behind = new List<string>();
        foreach (var t in remote.TestList)
        {
            var here = mine.GetValueOrDefault(t.Name);
            switch (TestMerge.Relate(here, t))
            {
                case TagRelation.ThereAhead:
                    behind.Add(t.Name);
                    break;
                case TagRelation.Conflict:
                    throw new MGitException(ErrorKind.Conflict, TestMerge.Conflict(here!, t, url).Replace("nothing was overwritten", "nothing was pushed", StringComparison.Ordinal));
            }
        }

        PullFirstIfBehind(behind, "tests", url, remoteName);
    }

    /// <summary>
    /// A push may only move the remote's hand-made parent changes forward: where the remote changed
    /// a version's parents since this repository last pulled, pull first; where both changed them
    /// differently, settle it here first.
    /// </summary>
    private static void CheckParentsNotBehind(LineageSnapshot local, LineageSnapshot remote, string url, string remoteName)
    {
        var behind = new List<string>();
        foreach (var (child, relation) in EdgeMerge.Compare(local, remote))
        {
            string name = RefOfKey(remote, child);
            switch (relation)
            {
                case TagRelation.ThereAhead:
                    behind.Add($"the parents of {name}");
                    break;
                case TagRelation.Conflict:
                    throw new MGitException(ErrorKind.Conflict, ParentConflictLine(name, local, remote, child, url).Replace("nothing was overwritten", "nothing was pushed", StringComparison.Ordinal));
            }
        }

        PullFirstIfBehind(behind, "changes of parents", url, remoteName);
    }

    /// <summary>The one line a version whose parents were changed differently on both sides is reported with, and how to settle it.</summary>
    private static string ParentConflictLine(string name, LineageSnapshot here, LineageSnapshot there, string child, string where)
    {
        string Parents(LineageSnapshot side) => EdgeMerge.AdaptedParents(side)[child].Select(key => RefOfKey(there, key) is var r && r != key ? r : RefOfKey(here, key)).DefaultIfEmpty("none").Aggregate((a, b) => $"{a}, {b}");
        var theirs = EdgeMerge.Heads(there.EdgeEventList).GetValueOrDefault(child) is [var head, ..] ? there.EdgeEventList.First(e => e.Id == head) : null;
        string who = theirs is null ? "" : $", by {theirs.ChangedBy} at {DateTimeOffset.Parse(theirs.ChangedAt, System.Globalization.CultureInfo.InvariantCulture).UtcDateTime:yyyy-MM-dd HH:mm}Z";
        return $"the parents of {name} were changed both here ({Parents(here)}) and on {where} ({Parents(there)}{who}); nothing was overwritten: pick them with 'mgit reparent {name} --parent P' (or --root), then push";
    }

    /// <summary>Refuses a push when the remote holds changes (named in <paramref name="behind"/>, a few shown) that this repository has not pulled.</summary>
    private static void PullFirstIfBehind(List<string> behind, string what, string url, string remoteName)
    {
        if (behind.Count > 0)
        {
            string examples = string.Join(", ", behind.Take(3)) + (behind.Count > 3 ? ", ..." : "");
            throw new MGitException(ErrorKind.Conflict, $"{url} has {what} this repository has not merged ({examples}); pull first ('mgit pull {remoteName}')");
        }
    }

    /// <summary>
    /// A push may only move the remote's tags forward: each remote tag must be here, and this
    /// repository's change of it must descend from the remote's (or agree on the version).
    /// </summary>
    private static void CheckTagsNotBehind(LineageGraph graph, TagState local, LineageSnapshot remote, string url, string remoteName)
    {
        var events = TagMerge.Events(local.Events.Select(SnapshotTagEvent.Of), remote.TagEventList);
        var heads = local.Heads.ToDictionary(h => (h.Model, h.Name));
        var behind = new List<string>();
        foreach (var t in remote.TagList)
        {
            var here = heads.GetValueOrDefault((t.Model, t.Name));
            switch (TagMerge.Relate(here?.Head, t.Head, events))
            {
                case TagRelation.ThereAhead:
                    behind.Add($"{t.Model}@{t.Name}");
                    break;
                case TagRelation.Conflict:
                    string? there = events.GetValueOrDefault(t.Head)?.Target is { } key ? remote.Versions.FirstOrDefault(v => v.Key == key)?.Ref : null;
                    string? mine = here?.VersionId is long id ? graph.Versions.FirstOrDefault(v => v.Id == id)?.Ref : null;
                    throw new MGitException(ErrorKind.Conflict, $"tag {t.Model}@{t.Name} was moved both here ({mine ?? "deleted"}) and on {url} ({there ?? "deleted"}); nothing was pushed: pick one with 'mgit tag REF {t.Name} --force', then push");
            }
        }

        PullFirstIfBehind(behind, "tag changes", url, remoteName);
    }

    /// <summary>
    /// Fetches the remote's lineage and every object its new versions need (only their manifests
    /// in a lazy clone), verifies each object against its id before it enters the store, then
    /// merges the graphs in one transaction (see <see cref="LineageMerge"/>).
    /// </summary>
    /// <param name="remote">The configured remote's name; null for <c>origin</c>.</param>
    /// <param name="skipBroken">
    /// Leave out what of the remote's lineage is broken (a malformed version, an edge to nowhere or
    /// closing a cycle, a manifest naming an unsafe path) and take the rest, reporting each part
    /// left out; by default a broken remote is refused whole.
    /// </param>
    /// <remarks>
    /// Cancelled, a pull leaves the lineage as it was; objects already received and verified stay
    /// in the store (a later pull does not fetch them again), nothing half-received does.
    /// </remarks>
    /// <param name="cancel">Stops the pull (see remarks for what stays).</param>
    /// <param name="withResults">Take the remote's recorded test results too (registered tests always come).</param>
    public async Task<PullResult> PullAsync(string? remote, bool skipBroken, CancellationToken cancel, bool withResults = false)
    {
        using var backend = OpenRemote(remote);
        return await PullAsync(backend, lazy: RemoteConfig.Load(context.MetadataDirectory).LazyFrom == (remote ?? DefaultRemoteName()), skipBroken, cancel, withResults).ConfigureAwait(false);
    }

    /// <inheritdoc cref="PullAsync(string?, bool, CancellationToken, bool)"/>
    public async Task<PullResult> PullAsync(IRemoteBackend backend, bool lazy, bool skipBroken, CancellationToken cancel, bool withResults = false)
    {
        try
        {
            return await PullUnguardedAsync(backend, lazy, skipBroken, withResults, cancel).ConfigureAwait(false);
        }
        catch (Exception e) when (DiskSpace.IsNoSpace(e, context.MetadataDirectory))
        {
            throw DiskSpace.NoSpace(context.MetadataDirectory, e);
        }
    }

    private async Task<PullResult> PullUnguardedAsync(IRemoteBackend backend, bool lazy, bool skipBroken, bool withResults, CancellationToken cancel)
    {
        context.RemoveStaleTemporaries();
        if (await TryPullAddedAsync(backend, lazy, withResults, cancel).ConfigureAwait(false) is { } fast)
        {
            return fast;
        }

        var skipped = new List<string>();
        var (head, remote) = await ReadRemoteLineageAsync(backend, cancel, skipBroken ? skipped : null).ConfigureAwait(false);
        if (head is null)
        {
            return new PullResult(0, 0, [], []);
        }

        using var repositoryLock = RepositoryLock.Shared(context.LockPath, context.Options.LockWait);
        long objects = 0;
        long bytes = 0;
        for (int attempt = 1; ; attempt++)
        {
            string stamp = context.Lineage.Stamp();
            var since = CurrentChangeMark();
            var graph = context.Graph();
            var localKeys = graph.Versions.ToDictionary(LineageSnapshot.KeyOf, v => v, StringComparer.Ordinal);
            var recipes = new RecipeStore(context.Lineage).All();
            var tagState = context.Lineage.ReadTagState();
            var edgeEvents = context.Lineage.ReadEdgeEvents();
            var localSnapshot = LineageSnapshot.FromGraph(graph, recipes: recipes, edgeEvents: edgeEvents);
            var union = LineageMerge.Union(remote, localSnapshot);
            var merged = union.Merged;
            var incoming = InOrderAdded(merged.Versions.Where(v => !localKeys.ContainsKey(v.Key)));

            if (incoming.Count > 0)
            {
                context.UpgradeFormatForWriting(); // the objects received may be of this mgit's object format
            }

            // Manifests first, each checked before anything is fetched for it: a version whose
            // manifest is unreadable or names an unsafe path never reaches the lineage.
            var (fetched, fetchedBytes) = await FetchObjectsAsync(backend, incoming.Select(v => ObjectId.Parse(v.Manifest)), manifestsOnly: true, cancel).ConfigureAwait(false);
            objects += fetched;
            bytes += fetchedBytes;
            var broken = incoming
                .Select(v => (Version: v, Problem: ManifestProblem(v.Manifest)))
                .Where(b => b.Problem is not null)
                .ToList();
            var localEdges = graph.Edges
                .Select(e => (LineageSnapshot.KeyOf(graph[e.ParentId]), LineageSnapshot.KeyOf(graph[e.ChildId]), e.Kind.ToName()))
                .ToHashSet();
            // Local adapted edges the merge left out: a newer change of the child's parents on the remote replaced them.
            var mergedEdges = merged.Edges.Select(e => (e.Parent, e.Child, e.Kind)).ToHashSet();
            var removedEdges = localEdges.Where(e => !mergedEdges.Contains(e)).ToList();
            var keptEdges = localEdges.Where(mergedEdges.Contains).ToList();
            // Each side is acyclic on its own, but their union need not be: the remote's edges
            // are refused where they close a cycle with the local ones.
            var newEdges = merged.Edges.Where(e => !localEdges.Contains((e.Parent, e.Child, e.Kind))).ToList();
            var unionEdges = keptEdges.Select(e => (e.Item1, e.Item2)).Concat(newEdges.Select(e => (e.Parent, e.Child))).ToList();
            var cycles = Acyclic.CycleClosingEdges(unionEdges).Where(i => i >= keptEdges.Count).Select(i => newEdges[i - keptEdges.Count]).ToList();
            if (broken.Count > 0 || cycles.Count > 0)
            {
                var problems = broken.Select(b => $"version {b.Version.Ref}: {b.Problem}")
                    .Concat(cycles.Select(e => $"the edge from {RefOfKey(merged, e.Parent)} to {RefOfKey(merged, e.Child)} would close a cycle with this repository's lineage"))
                    .ToList();
                if (!skipBroken)
                {
                    throw RemoteLineage.BrokenRemote(backend, problems);
                }

                skipped.AddRange(problems);
                remote = remote.Without(broken.Select(b => b.Version.Key).ToHashSet(StringComparer.Ordinal)).Without(cycles.ToHashSet());
                attempt--;
                continue; // merge again without them
            }

            (fetched, fetchedBytes) = await FetchObjectsAsync(backend, incoming.Select(v => ObjectId.Parse(v.Manifest)), lazy, cancel).ConfigureAwait(false);
            objects += fetched;
            bytes += fetchedBytes;
            var renumber = merged.Versions
                .Where(v => localKeys.TryGetValue(v.Key, out var local) && local.Version != v.Version)
                .Select(v => (Local: localKeys[v.Key], Number: v.Version))
                .ToList();
            var tags = PlanTags(graph, tagState, remote, merged);
            var registry = new TestRegistry(context.Lineage);
            var ids = graph.Versions.Select(v => v.Id).ToHashSet();
            var heldResults = withResults ? registry.ReadAllResults().Where(r => ids.Contains(r.VersionId)).Select(r => (LineageSnapshot.KeyOf(graph[r.VersionId]), r.Test, r.RanAt)).ToHashSet() : [];
            var tests = PlanTests(registry.ReadDefinitions(), remote, withResults, localKeys.Keys.Concat(incoming.Select(v => v.Key)).ToHashSet(StringComparer.Ordinal), heldResults);
            var plan = new ImportPlan(
                localKeys.ToDictionary(p => p.Key, p => p.Value.Id, StringComparer.Ordinal),
                renumber.Select(r => (r.Local.Id, r.Number)).ToList(),
                incoming.Select(ToImported).ToList(),
                newEdges.Select(ToImported).ToList(),
                stamp)
            {
                Recipes = merged.Versions
                    .Where(v => v.Recipe is not null && localKeys.TryGetValue(v.Key, out var held) && !recipes.ContainsKey(held.Id))
                    .Select(v => (v.Key, v.Recipe!))
                    .ToList(),
                TagEvents = tags.Events,
                Tags = tags.Moved,
                Tests = tests.Moved,
                TestConflicts = tests.Conflicts.Select(c => (c.Name, c.Hash)).ToList(),
                TestResults = tests.Results,
                EdgeEvents = remote.EdgeEventList
                    .Where(e => !edgeEvents.Any(known => known.Id == e.Id))
                    .Select(e => e.ToEvent(conflict: union.ParentConflicts.Contains(e.Child)))
                    .ToList(),
                RemovedEdges = removedEdges.Select(e => (e.Item1, e.Item2)).ToList(),
                Since = since,
            };
            // The last moment a cancel is taken: the import is one transaction, whole or not at all.
            cancel.ThrowIfCancellationRequested();
            ChangeMark? imported;
            try
            {
                imported = context.Lineage.Import(plan);
            }
            catch (LineageChangedException) when (attempt < 5)
            {
                continue; // a local add or pull landed meanwhile: merge again against the new state
            }

            // Taken whole, into a repository that held nothing the remote lacks: both now hold the same lineage (results aside).
            if (imported is not null && skipped.Count == 0 && tags.Conflicts.Count == 0 && tests.Conflicts.Count == 0 && union.ParentConflicts.Count == 0
                && remote with { TestResults = null } is var remoteLineage
                && AddsNothing(remoteLineage, LineageMerge.Union(remoteLineage, LineageSnapshot.FromGraph(graph, null, recipes, tagState, registry.ReadDefinitions(), null, edgeEvents)).Merged))
            {
                new RemoteLineageCache(context.MetadataDirectory, context.TempDirectory, backend.Url).SaveMark(new RemoteLineageCache.PushMark(head, imported, WithResults: false));
            }

            return new PullResult(
                objects,
                bytes,
                incoming.Select(v => v.Ref).ToList(),
                renumber.Select(r => new Renumbered(r.Local.Name, r.Local.Version, r.Number, LineageSnapshot.KeyOf(r.Local))).ToList())
            {
                Skipped = skipped,
                TagConflicts = tags.Conflicts,
                TagsMoved = tags.Moved.Select(t => $"{t.Model}@{t.Name}").ToList(),
                TestConflicts = tests.Conflicts.Select(c => c.Line).ToList(),
                TestsMoved = tests.Moved.Select(t => t.Name).ToList(),
                TestResultsReceived = tests.Results.Count,
                ParentConflicts = union.ParentConflicts.Select(child => ParentConflictLine(RefOfKey(merged, child), localSnapshot, remote, child, "the remote")).ToList(),
                ParentsChanged = removedEdges.Select(e => RefOfKey(merged, e.Item2)).Concat(newEdges.Where(e => localKeys.ContainsKey(e.Child) && e.Kind == "adapted").Select(e => RefOfKey(merged, e.Child))).Distinct().Order(StringComparer.Ordinal).ToList(),
            };
        }
    }

    /// <summary>
    /// The pull of a remote whose ref is the one this repository last pushed or pulled with more
    /// segments after it, each holding only new versions and the edges into them, into a
    /// repository where nothing changed since: the new segments are read and checked, their
    /// versions' objects fetched, and the versions and edges imported, without reading either
    /// whole lineage (the parents the edges name are found by their keys). The merge of whole
    /// lineages would do the same. Null when that does not hold (or anything in the segments is
    /// broken): the caller merges whole lineages, and reports or skips what is broken.
    /// </summary>
    private async Task<PullResult?> TryPullAddedAsync(IRemoteBackend backend, bool lazy, bool withResults, CancellationToken cancel)
    {
        var cache = new RemoteLineageCache(context.MetadataDirectory, context.TempDirectory, backend.Url);
        if (cache.LoadMark() is not { } mark || (withResults && !mark.WithResults))
        {
            return null;
        }

        // The stamp and counters before the check: whatever lands after them is caught by the import.
        string stamp = context.Lineage.Stamp();
        var since = context.Lineage.ReadChangeMark();
        if (context.Lineage.ReadAppendedSince(mark.Local, withResults) is not { Added.Count: 0 })
        {
            return null;
        }

        if (await Lineages.ReadSegmentsSinceAsync(backend, mark.Ref, cancel).ConfigureAwait(false) is not { } sinceMark)
        {
            return null;
        }

        var (head, segments) = sinceMark;
        if (segments.Any(s => s.TagList.Count + s.TagEventList.Count + s.TestList.Count + s.TestResultList.Count + s.EdgeEventList.Count > 0))
        {
            return null; // tags, tests, results or changes of parents: merged with the local ones by the whole merge
        }

        var versions = segments.SelectMany(s => s.Versions).ToList();
        var edges = segments.SelectMany(s => s.Edges).ToList();
        var newKeys = versions.Select(v => v.Key).ToHashSet(StringComparer.Ordinal);
        var parentKeys = edges.Select(e => e.Parent).Where(key => !newKeys.Contains(key)).ToHashSet(StringComparer.Ordinal);
        var held = context.Lineage.ReadIdsByKey([.. newKeys, .. parentKeys]);
        if (newKeys.Count != versions.Count || edges.Any(e => !newKeys.Contains(e.Child)) || newKeys.Any(held.ContainsKey) || parentKeys.Any(key => !held.ContainsKey(key))
            || context.Lineage.HoldsAnyRef(versions.Select(v => (v.Name, v.Version))))
        {
            return null; // not only new versions with edges into them, from versions held here
        }

        var parents = LineageSnapshot.FromGraph(context.Lineage.ReadVersions(parentKeys.Select(key => held[key])));
        if (new LineageSnapshot { Versions = versions, Edges = edges }.WithoutBrokenParts(parents).Problems.Count > 0
            || Acyclic.CycleClosingEdges(edges.Select(e => (e.Parent, e.Child)).ToList()).Count > 0)
        {
            return null;
        }

        var incoming = InOrderAdded(versions); // their times checked just above

        using var repositoryLock = RepositoryLock.Shared(context.LockPath, context.Options.LockWait);
        if (incoming.Count > 0)
        {
            context.UpgradeFormatForWriting();
        }

        var manifests = incoming.Select(v => ObjectId.Parse(v.Manifest)).ToList();
        var (objects, bytes) = await FetchObjectsAsync(backend, manifests, manifestsOnly: true, cancel).ConfigureAwait(false);
        if (incoming.Any(v => ManifestProblem(v.Manifest) is not null))
        {
            return null;
        }

        var (more, moreBytes) = await FetchObjectsAsync(backend, manifests, lazy, cancel).ConfigureAwait(false);
        var plan = new ImportPlan(
            parentKeys.ToDictionary(key => key, key => held[key], StringComparer.Ordinal),
            [],
            incoming.Select(ToImported).ToList(),
            edges.Select(ToImported).ToList(),
            stamp)
        {
            Since = since,
        };
        cancel.ThrowIfCancellationRequested();
        ChangeMark? now;
        try
        {
            now = context.Lineage.Import(plan);
        }
        catch (LineageChangedException)
        {
            return null; // an add or pull landed meanwhile: merge whole lineages
        }

        if (now is not null)
        {
            cache.SaveMark(mark with { Ref = head, Local = now });
        }

        return new PullResult(objects + more, bytes + moreBytes, incoming.Select(v => v.Ref).ToList(), []) { FromAddsOnly = true };
    }

    /// <summary>Versions as a pull imports them: in the order they were added (then by key), so that listings read the same in every clone.</summary>
    private static List<SnapshotVersion> InOrderAdded(IEnumerable<SnapshotVersion> versions) =>
        versions
            .OrderBy(v => DateTimeOffset.Parse(v.AddedAt, System.Globalization.CultureInfo.InvariantCulture))
            .ThenBy(v => v.Key, StringComparer.Ordinal)
            .ToList();

    private static ImportedVersion ToImported(SnapshotVersion v) =>
        new(v.Key, v.Name, v.Version, v.Type, v.Manifest, v.LogicalBytes, v.AddedAt, v.Message, v.ErrorBound, v.Metadata, v.Recipe);

    private static ImportedEdge ToImported(SnapshotEdge e) => new(e.Parent, e.Child, EdgeKindNames.Parse(e.Kind), e.How, e.Message);

    /// <summary>
    /// What a pull does to tests: a test new here, or replaced on the remote only, comes; one
    /// defined differently on both sides stays as it is here, is reported, and the remote's
    /// definition is remembered so the next replace here supersedes it. With results, the
    /// remote's results of versions held here after the pull come too (each run once).
    /// </summary>
    private static (IReadOnlyList<ImportedTest> Moved, IReadOnlyList<(string Name, string Hash, string Line)> Conflicts, IReadOnlyList<ImportedTestResult> Results) PlanTests(
        IReadOnlyList<TestRegistry.StoredDefinition> local, LineageSnapshot remote, bool withResults, HashSet<string> heldKeys, HashSet<(string, string, string)> heldResults)
    {
        var mine = local.ToDictionary(d => d.Test.Name, SnapshotTest.Of, StringComparer.Ordinal);
        var moved = new List<ImportedTest>();
        var conflicts = new List<(string, string, string)>();
        foreach (var t in remote.TestList)
        {
            var here = mine.GetValueOrDefault(t.Name);
            switch (TestMerge.Relate(here, t))
            {
                case TagRelation.ThereAhead:
                    moved.Add(new ImportedTest(t.Name, t.Command, t.Scope, t.Pass, t.TimeoutSeconds, t.AddedAt, t.Supersedes));
                    break;
                case TagRelation.Conflict:
                    conflicts.Add((t.Name, t.Hash(), TestMerge.Conflict(here!, t, "the remote")));
                    break;
            }
        }

        var results = !withResults ? [] : remote.TestResultList
            .Where(r => heldKeys.Contains(r.Version) && !heldResults.Contains(r.Identity))
            .Select(r => new ImportedTestResult(r.Version, r.Test, r.Passed, r.ExitCode, r.Metrics, r.DurationSeconds, r.Reason, r.LogTail, r.RanAt))
            .ToList();
        return (moved, conflicts, results);
    }

    /// <summary>
    /// What a pull does to tags: the remote's changes this repository lacks are kept (history);
    /// a remote tag new here, or moved on the remote only, moves here; one moved on both sides
    /// differently stays as it is here and is reported.
    /// </summary>
    private static (IReadOnlyList<TagEvent> Events, IReadOnlyList<ImportedTag> Moved, IReadOnlyList<TagConflict> Conflicts) PlanTags(LineageGraph graph, TagState local, LineageSnapshot remote, LineageSnapshot merged)
    {
        var known = local.Events.Select(e => e.Id).ToHashSet(StringComparer.Ordinal);
        var events = TagMerge.Events(local.Events.Select(SnapshotTagEvent.Of), remote.TagEventList);
        var heads = local.Heads.ToDictionary(h => (h.Model, h.Name));
        var mergedRefs = merged.Versions.ToDictionary(v => v.Key, v => v.Ref, StringComparer.Ordinal);
        var moved = new List<ImportedTag>();
        var conflicts = new List<TagConflict>();
        foreach (var t in remote.TagList)
        {
            var here = heads.GetValueOrDefault((t.Model, t.Name));
            var head = events[t.Head];
            switch (TagMerge.Relate(here?.Head, t.Head, events))
            {
                case TagRelation.ThereAhead:
                    moved.Add(new ImportedTag(t.Model, t.Name, t.Head, head.Target));
                    break;
                case TagRelation.Conflict:
                    string? mine = here?.VersionId is long id ? graph.Versions.FirstOrDefault(v => v.Id == id) is { } v ? mergedRefs.GetValueOrDefault(VersionKeys.Of(v)) ?? v.Ref : null : null;
                    string? there = head.Target is { } key ? mergedRefs.GetValueOrDefault(key) : null;
                    conflicts.Add(new TagConflict($"{t.Model}@{t.Name}", mine, there, head.MovedBy, DateTimeOffset.Parse(head.MovedAt, System.Globalization.CultureInfo.InvariantCulture)));
                    break;
            }
        }

        return (remote.TagEventList.Where(e => !known.Contains(e.Id)).Select(e => e.ToEvent()).ToList(), moved, conflicts);
    }

    /// <summary>Why a stored manifest (fetched from a remote) cannot be taken, or null when it can.</summary>
    public string? ManifestProblem(string manifestId)
    {
        try
        {
            using var content = context.Objects.Read(ObjectId.Parse(manifestId));
            Manifest.FromJson(content.Span, manifestId);
            return null;
        }
        catch (MGitException e)
        {
            return e.Message;
        }
    }

    private static string RefOfKey(LineageSnapshot snapshot, string key) =>
        snapshot.Versions.FirstOrDefault(v => v.Key == key)?.Ref ?? key;

    /// <summary>
    /// Fetches the manifests named and, unless lazy, every chunk and delta base they need that is
    /// not here (also after an interrupted pull that got the manifests but not all chunks).
    /// </summary>
    private async Task<(long Objects, long Bytes)> FetchObjectsAsync(IRemoteBackend backend, IEnumerable<ObjectId> manifestIds, bool manifestsOnly, CancellationToken cancel)
    {
        var manifests = manifestIds.Distinct().ToList();
        Dictionary<ObjectId, long>? sizes = null;
        async Task<IProgressTask> Progress(List<ObjectId> ids, string what)
        {
            // The remote's object sizes, for the progress bar (one LIST per 1,000 objects): only
            // when there are many to fetch, so a small pull costs no listing of a big remote.
            if (ids.Count <= ObjectTransfer.AskEachBelow)
            {
                return context.Options.Progress.Begin($"fetching {what} from {backend.Url}", 0);
            }

            sizes ??= (await backend.ListAsync(RemoteLayout.ObjectPrefix, cancel).ConfigureAwait(false))
                .Select(f => (Ok: RemoteLayout.TryParseObjectKey(f.Key, out var id), Id: id, f.Size))
                .Where(f => f.Ok)
                .ToDictionary(f => f.Id, f => f.Size);
            return context.Options.Progress.Begin($"fetching {what} from {backend.Url}", ids.Sum(id => sizes.GetValueOrDefault(id)));
        }

        // Manifests first (they are never deltas): they name the chunks.
        long objects = 0;
        long bytes = 0;
        var wanted = manifests.Where(id => !context.Objects.Contains(id)).ToList();
        if (wanted.Count > 0)
        {
            using var progress = await Progress(wanted, "manifests").ConfigureAwait(false);
            (objects, bytes) = await DownloadAndInstallAsync(backend, wanted, progress, cancel).ConfigureAwait(false);
        }

        if (manifestsOnly)
        {
            return (objects, bytes);
        }

        var chunkRoots = new List<ObjectId>();
        foreach (var id in manifests)
        {
            using var content = context.Objects.Read(id);
            chunkRoots.AddRange(Manifest.FromJson(content.Span, id.ToString()).ChunkIds);
        }

        // Then chunks, and the bases of deltas among them, round by round until nothing is missing.
        var manifestSet = manifests.ToHashSet();
        var received = new Dictionary<ObjectId, string>();
        try
        {
            var round = chunkRoots.Where(id => !context.Objects.Contains(id)).Distinct().ToList();
            while (round.Count > 0)
            {
                // Whatever can be verified on arrival (not a delta, or its base is here) enters the store at once.
                var bases = new System.Collections.Concurrent.ConcurrentBag<ObjectId>();
                bool Arrived(ObjectId id, string path)
                {
                    if (ObjectStore.TryInspectFile(id, path)?.BaseId is { } b && !context.Objects.Contains(b))
                    {
                        bases.Add(b);
                        return false;
                    }

                    ObjectTransfer.Install(context.Objects, id, path, backend.Url);
                    return true;
                }

                using (var progress = await Progress(round, "objects").ConfigureAwait(false))
                {
                    var (kept, count, size) = await ObjectTransfer.DownloadAsync(backend, round, context.TempDirectory, progress, Arrived, cancel).ConfigureAwait(false);
                    objects += count;
                    bytes += size;
                    foreach (var (id, path) in kept)
                    {
                        received[id] = path;
                    }
                }

                round = bases.Distinct()
                    .Where(b => !received.ContainsKey(b) && !context.Objects.Contains(b) && !manifestSet.Contains(b))
                    .ToList();
            }

            ObjectTransfer.Install(context.Objects, received, backend.Url);
            received.Clear();
        }
        finally
        {
            foreach (string path in received.Values.Where(File.Exists))
            {
                File.Delete(path);
            }
        }

        return (objects, bytes);
    }

    private async Task<(long Objects, long Bytes)> DownloadAndInstallAsync(IRemoteBackend backend, List<ObjectId> ids, IProgressTask progress, CancellationToken cancel)
    {
        if (ids.Count == 0)
        {
            return (0, 0);
        }

        var (_, objects, bytes) = await ObjectTransfer.DownloadAsync(backend, ids, context.TempDirectory, progress, (id, path) =>
        {
            ObjectTransfer.Install(context.Objects, id, path, backend.Url);
            return true;
        }, cancel).ConfigureAwait(false);
        return (objects, bytes);
    }

    /// <summary>
    /// The remote's lineage and the log head naming it (null, with an empty lineage, for a remote
    /// nobody pushed to). Broken parts are refused, or, given <paramref name="skipped"/>, left out,
    /// each part left out described there.
    /// </summary>
    public Task<RemoteLineageState> ReadRemoteLineageAsync(IRemoteBackend backend, CancellationToken cancel, List<string>? skipped = null) =>
        Lineages.ReadAsync(backend, cancel, skipped);

    internal RemoteLineage Lineages => new(context.MetadataDirectory, context.TempDirectory, context.Options.LineageSegmentsPerCheckpoint);

    public static async Task<RemoteFormat?> ReadRemoteFormatAsync(IRemoteBackend backend, CancellationToken cancel)
    {
        string temp = Path.Combine(Path.GetTempPath(), $"mgit-remote-format.{Environment.ProcessId}.{Guid.NewGuid():N}");
        try
        {
            return await backend.DownloadAsync(RemoteLayout.FormatKey, temp, 64 * 1024, cancel).ConfigureAwait(false)
                ? RemoteFormat.Parse(await File.ReadAllBytesAsync(temp, cancel).ConfigureAwait(false), backend.Url)
                : null;
        }
        finally
        {
            File.Delete(temp);
        }
    }

    /// <summary>In a lazy clone, reads of objects not yet here fetch them from the remote (verified).</summary>
    public void AttachLazyOrigin()
    {
        if (!File.Exists(Path.Combine(context.MetadataDirectory, RemoteConfig.FileName)) || RemoteConfig.Load(context.MetadataDirectory).LazyFrom is not { } name)
        {
            return;
        }

        var gate = new Lock();
        context.Objects.FetchMissing = id =>
        {
            IRemoteBackend backend;
            lock (gate)
            {
                backend = _lazyOrigin ??= OpenRemote(name);
            }

            string temp = ObjectTransfer.TempPath(context.TempDirectory, id);
            // Object reads are synchronous (a checkout's chunk pipeline), and so is this fetch within one.
            if (!backend.DownloadAsync(RemoteLayout.ObjectKey(id), temp, RemoteLayout.MaxObjectFileBytes, CancellationToken.None).GetAwaiter().GetResult())
            {
                return false;
            }

            ObjectTransfer.Install(context.Objects, id, temp, backend.Url);
            return true;
        };
    }

    /// <summary>Whether objects missing here may be on the lazy clone's remote rather than lost.</summary>
    public bool IsLazyClone => context.Objects.FetchMissing is not null;

    public void Dispose() => _lazyOrigin?.Dispose();

    /// <summary>
    /// Deletes a remote's temporary files that processes of this machine no longer running left,
    /// and any older than a day (best effort: a push is not failed for it).
    /// </summary>
    private async Task RemoveStaleRemoteTemporariesAsync(IRemoteBackend backend, CancellationToken cancel)
    {
        var cutoff = context.Options.Clock.GetUtcNow() - RemoteTempExpiryOnPush;
        try
        {
            foreach (var file in await backend.ListAsync(RemoteLayout.TempPrefix, cancel).ConfigureAwait(false))
            {
                if (TemporaryFiles.IsThisHostsAndStale(file.Key[RemoteLayout.TempPrefix.Length..]) || (file.LastModified is { } at && at <= cutoff))
                {
                    await backend.DeleteAsync(file.Key, cancel).ConfigureAwait(false);
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or MGitException || (e is OperationCanceledException && cancel.IsCancellationRequested))
        {
            // Left for 'mgit remote gc --prune' (the push itself has landed).
        }
    }
}
