using System.Text.Json;
using MGit.Formats.Safetensors;
using MGit.Tests.TestSupport;
using static MGit.Tests.TestSupport.RawSafetensors;

namespace MGit.Tests.Testing;

/// <summary>A lossy encoding is kept only when the model's registered tests pass on its reconstruction.</summary>
public sealed class LossyAcceptanceTests
{
    [Fact]
    public void Lossy_is_kept_when_the_tests_pass_on_the_reconstruction_and_refused_when_one_fails()
    {
        using var dir = new TempDirectory();
        Assert.Equal(0, CliRunner.Run(dir.Path, "init").ExitCode);
        var random = new Random(3);
        var weights = Enumerable.Range(0, 64 * 1024).Select(_ => (float)(0.05 * (random.NextDouble() - 0.5))).ToArray();
        var tuned = weights.Select(w => w + (float)(0.0005 * (random.NextDouble() - 0.5))).ToArray();
        string basePath = Write(dir.File("base.safetensors"), [new Tensor("w", "F32", [256, 256], SafetensorsWriter.ToBytes(weights))]);
        string tunedPath = Write(dir.File("tuned.safetensors"), [new Tensor("w", "F32", [256, 256], SafetensorsWriter.ToBytes(tuned))]);
        Assert.Equal(0, CliRunner.Run(dir.Path, "add", basePath, "--name", "base").ExitCode);
        long size = new FileInfo(tunedPath).Length;
        Assert.Equal(0, CliRunner.Run(dir.Path, "test", "add", "same-size", "--cmd", $"sh -c 'test $(wc -c < \"$1\") -eq {size}' sh {{model}}").ExitCode);
        Assert.Equal(0, CliRunner.Run(dir.Path, "test", "add", "bit-exact", "--cmd", $"cmp {{model}} {Scripts.Quote(tunedPath)}", "--for", "type:strict").ExitCode);

        var kept = CliRunner.Run(dir.Path, "add", tunedPath, "--name", "loose", "--parent", "base", "--lossy", "--json");
        Assert.True(kept.ExitCode == 0, kept.Error);
        using (var json = JsonDocument.Parse(kept.Out))
        {
            Assert.True(json.RootElement.GetProperty("lossy").GetBoolean());
            var check = json.RootElement.GetProperty("lossy_check");
            Assert.True(check.GetProperty("accepted").GetBoolean());
            var test = Assert.Single(check.GetProperty("tests").EnumerateArray());
            Assert.Equal("same-size", test.GetProperty("test").GetString());
            Assert.Equal("loose@1", test.GetProperty("ref").GetString());
        }

        // The check's result is recorded for the version it judged.
        using (var results = JsonDocument.Parse(CliRunner.Run(dir.Path, "test", "show", "loose", "--json").Out))
        {
            Assert.True(Assert.Single(results.RootElement.EnumerateArray()).GetProperty("passed").GetBoolean());
        }

        var refused = CliRunner.Run(dir.Path, "add", tunedPath, "--name", "strict", "--type", "strict", "--parent", "base", "--lossy");
        Assert.True(refused.ExitCode == 0, refused.Error);
        Assert.Contains("rejected, stored losslessly instead", refused.Error, StringComparison.Ordinal);
        Assert.Contains("bit-exact failed", refused.Error, StringComparison.Ordinal);
        using (var show = JsonDocument.Parse(CliRunner.Run(dir.Path, "show", "strict", "--json").Out))
        {
            Assert.False(show.RootElement.GetProperty("lossy").GetBoolean());
        }

        string output = dir.File("strict.out");
        Assert.Equal(0, CliRunner.Run(dir.Path, "checkout", "strict", "-o", output).ExitCode);
        Assert.Equal(File.ReadAllBytes(tunedPath), File.ReadAllBytes(output));
        Assert.Equal(0, CliRunner.Run(dir.Path, "gc").ExitCode);
        Assert.Equal(0, CliRunner.Run(dir.Path, "fsck").ExitCode);
    }
}
