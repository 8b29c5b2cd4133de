using System.Text;
using System.Text.Json.Nodes;
using MGit.Lineage;
using MGit.Testing;

namespace MGit.Cli.Rendering;

/// <summary>The lineage graph as Graphviz dot, Mermaid, or JSON nodes and edges.</summary>
public static class GraphExport
{
    public static string Dot(LineageGraph graph)
    {
        var text = new StringBuilder("digraph mgit {\n  rankdir=TB;\n  node [shape=box];\n");
        foreach (var v in graph.Versions)
        {
            text.Append($"  {Quote(v.Ref)} [label={Quote((v.Type is null ? v.Ref : $"{v.Ref} [{v.Type}]") + LineageTree.Tags(graph, v))}];\n");
        }

        foreach (var e in graph.Edges)
        {
            string style = e.Kind == EdgeKind.Versioned ? "dashed" : "solid";
            text.Append($"  {Quote(graph[e.ParentId].Ref)} -> {Quote(graph[e.ChildId].Ref)} [style={style}, label={Quote(e.Kind == EdgeKind.Versioned ? "version" : e.How ?? "adapted")}];\n");
        }

        return text.Append("}\n").ToString();
    }

    public static string Mermaid(LineageGraph graph)
    {
        var ids = graph.Versions.Select((v, i) => (v.Id, Node: $"n{i}")).ToDictionary(p => p.Id, p => p.Node);
        var text = new StringBuilder("graph TD\n");
        foreach (var v in graph.Versions)
        {
            text.Append($"  {ids[v.Id]}[\"{MermaidText(v.Ref + LineageTree.Tags(graph, v))}\"]\n");
        }

        foreach (var e in graph.Edges)
        {
            string arrow = e.Kind == EdgeKind.Versioned ? "-.->" : "-->";
            string label = e.Kind == EdgeKind.Versioned ? "version" : e.How ?? "adapted";
            text.Append($"  {ids[e.ParentId]} {arrow}|{MermaidText(label)}| {ids[e.ChildId]}\n");
        }

        return text.ToString();
    }

    /// <summary>
    /// The document of <c>mgit graph --format json</c> (and of the web API's /api/graph): every
    /// version with its size, lossiness and the latest result of each of its tests, and every edge.
    /// </summary>
    public static JsonObject JsonShape(LineageGraph graph, IReadOnlyList<TestResult> latestResults)
    {
        var results = latestResults.ToLookup(r => r.Ref, StringComparer.Ordinal);
        return new JsonObject
        {
            ["nodes"] = Json.Array(graph.Versions, v => Node(graph, v, results)),
            ["edges"] = Json.Array(graph.Edges, e => Edge(graph, e)),
        };
    }

    /// <summary>
    /// <see cref="JsonShape"/> written as it is made, node by node (with <paramref name="focus"/>,
    /// <c>log --json</c>'s document, which starts with the focus): the text is the same, but the
    /// document is never held whole.
    /// </summary>
    public static void WriteJson(TextWriter output, LineageGraph graph, IReadOnlyList<TestResult> latestResults, (string? Ref, bool Shown) focus = default)
    {
        var results = latestResults.ToLookup(r => r.Ref, StringComparer.Ordinal);
        using var json = new Json.StreamedJson(output);
        json.Writer.WriteStartObject();
        if (focus.Shown)
        {
            json.Writer.WritePropertyName("focus");
            json.Node(focus.Ref);
        }

        json.Writer.WritePropertyName("nodes");
        json.Array(graph.Versions, v => Node(graph, v, results));
        json.Writer.WritePropertyName("edges");
        json.Array(graph.Edges, e => Edge(graph, e));
        json.Writer.WriteEndObject();
    }

    private static JsonObject Node(LineageGraph graph, ModelVersion v, ILookup<string, TestResult> results)
    {
        int passed = results[v.Ref].Count(r => r.Passed), failed = results[v.Ref].Count(r => !r.Passed);
        return new JsonObject
        {
            ["ref"] = v.Ref,
            ["name"] = v.Name,
            ["version"] = v.Version,
            ["type"] = v.Type,
            ["message"] = v.Message,
            ["tags"] = Json.Array(graph.TagsOf(v).Select(t => t.Name)),
            ["logical_bytes"] = v.LogicalBytes,
            ["lossy"] = v.Lossy,
            ["tests"] = new JsonObject { ["passed"] = passed, ["failed"] = failed },
            ["test_status"] = failed > 0 ? "failed" : passed > 0 ? "passed" : "none",
        };
    }

    private static JsonObject Edge(LineageGraph graph, LineageEdge e) =>
        new() { ["parent"] = graph[e.ParentId].Ref, ["child"] = graph[e.ChildId].Ref, ["kind"] = e.Kind.ToName(), ["how"] = e.How, ["message"] = e.Message };

    private static string Quote(string text) => "\"" + text.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"";

    private static string MermaidText(string text) => text.Replace("\"", "#quot;", StringComparison.Ordinal).Replace("|", "#124;", StringComparison.Ordinal);
}
