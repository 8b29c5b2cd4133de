using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using MGit.Cli.Rendering;
using MGit.Ingest;

namespace MGit.Cli.Commands;

public static class InferCommand
{
    public static Command Build(GlobalOptions globals, CliContext context)
    {
        var directory = new Argument<string>("DIR") { Description = "Folder whose model files and model folders to add (names: file stems and folder names)" };
        var type = new Option<string?>("--type") { Description = "Model type tag for every added model" };
        var json = new Option<bool>("--json") { Description = "Print each placement as JSON" };
        var command = new Command("infer", "Add every model in a folder and build their lineage graph automatically") { directory, type, json };
        command.SetAction(parse =>
        {
            using var repository = globals.OpenRepository(parse, context);
            var models = repository.Infer(context.ResolvePath(parse.GetValue(directory)!), new AddOptions { Type = parse.GetValue(type) }, context.Cancellation);
            if (parse.GetValue(json))
            {
                Json.Write(context.Out, Json.Array(models, m =>
                {
                    var entry = AddCommand.PlacementJson(m.Added.Version.Ref, m.Placement);
                    entry["already_stored"] = m.AlreadyStored;
                    return entry;
                }));
                return 0;
            }

            foreach (var m in models)
            {
                context.Out.WriteLine(m.AlreadyStored ? $"{m.Added.Version.Ref}: already stored, skipped" : AddCommand.PlacementLine(m.Added.Version.Ref, m.Placement));
            }

            int skipped = models.Count(m => m.AlreadyStored);
            GlobalOptions.Say(parse, globals, context, string.Create(CultureInfo.InvariantCulture, $"added {models.Count - skipped} model(s){(skipped > 0 ? $", {skipped} already stored" : "")}; 'mgit log' shows the graph"));
            return 0;
        });
        return command;
    }
}
