using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using MGit.Cli.Rendering;
using MGit.Errors;
using MGit.Lineage;

namespace MGit.Cli.Commands;

/// <summary>
/// mgit tag: name a version (<c>mgit tag resnet@3 production</c>, then <c>resnet@production</c>
/// wherever a ref is taken), move (<c>--force</c>), delete (<c>-d</c>), list, and show who moved a
/// tag when (<c>--history</c>). Tags belong to a model; a bare tag name is never read as a ref.
/// </summary>
public static class TagCommand
{
    public static Command Build(GlobalOptions globals, CliContext context)
    {
        var reference = new Argument<string?>("REF") { Description = "The version to tag: NAME@VERSION, NAME@TAG or NAME (the latest)", Arity = ArgumentArity.ZeroOrOne };
        var name = new Argument<string?>("TAG") { Description = "The tag's name: a letter, then letters, digits, '.', '_', '-' (e.g. production, v1.0)", Arity = ArgumentArity.ZeroOrOne };
        var force = new Option<bool>("--force", "-f") { Description = "Move the tag if it points at another version (also settles a tag a pull reported in conflict)" };
        var delete = new Option<string?>("--delete", "-d") { HelpName = "TAG", Description = "Delete this tag: MODEL@TAG (or TAG when only one model has it)" };
        var history = new Option<string?>("--history") { HelpName = "TAG", Description = "Show who set, moved or deleted this tag, and when: MODEL@TAG (or TAG when only one model has it)" };
        var json = new Option<bool>("--json") { Description = "Print JSON" };
        var command = new Command("tag", "Tag a version (resnet@production), or list, move, delete tags and show their history") { reference, name, force, delete, history, json };
        command.SetAction(parse =>
        {
            string? r = parse.GetValue(reference);
            string? n = parse.GetValue(name);
            string? doomed = parse.GetValue(delete);
            string? traced = parse.GetValue(history);
            bool asJson = parse.GetValue(json);
            if ((doomed is not null || traced is not null) && (r is not null || doomed is not null && traced is not null))
            {
                throw new MGitException(ErrorKind.InvalidInput, "give either REF TAG, --delete TAG or --history TAG");
            }

            if (r is not null && n is null)
            {
                throw new MGitException(ErrorKind.InvalidInput, $"name the tag: mgit tag {r} TAG (e.g. production)");
            }

            using var repository = globals.OpenRepository(parse, context);
            if (doomed is not null)
            {
                var tag = repository.DeleteTag(doomed);
                string was = repository.FindVersion(tag.VersionId)?.Ref ?? "?";
                if (asJson)
                {
                    Json.Write(context.Out, new JsonObject { ["tag"] = tag.Ref, ["deleted"] = true, ["previous"] = was });
                }
                else
                {
                    context.Out.WriteLine($"deleted tag {tag.Ref} (was {was})");
                }

                return 0;
            }

            if (traced is not null)
            {
                var moves = repository.TagHistory(traced);
                if (asJson)
                {
                    Json.Write(context.Out, Json.Array(moves, m => new JsonObject
                    {
                        ["tag"] = $"{m.Model}@{m.Name}",
                        ["kind"] = m.Kind.ToString().ToLowerInvariant(),
                        ["target"] = m.Target,
                        ["moved_by"] = m.MovedBy,
                        ["moved_at"] = m.MovedAt,
                    }));
                    return 0;
                }

                context.Out.Write(TextTable.Render(
                    ["WHEN (UTC)", "WHO", "WHAT", "TARGET"],
                    moves.Select(m => (IReadOnlyList<string>)[When(m.MovedAt), m.MovedBy, m.Kind.ToString().ToLowerInvariant(), m.Target ?? "-"])));
                return 0;
            }

            if (r is not null)
            {
                var change = repository.Tag(r, n!, parse.GetValue(force));
                string target = repository.FindVersion(change.Tag.VersionId)?.Ref ?? "?";
                if (asJson)
                {
                    Json.Write(context.Out, new JsonObject { ["tag"] = change.Tag.Ref, ["target"] = target, ["previous"] = change.PreviousTarget, ["changed"] = change.Changed });
                }
                else
                {
                    context.Out.WriteLine(!change.Changed ? $"{change.Tag.Ref} already points at {target}"
                        : change.PreviousTarget is { } previous && previous != target ? $"moved {change.Tag.Ref} from {previous} to {target}"
                        : change.PreviousTarget is not null ? $"{change.Tag.Ref} points at {target} (conflict settled)"
                        : $"tagged {target} as {change.Tag.Ref}");
                }

                return 0;
            }

            var graph = repository.TaggedVersions();
            if (asJson)
            {
                Json.Write(context.Out, Json.Array(graph.Tags, t => new JsonObject
                {
                    ["tag"] = t.Ref,
                    ["model"] = t.Model,
                    ["name"] = t.Name,
                    ["target"] = graph[t.VersionId].Ref,
                    ["version"] = graph[t.VersionId].Version,
                    ["moved_by"] = t.MovedBy,
                    ["moved_at"] = t.MovedAt,
                }));
                return 0;
            }

            if (graph.Tags.Count > 0)
            {
                context.Out.Write(TextTable.Render(
                    ["TAG", "TARGET", "BY", "WHEN (UTC)"],
                    graph.Tags.Select(t => (IReadOnlyList<string>)[t.Ref, graph[t.VersionId].Ref, t.MovedBy, When(t.MovedAt)])));
            }

            return 0;
        });
        return command;
    }

    private static string When(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture);
}
