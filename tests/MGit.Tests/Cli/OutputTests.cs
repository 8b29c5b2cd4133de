using System.Text.Json;
using System.Text.RegularExpressions;
using MGit.Cli.Rendering;
using MGit.Formats.Gguf;
using MGit.Tests.TestSupport;
using static MGit.Tests.TestSupport.RawSafetensors;

namespace MGit.Tests.Cli;

/// <summary>What the CLI prints for people (issue 23, "output that reads well"): tables, trees, verdicts, percentages, progress.</summary>
public sealed class OutputTests
{
    private static CliResult Ok(string dir, params string[] args) => CliRunner.Ok(dir, args);

    private static TempDirectory Repository()
    {
        var dir = new TempDirectory();
        Ok(dir.Path, "init");
        return dir;
    }

    private static string[] Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries);

    /// <summary>F32 values that are never NaN, so a diff counts exactly the elements changed.</summary>
    private static Tensor Floats(string name, long[] shape, float scale, int changeAt = -1)
    {
        long count = shape.Aggregate(1L, (a, b) => a * b);
        var values = new float[count];
        for (int i = 0; i < count; i++)
        {
            values[i] = (i % 97) * scale;
        }

        if (changeAt >= 0)
        {
            values[changeAt] += 1;
        }

        return new Tensor(name, "F32", shape, System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()).ToArray());
    }

    [Fact]
    public void Ls_prints_a_header_row_and_aligned_columns()
    {
        using var dir = Repository();
        Ok(dir.Path, "add", Write(dir.File("base.safetensors"), [Random("enc", "F32", [64, 64], 1)]), "--type", "classifier");
        Ok(dir.Path, "add", Write(dir.File("a-much-longer-model-name.safetensors"), [Random("enc", "F32", [4, 4], 2)]), "--parent", "base", "--how", "finetune");

        var lines = Lines(Ok(dir.Path, "ls").Out);
        Assert.Equal(3, lines.Length);
        string header = lines[0];
        Assert.Matches(@"^REF\s+TYPE\s+SIZE\s+ADDED\s+PARENTS\s+TAGS$", header);
        int type = header.IndexOf("TYPE", StringComparison.Ordinal);
        int sizeEnd = header.IndexOf("SIZE", StringComparison.Ordinal) + "SIZE".Length;
        int added = header.IndexOf("ADDED", StringComparison.Ordinal);
        int parents = header.IndexOf("PARENTS", StringComparison.Ordinal);
        foreach (string row in lines[1..])
        {
            // Every cell starts under its header; sizes end under the end of theirs.
            Assert.NotEqual(' ', row[type]);
            Assert.Equal(' ', row[type - 1]);
            Assert.Equal('B', row[sizeEnd - 1]);
            Assert.Matches(@"^\d{4}-\d\d-\d\d \d\d:\d\d", row[added..]);
            Assert.NotEqual(' ', row[parents]);
        }

        Assert.StartsWith("base@1", lines[1], StringComparison.Ordinal);
        Assert.Equal("classifier", lines[1][type..].Split(' ')[0]);
        Assert.EndsWith("  -", lines[1], StringComparison.Ordinal);
        Assert.EndsWith("base@1 (finetune)  -", lines[2], StringComparison.Ordinal); // then the TAGS column: none
    }

    [Fact]
    public void Show_prints_every_metadata_key_of_every_file()
    {
        // Defect 7: only a key literally named 'note' was printed.
        using var dir = Repository();
        string path = Write(dir.File("m.safetensors"), [Random("w", "F32", [4, 4], 1)], metadata: new Dictionary<string, string> { ["format"] = "pt", ["author"] = "someone", ["notes"] = "line one\nline two" });
        Ok(dir.Path, "add", path);

        string text = Ok(dir.Path, "show", "m").Out;
        Assert.Contains("    format: pt\n", text);
        Assert.Contains("    author: someone\n", text);
        Assert.Contains("    notes: line one\\nline two\n", text);

        using var json = JsonDocument.Parse(Ok(dir.Path, "show", "m", "--json").Out);
        var metadata = json.RootElement.GetProperty("files")[0].GetProperty("metadata");
        Assert.Equal("someone", metadata.GetProperty("author").GetString());
        Assert.Equal("line one\nline two", metadata.GetProperty("notes").GetString());
    }

    [Fact]
    public void Show_prints_gguf_metadata_and_shapes_in_ggml_order()
    {
        using var dir = Repository();
        var f32 = GgmlTypes.FromId(0)!;
        // 3 rows of 32 elements: ne = [32, 3], as llama.cpp and gguf-py print it.
        var tensor = RawGguf.Random("token_embd.weight", f32, blocks: 32, rows: 3, seed: 1);
        File.WriteAllBytes(dir.File("tiny.gguf"), RawGguf.Build([RawGguf.Str("general.architecture", "llama"), RawGguf.U32("llama.context_length", 2048)], [tensor]));
        Ok(dir.Path, "add", dir.File("tiny.gguf"));

        string text = Ok(dir.Path, "show", "tiny").Out;
        Assert.Contains("    general.architecture: llama\n", text);
        Assert.Contains("    llama.context_length: 2048\n", text);
        Assert.Contains("ne[0] first", text);
        Assert.Matches(@"\n  token_embd\.weight\s+F32\s+\[32, 3\]", text);

        using var json = JsonDocument.Parse(Ok(dir.Path, "show", "tiny", "--json").Out);
        var t = json.RootElement.GetProperty("tensors")[0];
        Assert.Equal([3L, 32L], t.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()));
        Assert.Equal([32L, 3L], t.GetProperty("ggml_shape").EnumerateArray().Select(d => d.GetInt64()));
    }

    [Fact]
    public void Show_aligns_the_tensor_table_and_marks_tied_and_shared_storages()
    {
        using var dir = Repository();
        var embedding = new RawPyTorch.TorchStorage("0", "FloatStorage", 4, Floats("e", [8, 4], 0.5f).Data);
        var packed = new RawPyTorch.TorchStorage("1", "FloatStorage", 4, Floats("p", [12], 0.25f).Data);
        File.WriteAllBytes(dir.File("tied.pt"), RawPyTorch.StateDict(
        [
            new("embed.weight", embedding, 0, [8, 4], [4, 1]),
            new("lm_head.weight", embedding, 0, [8, 4], [4, 1]),
            new("q", packed, 0, [4], [1]),
            new("kv", packed, 4, [8], [1]),
        ]));
        Ok(dir.Path, "add", dir.File("tied.pt"));

        var lines = Lines(Ok(dir.Path, "show", "tied").Out);
        int header = Array.FindIndex(lines, l => l.StartsWith("  NAME", StringComparison.Ordinal));
        Assert.True(header > 0, string.Join('\n', lines));
        Assert.Matches(@"^  NAME\s+DTYPE\s+SHAPE\s+SIZE\s+SHARED$", lines[header]);
        var rows = lines[(header + 1)..(header + 5)];
        int shape = lines[header].IndexOf("SHAPE", StringComparison.Ordinal);
        Assert.All(rows, row => Assert.Equal('[', row[shape]));
        Assert.EndsWith("tied to lm_head.weight", rows[0], StringComparison.Ordinal);
        Assert.EndsWith("tied to embed.weight", rows[1], StringComparison.Ordinal);
        Assert.EndsWith("shares storage with kv", rows[2], StringComparison.Ordinal);
        Assert.EndsWith("shares storage with q", rows[3], StringComparison.Ordinal);

        using var json = JsonDocument.Parse(Ok(dir.Path, "show", "tied", "--json").Out);
        var head = json.RootElement.GetProperty("tensors")[1].GetProperty("shared");
        Assert.Equal("tied", head.GetProperty("how").GetString());
        Assert.Equal("embed.weight", head.GetProperty("with")[0].GetString());

        // Separate tensors with the same bytes are the same stored objects.
        Ok(dir.Path, "add", Write(dir.File("twins.safetensors"), [Floats("a", [16, 16], 1f), Floats("b", [16, 16], 1f), Floats("c", [16, 16], 2f)]));
        string twins = Ok(dir.Path, "show", "twins").Out;
        Assert.Matches(@"\n  a\s+F32\s+\[16, 16\]\s+1\.0 KiB\s+same data as b \(stored once\)\n", twins);
        Assert.Matches(@"\n  c\s+F32\s+\[16, 16\]\s+1\.0 KiB\n", twins);
        using var twinsJson = JsonDocument.Parse(Ok(dir.Path, "show", "twins", "--json").Out);
        Assert.Equal("data", twinsJson.RootElement.GetProperty("tensors")[1].GetProperty("shared").GetProperty("how").GetString());
        Assert.Equal(JsonValueKind.Null, twinsJson.RootElement.GetProperty("tensors")[2].GetProperty("shared").ValueKind);

        // Forty equal tensors (zero biases): each names the first 16 others and counts all 39, not 40 x 39 names.
        Ok(dir.Path, "add", Write(dir.File("zeros.safetensors"), Enumerable.Range(0, 40).Select(i => Floats($"bias{i:D2}", [8], 0f)).ToArray()));
        using var zeros = JsonDocument.Parse(Ok(dir.Path, "show", "zeros", "--json").Out);
        var first = zeros.RootElement.GetProperty("tensors")[0].GetProperty("shared");
        Assert.Equal(39, first.GetProperty("with_count").GetInt32());
        Assert.Equal(16, first.GetProperty("with").GetArrayLength());
        Assert.Equal("bias01", first.GetProperty("with")[0].GetString());
        Assert.Contains("same data as bias01, bias02, bias03 and 36 more (stored once)", Ok(dir.Path, "show", "zeros").Out, StringComparison.Ordinal);
    }

    [Fact]
    public void Log_json_is_an_option_not_a_model_name()
    {
        // Defect 3: 'mgit log --json' read --json as a model name.
        using var dir = Repository();
        Ok(dir.Path, "add", Write(dir.File("base.safetensors"), [Random("w", "F32", [4, 4], 1)]));
        Ok(dir.Path, "add", Write(dir.File("child.safetensors"), [Random("w", "F32", [4, 4], 2)]), "--parent", "base", "--how", "finetune");
        Ok(dir.Path, "add", Write(dir.File("other.safetensors"), [Random("w", "F32", [4, 4], 3)]));

        using (var all = JsonDocument.Parse(Ok(dir.Path, "log", "--json").Out))
        {
            Assert.Equal(JsonValueKind.Null, all.RootElement.GetProperty("focus").ValueKind);
            Assert.Equal(["base@1", "child@1", "other@1"], all.RootElement.GetProperty("nodes").EnumerateArray().Select(n => n.GetProperty("ref").GetString()));
            var edge = Assert.Single(all.RootElement.GetProperty("edges").EnumerateArray());
            Assert.Equal(("base@1", "child@1", "adapted", "finetune"), (edge.GetProperty("parent").GetString(), edge.GetProperty("child").GetString(), edge.GetProperty("kind").GetString(), edge.GetProperty("how").GetString()));
        }

        using var focused = JsonDocument.Parse(Ok(dir.Path, "log", "child", "--json").Out);
        Assert.Equal("child@1", focused.RootElement.GetProperty("focus").GetString());
        Assert.Equal(["base@1", "child@1"], focused.RootElement.GetProperty("nodes").EnumerateArray().Select(n => n.GetProperty("ref").GetString()));
    }

    [Fact]
    public void Log_of_a_ref_is_a_tree_of_its_lineage_with_a_merge_drawn_once()
    {
        using var dir = Repository();
        Ok(dir.Path, "add", Write(dir.File("base.safetensors"), [Random("w", "F32", [4, 4], 1)]));
        Ok(dir.Path, "add", Write(dir.File("a.safetensors"), [Random("w", "F32", [4, 4], 2)]), "--parent", "base", "--how", "finetune");
        Ok(dir.Path, "add", Write(dir.File("b.safetensors"), [Random("w", "F32", [4, 4], 3)]), "--parent", "base", "--how", "finetune");
        Ok(dir.Path, "add", Write(dir.File("merged.safetensors"), [Random("w", "F32", [4, 4], 4)]), "--parent", "a", "--parent", "b", "--how", "merge");
        Ok(dir.Path, "add", Write(dir.File("small.safetensors"), [Random("w", "F32", [4, 4], 5)]), "--parent", "merged", "--how", "prune");
        Ok(dir.Path, "add", Write(dir.File("unrelated.safetensors"), [Random("w", "F32", [4, 4], 6)]));

        var lines = Lines(Ok(dir.Path, "log", "merged").Out);
        Assert.Equal(6, lines.Length);
        Assert.StartsWith("base@1  ", lines[0], StringComparison.Ordinal);
        Assert.StartsWith("├── a@1  (finetune)", lines[1], StringComparison.Ordinal);
        Assert.StartsWith("│   └── merged@1  (merge)  parents: a@1, b@1", lines[2], StringComparison.Ordinal);
        Assert.EndsWith(LineageTree.FocusMark.ToString(), lines[2], StringComparison.Ordinal);
        Assert.StartsWith("│       └── small@1  (prune)", lines[3], StringComparison.Ordinal);
        Assert.StartsWith("└── b@1  (finetune)", lines[4], StringComparison.Ordinal);
        Assert.Equal("    └── merged@1  (merge)  (see above)", lines[5]);
        Assert.DoesNotContain(lines, l => l.Contains("unrelated", StringComparison.Ordinal));
        Assert.Single(lines, l => l.Contains(LineageTree.FocusMark, StringComparison.Ordinal));
    }

    [Fact]
    public void Test_run_prints_the_condition_with_the_metric_values()
    {
        using var dir = Repository();
        Ok(dir.Path, "add", Write(dir.File("base.safetensors"), [Random("w", "F32", [4, 4], 1)]));
        string script = Scripts.Write(dir.File("eval.sh"), "echo '{\"acc\": 0.934, \"loss\": 0.25}'");
        Ok(dir.Path, "test", "add", "accuracy", "--cmd", $"{Scripts.Command(script)} {{model}}", "--pass", "acc >= 0.9");
        Ok(dir.Path, "test", "add", "strict", "--cmd", $"{Scripts.Command(script)} {{model}}", "--pass", "acc >= 0.95 and loss < 1e-1");
        Ok(dir.Path, "test", "add", "runs", "--cmd", $"{Scripts.Command(script)} {{model}}");

        var run = CliRunner.Run(dir.Path, "test", "run", "base");
        Assert.Equal(1, run.ExitCode);
        var lines = Lines(run.Error);
        Assert.Contains(lines, l => Regex.IsMatch(l, @"^PASS  base@1  accuracy  acc >= 0\.9 \(0\.934\)  \(\d"));
        Assert.Contains(lines, l => Regex.IsMatch(l, @"^FAIL  base@1  strict  acc >= 0\.95 and loss < 1e-1 \(acc 0\.934, loss 0\.25\)  \(.*\)  log: "));
        Assert.Contains(lines, l => Regex.IsMatch(l, @"^PASS  base@1  runs  exit 0 \(acc 0\.934, loss 0\.25\)  \("));
    }

    [Theory]
    [InlineData(0L, 100_000L, "0%")]
    [InlineData(1L, 100_000L, "<0.1%")]
    [InlineData(99_999L, 100_000L, ">99.9%")]
    [InlineData(100_000L, 100_000L, "100%")]
    [InlineData(1L, 4L, "25%")]
    [InlineData(1L, 3L, "33.3%")]
    [InlineData(0L, 0L, "0%")]
    public void A_percentage_never_rounds_a_share_to_none_or_all(long part, long whole, string expected) =>
        Assert.Equal(expected, Percent.Of(part, whole));

    [Fact]
    public void Diff_of_one_changed_value_in_many_does_not_say_0_percent()
    {
        using var dir = Repository();
        Ok(dir.Path, "add", Write(dir.File("base.safetensors"), [Floats("w", [200, 200], 0.01f)]));
        Ok(dir.Path, "add", Write(dir.File("tuned.safetensors"), [Floats("w", [200, 200], 0.01f, changeAt: 123)]));

        string diff = Ok(dir.Path, "diff", "base", "tuned").Out;
        Assert.Contains("changed 1 of 40,000 (<0.01%)", diff);
        Assert.DoesNotContain(" 0%", diff);
        Assert.DoesNotContain("(0%)", diff);
    }

    [Fact]
    public void Add_tells_chunks_deduplicated_within_the_file_from_chunks_already_stored()
    {
        using var dir = Repository();
        string twins = Write(dir.File("twins.safetensors"), [Floats("a", [64, 64], 1f), Floats("b", [64, 64], 1f), Floats("c", [64, 64], 3f)]);
        string first = Ok(dir.Path, "add", twins).Error;
        Assert.Contains("1 chunk(s) deduplicated within the file", first);
        Assert.DoesNotContain("already stored", first);

        string again = Ok(dir.Path, "add", twins, "--name", "copy").Error;
        Assert.Matches(@"1 chunk\(s\) deduplicated within the file, \d+ already stored", again);

        using var json = JsonDocument.Parse(Ok(dir.Path, "add", twins, "--name", "third", "--json").Out);
        Assert.Equal(1, json.RootElement.GetProperty("chunks_repeated").GetInt64());
        Assert.Equal(json.RootElement.GetProperty("chunks_reused").GetInt64() - 1, json.RootElement.GetProperty("chunks_already_stored").GetInt64());
    }

    [Fact]
    public void Progress_is_never_drawn_when_stderr_is_not_a_terminal()
    {
        using var dir = Repository();
        var add = Ok(dir.Path, "add", Write(dir.File("m.safetensors"), [Random("w", "F32", [256, 256], 1)]));
        Assert.DoesNotContain("adding", add.Error);
        Assert.DoesNotContain("\r", add.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("\u001b", add.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void Progress_on_a_terminal_shows_bytes_rate_and_time_left_then_clears()
    {
        var terminal = new StringWriter();
        var progress = new TerminalProgress(TextWriter.Synchronized(terminal), forceAnsi: true);
        using (var add = progress.Begin("adding [big]", 8L << 20))
        {
            add.Advance(3L << 20);
            // A second piece of work while the first runs shares the one live display.
            using (var push = progress.Begin("pushing to origin", 1L << 20))
            {
                push.Advance(1L << 19);
                WaitFor(terminal, "pushing to origin");
            }

            WaitFor(terminal, "iB/s");
        }

        // What the terminal shows, without the escape sequences that colour and move the cursor.
        string drawn = Regex.Replace(terminal.ToString(), @"\u001b\[[0-9;?]*[A-Za-z]", "");
        Assert.Contains("adding [big]", drawn);
        Assert.Contains("38%", drawn);
        Assert.Matches(@"3(\.0)?/8(\.0)? MiB", drawn);
        Assert.Matches(@"\d(\.\d)? [KMG]iB/s \d\d:\d\d:\d\d", drawn);
        Assert.EndsWith("\u001b[?25h", terminal.ToString(), StringComparison.Ordinal);

        // Ended, it can begin again (a new display).
        using (var again = progress.Begin("checking out x", 10))
        {
            again.Advance(10);
        }
    }

    /// <summary>The live display draws on its own thread: wait (a bounded while) until it has drawn <paramref name="text"/>.</summary>
    private static void WaitFor(StringWriter terminal, string text)
    {
        for (int i = 0; i < 600 && !terminal.ToString().Contains(text, StringComparison.Ordinal); i++)
        {
            Thread.Sleep(50);
        }

        Assert.Contains(text, terminal.ToString());
    }
}
