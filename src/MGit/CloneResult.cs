namespace MGit;

/// <summary>
/// What <see cref="Repository.CloneAsync(string, string, string?, bool, bool, Workspace.RepositoryOptions?, CancellationToken)"/>
/// made: the new repository (the caller disposes it) and, when broken parts were skipped, each part left out.
/// </summary>
public sealed record CloneResult(Repository Repository, IReadOnlyList<string> Skipped);
