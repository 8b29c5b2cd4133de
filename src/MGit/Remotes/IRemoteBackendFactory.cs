namespace MGit.Remotes;

/// <summary>
/// Opens the remotes of one URL scheme. file:// is built in; others are registered with
/// <see cref="RemoteBackends.Register(IRemoteBackendFactory)"/> (s3:// by the MGit.Remotes.S3
/// package), so a new kind of remote storage needs no change to the library.
/// </summary>
public interface IRemoteBackendFactory
{
    /// <summary>The URL scheme without "://", e.g. <c>s3</c>; matched exactly, case included.</summary>
    string Scheme { get; }

    /// <summary>What a URL of this scheme looks like, for messages: <c>s3://bucket/prefix</c>.</summary>
    string UrlForm { get; }

    /// <summary>Whether remotes of this scheme take an endpoint (a server address given beside the URL).</summary>
    bool TakesEndpoint { get; }

    /// <summary>Checks a URL of this scheme without touching the network; throws <see cref="Errors.MGitException"/> when it is malformed.</summary>
    void Validate(string url);

    /// <summary>
    /// Opens the remote. <paramref name="url"/> has passed <see cref="Validate(string)"/>, and neither
    /// it nor <paramref name="endpoint"/> holds credentials; <paramref name="environment"/> reads the
    /// caller's environment variables. <paramref name="create"/>: make the remote's root where the
    /// scheme has one to make (a folder), instead of refusing a missing one.
    /// </summary>
    IRemoteBackend Open(string url, string? endpoint, Func<string, string?> environment, bool create);
}
