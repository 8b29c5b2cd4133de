using MGit.Errors;
using MGit.Remotes;
using MGit.Tests.TestSupport;
using static MGit.Tests.Remotes.Models;

namespace MGit.Tests.Remotes;

/// <summary>
/// Backends by URL scheme: file:// built in, s3:// registered (here by the test assembly, in the
/// tool by the CLI), any other registered through <see cref="RemoteBackends.Register"/>. The
/// messages for URLs nobody can open are the ones mgit always gave. (s3:// before the S3 package
/// registers is checked in a fresh process: PackageInstallTests.)
/// </summary>
public sealed class RemoteBackendsTests
{
    /// <summary>A scheme of the tests' own: a folder, as file:// keeps it, under another name.</summary>
    private sealed class FolderFactory(Action? onOpen = null) : IRemoteBackendFactory
    {
        public const string Prefix = "mgit-test-folder://";

        public string Scheme => "mgit-test-folder";

        public string UrlForm => "mgit-test-folder:///path";

        public bool TakesEndpoint => false;

        public void Validate(string url)
        {
            if (!url.StartsWith(Prefix + "/", StringComparison.Ordinal))
            {
                throw new MGitException($"'{url}' names no absolute folder");
            }
        }

        public IRemoteBackend Open(string url, string? endpoint, Func<string, string?> environment, bool create)
        {
            onOpen?.Invoke();
            return new FileRemote(url, url[Prefix.Length..], create);
        }
    }

    private static string Refusal(string url, string? endpoint = null) =>
        Assert.Throws<MGitException>(() => RemoteBackends.Validate(url, endpoint)).Message;

    [Fact]
    public void Urls_nobody_can_open_are_refused_as_before()
    {
        // "use file:///path or s3://bucket/prefix", and any scheme another test registered after them.
        string unknown = Refusal("http://example.com/models");
        Assert.StartsWith("'http://example.com/models' is not a remote URL: use file:///path", unknown, StringComparison.Ordinal);
        Assert.Contains(" s3://bucket/prefix", unknown, StringComparison.Ordinal);
        Assert.StartsWith("'/srv/models' is not a remote URL: use file:///path", Refusal("/srv/models"), StringComparison.Ordinal);
        Assert.StartsWith("'S3://bucket-a/x' is not a remote URL", Refusal("S3://bucket-a/x"), StringComparison.Ordinal);
        Assert.Equal("'s3://UPPER/models' does not name a valid S3 bucket (3 to 63 lowercase letters, digits, '-' or '.')", Refusal("s3://UPPER/models"));
        Assert.Equal("'file://relative/path' is not a file URL; write file:///absolute/path", Refusal("file://relative/path"));
        Assert.Equal("--endpoint applies to s3:// remotes only", Refusal("file:///srv/models", "http://127.0.0.1:9000"));
        RemoteBackends.Validate("s3://bucket-a/models", "http://127.0.0.1:9000");
        RemoteBackends.Validate("file:///srv/models", null);
    }

    [Fact]
    public void A_registered_scheme_serves_remote_add_push_and_clone()
    {
        int opened = 0;
        RemoteBackends.Register(new FolderFactory(() => Interlocked.Increment(ref opened)));
        RemoteBackends.Register(new FolderFactory(() => Interlocked.Increment(ref opened))); // again: replaces, harmless

        using var dir = new TempDirectory();
        string repo = NewRepository(dir, "repo");
        RemoteCli.Ok(repo, "add", Base(dir, "base.safetensors", seed: 1), "-q");
        string url = FolderFactory.Prefix + dir.File("remote");
        AssertOneLineError(RemoteCli.Run(repo, "remote", "add", "origin", FolderFactory.Prefix + "relative"), "names no absolute folder");
        AssertOneLineError(RemoteCli.Run(repo, "remote", "add", "origin", url, "--endpoint", "http://127.0.0.1:9000"), "--endpoint applies to s3:// remotes only");
        RemoteCli.Ok(repo, "remote", "add", "origin", url);
        RemoteCli.Ok(repo, "push");
        Assert.True(Directory.Exists(Path.Combine(dir.File("remote"), "objects")));

        RemoteCli.Ok(dir.Path, "clone", url, dir.File("copy"));
        Assert.Equal(["base@1"], Refs(dir.File("copy")));
        Assert.True(opened >= 2, $"the registered factory opened {opened} remotes");
    }

    [Fact]
    public void Registrations_from_many_threads_at_once_all_take()
    {
        string[] schemes = [.. Enumerable.Range(0, 16).Select(i => $"mgit-test-concurrent-{i}")];
        Parallel.ForEach(schemes, new ParallelOptions { MaxDegreeOfParallelism = 8 }, scheme => RemoteBackends.Register(new NamedFactory(scheme)));
        foreach (string scheme in schemes)
        {
            RemoteBackends.Validate($"{scheme}://x", null);
        }
    }

    [Theory]
    [InlineData("")]
    [InlineData("3d")]
    [InlineData("my scheme")]
    [InlineData("s3://")]
    public void A_scheme_that_cannot_start_a_url_is_not_registered(string scheme)
    {
        var e = Assert.Throws<ArgumentException>(() => RemoteBackends.Register(new NamedFactory(scheme)));
        Assert.Contains("is not a URL scheme", e.Message);
    }

    private sealed class NamedFactory(string scheme) : IRemoteBackendFactory
    {
        public string Scheme => scheme;

        public string UrlForm => scheme + "://x";

        public bool TakesEndpoint => false;

        public void Validate(string url)
        {
        }

        public IRemoteBackend Open(string url, string? endpoint, Func<string, string?> environment, bool create) => throw new NotSupportedException();
    }

    private static void AssertOneLineError(CliResult result, string expected)
    {
        Assert.Equal(1, result.ExitCode);
        string line = Assert.Single(result.Error.Trim().Split('\n'));
        Assert.StartsWith("mgit: ", line);
        Assert.Contains(expected, line);
    }
}
