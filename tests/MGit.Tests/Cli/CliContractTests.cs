using System.Text.Json;
using MGit.Cli;
using MGit.Errors;
using MGit.Tests.TestSupport;
using static MGit.Tests.TestSupport.RawSafetensors;

namespace MGit.Tests.Cli;

public sealed class CliContractTests
{
    private static CliResult Ok(string dir, params string[] args) => CliRunner.Ok(dir, args);

    private static (TempDirectory Dir, string Base, string Child) Family()
    {
        var dir = new TempDirectory();
        Ok(dir.Path, "init");
        string basePath = Write(dir.File("base.safetensors"), [Random("enc", "F32", [64, 64], 1), Random("head", "F32", [3, 64], 2)]);
        string child = Write(dir.File("child.safetensors"), [Random("enc", "F32", [64, 64], 1), Random("head", "F32", [2, 64], 3)]);
        return (dir, basePath, child);
    }

    [Fact]
    public void Add_prints_the_new_ref_and_ls_json_has_the_contract_fields()
    {
        var (dir, basePath, child) = Family();
        using (dir)
        {
            Assert.Equal("base@1", Ok(dir.Path, "add", basePath, "--type", "classifier", "-m", "first").Out.Trim());
            Assert.Equal("child@1", Ok(dir.Path, "add", child, "--parent", "base", "--how", "finetune", "--meta", "lr=0.01", "--meta", "task=sex").Out.Trim());
            Assert.Equal("child@2", Ok(dir.Path, "add", child, "--version-of", "child", "-q").Out.Trim());

            using var ls = JsonDocument.Parse(Ok(dir.Path, "ls", "--json").Out);
            var rows = ls.RootElement.EnumerateArray().ToList();
            Assert.Equal(3, rows.Count);
            foreach (string field in new[] { "ref", "name", "version", "type", "parents", "logical_bytes", "added_at" })
            {
                Assert.All(rows, row => Assert.True(row.TryGetProperty(field, out _), $"ls --json lacks '{field}'"));
            }

            var child2 = rows.Single(r => r.GetProperty("ref").GetString() == "child@2");
            var parents = child2.GetProperty("parents").EnumerateArray().Select(p => (p.GetProperty("ref").GetString(), p.GetProperty("kind").GetString())).ToList();
            Assert.Contains(("base@1", "adapted"), parents);
            Assert.Contains(("child@1", "versioned"), parents);
            Assert.Equal(new FileInfo(child).Length, child2.GetProperty("logical_bytes").GetInt64());
            Assert.Equal("classifier", rows[0].GetProperty("type").GetString());
        }
    }

    [Fact]
    public void Show_json_lists_tensors_lineage_and_metadata()
    {
        var (dir, basePath, child) = Family();
        using (dir)
        {
            Ok(dir.Path, "add", basePath);
            Ok(dir.Path, "add", child, "--parent", "base@1", "--how", "finetune", "--meta", "lr=0.01");
            using var show = JsonDocument.Parse(Ok(dir.Path, "show", "child", "--json").Out);
            var root = show.RootElement;
            var tensors = root.GetProperty("tensors").EnumerateArray().ToList();
            Assert.Equal(["enc", "head"], tensors.Select(t => t.GetProperty("name").GetString()));
            Assert.Equal("F32", tensors[1].GetProperty("dtype").GetString());
            Assert.Equal([2, 64], tensors[1].GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()));
            Assert.Equal("base@1", root.GetProperty("parents")[0].GetProperty("ref").GetString());
            Assert.Equal("0.01", root.GetProperty("metadata").GetProperty("lr").GetString());
            Assert.Equal("safetensors", root.GetProperty("files")[0].GetProperty("format").GetString());

            using var baseShow = JsonDocument.Parse(Ok(dir.Path, "show", "base", "--json").Out);
            Assert.Equal("child@1", baseShow.RootElement.GetProperty("children")[0].GetProperty("ref").GetString());
        }
    }

    [Fact]
    public void Stats_json_log_graph_checkout_fsck()
    {
        var (dir, basePath, child) = Family();
        using (dir)
        {
            Ok(dir.Path, "add", basePath);
            Ok(dir.Path, "add", child, "--parent", "base", "--how", "finetune");
            using var stats = JsonDocument.Parse(Ok(dir.Path, "stats", "--json").Out);
            long logical = stats.RootElement.GetProperty("logical_bytes").GetInt64();
            long stored = stats.RootElement.GetProperty("stored_bytes").GetInt64();
            Assert.Equal(2, stats.RootElement.GetProperty("models").GetInt32());
            Assert.Equal(new FileInfo(basePath).Length + new FileInfo(child).Length, logical);
            Assert.Equal(Math.Round((double)logical / stored, 4), stats.RootElement.GetProperty("ratio").GetDouble());

            string log = Ok(dir.Path, "log").Out;
            Assert.Contains("base@1", log);
            Assert.Contains("└── child@1  (finetune)", log);

            Assert.Contains("\"base@1\" -> \"child@1\"", Ok(dir.Path, "graph", "--format", "dot").Out);
            Assert.Contains("-->|finetune|", Ok(dir.Path, "graph", "--format", "mermaid").Out);
            using var graph = JsonDocument.Parse(Ok(dir.Path, "graph", "--format", "json").Out);
            Assert.Equal("adapted", graph.RootElement.GetProperty("edges")[0].GetProperty("kind").GetString());

            Ok(dir.Path, "checkout", "child@1", "--output", "out.safetensors");
            Assert.Equal(File.ReadAllBytes(child), File.ReadAllBytes(dir.File("out.safetensors")));
            Assert.StartsWith("ok:", Ok(dir.Path, "fsck").Out);
        }
    }

    [Fact]
    public void An_error_from_parallel_work_is_reported_as_itself_not_as_a_bug()
    {
        foreach (var (inner, exit) in new (Exception, int)[] { (new MGitException("object 12ab is damaged: missing"), MGitCli.ExitFailure), (new IOException("No space left on device"), MGitCli.ExitFailure), (new InvalidOperationException("a bug"), MGitCli.ExitInternal) })
        {
            var error = new StringWriter();
            var context = new CliContext(new StringWriter(), error, "/", _ => null, ErrorIsTerminal: false);
            int code = MGitCli.Fail(context, new AggregateException(new AggregateException(inner), new IOException("a second failure")));
            Assert.Equal(exit, code);
            Assert.Equal($"mgit: {(exit == MGitCli.ExitInternal ? $"internal error ({inner.GetType().Name}): " : "")}{inner.Message}", error.ToString().TrimEnd());
        }
    }

    [Fact]
    public void Checkout_of_several_refs_puts_each_in_a_folder_named_by_its_ref()
    {
        var (dir, basePath, child) = Family();
        using (dir)
        {
            Ok(dir.Path, "add", basePath);
            Ok(dir.Path, "add", child, "--parent", "base");
            Directory.CreateDirectory(dir.File("models"));
            var said = Ok(dir.Path, "checkout", "child", "base", "base@1", "--output", "models").Error;
            Assert.Equal(["base@1", "child@1"], Directory.GetDirectories(dir.File("models")).Select(Path.GetFileName).Order(StringComparer.Ordinal));
            Assert.Equal(File.ReadAllBytes(basePath), File.ReadAllBytes(dir.File("models/base@1/base.safetensors")));
            Assert.Equal(File.ReadAllBytes(child), File.ReadAllBytes(dir.File("models/child@1/child.safetensors")));
            Assert.Contains("checked out base@1 to ", said);

            // Written again only with --force; the refusal leaves what is there alone.
            var refused = CliRunner.Run(dir.Path, "checkout", "base", "child", "-o", "models");
            Assert.Equal(1, refused.ExitCode);
            Assert.Contains("already exists; pass --force", refused.Error);
            Ok(dir.Path, "checkout", "base", "child", "-o", "models", "--force", "-q");
            Assert.Equal(File.ReadAllBytes(child), File.ReadAllBytes(dir.File("models/child@1/child.safetensors")));
        }
    }

    [Theory]
    [InlineData("checkout", "base", "nope", "--output", "x")]
    [InlineData("checkout", "base", "base@1", "--output", "base.safetensors")]
    [InlineData("show", "nope")]
    [InlineData("add", "missing.safetensors")]
    [InlineData("checkout", "nope", "--output", "x")]
    [InlineData("rm", "nope@3")]
    [InlineData("log", "x@0")]
    [InlineData("frobnicate")]
    [InlineData("add")]
    [InlineData("graph", "--format", "png")]
    [InlineData("add", "base.safetensors", "--how", "telepathy", "--parent", "base")]
    public void Errors_are_one_line_starting_with_mgit_and_exit_non_zero(params string[] args)
    {
        var (dir, basePath, _) = Family();
        using (dir)
        {
            Ok(dir.Path, "add", basePath);
            var result = CliRunner.Run(dir.Path, args);
            Assert.NotEqual(0, result.ExitCode);
            string line = Assert.Single(result.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.StartsWith("mgit: ", line);
            Assert.DoesNotContain("   at ", result.Error);
        }
    }

    [Fact]
    public void Outside_a_repository_commands_say_so()
    {
        using var dir = new TempDirectory();
        var result = CliRunner.Run(dir.Path, "ls");
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("not an mgit repository", result.Error);
        Assert.Contains("already", CliRunner.Run(dir.Path, "init", dir.Path) is var first && first.ExitCode == 0 ? CliRunner.Run(dir.Path, "init").Error : "init failed");
    }

    [Fact]
    public void Fsck_exits_non_zero_and_names_the_damage()
    {
        var (dir, basePath, _) = Family();
        using (dir)
        {
            Ok(dir.Path, "add", basePath);
            string objects = Path.Combine(dir.Path, ".mgit", "objects");
            string victim = Directory.EnumerateFiles(objects, "*", SearchOption.AllDirectories).OrderByDescending(f => new FileInfo(f).Length).First();
            byte[] bytes = File.ReadAllBytes(victim);
            bytes[^1] ^= 0xFF;
            File.WriteAllBytes(victim, bytes);
            var result = CliRunner.Run(dir.Path, "fsck");
            Assert.Equal(1, result.ExitCode);
            Assert.Contains(Path.GetFileName(victim), result.Out);
            Assert.Contains("base@1", result.Out);
        }
    }
}
