using System.Runtime.InteropServices;
using System.Text.Json;
using MGit.Tests.TestSupport;
using static MGit.Tests.TestSupport.RawSafetensors;

namespace MGit.Tests.Cli;

/// <summary>Issue 23's defects in everyday use of the command line, each as a user meets it.</summary>
public sealed class EverydayCliTests
{
    private static CliResult Ok(string dir, params string[] args) => CliRunner.Ok(dir, args);

    private static Tensor Floats(string name, float[] values, params long[] shape) =>
        new(name, "F32", shape, MemoryMarshal.AsBytes(values.AsSpan()).ToArray());

    private static float[] Gaussian(int count, int seed, float scale = 0.05f)
    {
        var random = new Random(seed);
        var values = new float[count];
        for (int i = 0; i < count; i++)
        {
            values[i] = (float)(Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble())) * scale;
        }

        return values;
    }

    private static float[] Nudged(float[] values, int seed, float amount = 0.002f)
    {
        var noise = Gaussian(values.Length, seed, amount);
        return values.Select((v, i) => v + noise[i]).ToArray();
    }

    [Theory]
    [InlineData("log", "--jsn")]
    [InlineData("show", "--bogus")]
    [InlineData("diff", "a", "--nope")]
    public void An_unknown_option_is_a_usage_error_never_a_model_name(params string[] args)
    {
        using var dir = new TempDirectory();
        Ok(dir.Path, "init");
        var result = CliRunner.Run(dir.Path, args);
        Assert.Equal(2, result.ExitCode);
        Assert.Contains($"'{args[^1]}'", result.Error);
        Assert.DoesNotContain("model name", result.Error);
    }

    [Fact]
    public void A_name_that_starts_with_a_dash_is_still_reachable_after_double_dash()
    {
        using var dir = new TempDirectory();
        Ok(dir.Path, "init");
        var result = CliRunner.Run(dir.Path, "show", "--", "-odd");
        Assert.Equal(1, result.ExitCode); // a name (refused as a name), not an unknown option
        Assert.DoesNotContain("unknown option", result.Error);
    }

    [Fact]
    public void A_cascade_run_again_with_nothing_left_to_do_succeeds_and_says_so()
    {
        using var dir = new TempDirectory();
        Ok(dir.Path, "init");
        string base1 = Write(dir.File("base.safetensors"), [Floats("w", Gaussian(4096, 1), 64, 64)]);
        string tuned = Write(dir.File("tuned.safetensors"), [Floats("w", Nudged(Gaussian(4096, 1), 2), 64, 64)]);
        string base2 = Write(dir.File("base2.safetensors"), [Floats("w", Nudged(Gaussian(4096, 1), 3), 64, 64)]);
        Ok(dir.Path, "add", base1, "--name", "base");
        Ok(dir.Path, "add", tuned, "--name", "tuned", "--parent", "base", "--recipe", "cp {parent} {output}");
        Ok(dir.Path, "add", base2, "--version-of", "base");
        Ok(dir.Path, "cascade", "base@2");

        var again = CliRunner.Run(dir.Path, "cascade", "base@2");
        Assert.True(again.ExitCode == 0, again.Error);
        Assert.Contains("nothing to do", again.Out);
        Assert.Contains("tuned@2", again.Out);

        using var json = JsonDocument.Parse(Ok(dir.Path, "cascade", "base@1", "base@2", "--json").Out);
        Assert.Empty(json.RootElement.GetProperty("steps").EnumerateArray());
        Assert.True(json.RootElement.GetProperty("succeeded").GetBoolean());
        Assert.Contains("nothing to do", json.RootElement.GetProperty("nothing_to_do").GetString());
    }

    [Fact]
    public void Infer_runs_again_as_files_arrive_skipping_what_is_stored()
    {
        using var dir = new TempDirectory();
        Ok(dir.Path, "init");
        string models = Directory.CreateDirectory(dir.File("models")).FullName;
        var weights = Gaussian(4096, 7);
        Write(Path.Combine(models, "base.safetensors"), [Floats("w", weights, 64, 64)]);
        Write(Path.Combine(models, "tuned.safetensors"), [Floats("w", Nudged(weights, 8), 64, 64)]);
        Ok(dir.Path, "infer", models);

        // A new file arrives; the stored ones are skipped, the new one is placed among them.
        Write(Path.Combine(models, "tuned-more.safetensors"), [Floats("w", Nudged(Nudged(weights, 8), 9), 64, 64)]);
        var again = Ok(dir.Path, "infer", models, "--json");
        using var json = JsonDocument.Parse(again.Out);
        var entries = json.RootElement.EnumerateArray().ToDictionary(e => e.GetProperty("ref").GetString()!, e => e.GetProperty("already_stored").GetBoolean());
        Assert.Equal(new Dictionary<string, bool> { ["base@1"] = true, ["tuned@1"] = true, ["tuned-more@1"] = false }, entries);
        Assert.Equal(3, JsonDocument.Parse(Ok(dir.Path, "ls", "--json").Out).RootElement.GetArrayLength());

        // A stored name with other bytes is a conflict, and nothing is added.
        Write(Path.Combine(models, "base.safetensors"), [Floats("w", Nudged(weights, 10), 64, 64)]);
        Write(Path.Combine(models, "another.safetensors"), [Floats("w", Nudged(weights, 11), 64, 64)]);
        var conflict = CliRunner.Run(dir.Path, "infer", models);
        Assert.Equal(1, conflict.ExitCode);
        Assert.Contains("'base'", conflict.Error);
        Assert.Contains("--version-of base", conflict.Error);
        Assert.Equal(3, JsonDocument.Parse(Ok(dir.Path, "ls", "--json").Out).RootElement.GetArrayLength());
    }

    [Fact]
    public void Infer_dry_run_prints_the_plan_with_evidence_and_confidence_and_adds_nothing()
    {
        using var dir = new TempDirectory();
        Ok(dir.Path, "init");
        string models = Directory.CreateDirectory(dir.File("models")).FullName;
        var weights = Gaussian(4096, 17);
        Write(Path.Combine(models, "base.safetensors"), [Floats("w", weights, 64, 64)]);
        string tuned = Directory.CreateDirectory(Path.Combine(models, "tuned")).FullName;
        Write(Path.Combine(tuned, "model.safetensors"), [Floats("w", Nudged(weights, 18), 64, 64)]);
        File.WriteAllText(Path.Combine(tuned, "README.md"), "---\nbase_model: acme/base\nbase_model_relation: finetune\n---\n");

        var text = Ok(dir.Path, "infer", models, "--dry-run");
        Assert.Contains("tuned@1: parent base@1 (confidence 1.00; its README.md", text.Out);
        Assert.Contains("nothing was added", text.Error);
        using (var json = JsonDocument.Parse(Ok(dir.Path, "infer", models, "-n", "--json").Out))
        {
            var entry = json.RootElement.EnumerateArray().Single(e => e.GetProperty("name").GetString() == "tuned");
            Assert.Equal(
                ["ref", "name", "path", "parent", "parents", "how", "reason", "confidence", "adopts", "already_stored"],
                entry.EnumerateObject().Select(p => p.Name));
            Assert.Equal("base@1", entry.GetProperty("parent").GetString());
            Assert.Equal("finetune", entry.GetProperty("how").GetString());
            Assert.Equal(1, entry.GetProperty("confidence").GetDouble());
        }

        Assert.Equal(0, JsonDocument.Parse(Ok(dir.Path, "ls", "--json").Out).RootElement.GetArrayLength());
        using var added = JsonDocument.Parse(Ok(dir.Path, "infer", models, "--json").Out);
        var placed = added.RootElement.EnumerateArray().Single(e => e.GetProperty("ref").GetString() == "tuned@1");
        Assert.Equal("base@1", placed.GetProperty("parent").GetString());
        Assert.Equal(1, placed.GetProperty("confidence").GetDouble());
    }

    [Fact]
    public void Auto_placement_prefers_the_newer_version_when_it_is_at_least_as_close()
    {
        using var dir = new TempDirectory();
        Ok(dir.Path, "init");
        var weight = Gaussian(256 * 256, 21);
        var bias = Gaussian(256, 22);
        var head = Gaussian(10 * 256, 23);
        Tensor[] Model(float[] w, float[] b, float[] h) => [Floats("layer.weight", w, 256, 256), Floats("layer.bias", b, 256), Floats("head.weight", h, 10, 256)];

        string ft1 = Write(dir.File("ft1.safetensors"), Model(weight, bias, head));
        // ft@2 retrains only the bias: it shares the weight and the head with ft@1.
        var bias2 = Nudged(bias, 24);
        string ft2 = Write(dir.File("ft2.safetensors"), Model(weight, bias2, head));
        // Pruned from ft@2: half of the weight zeroed; the bias and head are ft@2's exactly.
        var pruned = weight.Select((v, i) => i % 2 == 0 ? 0f : v).ToArray();
        string prunedPath = Write(dir.File("pruned.safetensors"), Model(pruned, bias2, head));

        Ok(dir.Path, "add", ft1, "--name", "ft");
        Ok(dir.Path, "add", ft2, "--version-of", "ft");
        using var placed = JsonDocument.Parse(Ok(dir.Path, "add", prunedPath, "--auto", "--json").Out);
        Assert.Equal("ft@2", placed.RootElement.GetProperty("parent").GetString());
    }

    [Fact]
    public void Checkout_without_output_writes_the_added_file_name_here_and_refuses_to_overwrite()
    {
        using var dir = new TempDirectory();
        string repo = Directory.CreateDirectory(dir.File("repo")).FullName;
        Ok(repo, "init");
        string model = Write(dir.File("weights.safetensors"), [Floats("w", Gaussian(1024, 31), 32, 32)]);
        Ok(repo, "add", model, "--name", "m");
        string work = Directory.CreateDirectory(dir.File("work")).FullName;

        Ok(work, "-C", repo, "checkout", "m");
        Assert.Equal(File.ReadAllBytes(model), File.ReadAllBytes(Path.Combine(work, "weights.safetensors")));

        var again = CliRunner.Run(work, "-C", repo, "checkout", "m");
        Assert.Equal(1, again.ExitCode);
        Assert.Contains("already exists", again.Error);
        Ok(work, "-C", repo, "checkout", "m", "--force");
    }

    [LinuxFact("reflinks and hard links through libc")]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public void Checkout_link_shares_the_cached_bytes_read_only_and_a_changed_cache_is_rebuilt()
    {
        using var dir = new TempDirectory();
        Ok(dir.Path, "init");
        string model = Write(dir.File("weights.safetensors"), [Floats("w", Gaussian(1024, 32), 32, 32)]);
        Ok(dir.Path, "add", model, "--name", "m");
        string linked = dir.File("linked.safetensors");

        var result = Ok(dir.Path, "checkout", "m", "--link", "-o", linked);
        Assert.Equal(File.ReadAllBytes(model), File.ReadAllBytes(linked));
        Assert.Matches("(reflink|hardlink)", result.Error);
        Assert.False(File.GetUnixFileMode(linked).HasFlag(UnixFileMode.UserWrite), "a linked checkout is read-only");

        // Someone makes a hard-linked checkout writable and edits it: the next use of the cache
        // notices and writes it again, so tests and cascades never run on edited bytes.
        if (result.Error.Contains("hardlink", StringComparison.Ordinal))
        {
            // File times come from a coarse clock: on a fast machine the link, its marker and the
            // edit all fall in one tick and the edit leaves the time as it was. Make that happen
            // every time: the edit keeps the file's time, and the marker has the same time.
            var linkedAt = File.GetLastWriteTimeUtc(linked);
            File.SetUnixFileMode(linked, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            using (var edit = File.OpenWrite(linked))
            {
                edit.WriteByte(0x42);
            }

            File.SetLastWriteTimeUtc(linked, linkedAt);
            string marker = Assert.Single(Directory.GetFiles(Path.Combine(dir.Path, ".mgit", "cache"), ".mgit-linked", SearchOption.AllDirectories));
            File.SetLastWriteTimeUtc(marker, linkedAt);

            string second = dir.File("second.safetensors");
            Ok(dir.Path, "checkout", "m", "--link", "-o", second);
            Assert.Equal(File.ReadAllBytes(model), File.ReadAllBytes(second));
        }
    }

    [Fact]
    public void Status_shows_models_latest_additions_remotes_ahead_and_behind_and_push_uses_the_only_remote()
    {
        using var dir = new TempDirectory();
        string alice = Directory.CreateDirectory(dir.File("alice")).FullName;
        Ok(alice, "init");
        Assert.Contains("no models yet", Ok(alice, "status").Out);

        var weights = Gaussian(1024, 41);
        Ok(alice, "add", Write(dir.File("base.safetensors"), [Floats("w", weights, 32, 32)]), "--name", "base");
        string remote = new Uri(Directory.CreateDirectory(dir.File("remote")).FullName).AbsoluteUri;
        Ok(alice, "remote", "add", "team", remote);
        Assert.Contains("1 version(s) to push", Ok(alice, "status").Out);

        Ok(alice, "push"); // the only remote, though it is not called origin
        Ok(alice, "add", Write(dir.File("tuned.safetensors"), [Floats("w", Nudged(weights, 42), 32, 32)]), "--name", "tuned", "--parent", "base");
        using var status = JsonDocument.Parse(Ok(alice, "status", "--json").Out);
        var root = status.RootElement;
        Assert.Equal(2, root.GetProperty("versions").GetInt32());
        Assert.Equal("tuned@1", root.GetProperty("latest")[0].GetProperty("ref").GetString());
        var team = root.GetProperty("remotes")[0];
        Assert.Equal("team", team.GetProperty("name").GetString());
        Assert.Equal(1, team.GetProperty("ahead").GetInt32());
        Assert.Equal(0, team.GetProperty("behind").GetInt32());

        string bob = dir.File("bob");
        Ok(dir.Path, "clone", remote, bob);
        Ok(alice, "push");
        Assert.Contains("1 version(s) to pull", Ok(bob, "status").Out);
        Assert.Contains("not read (--offline)", Ok(bob, "status", "--offline").Out);
    }
}
