using System.CommandLine;
using System.Text.Json.Nodes;
using MGit.Cli.Rendering;
using MGit.Cli.Web;

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
                var shown = focus is null ? graph : LineageTree.Around(graph, focus);
                var shape = GraphExport.JsonShape(shown, repository.Tests.Latest(graph));
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
        var format = new Option<string>("--format") { Description = "dot, mermaid, json, or html (the graph page of 'mgit serve' as one self-contained file)", DefaultValueFactory = _ => "dot" };
        format.AcceptOnlyFromAmong("dot", "mermaid", "json", "html");
        var output = new Option<string?>("--output", "-o") { Description = "Write to this file instead of standard output" };
        var command = new Command("graph", "Export the lineage graph") { format, output };
        command.SetAction(parse =>
        {
            using var repository = globals.OpenRepository(parse, context);
            var graph = repository.Graph();
            string text = parse.GetValue(format) switch
            {
                "mermaid" => GraphExport.Mermaid(graph),
                "json" => Json.ToText(GraphExport.JsonShape(graph, repository.Tests.Latest(graph))) + "\n",
                "html" => StaticGraphPage.Build(GraphExport.JsonShape(graph, repository.Tests.Latest(graph)), $"mgit: {Path.GetFileName(repository.Root)}"),
                _ => GraphExport.Dot(graph),
            };
            if (parse.GetValue(output) is { } file)
            {
                string path = context.ResolvePath(file);
                File.WriteAllText(path, text);
                GlobalOptions.Say(parse, globals, context, $"wrote {path}");
            }
            else
            {
                context.Out.Write(text);
            }

            return 0;
        });
        return command;
    }
}
