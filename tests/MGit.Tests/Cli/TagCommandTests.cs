using System.Text.Json;
using MGit.Cli;
using MGit.Tests.TestSupport;
using static MGit.Tests.TestSupport.RawSafetensors;

namespace MGit.Tests.Cli;

/// <summary>mgit tag: set, move (--force), list, delete, history, and NAME@TAG wherever a ref is taken.</summary>
public sealed class TagCommandTests
{
    /// <summary>mgit in memory, as <paramref name="user"/> (MGIT_USER).</summary>
    private static CliResult Run(string dir, string? user, params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var context = new CliContext(output, error, dir, name => name switch { "MGIT_FSYNC" => "0", "MGIT_USER" => user, _ => null }, ErrorIsTerminal: false);
        int code = MGitCli.Run(args, context);
        return new CliResult(code, output.ToString(), error.ToString());
    }

    private static CliResult Ok(string dir, params string[] args) => OkAs(dir, "alice", args);

    private static CliResult OkAs(string dir, string user, params string[] args)
    {
        var result = Run(dir, user, args);
        Assert.True(result.ExitCode == 0, $"mgit {string.Join(' ', args)} exited {result.ExitCode}: {result.Error}");
        return result;
    }

    /// <summary>Fails with one line on stderr (no stack trace) containing <paramref name="expected"/>.</summary>
    private static void Fails(string dir, string expected, params string[] args)
    {
        var result = Run(dir, "alice", args);
        Assert.True(result.ExitCode != 0, $"mgit {string.Join(' ', args)} succeeded: {result.Out}");
        Assert.Contains(expected, result.Error, StringComparison.Ordinal);
        Assert.Single(result.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.DoesNotContain("   at ", result.Error, StringComparison.Ordinal);
    }

    /// <summary>base@1, base@2 (the next version) and tuned@1 (from base@1).</summary>
    private static (TempDirectory Dir, string Base1, string Base2) Family()
    {
        var dir = new TempDirectory();
        Ok(dir.Path, "init");
        string base1 = Write(dir.File("base1.safetensors"), [Random("enc", "F32", [32, 32], 1), Random("head", "F32", [3, 32], 2)]);
        string base2 = Write(dir.File("base2.safetensors"), [Random("enc", "F32", [32, 32], 1), Random("head", "F32", [3, 32], 3)]);
        string tuned = Write(dir.File("tuned.safetensors"), [Random("enc", "F32", [32, 32], 1), Random("head", "F32", [2, 32], 4)]);
        Ok(dir.Path, "add", base1, "--name", "base");
        Ok(dir.Path, "add", base2, "--version-of", "base");
        Ok(dir.Path, "add", tuned, "--name", "tuned", "--parent", "base@1", "--how", "finetune");
        return (dir, base1, base2);
    }

    [Fact]
    public void A_tag_names_a_version_wherever_a_ref_is_taken_and_shows_in_ls_show_log_and_graph()
    {
        var (dir, base1, base2) = Family();
        using (dir)
        {
            Assert.Equal("tagged base@1 as base@production", Ok(dir.Path, "tag", "base@1", "production").Out.Trim());

            string output = dir.File("out.safetensors");
            Ok(dir.Path, "checkout", "base@production", "-o", output);
            Assert.Equal(File.ReadAllBytes(base1), File.ReadAllBytes(output));

            using (var show = JsonDocument.Parse(Ok(dir.Path, "show", "base@production", "--json").Out))
            {
                Assert.Equal("base@1", show.RootElement.GetProperty("ref").GetString());
                Assert.Equal(["production"], show.RootElement.GetProperty("tags").EnumerateArray().Select(t => t.GetString()));
            }

            Assert.Contains("tags:     production", Ok(dir.Path, "show", "base@1").Out, StringComparison.Ordinal);
            using (var diff = JsonDocument.Parse(Ok(dir.Path, "diff", "base@production", "base@2", "--json").Out))
            {
                Assert.Contains("base@1", diff.RootElement.GetRawText(), StringComparison.Ordinal);
            }

            Ok(dir.Path, "add", base2, "--name", "child", "--parent", "base@production");
            using (var child = JsonDocument.Parse(Ok(dir.Path, "show", "child", "--json").Out))
            {
                Assert.Equal(["base@1"], child.RootElement.GetProperty("parents").EnumerateArray().Select(p => p.GetProperty("ref").GetString()));
            }

            string ls = Ok(dir.Path, "ls").Out;
            Assert.Contains(ls.Split('\n'), line => line.StartsWith("base@1 ", StringComparison.Ordinal) && line.TrimEnd().EndsWith(" production", StringComparison.Ordinal)); // the TAGS column
            Assert.DoesNotContain(ls.Split('\n'), line => line.StartsWith("base@2 ", StringComparison.Ordinal) && !line.TrimEnd().EndsWith(" -", StringComparison.Ordinal));
            using (var lsJson = JsonDocument.Parse(Ok(dir.Path, "ls", "--json").Out))
            {
                var rows = lsJson.RootElement.EnumerateArray().ToDictionary(r => r.GetProperty("ref").GetString()!, r => r.GetProperty("tags").EnumerateArray().Select(t => t.GetString()).ToList());
                Assert.Equal(["production"], rows["base@1"]);
                Assert.Empty(rows["base@2"]);
            }

            Assert.Contains(Ok(dir.Path, "log").Out.Split('\n'), line => line.Contains("base@1  (tag: production)", StringComparison.Ordinal));
            Assert.Contains("label=\"base@1  (tag: production)\"", Ok(dir.Path, "graph").Out, StringComparison.Ordinal);
            Assert.Contains("base@1  (tag: production)", Ok(dir.Path, "graph", "--format", "mermaid").Out, StringComparison.Ordinal);
            using (var graph = JsonDocument.Parse(Ok(dir.Path, "graph", "--format", "json").Out))
            {
                var node = graph.RootElement.GetProperty("nodes").EnumerateArray().Single(n => n.GetProperty("ref").GetString() == "base@1");
                Assert.Equal(["production"], node.GetProperty("tags").EnumerateArray().Select(t => t.GetString()));
            }

            // A tag belongs to its model: tuned has none, and a bare tag name is a model name.
            Fails(dir.Path, "model 'tuned' has no tag 'production' (it has no tags)", "show", "tuned@production");
            Fails(dir.Path, "no model named 'production'", "show", "production");
        }
    }

    [Fact]
    public void Moving_a_tag_takes_force_and_checkout_follows_it()
    {
        var (dir, base1, base2) = Family();
        using (dir)
        {
            Ok(dir.Path, "tag", "base@1", "production");
            Fails(dir.Path, "tag 'production' already points at base@1; use --force to move it", "tag", "base@2", "production");
            Assert.Equal("base@production already points at base@1", Ok(dir.Path, "tag", "base@1", "production").Out.Trim());
            Assert.Equal("moved base@production from base@1 to base@2", Ok(dir.Path, "tag", "base@2", "base@production", "--force").Out.Trim());

            string output = dir.File("out.safetensors");
            Ok(dir.Path, "checkout", "base@production", "-o", output);
            Assert.Equal(File.ReadAllBytes(base2), File.ReadAllBytes(output));
            Assert.Contains("base@1", Ok(dir.Path, "log", "base@production").Out, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("123", "cannot be all digits")]
    [InlineData("bad name", "may hold only letters, digits")]
    [InlineData("a/b", "may hold only letters, digits")]
    [InlineData(".hidden", "must start with a letter")]
    [InlineData("2x", "must start with a letter")]
    [InlineData("tuned@production", "belongs to model 'tuned'")]
    public void Invalid_tag_names_are_refused_in_one_line(string name, string expected)
    {
        var (dir, _, _) = Family();
        using (dir)
        {
            Fails(dir.Path, expected, "tag", "base@1", name);
            Assert.Empty(Ok(dir.Path, "tag").Out);
        }
    }

    [Fact]
    public void Refs_with_a_bad_tag_or_version_are_refused_clearly()
    {
        var (dir, _, _) = Family();
        using (dir)
        {
            Fails(dir.Path, "'base@0' is not a valid model reference: the version after '@' must be a number from 1", "show", "base@0");
            Fails(dir.Path, "'base@v 1' is not a valid model reference: tag name 'v 1' may hold only", "show", "base@v 1");
            Fails(dir.Path, "model 'base' has no tag 'staging'", "checkout", "base@staging", "-o", dir.File("x"));
            Fails(dir.Path, "name the tag: mgit tag base@1 TAG", "tag", "base@1");
            Fails(dir.Path, "no tag named 'production'", "tag", "-d", "production");
        }
    }

    [Fact]
    public void Tags_are_listed_deleted_and_their_history_says_who_moved_them_when()
    {
        var (dir, _, _) = Family();
        using (dir)
        {
            DateTimeOffset before = DateTimeOffset.UtcNow.AddSeconds(-1);
            OkAs(dir.Path, "alice", "tag", "base@1", "production");
            OkAs(dir.Path, "bob", "tag", "base@2", "production", "--force");
            OkAs(dir.Path, "bob", "tag", "tuned@1", "production");
            OkAs(dir.Path, "carol", "tag", "base", "v1.0");

            string list = Ok(dir.Path, "tag").Out;
            Assert.Equal(["TAG", "base@production", "base@v1.0", "tuned@production"], list.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(' ')[0]));
            Assert.Contains(list.Split('\n'), l => l.StartsWith("base@production", StringComparison.Ordinal) && l.Contains("base@2", StringComparison.Ordinal) && l.Contains("bob", StringComparison.Ordinal));
            using (var json = JsonDocument.Parse(Ok(dir.Path, "tag", "--json").Out))
            {
                var v1 = json.RootElement.EnumerateArray().Single(t => t.GetProperty("tag").GetString() == "base@v1.0");
                Assert.Equal("base@2", v1.GetProperty("target").GetString());
                Assert.Equal("carol", v1.GetProperty("moved_by").GetString());
                Assert.InRange(v1.GetProperty("moved_at").GetDateTimeOffset(), before, DateTimeOffset.UtcNow.AddSeconds(1));
            }

            // Two models have 'production': a bare name is ambiguous, MODEL@TAG is not.
            Fails(dir.Path, "tag 'production' exists on several models (base, tuned); write MODEL@production", "tag", "-d", "production");
            Assert.Equal("deleted tag base@production (was base@2)", OkAs(dir.Path, "dave", "tag", "-d", "base@production").Out.Trim());
            Fails(dir.Path, "model 'base' has no tag 'production'", "show", "base@production");

            using var history = JsonDocument.Parse(Ok(dir.Path, "tag", "--history", "base@production", "--json").Out);
            var moves = history.RootElement.EnumerateArray().Select(m => (m.GetProperty("kind").GetString(), m.GetProperty("target").GetString(), m.GetProperty("moved_by").GetString())).ToList();
            Assert.Equal([("created", "base@1", "alice"), ("moved", "base@2", "bob"), ("deleted", null, "dave")], moves);
            string text = Ok(dir.Path, "tag", "--history", "base@production").Out;
            Assert.Contains(text.Split('\n'), l => l.Contains("bob", StringComparison.Ordinal) && l.Contains("moved", StringComparison.Ordinal) && l.Contains("base@2", StringComparison.Ordinal));

            // Set again after the delete: created anew, and the only model with it now, so the bare name works.
            OkAs(dir.Path, "erin", "tag", "base@1", "production");
            Assert.Equal(2, Ok(dir.Path, "tag", "--history", "v1.0").Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length); // header and one change
            Ok(dir.Path, "tag", "-d", "tuned@production");
            Assert.Contains("erin", Ok(dir.Path, "tag", "--history", "base@production").Out, StringComparison.Ordinal);
            Assert.Equal("deleted tag base@production (was base@1)", Ok(dir.Path, "tag", "-d", "production").Out.Trim());
        }
    }

    [Fact]
    public void Removing_a_tagged_version_takes_force_and_deletes_its_tags()
    {
        var (dir, _, _) = Family();
        using (dir)
        {
            Ok(dir.Path, "tag", "base@2", "staging");
            Fails(dir.Path, "base@2 is tagged base@staging; delete the tag first ('mgit tag -d base@staging') or pass --force", "rm", "base@staging");
            Ok(dir.Path, "rm", "base@2", "--force");
            Assert.Empty(Ok(dir.Path, "tag").Out);
            Assert.Contains("deleted", Ok(dir.Path, "tag", "--history", "base@staging").Out, StringComparison.Ordinal);
            Assert.Contains("base@2", Ok(dir.Path, "tag", "--history", "base@staging").Out, StringComparison.Ordinal);
            Assert.Equal(0, Run(dir.Path, null, "fsck").ExitCode);
        }
    }
}
