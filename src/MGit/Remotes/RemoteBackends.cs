using MGit.Errors;

namespace MGit.Remotes;

/// <summary>Turns a remote URL into its backend: <c>file:///path</c> or <c>s3://bucket/prefix</c>.</summary>
public static class RemoteBackends
{
    /// <summary>Checks a URL's shape without touching the network.</summary>
    public static void Validate(string url, string? endpoint)
    {
        _ = Parse(url);
        if (endpoint is not null && !url.StartsWith("s3://", StringComparison.Ordinal))
        {
            throw new MGitException("--endpoint applies to s3:// remotes only");
        }
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
                throw new MGitException($"'{url}' is not a file URL; write file:///absolute/path");
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
                throw new MGitException($"'{url}' does not name a valid S3 bucket (3 to 63 lowercase letters, digits, '-' or '.')");
            }

            return ("s3", bucket, prefix);
        }

        throw new MGitException($"'{url}' is not a remote URL: use file:///path or s3://bucket/prefix");
    }
}
