using MGit.Errors;

namespace MGit.Remotes;

/// <summary>
/// Turns a remote URL into its backend, by the URL's scheme: <c>file:///path</c> built in, others
/// registered (<see cref="Register(IRemoteBackendFactory)"/>), such as <c>s3://bucket/prefix</c> by
/// the MGit.Remotes.S3 package.
/// </summary>
public static class RemoteBackends
{
    /// <summary>Where credentials go instead of a URL: said by every refusal of a URL that holds some.</summary>
    public const string CredentialsAdvice =
        "credentials belong in the AWS environment variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) or a ~/.aws/credentials profile (AWS_PROFILE), never in a URL";

    /// <summary>
    /// Checks a URL's shape without touching the network. A user name or password in the URL or
    /// the endpoint is refused: it would be kept in .mgit/remotes.json and shown by
    /// <c>mgit remote ls</c>, and S3 signs requests with AWS credentials, never with these.
    /// </summary>
    public static void Validate(string url, string? endpoint)
    {
        RefuseCredentials(url, "remote URL");
        var factory = FactoryFor(url);
        factory.Validate(url);
        if (endpoint is not null)
        {
            RefuseCredentials(endpoint, "endpoint");
            if (!factory.TakesEndpoint)
            {
                var takers = Volatile.Read(ref _factories).Where(f => f.TakesEndpoint).Select(f => $"{f.Scheme}://").ToList();
                throw new MGitException(ErrorKind.InvalidInput, $"--endpoint applies to {(takers.Count == 0 ? "s3://" : JoinOr(takers))} remotes only");
            }
        }
    }

    /// <summary>
    /// The URL with anything before an '@' in its authority (user:password) replaced by "***", for
    /// messages and listings. Works on text that is not a valid URL too (no scheme, bad port).
    /// </summary>
    public static string Redact(string url)
    {
        int at = UserInfoEnd(url, out int start);
        return at < 0 ? url : string.Concat(url.AsSpan(0, start), "***", url.AsSpan(at));
    }

    /// <summary>Whether the URL has userinfo (<c>user@</c>, <c>user:password@</c>) before its host.</summary>
    public static bool HasCredentials(string url) =>
        UserInfoEnd(url, out _) >= 0 || (Uri.TryCreate(url, UriKind.Absolute, out var uri) && uri.UserInfo.Length > 0);

    private static void RefuseCredentials(string url, string what)
    {
        if (HasCredentials(url))
        {
            throw new MGitException(ErrorKind.InvalidInput, $"the {what} {Redact(url)} holds a user name or password; {CredentialsAdvice}");
        }
    }

    /// <summary>Index of the last '@' in the authority (after "scheme://", before the path), or -1; <paramref name="start"/> is where the authority begins.</summary>
    private static int UserInfoEnd(string url, out int start)
    {
        int scheme = url.IndexOf("://", StringComparison.Ordinal);
        start = scheme < 0 ? 0 : scheme + 3;
        int end = url.IndexOfAny(['/', '\\', '?', '#'], start);
        var authority = url.AsSpan(start, (end < 0 ? url.Length : end) - start);
        int at = authority.LastIndexOf('@');
        return at < 0 ? -1 : start + at;
    }

    /// <summary>Connects to the remote at a URL, with the backend its scheme names.</summary>
    /// <param name="url">The remote's URL (<c>file://</c>, <c>s3://</c>, or another registered scheme); it must not hold credentials.</param>
    /// <param name="endpoint">The server to talk to for schemes that need one (an S3-compatible endpoint); null for the default.</param>
    /// <param name="environment">Reads an environment variable (credentials, region); tests pass their own.</param>
    /// <param name="create">Make the remote's folder or prefix when it does not exist yet (for a first push).</param>
    /// <returns>The backend; the caller disposes it.</returns>
    /// <exception cref="MGitException">The URL is malformed, holds credentials, or names a scheme no backend handles.</exception>
    public static IRemoteBackend Open(string url, string? endpoint, Func<string, string?> environment, bool create = false)
    {
        Validate(url, endpoint);
        return FactoryFor(url).Open(url, endpoint, environment, create);
    }

    /// <summary>
    /// Opens the URLs of <paramref name="factory"/>'s scheme with it, in the whole process: call it
    /// at start-up (the S3 package wraps it as <c>S3Remote.Register()</c>). Safe from any thread; a
    /// second registration of a scheme replaces the first, so registering twice is harmless.
    /// </summary>
    public static void Register(IRemoteBackendFactory factory)
    {
        ArgumentNullException.ThrowIfNull(factory);
        string scheme = factory.Scheme;
        if (scheme.Length == 0 || !char.IsAsciiLetter(scheme[0]) || !scheme.All(c => char.IsAsciiLetterOrDigit(c) || c is '+' or '-' or '.'))
        {
            throw new ArgumentException($"'{scheme}' is not a URL scheme (a letter, then letters, digits, '+', '-' or '.')", nameof(factory));
        }

        lock (Gate)
        {
            // Copy on write: readers take the array as it is, without the lock.
            Volatile.Write(ref _factories, [.. _factories.Where(f => f.Scheme != scheme), factory]);
        }
    }

    private static readonly Lock Gate = new();
    private static IRemoteBackendFactory[] _factories = [new FileRemoteFactory()];

    /// <summary>Schemes this library knows of but does not carry, and the package and call that bring each.</summary>
    private static readonly Dictionary<string, (string Package, string Call)> KnownElsewhere = new(StringComparer.Ordinal)
    {
        ["s3"] = ("MGit.Remotes.S3", "MGit.Remotes.S3.S3Remote.Register()"),
    };

    private static IRemoteBackendFactory FactoryFor(string url)
    {
        var factories = Volatile.Read(ref _factories);
        int end = url.IndexOf("://", StringComparison.Ordinal);
        string scheme = end < 0 ? "" : url[..end];
        if (factories.FirstOrDefault(f => f.Scheme == scheme) is { } factory)
        {
            return factory;
        }

        if (KnownElsewhere.TryGetValue(scheme, out var elsewhere))
        {
            throw new MGitException(ErrorKind.Unsupported, $"'{url}': {scheme}:// remotes come with the {elsewhere.Package} package; add it and call {elsewhere.Call} at start-up");
        }

        throw new MGitException(ErrorKind.InvalidInput, $"'{url}' is not a remote URL: use {JoinOr(factories.Select(f => f.UrlForm))}");
    }

    private static string JoinOr(IEnumerable<string> items)
    {
        var list = items.ToList();
        return list.Count <= 1 ? string.Concat(list) : $"{string.Join(", ", list[..^1])} or {list[^1]}";
    }

    /// <summary>file:///absolute/path: a folder on this machine or a mounted share.</summary>
    private sealed class FileRemoteFactory : IRemoteBackendFactory
    {
        public string Scheme => "file";

        public string UrlForm => "file:///path";

        public bool TakesEndpoint => false;

        public void Validate(string url) => _ = LocalPath(url);

        public IRemoteBackend Open(string url, string? endpoint, Func<string, string?> environment, bool create) =>
            new FileRemote(url, LocalPath(url), create);

        private static string LocalPath(string url)
        {
            if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || !uri.IsFile || !Path.IsPathRooted(uri.LocalPath) || !string.IsNullOrEmpty(uri.Host))
            {
                throw new MGitException(ErrorKind.InvalidInput, $"'{url}' is not a file URL; write file:///absolute/path");
            }

            return uri.LocalPath;
        }
    }
}
