using MGit.Errors;
using MGit.Lineage;
using MGit.Primitives;
using MGit.Storage;

namespace MGit.Remotes;

/// <summary>A remote's lineage as read: its log head (null for a remote nobody pushed to) and the lineage it names.</summary>
internal sealed record RemoteLineageState(LineageLogHead? Head, LineageSnapshot Lineage);

/// <summary>
/// Reading and publishing a remote's lineage as a log of segments (remote format 2). A read
/// downloads the ref and only the segments this repository has not folded yet (the folded state of
/// each remote is cached under <c>.mgit/cache/remote-lineage</c>); a publish writes one segment
/// holding what the push adds and moves the ref, and every <c>segmentsPerCheckpoint</c>
/// segments a whole checkpoint instead, so a ref stays small and a new clone folds few segments.
/// </summary>
/// <param name="metadataDirectory">The repository's <c>.mgit</c> folder (its cache keeps each remote's folded lineage).</param>
/// <param name="tempDirectory">Where downloads land before they are read.</param>
/// <param name="segmentsPerCheckpoint">How many segments a ref names before a push compacts them into a checkpoint.</param>
internal sealed class RemoteLineage(string metadataDirectory, string tempDirectory, int segmentsPerCheckpoint)
{
    /// <summary>The most a ref may hold: a head naming the most segments allowed, twice over.</summary>
    private const int MaxRefBytes = 2 * 80 * LineageLogHead.MaxSegments;

    /// <summary>
    /// The remote's lineage. Broken parts are refused (the first named), or with
    /// <paramref name="skipped"/> left out and each described there.
    /// </summary>
    /// <param name="backend">The remote.</param>
    /// <param name="cancel">Stops the read.</param>
    /// <param name="skipped">Where the broken parts left out are described; null to refuse them.</param>
    /// <param name="known">A state read before (by the same push): returned as it is when the ref has not moved since.</param>
    public async Task<RemoteLineageState> ReadAsync(IRemoteBackend backend, CancellationToken cancel, List<string>? skipped = null, RemoteLineageState? known = null)
    {
        if (await ReadHeadAsync(backend, cancel).ConfigureAwait(false) is not { } head)
        {
            return new RemoteLineageState(null, LineageSnapshot.Empty);
        }

        if (known?.Head is { } before && before.SameAs(head))
        {
            return known;
        }

        var target = new LineageLogBase(head.Checkpoint, head.Segments);
        var cache = new RemoteLineageCache(metadataDirectory, tempDirectory, backend.Url);
        var problems = new List<string>();
        var (state, position) = await StartAsync(backend, head, cache, problems, cancel).ConfigureAwait(false);
        if (ReferenceEquals(position, cache.Base) && position.Segments.Count == target.Segments.Count)
        {
            return new RemoteLineageState(head, state); // as cached: it was whole and sound then
        }

        state = await FoldAsync(backend, state, target.Segments.Skip(position.Segments.Count), problems, cancel).ConfigureAwait(false);

        // The fold checks each segment's parts; only the whole tells whether an edge closes a cycle.
        var (sound, more) = state.WithoutBrokenParts();
        problems.AddRange(more);
        if (problems.Count == 0)
        {
            cache.Save(target, state.ToJson());
        }

        if (problems.Count > 0 && skipped is null)
        {
            throw BrokenRemote(backend, problems);
        }

        skipped?.AddRange(problems);
        return new RemoteLineageState(head, sound);
    }

    /// <summary>
    /// Where a read starts: the cached state when the ref extends it; the cached state folded on to
    /// the compacted checkpoint when the ref says that checkpoint folds it (checked by its hash);
    /// else the checkpoint, downloaded. Returns the state and the log position it stands for.
    /// </summary>
    private async Task<(LineageSnapshot State, LineageLogBase Position)> StartAsync(IRemoteBackend backend, LineageLogHead head, RemoteLineageCache cache, List<string> problems, CancellationToken cancel)
    {
        var target = new LineageLogBase(head.Checkpoint, head.Segments);
        if (cache.Base is { } cached && cache.Load() is { } state)
        {
            if (cached.IsPrefixOf(target))
            {
                return (state, cached);
            }

            if (head.Compacted is { } compacted && cached.IsPrefixOf(compacted))
            {
                var foldProblems = new List<string>();
                state = await FoldAsync(backend, state, compacted.Segments.Skip(cached.Segments.Count), foldProblems, cancel).ConfigureAwait(false);

                if (foldProblems.Count == 0 && ObjectId.Compute(state.ToJson()).ToString() == head.Checkpoint)
                {
                    return (state, target with { Segments = [] });
                }
            }
        }

        var checkpoint = await ReadSnapshotAsync(backend, head.Checkpoint, "lineage snapshot", cancel).ConfigureAwait(false);
        var (sound, found) = checkpoint.WithoutBrokenParts();
        problems.AddRange(found);
        return (sound, target with { Segments = [] });
    }

    /// <summary>The remote's ref, read and parsed; null for a remote nobody pushed to.</summary>
    public async Task<LineageLogHead?> ReadHeadAsync(IRemoteBackend backend, CancellationToken cancel) =>
        await ReadSmallAsync(backend, RemoteLayout.LineageRef, MaxRefBytes, cancel).ConfigureAwait(false) is { } refBytes
            ? LineageLogHead.Parse(refBytes, $"remote {backend.Url}: {RemoteLayout.LineageRef}")
            : null;

    /// <summary>
    /// The remote's ref and the segments pushed since <paramref name="since"/>, each downloaded and
    /// verified; null when the ref is not <paramref name="since"/> with segments appended (nobody
    /// pushed, or a push wrote a checkpoint): what came since is then only known from whole lineages.
    /// </summary>
    public async Task<(LineageLogHead Head, List<LineageSnapshot> Segments)?> ReadSegmentsSinceAsync(IRemoteBackend backend, LineageLogHead since, CancellationToken cancel)
    {
        if (await ReadHeadAsync(backend, cancel).ConfigureAwait(false) is not { } head || !since.IsExtendedBy(head))
        {
            return null;
        }

        return (head, await ReadSegmentsAsync(backend, head.Segments.Skip(since.Segments.Count), cancel).ConfigureAwait(false));
    }

    /// <summary>Whether a push onto <paramref name="head"/> adds a segment (false: it is time for a checkpoint).</summary>
    public bool TakesSegment(LineageLogHead head) => head.Segments.Count < Math.Clamp(segmentsPerCheckpoint, 1, LineageLogHead.MaxSegments);

    /// <summary>
    /// Publishes <paramref name="segment"/> (what a push adds, found without reading the remote's
    /// lineage) as one more segment after <paramref name="current"/> (read under the push lock, and
    /// <see cref="TakesSegment"/>). The ref is written last and never once <paramref name="cancel"/>
    /// is set. The cached state is left where it was: a later read folds the segment onto it.
    /// </summary>
    public static async Task<LineageLogHead> AppendAsync(IRemoteBackend backend, LineageLogHead current, LineageSnapshot segment, CancellationToken cancel)
    {
        var segmentId = await PutFileAsync(backend, segment.ToJson(), cancel).ConfigureAwait(false);
        var head = current with { Segments = [.. current.Segments, segmentId.ToString()] };
        await PutRefAsync(backend, head, cancel).ConfigureAwait(false);
        return head;
    }

    /// <summary>Writes a lineage file (checkpoint or segment) under its id; returns the id.</summary>
    private static async Task<ObjectId> PutFileAsync(IRemoteBackend backend, byte[] json, CancellationToken cancel)
    {
        var id = ObjectId.Compute(json);
        await backend.PutAsync(RemoteLayout.SnapshotKey(id), json, cancel).ConfigureAwait(false);
        return id;
    }

    /// <summary>
    /// Writes the ref, the last moment a cancel is taken: once the ref is being written the push
    /// either lands whole or not at all, and is reported as it ended, never as cancelled after it landed.
    /// </summary>
    private static async Task PutRefAsync(IRemoteBackend backend, LineageLogHead head, CancellationToken cancel)
    {
        cancel.ThrowIfCancellationRequested();
        await backend.PutAsync(RemoteLayout.LineageRef, head.ToJson(), CancellationToken.None).ConfigureAwait(false);
    }

    /// <summary>
    /// Publishes <paramref name="merged"/> as the remote's lineage in place of <paramref name="current"/>
    /// (read under the push lock): one segment when folding it onto the current lineage gives
    /// exactly <paramref name="merged"/>, else (and every <c>segmentsPerCheckpoint</c>
    /// segments) a checkpoint. The ref is written last and never once <paramref name="cancel"/> is
    /// set. Returns the ref written, or null when <paramref name="merged"/> adds nothing (nothing is written).
    /// </summary>
    public async Task<LineageLogHead?> PublishAsync(IRemoteBackend backend, RemoteLineageState current, LineageSnapshot merged, Func<Task> beforeRef, CancellationToken cancel)
    {
        var delta = LineageSegments.Delta(current.Lineage, merged);
        if (current.Head is not null && LineageSegments.IsEmpty(delta))
        {
            return null;
        }

        byte[] mergedJson = merged.ToJson();
        var foldProblems = new List<string>();
        bool provable = current.Head is not null
            && LineageSegments.Fold(current.Lineage, delta, foldProblems) is var folded
            && foldProblems.Count == 0
            && folded.ToJson().AsSpan().SequenceEqual(mergedJson);
        LineageLogHead head;
        IReadOnlyList<string> segments = [];
        if (provable)
        {
            var segmentId = await PutFileAsync(backend, delta.ToJson(), cancel).ConfigureAwait(false);
            segments = [.. current.Head!.Segments, segmentId.ToString()];
        }

        if (provable && TakesSegment(current.Head!))
        {
            head = current.Head! with { Segments = segments };
        }
        else
        {
            var mergedId = await PutFileAsync(backend, mergedJson, cancel).ConfigureAwait(false);
            head = new LineageLogHead
            {
                Checkpoint = mergedId.ToString(),
                Compacted = provable ? new LineageLogBase(current.Head!.Checkpoint, segments) : null,
            };
        }

        await beforeRef().ConfigureAwait(false);
        await PutRefAsync(backend, head, cancel).ConfigureAwait(false);
        new RemoteLineageCache(metadataDirectory, tempDirectory, backend.Url).Save(new LineageLogBase(head.Checkpoint, head.Segments), mergedJson);
        return head;
    }

    /// <summary>The lineage files named, in order, each downloaded and verified against its id (their parts not yet checked).</summary>
    public async Task<List<LineageSnapshot>> ReadSegmentsAsync(IRemoteBackend backend, IEnumerable<string> segments, CancellationToken cancel)
    {
        var read = new List<LineageSnapshot>();
        foreach (string segment in segments)
        {
            read.Add(await ReadSnapshotAsync(backend, segment, "lineage segment", cancel).ConfigureAwait(false));
        }

        return read;
    }

    /// <summary>The lineage <paramref name="state"/> with the segments named folded in, in order, each downloaded and verified.</summary>
    private async Task<LineageSnapshot> FoldAsync(IRemoteBackend backend, LineageSnapshot state, IEnumerable<string> segments, List<string> problems, CancellationToken cancel)
    {
        foreach (var segment in await ReadSegmentsAsync(backend, segments, cancel).ConfigureAwait(false))
        {
            state = LineageSegments.Fold(state, segment, problems);
        }

        return state;
    }

    /// <summary>A lineage file (checkpoint or segment), verified against its id; its format and schema checked, its parts not yet.</summary>
    private async Task<LineageSnapshot> ReadSnapshotAsync(IRemoteBackend backend, string id, string what, CancellationToken cancel)
    {
        var objectId = ObjectId.Parse(id);
        byte[] json = await ReadSmallAsync(backend, RemoteLayout.SnapshotKey(objectId), RemoteLayout.MaxSnapshotBytes, cancel).ConfigureAwait(false)
            ?? throw new MGitException(ErrorKind.Damaged, $"remote {backend.Url}: the {what} {id} named by {RemoteLayout.LineageRef} is missing");
        if (ObjectId.Compute(json) != objectId)
        {
            throw new MGitException(ErrorKind.Damaged, $"remote {backend.Url}: the {what} {id} does not match its hash; refused");
        }

        return LineageSnapshot.ParseUnchecked(json, $"remote {backend.Url}: {what} {id}");
    }

    /// <summary>A small key's bytes (null when absent), through a temporary file of this repository.</summary>
    public async Task<byte[]?> ReadSmallAsync(IRemoteBackend backend, string key, int maxBytes, CancellationToken cancel)
    {
        string temp = Path.Combine(tempDirectory, TemporaryFiles.Name("remote"));
        try
        {
            return await backend.DownloadAsync(key, temp, maxBytes, cancel).ConfigureAwait(false) ? await File.ReadAllBytesAsync(temp, cancel).ConfigureAwait(false) : null;
        }
        finally
        {
            File.Delete(temp);
        }
    }

    /// <summary>One line for a remote whose lineage is refused, with how to take the rest of it anyway.</summary>
    public static MGitException BrokenRemote(IRemoteBackend backend, IReadOnlyList<string> problems) =>
        new(ErrorKind.Damaged, $"remote {backend.Url}: {problems[0]}{(problems.Count > 1 ? $" (and {problems.Count - 1} more problem(s))" : "")}; refused ('--skip-broken' takes the rest, 'mgit remote fsck' lists every problem)");
}

/// <summary>
/// The last lineage read from one remote (by URL), folded and found sound (nothing broken, so it
/// is used as it is): <c>.mgit/cache/remote-lineage/H/</c>
/// holds <c>head.json</c> (the log position) and <c>state-ID</c> (the lineage, canonical JSON
/// named by its hash). Only a cache: a file that is missing, damaged or does not match its hash
/// means the next read downloads the checkpoint again.
/// </summary>
internal sealed class RemoteLineageCache
{
    internal sealed record CachedState(
        [property: System.Text.Json.Serialization.JsonPropertyName("base")] LineageLogBase Base,
        [property: System.Text.Json.Serialization.JsonPropertyName("state")] string State);

    /// <summary>
    /// What this repository knew after its last push to the remote: the remote's ref then, and the
    /// local lineage's <see cref="ChangeMark"/> when the remote's lineage held exactly the local
    /// one (results aside unless <paramref name="WithResults"/>). While the remote still has that
    /// ref, what was added here since is all a push has to send.
    /// </summary>
    internal sealed record PushMark(
        [property: System.Text.Json.Serialization.JsonPropertyName("ref")] LineageLogHead Ref,
        [property: System.Text.Json.Serialization.JsonPropertyName("local")] ChangeMark Local,
        [property: System.Text.Json.Serialization.JsonPropertyName("with_results")] bool WithResults);

    private const string MarkFile = "push-mark.json";

    private readonly string _directory;
    private readonly string _tempDirectory;
    private readonly CachedState? _cached;

    public RemoteLineageCache(string metadataDirectory, string tempDirectory, string url)
    {
        _tempDirectory = tempDirectory;
        _directory = Path.Combine(metadataDirectory, "cache", "remote-lineage", ObjectId.Compute(System.Text.Encoding.UTF8.GetBytes(url)).ToString()[..16]);
        try
        {
            _cached = System.Text.Json.JsonSerializer.Deserialize(File.ReadAllBytes(Path.Combine(_directory, "head.json")), RemoteLogJson.Default.CachedState);
            _cached = _cached?.Base?.Checkpoint is null || _cached.Base.Segments is null || !ObjectId.TryParse(_cached.State, out _) ? null : _cached;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Text.Json.JsonException)
        {
            _cached = null;
        }
    }

    /// <summary>The log position of the cached state, null when there is none.</summary>
    public LineageLogBase? Base => _cached?.Base;

    /// <summary>The cached state, or null when it is gone or damaged.</summary>
    public LineageSnapshot? Load()
    {
        if (_cached is null)
        {
            return null;
        }

        try
        {
            byte[] json = File.ReadAllBytes(Path.Combine(_directory, "state-" + _cached.State));
            return ObjectId.Compute(json).ToString() == _cached.State ? LineageSnapshot.ParseUnchecked(json, "cached remote lineage") : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or MGitException)
        {
            return null;
        }
    }

    /// <summary>Records <paramref name="json"/> as the lineage at <paramref name="position"/> (best effort: a cache that cannot be written is only slower).</summary>
    public void Save(LineageLogBase position, byte[] json)
    {
        try
        {
            Directory.CreateDirectory(_directory);
            string id = ObjectId.Compute(json).ToString();
            string state = Path.Combine(_directory, "state-" + id);
            WriteAtomically(state, json);
            WriteAtomically(Path.Combine(_directory, "head.json"), System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(new CachedState(position, id), RemoteLogJson.Default.CachedState));
            foreach (string old in Directory.EnumerateFiles(_directory, "state-*").Where(f => f != state))
            {
                File.Delete(old);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Only a cache.
        }
    }

    /// <summary>The mark of the last push to the remote, or null (none, or unreadable).</summary>
    public PushMark? LoadMark()
    {
        try
        {
            var mark = System.Text.Json.JsonSerializer.Deserialize(File.ReadAllBytes(Path.Combine(_directory, MarkFile)), RemoteLogJson.Default.PushMark);
            return mark?.Ref?.Checkpoint is null || mark.Ref.Segments is null || mark.Local?.Database is null ? null : mark;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Text.Json.JsonException)
        {
            return null;
        }
    }

    /// <summary>Records the mark of a push (best effort, as the rest of the cache).</summary>
    public void SaveMark(PushMark mark)
    {
        try
        {
            Directory.CreateDirectory(_directory);
            WriteAtomically(Path.Combine(_directory, MarkFile), System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(mark, RemoteLogJson.Default.PushMark));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Only a cache: the next push compares whole lineages.
        }
    }

    private void WriteAtomically(string path, byte[] bytes)
    {
        // In .mgit/tmp, so what a killed process leaves there is cleaned up like any temporary.
        string temp = Path.Combine(_tempDirectory, TemporaryFiles.Name("remote-lineage"));
        File.WriteAllBytes(temp, bytes);
        File.Move(temp, path, overwrite: true);
    }
}
