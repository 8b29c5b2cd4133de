using MGit.Remotes;
using MGit.Tests.TestSupport;
using static MGit.Tests.Remotes.Models;

namespace MGit.Tests.Remotes;

/// <summary>Remote configuration and bad remotes: one line on stderr, exit 1, nothing left behind.</summary>
public sealed class RemoteErrorTests
{
    private static void AssertOneLineError(CliResult result, string expected)
    {
        Assert.Equal(1, result.ExitCode);
        string[] lines = result.Error.Trim().Split('\n');
        Assert.Single(lines);
        Assert.StartsWith("mgit: ", lines[0]);
        Assert.Contains(expected, lines[0]);
    }

    [Fact]
    public void Remotes_are_added_listed_and_removed()
    {
        using var dir = new TempDirectory();
        string repo = NewRepository(dir, "repo");
        RemoteCli.Ok(repo, "remote", "add", "origin", "file:///srv/models");
        RemoteCli.Ok(repo, "remote", "add", "cloud", "s3://bucket-a/team/models", "--endpoint", "http://127.0.0.1:9000");
        Assert.Equal("origin\tfile:///srv/models\ncloud\ts3://bucket-a/team/models\t(endpoint http://127.0.0.1:9000)\n", RemoteCli.Ok(repo, "remote", "ls").Out.ReplaceLineEndings("\n"));
        Assert.Contains("\"endpoint\": \"http://127.0.0.1:9000\"", RemoteCli.Ok(repo, "remote", "ls", "--json").Out);

        AssertOneLineError(RemoteCli.Run(repo, "remote", "add", "origin", "file:///elsewhere"), "remote 'origin' already exists");
        AssertOneLineError(RemoteCli.Run(repo, "remote", "add", "x", "http://example.com/models"), "not a remote URL");
        AssertOneLineError(RemoteCli.Run(repo, "remote", "add", "x", "s3://UPPER/models"), "valid S3 bucket");
        AssertOneLineError(RemoteCli.Run(repo, "remote", "add", "x", "file:///srv/m", "--endpoint", "http://h"), "s3:// remotes only");
        AssertOneLineError(RemoteCli.Run(repo, "remote", "add", "--", "-bad", "file:///srv/m"), "");
        AssertOneLineError(RemoteCli.Run(repo, "remote", "rm", "nowhere"), "no remote named 'nowhere'");

        RemoteCli.Ok(repo, "add", Base(dir, "m.safetensors", 1), "--name", "m");
        AssertOneLineError(RemoteCli.Run(repo, "push", "m"), "mgit push origin m");
        RemoteCli.Ok(repo, "remote", "rm", "origin");
        Assert.DoesNotContain("origin", RemoteCli.Ok(repo, "remote", "ls").Out);
        RemoteCli.Ok(repo, "remote", "rm", "cloud"); // with one remote left, push would use it whatever its name
        AssertOneLineError(RemoteCli.Run(repo, "push"), "no remote named 'origin'");
    }

    [Fact]
    public void Clone_refuses_a_missing_folder_and_a_non_empty_target()
    {
        using var dir = new TempDirectory();
        AssertOneLineError(RemoteCli.Run(dir.Path, "clone", new Uri(dir.File("nothing-here")).AbsoluteUri, dir.File("b")), "no such folder");
        Assert.False(Directory.Exists(dir.File("b")));

        Directory.CreateDirectory(dir.File("full"));
        File.WriteAllText(dir.File("full/file.txt"), "x");
        Directory.CreateDirectory(dir.File("remote"));
        AssertOneLineError(RemoteCli.Run(dir.Path, "clone", new Uri(dir.File("remote")).AbsoluteUri, dir.File("full")), "not an empty folder");
        Assert.Equal(["file.txt"], Directory.EnumerateFileSystemEntries(dir.File("full")).Select(Path.GetFileName));
    }

    [Fact]
    public void A_wrong_endpoint_is_one_line_and_leaves_no_clone()
    {
        using var dir = new TempDirectory();
        // Port 1 on loopback: nothing listens there, the connection is refused at once.
        AssertOneLineError(RemoteCli.Run(dir.Path, "clone", "s3://mgit-test/x", dir.File("b"), "--endpoint", "http://127.0.0.1:1"), "cannot reach the server");
        Assert.False(Directory.Exists(dir.File("b")));
        AssertOneLineError(RemoteCli.Run(dir.Path, "clone", "s3://mgit-test/x", dir.File("b"), "--endpoint", "ftp://127.0.0.1"), "--endpoint must be an http");
    }

    [S3Fact]
    public void A_missing_bucket_and_unknown_credentials_are_one_line_errors()
    {
        using var dir = new TempDirectory();
        string endpoint = S3Server.RequireEndpoint();
        AssertOneLineError(RemoteCli.Run(dir.Path, "clone", "s3://no-such-bucket-here/x", dir.File("b"), "--endpoint", endpoint), "bucket 'no-such-bucket-here' does not exist");
        Assert.False(Directory.Exists(dir.File("b")));

        string repo = NewRepository(dir, "repo");
        RemoteCli.Ok(repo, "add", Base(dir, "m.safetensors", 1), "--name", "m");
        RemoteCli.Ok(repo, "remote", "add", "origin", $"s3://{S3Server.Bucket}/{Guid.NewGuid():N}", "--endpoint", endpoint);
        var output = new StringWriter();
        var error = new StringWriter();
        int code = MGit.Cli.MGitCli.Run(["-C", repo, "push"], new MGit.Cli.CliContext(output, error, repo, name => name switch
        {
            "AWS_ACCESS_KEY_ID" => "NOT-A-KEY",
            "AWS_SECRET_ACCESS_KEY" => "wrong",
            _ => RemoteCli.Environment(name),
        }, ErrorIsTerminal: false));
        AssertOneLineError(new CliResult(code, output.ToString(), error.ToString()), "check the AWS credentials");
    }

    [Fact]
    public void A_remote_written_by_a_newer_mgit_is_refused()
    {
        using var dir = new TempDirectory();
        Directory.CreateDirectory(dir.File("remote"));
        File.WriteAllText(dir.File($"remote/{RemoteLayout.FormatKey}"), """{"remote_format": 99, "hash": "blake3", "chunk_size": 4194304, "max_delta_depth": 8}""");
        AssertOneLineError(RemoteCli.Run(dir.Path, "clone", new Uri(dir.File("remote")).AbsoluteUri, dir.File("b")), "upgrade mgit");
        Assert.False(Directory.Exists(dir.File("b")));
    }
}
