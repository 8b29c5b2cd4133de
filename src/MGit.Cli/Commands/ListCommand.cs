using System.CommandLine;
using System.Text.Json.Nodes;
using MGit.Cli.Rendering;
using MGit.Lineage;

namespace MGit.Cli.Commands;

public static class ListCommand
{
    public static Command Build(GlobalOptions globals, CliContext context)
    {
        var json = new Option<bool>("--json") { Description = "Print a JSON array" };
        var command = new Command("ls", "List every model version") { json };
        command.SetAction(parse =>
        {
            using var repository = globals.OpenRepository(parse, context);
            var graph = repository.Graph();
            if (parse.GetValue(json))
            {
                Json.Write(context.Out, ToJson(graph));
                return 0;
            }

            if (graph.Versions.Count == 0)
            {
                GlobalOptions.Say(parse, globals, context, "no models yet (mgit add PATH)");
                return 0;
            }

            context.Out.Write(Table(graph));
            return 0;
        });
        return command;
    }

    /// <summary>The document of <c>mgit ls --json</c> (and of the web API's /api/ls).</summary>
    public static JsonArray ToJson(LineageGraph graph) => Json.Array(graph.Versions, v => Json.Version(graph, v));

    /// <summary>
    /// One row per version under a header. A column is one entry here (its header, whether it is
    /// aligned right, its cell), so another one (tags) is one more line.
    /// </summary>
    public static string Table(LineageGraph graph)
    {
        (string Header, bool Right, Func<ModelVersion, string> Cell)[] columns =
        [
            ("REF", false, v => v.Ref),
            ("TYPE", false, v => v.Type ?? "-"),
            ("SIZE", true, v => LineageTree.Size(v.LogicalBytes)),
            ("ADDED", false, v => v.AddedAt.ToString("yyyy-MM-dd HH:mm", System.Globalization.CultureInfo.InvariantCulture)),
            ("PARENTS", false, v => Parents(graph, v)),
            ("TAGS", false, v => graph.TagsOf(v) is { Count: > 0 } tags ? string.Join(", ", tags.Select(t => t.Name)) : "-"),
        ];
        return TextTable.Render(
            columns.Select(c => c.Header).ToList(),
            graph.Versions.Select(v => (IReadOnlyList<string>)columns.Select(c => c.Cell(v)).ToList()),
            Enumerable.Range(0, columns.Length).Where(i => columns[i].Right).ToList());
    }

    private static string Parents(LineageGraph graph, ModelVersion version)
    {
        var edges = graph.ParentEdges(version);
        return edges.Count == 0
            ? "-"
            : string.Join(", ", edges.Select(e => $"{graph[e.ParentId].Ref} ({(e.Kind == EdgeKind.Versioned ? "version" : e.How ?? "adapted")})"));
    }
}
