using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using MGit.Cli.Rendering;
using MGit.Lineage;

namespace MGit.Cli.Commands;

/// <summary>
/// mgit reparent: fix a wrong edge by hand. <c>--parent P [--parent Q]</c> makes the adapted
/// parents exactly those, <c>--root</c> removes them all, <c>--remove-parent P</c> removes one;
/// versioned edges stay. <c>--history</c> shows who changed the version's parents, when.
/// </summary>
public static class ReparentCommand
{
    public static Command Build(GlobalOptions globals, CliContext context)
    {
        var reference = new Argument<string>("REF") { Description = "The version whose parents change: NAME, NAME@VERSION or NAME@TAG" };
        var parents = new Option<string[]>("--parent", "-p") { Description = "A model it was derived from (repeatable: several make a merge); its adapted parents become exactly these", AllowMultipleArgumentsPerToken = false };
        var how = new Option<string?>("--how") { Description = "How it was derived from the new parents: finetune, prune, quantize, distill, merge, other [default: as the edge to that parent was, else none]" };
        var root = new Option<bool>("--root") { Description = "Remove every adapted parent: it becomes a root of its own line" };
        var remove = new Option<string[]>("--remove-parent") { Description = "Remove this adapted parent only (repeatable); the others stay", AllowMultipleArgumentsPerToken = false };
        var message = new Option<string?>("--message", "-m") { Description = "Why the parents change (kept in the edges' reason and the history)" };
        var history = new Option<bool>("--history") { Description = "Show who changed REF's parents and when, instead of changing them" };
        var json = new Option<bool>("--json") { Description = "Print JSON" };
        var command = new Command("reparent", "Change a version's parents by hand (fix an edge add --auto or infer got wrong); later placements never move it")
        {
            reference, parents, how, root, remove, message, history, json,
        };
        command.SetAction(parse =>
        {
            string r = parse.GetValue(reference)!;
            var options = new ReparentOptions
            {
                Parents = parse.GetValue(parents) ?? [],
                Root = parse.GetValue(root),
                RemoveParents = parse.GetValue(remove) ?? [],
                How = parse.GetValue(how),
                Message = parse.GetValue(message),
            };
            bool asJson = parse.GetValue(json);
            int modes = (options.Parents.Count > 0 ? 1 : 0) + (options.Root ? 1 : 0) + (options.RemoveParents.Count > 0 ? 1 : 0);
            bool traced = parse.GetValue(history);
            if (traced ? modes > 0 || options.How is not null || options.Message is not null : modes != 1)
            {
                context.Error.WriteLine(traced ? "mgit: --history only shows the changes; give it alone (see 'mgit reparent --help')"
                    : modes == 0 ? "mgit: give the new parents (--parent P), --root or --remove-parent P (see 'mgit reparent --help')"
                    : "mgit: give only one of --parent, --root and --remove-parent (see 'mgit reparent --help')");
                return MGitCli.ExitUsage;
            }

            using var repository = globals.OpenRepository(parse, context);
            if (traced)
            {
                var changes = repository.ParentHistory(r);
                if (asJson)
                {
                    Json.Write(context.Out, Json.Array(changes, ToJson));
                }
                else if (changes.Count > 0)
                {
                    context.Out.Write(TextTable.Render(
                        ["WHEN (UTC)", "WHO", "PARENTS", "BEFORE", "MESSAGE"],
                        changes.Select(c => (IReadOnlyList<string>)[
                            c.ChangedAt.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture),
                            c.ChangedBy,
                            List(c.Parents),
                            List(c.PreviousParents),
                            c.Message ?? ""])));
                }
                else
                {
                    GlobalOptions.Say(parse, globals, context, $"{repository.Resolve(r).Ref}: its parents were never changed by hand");
                }

                return 0;
            }

            var change = repository.Reparent(r, options);
            if (asJson)
            {
                Json.Write(context.Out, ToJson(change));
            }
            else
            {
                context.Out.WriteLine(change.Parents.Count == 0
                    ? $"{change.Ref} is now a root (was under {List(change.PreviousParents)})"
                    : $"{change.Ref} now derives from {List(change.Parents)}{(change.How is { } h ? $" ({h})" : "")} (was: {List(change.PreviousParents)})");
            }

            return 0;
        });
        return command;
    }

    private static string List(IReadOnlyList<string> refs) => refs.Count == 0 ? "none" : string.Join(", ", refs);

    private static JsonObject ToJson(ParentChange change) => new()
    {
        ["ref"] = change.Ref,
        ["parents"] = Json.Array(change.Parents),
        ["previous_parents"] = Json.Array(change.PreviousParents),
        ["how"] = change.How,
        ["message"] = change.Message,
        ["changed_by"] = change.ChangedBy,
        ["changed_at"] = change.ChangedAt,
    };
}
