using MGit.Errors;

namespace MGit.Remotes.S3;

/// <summary>s3://bucket/prefix, on AWS or (with an endpoint) any S3-compatible server.</summary>
internal sealed class S3RemoteFactory : IRemoteBackendFactory
{
    public string Scheme => "s3";

    public string UrlForm => "s3://bucket/prefix";

    public bool TakesEndpoint => true;

    public void Validate(string url) => _ = Parse(url);

    public IRemoteBackend Open(string url, string? endpoint, Func<string, string?> environment, bool create)
    {
        // A bucket is never created: that takes rights and choices (region, policy) beyond a push.
        var (bucket, prefix) = Parse(url);
        return new S3Remote(url, bucket, prefix, endpoint, environment);
    }

    private static (string Bucket, string Prefix) Parse(string url)
    {
        string rest = url["s3://".Length..];
        int slash = rest.IndexOf('/');
        string bucket = slash < 0 ? rest : rest[..slash];
        string prefix = slash < 0 ? "" : rest[(slash + 1)..].Trim('/');
        if (bucket.Length is < 3 or > 63 || !bucket.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c is '-' or '.'))
        {
            throw new MGitException(ErrorKind.InvalidInput, $"'{url}' does not name a valid S3 bucket (3 to 63 lowercase letters, digits, '-' or '.')");
        }

        return (bucket, prefix);
    }
}
