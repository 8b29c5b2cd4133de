using System.CommandLine;
using System.Text.Json.Nodes;
using MGit.Cli.Rendering;

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
                Json.Write(context.Out, Json.Array(graph.Versions, v => Json.Version(graph, v)));
                return 0;
            }

            foreach (var v in graph.Versions)
            {
                string parents = string.Join(", ", graph.ParentEdges(v).Select(e => $"{graph[e.ParentId].Ref} ({(e.Kind == Lineage.EdgeKind.Versioned ? "version" : e.How ?? "adapted")})"));
                context.Out.WriteLine($"{v.Ref,-32} {v.Type ?? "-",-12} {LineageTree.Size(v.LogicalBytes),10}  {v.AddedAt:yyyy-MM-dd HH:mm}  {parents}{LineageTree.Tags(graph, v)}");
            }

            return 0;
        });
        return command;
    }
}
