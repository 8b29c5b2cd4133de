using System.Text.Json;
using MGit.Cli.Rendering;
using MGit.Lineage;
using MGit.Tests.TestSupport;
using static MGit.Tests.TestSupport.RawSafetensors;

namespace MGit.Tests.Cli;

/// <summary>
/// A small family for the query tests, made once: base, two fine-tunes of it, their merge (a
/// version with two parents), a pruned copy of the merge, a second version of a fine-tune, and an
/// unrelated root.
/// <code>
/// base@1 (production) ─┬─ sst2@1 ─┬─ merged@1 ── small@1      other@1
///                      ├─ mnli@1 ─┘
///                      └─ sst2@2 (also the next version of sst2@1)
/// </code>
/// </summary>
public sealed class QueryFamily : IDisposable
{
    private readonly TempDirectory _dir = new();

    public QueryFamily()
    {
        CliRunner.Ok(Path, "init");
        Add("base", "--type", "base", "--meta", "lab=a");
        Add("sst2", "--parent", "base", "--how", "finetune", "--type", "sst2", "--meta", "lab=a", "--meta", "lr=1e-5");
        Add("mnli", "--parent", "base", "--how", "finetune", "--type", "mnli", "--meta", "lr=2e-5");
        Add("merged", "--parent", "sst2", "--parent", "mnli", "--how", "merge", "--type", "sst2", "--meta", "lab=b");
        Add("small", "--parent", "merged", "--how", "prune", "--meta", "lab=b");
        Add("sst2", "--version-of", "sst2", "--type", "sst2", "--meta", "lr=1e-5");
        Add("other", "--type", "mnli");
        CliRunner.Ok(Path, "tag", "base@1", "production");
    }

    public string Path => _dir.Path;

    private int _seed;

    private void Add(string name, params string[] options)
    {
        string file = Write(_dir.File($"{name}-{++_seed}.safetensors"), [Random("w", "F32", [4, 4], _seed)]);
        string[] naming = options.Contains("--version-of") ? [] : ["--name", name];
        CliRunner.Ok(Path, ["add", file, .. naming, .. options, "-q"]);
    }

    public void Dispose() => _dir.Dispose();
}

/// <summary>
/// Issue 26, queries at size: <c>ls</c> filters and streaming, <c>log NAME</c> from its line
/// alone, <c>graph --root/--depth</c>; each checked against what the whole graph says.
/// </summary>
public sealed class QueryCliTests(QueryFamily family) : IClassFixture<QueryFamily>
{
    private CliResult Ok(params string[] args) => CliRunner.Ok(family.Path, args);

    private string[] Refs(params string[] args)
    {
        using var json = JsonDocument.Parse(Ok(["ls", "--json", .. args]).Out);
        return json.RootElement.EnumerateArray().Select(v => v.GetProperty("ref").GetString()!).ToArray();
    }

    [Fact]
    public void Ls_json_streamed_from_sql_is_the_document_the_whole_graph_gives()
    {
        using var repository = Repository.Open(family.Path);
        var graph = repository.Graph();
        string fromGraph = Json.ToText(Json.Array(graph.Versions, v => Json.Version(graph, v))) + Environment.NewLine;
        Assert.Equal(fromGraph, Ok("ls", "--json").Out);
        Assert.Contains("\"production\"", fromGraph, StringComparison.Ordinal); // tags, parents and metadata are in the comparison
        Assert.Contains("\"lr\": \"1e-5\"", fromGraph, StringComparison.Ordinal);
    }

    [Fact]
    public void Ls_table_lists_every_version_with_parents_and_tags()
    {
        var lines = Ok("ls").Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(8, lines.Length);
        Assert.StartsWith("REF ", lines[0], StringComparison.Ordinal);
        Assert.Matches(@"^base@1 +base .* - +production$", lines[1]);
        Assert.Matches(@"^merged@1 +sst2 .* sst2@1 \(merge\), mnli@1 \(merge\) +-$", lines[4]);
        Assert.Matches(@"^sst2@2 +sst2 .* base@1 \(finetune\), sst2@1 \(version\) +-$", lines[6]);
    }

    [Fact]
    public void Each_filter_alone_selects_what_it_says()
    {
        Assert.Equal(["sst2@1", "merged@1", "sst2@2"], Refs("--type", "sst2"));
        Assert.Equal(["sst2@1", "small@1", "sst2@2"], Refs("--name", "s*"));
        Assert.Equal(["sst2@1", "sst2@2"], Refs("--name", "sst?"));
        Assert.Equal(["mnli@1", "merged@1"], Refs("--name", "m[ne]*"));
        Assert.Equal(["base@1", "sst2@1"], Refs("--meta", "lab=a"));
        Assert.Equal(["sst2@1", "sst2@2"], Refs("--meta", "lr=1e-5"));
        Assert.Equal(["base@1", "other@1"], Refs("--roots"));
        Assert.Equal(["base@1", "sst2@1"], Refs("--limit", "2"));
        Assert.Equal(["base@1"], Refs("--name", "base"));
        Assert.Empty(Refs("--type", "nothing"));
    }

    [Fact]
    public void Descendants_of_reach_a_merge_once_and_leave_out_the_start()
    {
        // merged@1 is below base through sst2@1 and through mnli@1: listed once.
        Assert.Equal(["sst2@1", "mnli@1", "merged@1", "small@1", "sst2@2"], Refs("--descendants-of", "base"));
        Assert.Equal(["merged@1", "small@1", "sst2@2"], Refs("--descendants-of", "sst2@1"));
        Assert.Equal(["merged@1", "small@1"], Refs("--descendants-of", "mnli"));
        Assert.Empty(Refs("--descendants-of", "small"));
        Assert.Equal(["sst2@1", "mnli@1", "merged@1", "small@1", "sst2@2"], Refs("--descendants-of", "base@production"));
    }

    [Fact]
    public void Descendants_of_agree_with_the_whole_graph_for_every_version()
    {
        using var repository = Repository.Open(family.Path);
        var graph = repository.Graph();
        foreach (var version in graph.Versions)
        {
            var expected = graph.Descendants(version).OrderBy(v => v.Id).Select(v => v.Ref).ToArray();
            Assert.Equal(expected, repository.ListVersions(new VersionFilter { DescendantsOf = version.Ref }).Select(l => l.Version.Ref).ToArray());
        }
    }

    [Fact]
    public void Filters_combine_with_and()
    {
        Assert.Equal(["sst2@1"], Refs("--meta", "lab=a", "--meta", "lr=1e-5"));
        Assert.Empty(Refs("--meta", "lab=a", "--meta", "lab=b"));
        Assert.Equal(["sst2@1", "merged@1"], Refs("--type", "sst2", "--descendants-of", "base", "--limit", "2"));
        Assert.Equal(["other@1"], Refs("--roots", "--type", "mnli"));
        Assert.Equal(["merged@1"], Refs("--descendants-of", "mnli", "--name", "m*", "--meta", "lab=b", "--type", "sst2"));
        Assert.Equal(["small@1"], Refs("--descendants-of", "sst2@1", "--meta", "lab=b", "--limit", "5", "--name", "s*"));
    }

    [Fact]
    public void A_table_with_filters_keeps_the_columns_and_says_when_nothing_matches()
    {
        var lines = Ok("ls", "--roots").Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(3, lines.Length);
        Assert.StartsWith("REF ", lines[0], StringComparison.Ordinal);
        Assert.StartsWith("other@1 ", lines[2], StringComparison.Ordinal);

        var none = Ok("ls", "--type", "nothing");
        Assert.Equal("", none.Out);
        Assert.Equal("no version matches", none.Error.Trim());
        Assert.Equal("[]" + Environment.NewLine, Ok("ls", "--json", "--type", "nothing").Out);
    }

    [Theory]
    [InlineData(1, "the limit must be at least 1 (got 0)", "--limit", "0")]
    [InlineData(1, "the limit must be at least 1 (got -2)", "--limit=-2")]
    [InlineData(1, "no model named 'nosuch'", "--descendants-of", "nosuch")]
    [InlineData(1, "model 'base' has no version 9 (versions: 1)", "--descendants-of", "base@9")]
    [InlineData(1, "model 'base' has no tag 'staging' (tags: production)", "--descendants-of", "base@staging")]
    [InlineData(1, "--meta expects KEY=VALUE, got 'lab'", "--meta", "lab")]
    [InlineData(1, "--meta expects KEY=VALUE, got '=a'", "--meta", "=a")]
    [InlineData(2, null, "--limit", "many")]
    [InlineData(2, null, "--roots", "extra")]
    public void Bad_values_are_one_line_errors(int exit, string? message, params string[] args)
    {
        foreach (string[] command in new[] { ["ls", .. args], new[] { "ls", "--json" }.Concat(args).ToArray() })
        {
            var result = CliRunner.Run(family.Path, command);
            Assert.Equal(exit, result.ExitCode);
            Assert.Equal("", result.Out);
            if (message is not null)
            {
                Assert.Equal($"mgit: {message}\n", result.Error.ReplaceLineEndings("\n"));
            }
        }
    }

    [Theory]
    [InlineData("merged")]
    [InlineData("base")]
    [InlineData("sst2@1")]
    [InlineData("sst2")]
    [InlineData("other")]
    [InlineData("small")]
    public void Log_of_one_model_prints_what_the_whole_graph_printed(string reference)
    {
        using var repository = Repository.Open(family.Path);
        var graph = repository.Graph();
        var focus = graph.Resolve(reference);

        // What log REF printed when it read the whole graph.
        Assert.Equal(LineageTree.Render(graph, focus), Ok("log", reference).Out);
        var shown = LineageTree.Around(graph, focus);
        var shape = GraphExport.JsonShape(shown, repository.Tests.Latest(graph));
        string json = Json.ToText(new System.Text.Json.Nodes.JsonObject
        {
            ["focus"] = focus.Ref,
            ["nodes"] = shape["nodes"]!.DeepClone(),
            ["edges"] = shape["edges"]!.DeepClone(),
        }) + Environment.NewLine;
        Assert.Equal(json, Ok("log", reference, "--json").Out);

        // And the library read only that line.
        var line = repository.LineageOf(reference);
        Assert.Equal((focus.Id, focus.Ref), (line.Focus.Id, line.Focus.Ref));
        Assert.Equal(focus.Metadata, line.Focus.Metadata);
        Assert.Equal(shown.Versions.Select(v => v.Ref), line.Graph.Versions.Select(v => v.Ref));
        Assert.Equal(shown.Edges, line.Graph.Edges);
    }

    [Fact]
    public void Log_of_one_model_shows_the_tags_on_its_line()
    {
        // base@1 is tagged production; it is an ancestor of small.
        Assert.Contains("base@1  (tag: production)", Ok("log", "small").Out, StringComparison.Ordinal);
        using var log = System.Text.Json.JsonDocument.Parse(Ok("log", "small", "--json").Out);
        var node = log.RootElement.GetProperty("nodes").EnumerateArray().Single(n => n.GetProperty("ref").GetString() == "base@1");
        Assert.Equal(["production"], node.GetProperty("tags").EnumerateArray().Select(t => t.GetString()));
    }

    [Fact]
    public void Show_reads_the_version_its_parents_children_and_tags_as_the_whole_graph_has_them()
    {
        using var repository = Repository.Open(family.Path);
        var graph = repository.Graph();
        foreach (var version in graph.Versions)
        {
            foreach (string reference in new[] { version.Ref }.Concat(graph.TagsOf(version).Select(t => t.Ref)))
            {
                using var shown = JsonDocument.Parse(Ok("show", reference, "--json").Out);
                var root = shown.RootElement;
                Assert.Equal(version.Ref, root.GetProperty("ref").GetString());
                string Edges(string property) => string.Join(", ", root.GetProperty(property).EnumerateArray().Select(e => e.GetProperty("ref").GetString() + " " + e.GetProperty("kind").GetString()));
                Assert.Equal(string.Join(", ", graph.ParentEdges(version).Select(e => graph[e.ParentId].Ref + " " + e.Kind.ToName())), Edges("parents"));
                Assert.Equal(string.Join(", ", graph.ChildEdges(version).Select(e => graph[e.ChildId].Ref + " " + e.Kind.ToName())), Edges("children"));
                Assert.Equal(graph.TagsOf(version).Select(t => t.Name), root.GetProperty("tags").EnumerateArray().Select(t => t.GetString()));
            }
        }

        // The newest version of a name, as the whole graph resolves it.
        Assert.Equal("sst2@2", JsonDocument.Parse(Ok("show", "sst2", "--json").Out).RootElement.GetProperty("ref").GetString());
    }

    [Fact]
    public void Show_names_the_tensor_a_delta_is_stored_against_from_the_version_s_own_line()
    {
        using var dir = new TempDirectory();
        CliRunner.Ok(dir.Path, "init");
        string baseFile = Write(dir.File("base.safetensors"), [Random("encoder.weight", "F32", [128, 256], 1)]);
        CliRunner.Ok(dir.Path, "add", baseFile, "--name", "base", "-q");
        CliRunner.Ok(dir.Path, "add", Remotes.Models.FineTune(dir, baseFile, "tune.safetensors", 2), "--name", "tune", "--parent", "base", "-q");
        using var shown = JsonDocument.Parse(CliRunner.Ok(dir.Path, "show", "tune", "--json").Out);
        var tensor = Assert.Single(shown.RootElement.GetProperty("tensors").EnumerateArray());
        Assert.Equal("base@1:encoder.weight", tensor.GetProperty("base").GetString());
        Assert.True(tensor.GetProperty("chain_depth").GetInt32() >= 1);
    }

    [Fact]
    public void Log_of_an_unknown_model_is_a_one_line_error()
    {
        var result = CliRunner.Run(family.Path, "log", "nosuch");
        Assert.Equal((1, "mgit: no model named 'nosuch'\n"), (result.ExitCode, result.Error.ReplaceLineEndings("\n")));
    }

    [Fact]
    public void Graph_root_is_the_root_and_everything_below_it_in_every_format()
    {
        using (var json = JsonDocument.Parse(Ok("graph", "--format", "json", "--root", "sst2@1").Out))
        {
            Assert.Equal(["sst2@1", "merged@1", "small@1", "sst2@2"], json.RootElement.GetProperty("nodes").EnumerateArray().Select(n => n.GetProperty("ref").GetString()));
            Assert.Equal(
                ["sst2@1>merged@1", "merged@1>small@1", "sst2@1>sst2@2"],
                json.RootElement.GetProperty("edges").EnumerateArray().Select(e => $"{e.GetProperty("parent").GetString()}>{e.GetProperty("child").GetString()}"));
        }

        string dot = Ok("graph", "--root", "mnli").Out;
        Assert.Contains("\"mnli@1\" -> \"merged@1\"", dot, StringComparison.Ordinal);
        Assert.Contains("\"merged@1\" -> \"small@1\"", dot, StringComparison.Ordinal);
        Assert.DoesNotContain("sst2@1", dot, StringComparison.Ordinal); // a parent of the merge, not below the root
        Assert.DoesNotContain("base@1", dot, StringComparison.Ordinal);

        string mermaid = Ok("graph", "--format", "mermaid", "--root", "base", "--depth", "1").Out;
        Assert.Equal(4, mermaid.Split('\n').Count(l => l.Contains("[\"", StringComparison.Ordinal))); // base, sst2@1, mnli@1, sst2@2
        Assert.Contains("(tag: production)", mermaid, StringComparison.Ordinal);
        Assert.Contains("<html", Ok("graph", "--format", "html", "--root", "mnli").Out, StringComparison.OrdinalIgnoreCase);
    }

    [Theory]
    [InlineData(null, 0)]
    [InlineData(null, 1)]
    [InlineData(null, 2)]
    [InlineData("base", 0)]
    [InlineData("base", 1)]
    [InlineData("base", 2)]
    [InlineData("sst2@1", 1)]
    [InlineData("mnli", null)]
    [InlineData("base@production", null)]
    public void Graph_depth_keeps_the_versions_at_most_that_many_edges_below(string? root, int? depth)
    {
        using var repository = Repository.Open(family.Path);
        var graph = repository.Graph();

        // Breadth first over the whole graph: each version at its shortest distance from a start.
        var distance = new Dictionary<long, int>();
        var queue = new Queue<ModelVersion>();
        foreach (var start in root is null ? graph.Roots() : [graph.Resolve(root)])
        {
            distance[start.Id] = 0;
            queue.Enqueue(start);
        }

        while (queue.TryDequeue(out var next))
        {
            foreach (var child in graph.Children(next).Where(c => !distance.ContainsKey(c.Id)))
            {
                distance[child.Id] = distance[next.Id] + 1;
                queue.Enqueue(child);
            }
        }

        var expected = graph.Versions.Where(v => distance.TryGetValue(v.Id, out int d) && (depth is null || d <= depth)).Select(v => v.Ref).ToList();
        string[] args = [.. root is null ? [] : new[] { "--root", root }, .. depth is null ? [] : new[] { "--depth", depth.Value.ToString(System.Globalization.CultureInfo.InvariantCulture) }];
        using var json = JsonDocument.Parse(Ok(["graph", "--format", "json", .. args]).Out);
        var nodes = json.RootElement.GetProperty("nodes").EnumerateArray().Select(n => n.GetProperty("ref").GetString()!).ToList();
        Assert.Equal(expected, nodes);
        Assert.All(json.RootElement.GetProperty("edges").EnumerateArray(), e =>
        {
            Assert.Contains(e.GetProperty("parent").GetString()!, nodes);
            Assert.Contains(e.GetProperty("child").GetString()!, nodes);
        });
        int edgesAmong = graph.Edges.Count(e => expected.Contains(graph[e.ParentId].Ref) && expected.Contains(graph[e.ChildId].Ref));
        Assert.Equal(edgesAmong, json.RootElement.GetProperty("edges").GetArrayLength());
    }

    [Fact]
    public void Graph_without_root_or_depth_is_the_whole_graph_and_bad_values_are_errors()
    {
        using (var repository = Repository.Open(family.Path))
        {
            Assert.Equal(GraphExport.Dot(repository.Graph()), Ok("graph").Out);
        }

        var negative = CliRunner.Run(family.Path, "graph", "--depth=-1");
        Assert.Equal((1, "mgit: the depth must be 0 or more (got -1)\n"), (negative.ExitCode, negative.Error.ReplaceLineEndings("\n")));
        var unknown = CliRunner.Run(family.Path, "graph", "--root", "nosuch");
        Assert.Equal((1, "mgit: no model named 'nosuch'\n"), (unknown.ExitCode, unknown.Error.ReplaceLineEndings("\n")));
        Assert.Equal(2, CliRunner.Run(family.Path, "graph", "--depth", "deep").ExitCode);
    }
}
