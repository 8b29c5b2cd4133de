using MGit.Errors;

namespace MGit.Remotes;

/// <summary>Turns a remote URL into its backend: <c>file:///path</c> or <c>s3://bucket/prefix</c>.</summary>
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
        _ = Parse(url);
        if (endpoint is not null)
        {
            RefuseCredentials(endpoint, "endpoint");
            if (!url.StartsWith("s3://", StringComparison.Ordinal))
            {
                throw new MGitException(ErrorKind.InvalidInput, "--endpoint applies to s3:// remotes only");
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

    public static IRemoteBackend Open(string url, string? endpoint, Func<string, string?> environment, bool create = false)
    {
        Validate(url, endpoint);
        var (scheme, location, prefix) = Parse(url);
        return scheme == "file"
            ? new FileRemote(url, location, create)
            : new S3Remote(url, location, prefix, endpoint, environment);
    }

    private static (string Scheme, string Location, string Prefix) Parse(string url)
    {
        if (url.StartsWith("file://", StringComparison.Ordinal))
        {
            if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || !uri.IsFile || !Path.IsPathRooted(uri.LocalPath) || !string.IsNullOrEmpty(uri.Host))
            {
                throw new MGitException(ErrorKind.InvalidInput, $"'{url}' is not a file URL; write file:///absolute/path");
            }

            return ("file", uri.LocalPath, "");
        }

        if (url.StartsWith("s3://", StringComparison.Ordinal))
        {
            string rest = url["s3://".Length..];
            int slash = rest.IndexOf('/');
            string bucket = slash < 0 ? rest : rest[..slash];
            string prefix = slash < 0 ? "" : rest[(slash + 1)..].Trim('/');
            if (bucket.Length is < 3 or > 63 || !bucket.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c is '-' or '.'))
            {
                throw new MGitException(ErrorKind.InvalidInput, $"'{url}' does not name a valid S3 bucket (3 to 63 lowercase letters, digits, '-' or '.')");
            }

            return ("s3", bucket, prefix);
        }

        throw new MGitException(ErrorKind.InvalidInput, $"'{url}' is not a remote URL: use file:///path or s3://bucket/prefix");
    }
}
