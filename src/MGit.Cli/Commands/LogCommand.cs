using System.CommandLine;
using System.Text.Json.Nodes;
using MGit.Cli.Rendering;

namespace MGit.Cli.Commands;

public static class LogCommand
{
    public static Command Build(GlobalOptions globals, CliContext context)
    {
        var reference = new Argument<string?>("REF") { Description = "Show the ancestors and descendants of this model [default: the whole graph]", Arity = ArgumentArity.ZeroOrOne };
        var json = new Option<bool>("--json") { Description = "Print JSON: {focus, nodes, edges} of the versions drawn" };
        var command = new Command("log", "Draw the lineage as a tree") { reference, json };
        command.SetAction(parse =>
        {
            using var repository = globals.OpenRepository(parse, context);
            var graph = repository.Graph();
            var focus = parse.GetValue(reference) is { } r ? graph.Resolve(r) : null;
            if (parse.GetValue(json))
            {
                // The nodes and edges the tree draws, in the shape of 'graph --format json'.
                var shape = GraphExport.JsonShape(focus is null ? graph : LineageTree.Around(graph, focus));
                Json.Write(context.Out, new JsonObject
                {
                    ["focus"] = focus?.Ref,
                    ["nodes"] = shape["nodes"]!.DeepClone(),
                    ["edges"] = shape["edges"]!.DeepClone(),
                });
                return 0;
            }

            context.Out.Write(LineageTree.Render(graph, focus));
            return 0;
        });
        return command;
    }
}

public static class GraphCommand
{
    public static Command Build(GlobalOptions globals, CliContext context)
    {
        var format = new Option<string>("--format") { Description = "dot, mermaid or json", DefaultValueFactory = _ => "dot" };
        format.AcceptOnlyFromAmong("dot", "mermaid", "json");
        var command = new Command("graph", "Export the lineage graph") { format };
        command.SetAction(parse =>
        {
            using var repository = globals.OpenRepository(parse, context);
            var graph = repository.Graph();
            switch (parse.GetValue(format))
            {
                case "mermaid":
                    context.Out.Write(GraphExport.Mermaid(graph));
                    break;
                case "json":
                    Json.Write(context.Out, GraphExport.JsonShape(graph));
                    break;
                default:
                    context.Out.Write(GraphExport.Dot(graph));
                    break;
            }

            return 0;
        });
        return command;
    }
}
