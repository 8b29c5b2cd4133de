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
        var local = context.WithDatabase(context.Graph).Versions.Select(LineageSnapshot.KeyOf).ToHashSet(StringComparer.Ordinal);
        foreach (var entry in remotes.Remotes())
        {
            try
            {
                using var backend = remotes.OpenRemote(entry.Name);
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
}
