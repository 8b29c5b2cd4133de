using System.Diagnostics;
using MGit.Formats.Gguf;
using MGit.Tests.Remotes;
using MGit.Tests.TestSupport;

namespace MGit.Tests.Cli;

/// <summary>
/// Runs only with the native (ahead-of-time compiled) mgit that .ci/run publishes, its path in
/// MGIT_TEST_NATIVE_CLI. Native code has no JIT and keeps only what the compiler saw used, so
/// anything reached by reflection would fail there alone; these tests drive every format, the
/// JSON output and both remote kinds through that binary.
/// </summary>
public sealed class NativeCliFactAttribute : FactAttribute
{
    public NativeCliFactAttribute()
    {
        if (NativeCli.Path is null)
        {
            Skip = "no native mgit: set MGIT_TEST_NATIVE_CLI (bash .ci/run publishes one with -p:PublishAot=true)";
        }
    }
}

public static class NativeCli
{
    public static string? Path => Environment.GetEnvironmentVariable("MGIT_TEST_NATIVE_CLI") is { Length: > 0 } p ? p : null;

    public static CliResult Run(string workingDirectory, params string[] args)
    {
        var start = CliRunner.StartInfo(Path ?? throw new InvalidOperationException("MGIT_TEST_NATIVE_CLI is not set"), workingDirectory, args);
        return CliRunner.RunProcess(RemoteCli.WithEnvironment(start), args);
    }

    public static CliResult Ok(string workingDirectory, params string[] args)
    {
        var result = Run(workingDirectory, args);
        Assert.True(result.ExitCode == 0, $"native mgit {string.Join(' ', args)} failed ({result.ExitCode}): {result.Error}");
        Assert.DoesNotContain("   at ", result.Error, StringComparison.Ordinal);
        return result;
    }
}

public sealed class NativeCliTests
{
    private static readonly string Fixtures = Path.Combine(AppContext.BaseDirectory, "Fixtures");

    [NativeCliFact]
    public void The_native_mgit_stores_every_format_and_prints_what_the_library_prints()
    {
        using var dir = new TempDirectory();
        string repo = dir.File("repo");
        NativeCli.Ok(dir.Path, "init", repo, "-q");
        var originals = new Dictionary<string, string>
        {
            ["base"] = Models.Base(dir, "base.safetensors", seed: 1),
            ["onnx"] = Path.Combine(Fixtures, "onnx", "backend", "light", "light_inception_v1.onnx"),
            ["torch"] = Path.Combine(Fixtures, "pytorch", "state-dict.pt"),
            ["gguf"] = dir.File("model.gguf"),
        };
        File.WriteAllBytes(originals["gguf"], RawGguf.Build(RawGguf.EveryValueType(), [RawGguf.Random("blk.0.w", GgmlTypes.FromId(12)!, blocks: 8, rows: 3, seed: 5)]));
        foreach (var (name, path) in originals)
        {
            NativeCli.Ok(repo, "add", path, "--name", name, "-q");
        }

        originals["tuned"] = Models.FineTune(dir, originals["base"], "tuned.safetensors", seed: 2);
        NativeCli.Ok(repo, "add", originals["tuned"], "--parent", "base", "-q");

        foreach (var (name, path) in originals)
        {
            string output = dir.File($"out-{name}");
            NativeCli.Ok(repo, "checkout", name, "-o", output, "-q");
            Assert.Equal(File.ReadAllBytes(path), File.ReadAllBytes(output));
        }

        // Every read command prints exactly what the library's own CLI prints for this repository.
        string[][] reads =
        [
            ["ls", "--json"], ["stats", "--json"], ["fsck", "--json"], ["graph", "--format", "json"], ["log"],
            ["show", "base", "--json"], ["show", "onnx", "--json"], ["show", "torch", "--json"], ["show", "gguf", "--json"],
            ["diff", "base", "tuned", "--json"], ["diff", "onnx", "onnx", "--json"],
        ];
        foreach (string[] command in reads)
        {
            var native = NativeCli.Ok(repo, command);
            var library = CliRunner.Run(repo, command);
            Assert.Equal(0, library.ExitCode);
            Assert.Equal(library.Out, native.Out);
        }

        // One error path: a clear line and exit 1, never a stack trace.
        var missing = NativeCli.Run(repo, "show", "nope");
        Assert.Equal(1, missing.ExitCode);
        Assert.StartsWith("mgit: ", missing.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", missing.Error, StringComparison.Ordinal);
    }

    [NativeCliFact]
    public void The_native_mgit_runs_tests_and_pushes_and_clones_through_both_remote_kinds()
    {
        using var dir = new TempDirectory();
        string repo = dir.File("repo");
        NativeCli.Ok(dir.Path, "init", repo, "-q");
        string base1 = Models.Base(dir, "base.safetensors", seed: 3);
        NativeCli.Ok(repo, "add", base1, "--name", "base", "-q");
        string script = dir.File("metric.sh");
        File.WriteAllText(script, "echo '{\"acc\": 0.75}'\n");
        NativeCli.Ok(repo, "test", "add", "acc", "--cmd", $"sh {script} {{model}}", "--pass", "acc >= 0.5");
        var run = NativeCli.Ok(repo, "test", "run", "--all", "--json");
        Assert.Contains("\"acc\": 0.75", run.Out, StringComparison.Ordinal);

        var kinds = S3Server.Endpoint is null ? new[] { "file" } : ["file", "s3"];
        foreach (string kind in kinds)
        {
            var remote = TestRemote.Create(kind, dir);
            NativeCli.Ok(repo, ["remote", "add", kind, remote.Url, .. remote.EndpointArgs]);
            Assert.Contains("\"objects_sent\"", NativeCli.Ok(repo, "push", kind, "--json").Out, StringComparison.Ordinal);
            string clone = dir.File($"clone-{kind}");
            NativeCli.Ok(dir.Path, ["clone", remote.Url, clone, .. remote.EndpointArgs, "-q"]);
            string output = dir.File($"out-{kind}");
            NativeCli.Ok(clone, "checkout", "base", "-o", output, "-q");
            Assert.Equal(File.ReadAllBytes(base1), File.ReadAllBytes(output));
        }
    }
}
