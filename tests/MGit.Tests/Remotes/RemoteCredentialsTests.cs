using MGit.Cli;
using MGit.Errors;
using MGit.Remotes;
using MGit.Tests.TestSupport;
using static MGit.Tests.Remotes.Models;

namespace MGit.Tests.Remotes;

/// <summary>
/// Credentials come from the AWS environment or profile, never from a URL: a user:password in a
/// remote URL or endpoint is refused, one already in remotes.json is never shown, and AWS
/// variables set to nothing count as unset. None of this needs an S3 server: nothing listens on
/// 127.0.0.1:1, so a request is refused at once.
/// </summary>
public sealed class RemoteCredentialsTests
{
    private const string Unreachable = "http://127.0.0.1:1";

    private static void AssertOneLineError(CliResult result, string expected)
    {
        Assert.Equal(1, result.ExitCode);
        string[] lines = result.Error.Trim().Split('\n');
        Assert.Single(lines);
        Assert.StartsWith("mgit: ", lines[0]);
        Assert.DoesNotContain("internal error", lines[0]);
        Assert.Contains(expected, lines[0]);
    }

    private static CliResult Run(string workingDirectory, Dictionary<string, string> variables, params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = MGitCli.Run(args, new CliContext(output, error, workingDirectory, name => variables.TryGetValue(name, out string? value) ? value : name == "MGIT_FSYNC" ? "0" : null, ErrorIsTerminal: false));
        return new CliResult(code, output.ToString(), error.ToString());
    }

    public static TheoryData<string, string, string, string> EmptyVariables() => new()
    {
        // key, secret, token, what the clone says: a set-but-empty variable is unset (each of these was an internal error).
        { "AKID", "secret", "", "cannot reach the server" },
        { "AKID", "", "", "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is empty or unset" },
        { "", "secret", "", "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is empty or unset" },
        { "", "", "token", "AWS_SESSION_TOKEN is set but AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are empty or unset" },
    };

    [Theory]
    [MemberData(nameof(EmptyVariables))]
    public void Empty_aws_variables_count_as_unset_and_half_a_key_pair_is_one_line(string key, string secret, string token, string expected)
    {
        using var dir = new TempDirectory();
        var variables = new Dictionary<string, string>
        {
            ["AWS_ACCESS_KEY_ID"] = key,
            ["AWS_SECRET_ACCESS_KEY"] = secret,
            ["AWS_SESSION_TOKEN"] = token,
            ["AWS_REGION"] = "",
            ["AWS_DEFAULT_REGION"] = "us-east-1",
        };
        AssertOneLineError(Run(dir.Path, variables, "clone", "s3://mgit-test/x", dir.File("b"), "--endpoint", Unreachable), expected);
        Assert.False(Directory.Exists(dir.File("b")));
    }

    [Fact]
    public void An_s3_remote_opens_with_an_empty_session_token_as_with_none()
    {
        string? Environment(string name) => name switch
        {
            "AWS_ACCESS_KEY_ID" => "AKID",
            "AWS_SECRET_ACCESS_KEY" => "secret",
            "AWS_SESSION_TOKEN" => "",
            "AWS_REGION" => "",
            _ => null,
        };

        using var remote = RemoteBackends.Open("s3://mgit-test/x", Unreachable, Environment);
        var e = Assert.ThrowsAny<MGitException>(() => remote.ListAsync("", CancellationToken.None).GetAwaiter().GetResult());
        Assert.Contains("cannot reach the server", e.Message);
    }

    public static TheoryData<string, string[]> UrlsWithCredentials() => new()
    {
        { "endpoint user:password", ["s3://bucket-a/p", "--endpoint", "http://user:hunter2@127.0.0.1:9000"] },
        { "endpoint user only", ["s3://bucket-a/p", "--endpoint", "https://hunter2@s3.example.com"] },
        { "endpoint without a scheme", ["s3://bucket-a/p", "--endpoint", "AKIA:hunter2@127.0.0.1:9000"] },
        { "s3 URL", ["s3://AKIA:hunter2@bucket-a/p"] },
        { "file URL", ["file://user:hunter2@host/srv/models"] },
    };

    [Theory]
    [MemberData(nameof(UrlsWithCredentials))]
    public void A_user_or_password_in_a_url_or_endpoint_is_refused_without_echoing_it(string what, string[] urlAndEndpoint)
    {
        _ = what;
        using var dir = new TempDirectory();
        string repo = NewRepository(dir, "repo");

        var added = RemoteCli.Run(repo, ["remote", "add", "origin", .. urlAndEndpoint]);
        AssertOneLineError(added, "holds a user name or password");
        Assert.Contains("AWS_ACCESS_KEY_ID", added.Error);
        Assert.Contains("~/.aws/credentials", added.Error);
        Assert.DoesNotContain("hunter2", added.Error);
        Assert.Equal("", RemoteCli.Ok(repo, "remote", "ls").Out);
        string config = Path.Combine(repo, ".mgit", RemoteConfig.FileName);
        Assert.False(File.Exists(config) && File.ReadAllText(config).Contains("hunter2", StringComparison.Ordinal));

        var cloned = RemoteCli.Run(dir.Path, ["clone", urlAndEndpoint[0], dir.File("b"), .. urlAndEndpoint[1..]]);
        AssertOneLineError(cloned, "holds a user name or password");
        Assert.DoesNotContain("hunter2", cloned.Error);
        Assert.False(Directory.Exists(dir.File("b")));
    }

    [Fact]
    public void A_remotes_file_that_already_holds_a_password_never_shows_it()
    {
        using var dir = new TempDirectory();
        string repo = NewRepository(dir, "repo");
        string path = Path.Combine(repo, ".mgit", RemoteConfig.FileName);
        File.WriteAllText(path, """
            {"remotes": [
              {"name": "origin", "url": "s3://bucket-a/models", "endpoint": "http://AKIA:hunter2@127.0.0.1:1"},
              {"name": "old", "url": "s3://AKIA:hunter2@bucket-b/models", "endpoint": null}
            ]}
            """);

        string listed = RemoteCli.Ok(repo, "remote", "ls").Out;
        Assert.DoesNotContain("hunter2", listed);
        Assert.Contains("origin\ts3://bucket-a/models\t(endpoint http://***@127.0.0.1:1)", listed);
        Assert.Contains("old\ts3://***@bucket-b/models", listed);
        string json = RemoteCli.Ok(repo, "remote", "ls", "--json").Out;
        Assert.DoesNotContain("hunter2", json);
        Assert.Contains("http://***@127.0.0.1:1", json);

        // Using it is refused, naming the endpoint masked, before any request is made.
        RemoteCli.Ok(repo, "add", Base(dir, "m.safetensors", 1), "--name", "m");
        string[][] commands = [["push"], ["pull"], ["push", "old"], ["remote", "add", "old", "file:///srv/other"]];
        foreach (string[] command in commands)
        {
            var result = RemoteCli.Run(repo, command);
            Assert.Equal(1, result.ExitCode);
            Assert.DoesNotContain("hunter2", result.Error);
        }

        AssertOneLineError(RemoteCli.Run(repo, "push"), "the endpoint http://***@127.0.0.1:1 holds a user name or password");

        // Saving the file again (another remote added) keeps only the mask.
        RemoteCli.Ok(repo, "remote", "add", "backup", new Uri(dir.File("backup")).AbsoluteUri);
        Assert.DoesNotContain("hunter2", File.ReadAllText(path));
        Assert.Contains("backup", RemoteCli.Ok(repo, "remote", "ls").Out);
    }
}
