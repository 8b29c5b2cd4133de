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
            // With a ref, only that version's line is read (its ancestors and descendants), never the whole graph.
            var line = parse.GetValue(reference) is { } r ? repository.LineageOf(r) : null;
            var graph = line?.Graph ?? repository.Graph();
            var focus = line?.Focus;
            if (parse.GetValue(json))
            {
                // The nodes and edges the tree draws, in the shape of 'graph --format json'.
                var shown = focus is null ? graph : LineageTree.Around(graph, focus);
                var shape = GraphExport.JsonShape(shown, repository.Tests.Latest(graph, line is null ? null : graph.Versions.Select(v => v.Id).ToList()));
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
        var root = new Option<string?>("--root") { Description = "Only REF and the versions derived from it, directly or not" };
        var depth = new Option<int?>("--depth") { Description = "Only versions at most N edges below the root (below the graph's roots without --root); 0: the root alone" };
        var command = new Command("graph", "Export the lineage graph, or the part of it below a version") { format, output, root, depth };
        command.SetAction(parse =>
        {
            using var repository = globals.OpenRepository(parse, context);
            // A root or a depth reads only that part of the graph.
            bool part = parse.GetValue(root) is not null || parse.GetValue(depth) is not null;
            var graph = repository.Subgraph(parse.GetValue(root), parse.GetValue(depth));
            IReadOnlyList<MGit.Testing.TestResult> Results() => repository.Tests.Latest(graph, part ? graph.Versions.Select(v => v.Id).ToList() : null);
            string text = parse.GetValue(format) switch
            {
                "mermaid" => GraphExport.Mermaid(graph),
                "json" => Json.ToText(GraphExport.JsonShape(graph, Results())) + "\n",
                "html" => StaticGraphPage.Build(GraphExport.JsonShape(graph, Results()), $"mgit: {Path.GetFileName(repository.Root)}"),
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
