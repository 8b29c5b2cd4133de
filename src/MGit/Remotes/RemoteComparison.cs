using MGit.Lineage;
using MGit.Workspace;

namespace MGit.Remotes;

/// <summary>How a repository stands against one remote, as <c>mgit status</c> shows it.</summary>
/// <param name="Remote">The remote's name.</param>
/// <param name="Url">Where it is.</param>
/// <param name="Ahead">Versions here that the remote lacks (what <c>push</c> would send).</param>
/// <param name="Behind">Versions on the remote this repository lacks (what <c>pull</c> would bring).</param>
/// <param name="Problem">Why the remote could not be read, when it could not (then the counts are 0).</param>
public sealed record RemoteComparison(string Remote, string Url, int Ahead, int Behind, string? Problem);

/// <summary>Compares the local lineage with a remote's, by the versions' identities across repositories; reads only the remote's lineage.</summary>
internal sealed class RemoteComparer(RepositoryContext context, RemoteSync remotes)
{
    /// <summary>Compares with every configured remote; one that cannot be read is reported, not thrown.</summary>
    public async Task<IReadOnlyList<RemoteComparison>> CompareAllAsync(CancellationToken cancel)
    {
        var results = new List<RemoteComparison>();
        HashSet<string>? local = null; // read once, and only when a remote must be compared whole
        foreach (var entry in remotes.Remotes())
        {
            try
            {
                using var backend = remotes.OpenRemote(entry.Name);
                if (await CountSinceMarkAsync(backend, cancel).ConfigureAwait(false) is { } counted)
                {
                    results.Add(new RemoteComparison(entry.Name, entry.Url, counted.Ahead, counted.Behind, null));
                    continue;
                }

                local ??= context.WithDatabase(context.Graph).Versions.Select(LineageSnapshot.KeyOf).ToHashSet(StringComparer.Ordinal);
                var remote = (await remotes.ReadRemoteLineageAsync(backend, cancel).ConfigureAwait(false)).Lineage;
                var there = remote.Versions.Select(v => v.Key).ToHashSet(StringComparer.Ordinal);
                results.Add(new RemoteComparison(entry.Name, entry.Url, local.Count(k => !there.Contains(k)), there.Count(k => !local.Contains(k)), null));
            }
            catch (Exception e) when (e is Errors.MGitException or IOException or HttpRequestException or UnauthorizedAccessException)
            {
                results.Add(new RemoteComparison(entry.Name, entry.Url, 0, 0, e.Message));
            }
        }

        return results;
    }

    /// <summary>
    /// The counts from the push mark, without reading either whole lineage: when the last push or
    /// pull left both sides holding the same versions, only adds happened here since (the local
    /// change mark), and the remote's ref is that one or extends it with segments (a push to it
    /// only adds then; anything else writes a checkpoint), the local side holds the marked versions
    /// and the ones added since, the remote the marked ones and those of its new segments. Null
    /// when any of it does not hold: the caller compares whole lineages.
    /// </summary>
    private async Task<(int Ahead, int Behind)?> CountSinceMarkAsync(IRemoteBackend backend, CancellationToken cancel)
    {
        var cache = new RemoteLineageCache(context.MetadataDirectory, context.TempDirectory, backend.Url);
        if (!context.Lineage.HasSchema(10) // versions found by key
            || cache.LoadMark() is not { } mark || context.Lineage.ReadAppendedSince(mark.Local, withResults: false) is not { } appended)
        {
            return null;
        }

        if (await remotes.Lineages.ReadSegmentsSinceAsync(backend, mark.Ref, cancel).ConfigureAwait(false) is not { } sinceMark)
        {
            return null;
        }

        var segmentKeys = new HashSet<string>(StringComparer.Ordinal);
        foreach (var segment in sinceMark.Segments)
        {
            segmentKeys.UnionWith(segment.Versions.Select(v => v.Key));
        }

        var addedKeys = appended.Added.Select(id => LineageSnapshot.KeyOf(appended.Graph[id])).ToHashSet(StringComparer.Ordinal);
        int ahead = addedKeys.Count(key => !segmentKeys.Contains(key));
        var heldHere = context.Lineage.ReadIdsByKey(segmentKeys);
        int behind = segmentKeys.Count(key => !heldHere.ContainsKey(key));
        return (ahead, behind);
    }
}
