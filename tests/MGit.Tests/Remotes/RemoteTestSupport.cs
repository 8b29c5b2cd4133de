using System.Diagnostics;
using MGit.Cli;
using MGit.Remotes;
using MGit.Tests.TestSupport;
using MGit.Workspace;
using static MGit.Tests.TestSupport.RawSafetensors;

namespace MGit.Tests.Remotes;

/// <summary>
/// A test that needs the S3-compatible server .ci/run starts (s3rver on 127.0.0.1, its address in
/// MGIT_TEST_S3_ENDPOINT). Outside CI without the server it is skipped with the reason; under CI
/// (CI set) it runs and fails if the server is missing, so CI never passes without S3 coverage.
/// </summary>
public sealed class S3FactAttribute : FactAttribute
{
    public S3FactAttribute()
    {
        if (S3Server.Endpoint is null && Environment.GetEnvironmentVariable("CI") is null)
        {
            Skip = "no S3 server: set MGIT_TEST_S3_ENDPOINT (bash .ci/run starts s3rver and sets it)";
        }
    }
}

public static class S3Server
{
    public static string? Endpoint => Environment.GetEnvironmentVariable("MGIT_TEST_S3_ENDPOINT") is { Length: > 0 } e ? e : null;

    public static string Bucket => Environment.GetEnvironmentVariable("MGIT_TEST_S3_BUCKET") ?? "mgit-test";

    public static string RequireEndpoint() =>
        Endpoint ?? throw new InvalidOperationException("MGIT_TEST_S3_ENDPOINT is not set: .ci/run must start the S3 server (s3rver) for the remote tests");

    /// <summary>s3rver's built-in account; it checks the key id, not SigV4 signatures.</summary>
    public static readonly IReadOnlyDictionary<string, string> Credentials = new Dictionary<string, string>
    {
        ["AWS_ACCESS_KEY_ID"] = "S3RVER",
        ["AWS_SECRET_ACCESS_KEY"] = "S3RVER",
        ["AWS_REGION"] = "us-east-1",
    };
}

/// <summary>A remote for one test: a fresh folder, or a fresh prefix in the test bucket.</summary>
public sealed record TestRemote(string Kind, string Url, string? Endpoint)
{
    public static TestRemote Create(string kind, TempDirectory dir) => kind switch
    {
        "file" => new TestRemote(kind, new Uri(dir.File("remote")).AbsoluteUri, null),
        "s3" => new TestRemote(kind, $"s3://{S3Server.Bucket}/{Guid.NewGuid():N}", S3Server.RequireEndpoint()),
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    /// <summary>The arguments after URL for clone / remote add.</summary>
    public string[] EndpointArgs => Endpoint is null ? [] : ["--endpoint", Endpoint];

    public IRemoteBackend Open() => RemoteBackends.Open(Url, Endpoint, RemoteCli.Environment, create: true);
}

/// <summary>mgit in memory or as a process, with the S3 test credentials in its environment.</summary>
public static class RemoteCli
{
    public static string? Environment(string name) =>
        name == "MGIT_FSYNC" ? "0" : S3Server.Credentials.GetValueOrDefault(name);

    public static RepositoryOptions Options => new() { FlushToDisk = false, Environment = Environment };

    public static CliResult Run(string workingDirectory, params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = MGitCli.Run(args, new CliContext(output, error, workingDirectory, Environment, ErrorIsTerminal: false));
        return new CliResult(code, output.ToString(), error.ToString());
    }

    public static CliResult Ok(string workingDirectory, params string[] args)
    {
        var result = Run(workingDirectory, args);
        Assert.True(result.ExitCode == 0, $"mgit {string.Join(' ', args)} failed ({result.ExitCode}): {result.Error}");
        return result;
    }

    public static Process Start(string workingDirectory, params string[] args) =>
        Process.Start(WithEnvironment(CliRunner.StartInfo("dotnet", workingDirectory, [CliRunner.CliAssembly, .. args])))
        ?? throw new InvalidOperationException("could not start mgit");

    /// <summary>The environment <see cref="Environment"/> gives in memory, for a real process: the S3 test credentials, no fsync.</summary>
    public static ProcessStartInfo WithEnvironment(ProcessStartInfo start)
    {
        foreach (var (name, value) in S3Server.Credentials)
        {
            start.Environment[name] = value;
        }

        start.Environment["MGIT_FSYNC"] = "0";
        return start;
    }
}

/// <summary>Small model files with real lineage: a base, a fine-tune stored as deltas against it.</summary>
public static class Models
{
    /// <summary>A repository with 16 KiB chunks, so a few hundred KiB of weights make many objects.</summary>
    public static string NewRepository(TempDirectory dir, string name)
    {
        string path = dir.File(name);
        Repository.Init(path, RemoteCli.Options, chunkSize: 16 * 1024).Dispose();
        return path;
    }

    public static string Base(TempDirectory dir, string file, int seed) =>
        Write(dir.File(file), [Random("encoder.weight", "F32", [128, 256], seed), Random("head.weight", "F32", [16, 256], seed + 1)]);

    /// <summary>A copy of <paramref name="parent"/> with a few weights nudged: stored mostly as deltas.</summary>
    public static string FineTune(TempDirectory dir, string parent, string file, int seed)
    {
        byte[] bytes = File.ReadAllBytes(parent);
        var random = new Random(seed);
        for (int i = 0; i < 200; i++)
        {
            int at = bytes.Length - 4 - (random.Next((bytes.Length - 1024) / 4) * 4);
            bytes[at] ^= (byte)(1 + random.Next(255)); // the low mantissa byte of one float
        }

        File.WriteAllBytes(dir.File(file), bytes);
        return dir.File(file);
    }

    /// <summary>The refs 'ls --json' lists (the text form has a header row), sorted.</summary>
    public static IReadOnlyList<string> Refs(string repo)
    {
        using var listed = System.Text.Json.JsonDocument.Parse(RemoteCli.Ok(repo, "ls", "--json").Out);
        return listed.RootElement.EnumerateArray().Select(v => v.GetProperty("ref").GetString()!).Order(StringComparer.Ordinal).ToList();
    }

    public static void AssertChecksOut(string repo, string reference, string original)
    {
        string output = Path.Combine(Path.GetTempPath(), "mgit-tests", $"checkout-{Guid.NewGuid():N}");
        RemoteCli.Ok(repo, "checkout", reference, "-o", output);
        try
        {
            Assert.Equal(File.ReadAllBytes(original), File.ReadAllBytes(output));
        }
        finally
        {
            File.Delete(output);
        }
    }

    public static void AssertIntact(string repo)
    {
        var fsck = RemoteCli.Run(repo, "fsck");
        Assert.True(fsck.ExitCode == 0, $"fsck failed: {fsck.Out} {fsck.Error}");
    }

    public static int ObjectFiles(string repo) =>
        Directory.EnumerateFiles(Path.Combine(repo, ".mgit", "objects"), "*", SearchOption.AllDirectories).Count();

    public static long ObjectBytes(string repo) =>
        Directory.EnumerateFiles(Path.Combine(repo, ".mgit", "objects"), "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length);

    public static (long Count, long Bytes) Json(CliResult result, string count, string bytes)
    {
        using var document = System.Text.Json.JsonDocument.Parse(result.Out);
        return (document.RootElement.GetProperty(count).GetInt64(), document.RootElement.GetProperty(bytes).GetInt64());
    }
}
