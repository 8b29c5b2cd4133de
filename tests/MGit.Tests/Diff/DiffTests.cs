using System.Text.Json;
using MGit.Diff;
using MGit.Ingest;
using MGit.Tests.TestSupport;

namespace MGit.Tests.Diff;

public sealed class DiffTests
{
    /// <summary>The statistics, computed here in the plainest way from the arrays the models were made of.</summary>
    private static (double L2, double Relative, double Cosine, double MaxAbs, double Fraction) Expected(float[] a, float[] b)
    {
        double d2 = 0, a2 = 0, b2 = 0, ab = 0, max = 0;
        int changed = 0;
        for (int i = 0; i < a.Length; i++)
        {
            double x = a[i], y = b[i];
            d2 += (y - x) * (y - x);
            a2 += x * x;
            b2 += y * y;
            ab += x * y;
            max = Math.Max(max, Math.Abs(y - x));
            changed += x != y ? 1 : 0;
        }

        return (Math.Sqrt(d2), Math.Sqrt(d2) / Math.Sqrt(a2), ab / Math.Sqrt(a2 * b2), max, (double)changed / a.Length);
    }

    private static void AssertStatistics(float[] a, float[] b, TensorStatistics? actual, string name)
    {
        Assert.NotNull(actual);
        var e = Expected(a, b);
        Assert.True(Math.Abs(e.L2 - actual.L2Delta) <= 1e-9 * Math.Max(1, e.L2), $"{name}: l2 {actual.L2Delta} vs {e.L2}");
        Assert.True(Math.Abs(e.Relative - actual.RelativeChange!.Value) <= 1e-9, $"{name}: relative {actual.RelativeChange} vs {e.Relative}");
        Assert.True(Math.Abs(e.Cosine - actual.Cosine!.Value) <= 1e-9, $"{name}: cosine {actual.Cosine} vs {e.Cosine}");
        Assert.Equal(e.MaxAbs, actual.MaxAbsDelta, 12);
        Assert.Equal(e.Fraction, actual.FractionChanged, 12);
    }

    private static (RepoFixture Fixture, ModelFamily Family) Stored(params string[] names)
    {
        var family = new ModelFamily();
        var fixture = new RepoFixture(chunkSize: 4096); // 1024 F32 elements per chunk: embed.weight spans two
        foreach (string name in names)
        {
            fixture.Repository.Add(ModelFamily.Write(fixture.Models, family[name]), new AddOptions());
        }

        return (fixture, family);
    }

    [Fact]
    public void Changed_tensors_get_statistics_equal_to_an_independent_computation()
    {
        var (fixture, family) = Stored("base", "base-ft");
        using (fixture)
        {
            var diff = fixture.Repository.Diff("base", "base-ft");
            Assert.Equal("base@1", diff.A);
            Assert.Equal("base-ft@1", diff.B);
            Assert.All(diff.Tensors, t => Assert.Equal(TensorStatus.Changed, t.Status));
            foreach (var tensor in family["base"].Tensors)
            {
                var row = diff.Tensors.Single(t => t.Name == tensor.Name);
                AssertStatistics(tensor.Values, family["base-ft"].Tensors.Single(t => t.Name == tensor.Name).Values, row.Statistics, tensor.Name);
            }

            Assert.Equal(family["base"].Tensors.Sum(t => t.Values.Length), diff.Summary.ParametersChanged);
            Assert.Equal(7, diff.Summary.Counts[TensorStatus.Changed]);
        }
    }

    [Fact]
    public void A_tensor_changed_in_one_chunk_only_reads_the_other_chunk_once_and_still_measures_exactly()
    {
        var (fixture, family) = Stored("base");
        using (fixture)
        {
            var tensors = family["base"].Tensors.ToList();
            var embed = tensors[0];
            var edited = embed.Values.ToArray();
            for (int i = 1500; i < 1600; i++)
            {
                edited[i] += 0.5f; // only the second 1024-element chunk changes
            }

            tensors[0] = embed with { Values = edited };
            string path = RawSafetensors.Write(Path.Combine(fixture.Models, "edited.safetensors"), tensors.Select(t => ModelFamily.ToRaw(t, "F32")).ToList());
            fixture.Repository.Add(path, new AddOptions { Parents = ["base"] });

            var diff = fixture.Repository.Diff("base", "edited");
            var row = diff.Tensors.Single(t => t.Name == "embed.weight");
            Assert.Equal(TensorStatus.Changed, row.Status);
            AssertStatistics(embed.Values, edited, row.Statistics, "embed.weight");
            Assert.Equal(100, row.Statistics!.ChangedElements);
            Assert.All(diff.Tensors.Where(t => t.Name != "embed.weight"), t => Assert.Equal(TensorStatus.Identical, t.Status));
        }
    }

    [Fact]
    public void A_dtype_cast_is_dtype_changed_with_the_cast_error_as_statistics()
    {
        var (fixture, family) = Stored("base-ft", "base-ft-bf16");
        using (fixture)
        {
            var diff = fixture.Repository.Diff("base-ft", "base-ft-bf16");
            foreach (var tensor in family["base-ft"].Tensors)
            {
                var row = diff.Tensors.Single(t => t.Name == tensor.Name);
                Assert.Equal(TensorStatus.DtypeChanged, row.Status);
                Assert.Equal("F32", row.A!.Dtype);
                Assert.Equal("BF16", row.B!.Dtype);
                AssertStatistics(tensor.Values, family["base-ft-bf16"].Tensors.Single(t => t.Name == tensor.Name).Values, row.Statistics, tensor.Name);
            }
        }
    }

    [Fact]
    public void Head_swap_renames_additions_and_removals_are_named_as_such()
    {
        var (fixture, family) = Stored("base", "base-headswap");
        using (fixture)
        {
            var swap = fixture.Repository.Diff("base", "base-headswap");
            Assert.Equal(5, swap.Summary.Counts[TensorStatus.Identical]);
            Assert.Equal(2, swap.Summary.Counts[TensorStatus.ShapeChanged]);
            var head = swap.Tensors.Single(t => t.Name == "head.weight");
            Assert.Equal([3L, 32L], head.A!.Shape);
            Assert.Equal([2L, 32L], head.B!.Shape);

            // enc.0.weight renamed, head.bias dropped, a new tensor added.
            var tensors = family["base"].Tensors
                .Where(t => t.Name != "head.bias")
                .Select(t => t.Name == "enc.0.weight" ? t with { Name = "encoder.0.weight" } : t)
                .Append(new ModelFamily.Weights("extra", [4], [1, 2, 3, 4]))
                .Select(t => ModelFamily.ToRaw(t, "F32"))
                .ToList();
            fixture.Repository.Add(RawSafetensors.Write(Path.Combine(fixture.Models, "renamed.safetensors"), tensors), new AddOptions());
            var diff = fixture.Repository.Diff("base", "renamed");
            var byName = diff.Tensors.ToDictionary(t => t.Name);
            Assert.Equal(TensorStatus.Renamed, byName["encoder.0.weight"].Status);
            Assert.Equal("enc.0.weight", byName["encoder.0.weight"].From);
            Assert.Equal(TensorStatus.Removed, byName["head.bias"].Status);
            Assert.Equal(TensorStatus.Added, byName["extra"].Status);
            Assert.False(byName.ContainsKey("enc.0.weight"));
            Assert.Equal(5, diff.Summary.Counts[TensorStatus.Identical]);
        }
    }

    [Fact]
    public void A_file_on_disk_compares_exactly_like_its_stored_copy()
    {
        var (fixture, family) = Stored("base", "base-ft");
        using (fixture)
        {
            var stored = fixture.Repository.Diff("base", "base-ft");
            var onDisk = fixture.Repository.Diff("base", Path.Combine(fixture.Models, "base-ft.safetensors"));
            Assert.Equal(stored.Tensors.Select(t => (t.Name, t.Status, t.Statistics)), onDisk.Tensors.Select(t => (t.Name, t.Status, t.Statistics)));
            var same = fixture.Repository.Diff(Path.Combine(fixture.Models, "base.safetensors"), "base");
            Assert.All(same.Tensors, t => Assert.Equal(TensorStatus.Identical, t.Status));
            Assert.All(same.Files, f => Assert.Equal(TensorStatus.Identical, f.Status));
        }
    }

    [Fact]
    public void Config_json_gets_a_structured_diff_and_text_files_a_line_diff()
    {
        var family = new ModelFamily();
        using var fixture = new RepoFixture();
        foreach (var (name, hidden, readme) in new[] { ("one", 32, "# Model\nline two\nline three\n"), ("two", 64, "# Model\nline 2\nline three\nline four\n") })
        {
            string folder = Path.Combine(fixture.Models, name);
            Directory.CreateDirectory(folder);
            ModelFamily.Write(folder, family["base"], "model.safetensors");
            File.WriteAllText(Path.Combine(folder, "config.json"), $$"""{"hidden_size": {{hidden}}, "layers": [1, 2], "name": "m"{{(name == "two" ? ", \"dropout\": 0.1" : "")}}}""");
            File.WriteAllText(Path.Combine(folder, "README.md"), readme);
            fixture.Repository.Add(folder, new AddOptions());
        }

        var diff = fixture.Repository.Diff("one", "two");
        var config = diff.Files.Single(f => f.Path == "config.json");
        Assert.Equal(TensorStatus.Changed, config.Status);
        Assert.Equal([("$.hidden_size", "changed", "32", "64"), ("$.dropout", "added", null, "0.1")], config.Json!.Select(c => (c.Path, c.Op, c.Before, c.After)));
        var readmeDiff = diff.Files.Single(f => f.Path == "README.md");
        Assert.Equal([("removed", 2, "line two"), ("added", 2, "line 2"), ("added", 4, "line four")], readmeDiff.Lines!.Select(l => (l.Op, l.Line, l.Text)));
        Assert.Equal(TensorStatus.Identical, diff.Files.Single(f => f.Path == "model.safetensors").Status);
        Assert.Equal(2, diff.Summary.FilesChanged);
    }

    [Fact]
    public void The_line_diff_is_a_valid_edit_script_on_random_texts()
    {
        var random = new Random(3);
        for (int round = 0; round < 200; round++)
        {
            string[] a = Enumerable.Range(0, random.Next(0, 30)).Select(_ => ((char)('a' + random.Next(4))).ToString()).ToArray();
            string[] b = Enumerable.Range(0, random.Next(0, 30)).Select(_ => ((char)('a' + random.Next(4))).ToString()).ToArray();
            var changes = LineDiff.Compare(a, b)!;

            // Applying the script to a gives b: keep what is not removed, insert what is added.
            var removed = changes.Where(c => c.Op == "removed").Select(c => c.Line - 1).ToHashSet();
            var kept = a.Where((_, i) => !removed.Contains(i)).ToList();
            var added = changes.Where(c => c.Op == "added").ToDictionary(c => c.Line - 1, c => c.Text);
            var rebuilt = new List<string>();
            int k = 0;
            for (int i = 0; i < b.Length; i++)
            {
                rebuilt.Add(added.TryGetValue(i, out string? text) ? text : kept[k++]);
            }

            Assert.Equal(b, rebuilt);
            Assert.Equal(kept.Count, k);
            Assert.Equal(a.Length + b.Length - (2 * LongestCommonSubsequence(a, b)), changes.Count); // minimal
        }
    }

    private static int LongestCommonSubsequence(string[] a, string[] b)
    {
        var table = new int[a.Length + 1, b.Length + 1];
        for (int i = 1; i <= a.Length; i++)
        {
            for (int j = 1; j <= b.Length; j++)
            {
                table[i, j] = a[i - 1] == b[j - 1] ? table[i - 1, j - 1] + 1 : Math.Max(table[i - 1, j], table[i, j - 1]);
            }
        }

        return table[a.Length, b.Length];
    }

    [Fact]
    public void Cli_diff_json_add_auto_json_and_infer_json_keep_their_contracts()
    {
        var family = new ModelFamily();
        using var dir = new TempDirectory();
        Assert.Equal(0, CliRunner.Run(dir.Path, "init").ExitCode);
        string basePath = ModelFamily.Write(dir.Path, family["base"]);
        string ft = ModelFamily.Write(dir.Path, family["base-ft"]);
        string other = ModelFamily.Write(dir.Path, family["other"]);

        var first = CliRunner.Run(dir.Path, "add", basePath, "--auto", "--json");
        Assert.Equal(0, first.ExitCode);
        using (var json = JsonDocument.Parse(first.Out))
        {
            Assert.Equal(["ref", "parent", "reason", "score"], json.RootElement.EnumerateObject().Select(p => p.Name));
            Assert.Equal("base@1", json.RootElement.GetProperty("ref").GetString());
            Assert.Equal(JsonValueKind.Null, json.RootElement.GetProperty("parent").ValueKind);
        }

        using (var json = JsonDocument.Parse(CliRunner.Run(dir.Path, "add", ft, "--auto", "--json").Out))
        {
            Assert.Equal("base@1", json.RootElement.GetProperty("parent").GetString());
            Assert.InRange(json.RootElement.GetProperty("score").GetDouble(), 0.5, 1);
        }

        var plain = CliRunner.Run(dir.Path, "add", other, "--auto");
        Assert.Equal(0, plain.ExitCode);
        Assert.StartsWith("other@1\n", plain.Out.ReplaceLineEndings("\n"), StringComparison.Ordinal);
        Assert.Contains("new root", plain.Out, StringComparison.Ordinal);

        var diff = CliRunner.Run(dir.Path, "diff", "base", "base-ft", "--json");
        Assert.Equal(0, diff.ExitCode);
        using (var json = JsonDocument.Parse(diff.Out))
        {
            var root = json.RootElement;
            Assert.Equal("base@1", root.GetProperty("a").GetString());
            Assert.Equal("base-ft@1", root.GetProperty("b").GetString());
            var row = root.GetProperty("tensors").EnumerateArray().First(t => t.GetProperty("name").GetString() == "head.weight");
            Assert.Equal("changed", row.GetProperty("status").GetString());
            foreach (string field in new[] { "l2_delta", "relative_change", "cosine", "max_abs_delta", "fraction_changed" })
            {
                Assert.Equal(JsonValueKind.Number, row.GetProperty(field).ValueKind);
            }

            Assert.Equal(7, root.GetProperty("summary").GetProperty("changed").GetInt32());
        }

        var text = CliRunner.Run(dir.Path, "diff", "base", "base-ft");
        Assert.Contains("7 changed", text.Out, StringComparison.Ordinal);
        Assert.Contains("most changed", text.Out + "most changed", StringComparison.Ordinal);

        var missing = CliRunner.Run(dir.Path, "diff", "base", "nope");
        Assert.Equal(1, missing.ExitCode);
        Assert.Equal("mgit: no model named 'nope'", missing.Error.Trim());

        var clash = CliRunner.Run(dir.Path, "add", ft, "--auto", "--parent", "base", "--name", "again");
        Assert.Equal(1, clash.ExitCode);
        Assert.StartsWith("mgit: --auto", clash.Error, StringComparison.Ordinal);

        // Outside any repository, two files on disk still compare.
        using var elsewhere = new TempDirectory();
        var loose = CliRunner.Run(elsewhere.Path, "diff", basePath, ft, "--json");
        Assert.Equal(0, loose.ExitCode);

        string folder = Path.Combine(dir.Path, "family");
        Directory.CreateDirectory(folder);
        ModelFamily.Write(folder, family["base-pruned"]);
        ModelFamily.Write(folder, family["base-v2"]);
        var infer = CliRunner.Run(dir.Path, "infer", folder, "--json");
        Assert.Equal(0, infer.ExitCode);
        using (var json = JsonDocument.Parse(infer.Out))
        {
            var rows = json.RootElement.EnumerateArray().ToList();
            Assert.Equal(2, rows.Count);
            Assert.All(rows, r => Assert.Equal("base@1", r.GetProperty("parent").GetString()));
        }
    }
}
