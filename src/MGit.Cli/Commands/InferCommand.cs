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
        var dryRun = new Option<bool>("--dry-run", "-n") { Description = "Print the graph infer would build, each edge with its evidence and confidence; write nothing" };
        var command = new Command("infer", "Add every model in a folder and build their lineage graph automatically") { directory, type, json, dryRun };
        command.SetAction(parse =>
        {
            using var repository = globals.OpenRepository(parse, context);
            string folder = context.ResolvePath(parse.GetValue(directory)!);
            if (parse.GetValue(dryRun))
            {
                var plan = repository.PlanInference(folder, context.Cancellation);
                if (parse.GetValue(json))
                {
                    Json.Write(context.Out, Json.Array(plan, PlanJson));
                    return 0;
                }

                foreach (var entry in plan)
                {
                    context.Out.WriteLine(entry.AlreadyStored
                        ? $"{entry.Ref}: already stored, skipped"
                        : entry.Parents.Count == 0
                            ? $"{entry.Ref}: {entry.Reason}"
                            : $"{entry.Ref}: parent {string.Join(", ", entry.Parents)} (confidence {Confidence(entry.Confidence)}; {entry.Reason})");
                }

                GlobalOptions.Say(parse, globals, context, $"dry run: nothing was added; {plan.Count(e => !e.AlreadyStored)} model(s) would be");
                return 0;
            }

            var models = repository.Infer(folder, new AddOptions { Type = parse.GetValue(type) }, context.Cancellation);
            if (parse.GetValue(json))
            {
                Json.Write(context.Out, Json.Array(models, m =>
                {
                    var entry = AddCommand.PlacementJson(m.Added.Version.Ref, m.Placement);
                    entry["parents"] = Json.Array(m.Parents);
                    entry["confidence"] = Math.Round(m.Confidence, 2);
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

    private static string Confidence(double value) => value.ToString("0.00", CultureInfo.InvariantCulture);

    /// <summary>One planned model: the fields of infer's own --json, and where it comes from.</summary>
    private static JsonObject PlanJson(InferencePlanEntry entry) => new()
    {
        ["ref"] = entry.Ref,
        ["name"] = entry.Name,
        ["path"] = entry.Path,
        ["parent"] = entry.Parents.Count > 0 ? entry.Parents[0] : null,
        ["parents"] = Json.Array(entry.Parents),
        ["how"] = entry.How,
        ["reason"] = entry.Reason,
        ["confidence"] = Math.Round(entry.Confidence, 2),
        ["adopts"] = Json.Array(entry.Adopted),
        ["already_stored"] = entry.AlreadyStored,
    };
}
