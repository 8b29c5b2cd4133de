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
                GraphExport.WriteJson(context.Out, shown, repository.Tests.Latest(graph, line is null ? null : graph.Versions.Select(v => v.Id).ToList()), (focus?.Ref, true));
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
            string? file = parse.GetValue(output) is { } named ? context.ResolvePath(named) : null;
            using (var target = file is null ? null : new StreamWriter(file))
            {
                var writer = target ?? context.Out;
                switch (parse.GetValue(format))
                {
                    case "json":
                        GraphExport.WriteJson(writer, graph, Results()); // written as it is made: 100,000 versions are never one string
                        break;
                    case "mermaid":
                        writer.Write(GraphExport.Mermaid(graph));
                        break;
                    case "html":
                        writer.Write(StaticGraphPage.Build(GraphExport.JsonShape(graph, Results()), $"mgit: {Path.GetFileName(repository.Root)}"));
                        break;
                    default:
                        writer.Write(GraphExport.Dot(graph));
                        break;
                }
            }

            if (file is not null)
            {
                GlobalOptions.Say(parse, globals, context, $"wrote {file}");
            }

            return 0;
        });
        return command;
    }
}
