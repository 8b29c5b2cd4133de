using System.CommandLine;
using System.Text.Json.Nodes;
using MGit.Cli.Rendering;
using MGit.Lineage;

namespace MGit.Cli.Commands;

/// <summary><c>mgit recipe show|set</c>: how a model was derived, as the cascade replays it.</summary>
public static class RecipeCommands
{
    public static Command Build(GlobalOptions globals, CliContext context)
    {
        var command = new Command("recipe", "Show or set how a model was derived (the command the cascade replays)");

        var showRef = new Argument<string>("REF") { Description = "NAME or NAME@VERSION" };
        var json = new Option<bool>("--json") { Description = "Print JSON" };
        var show = new Command("show", "Show a version's recipe and the parents it names") { showRef, json };
        show.SetAction(parse =>
        {
            using var repository = globals.OpenRepository(parse, context);
            var of = repository.RecipeOf(parse.GetValue(showRef)!);
            var (version, recipe, parents) = of;
            if (parse.GetValue(json))
            {
                Json.Write(context.Out, ToJson(of));
                return 0;
            }

            if (recipe is null)
            {
                context.Out.WriteLine($"{version.Ref} has no recipe (add one: mgit recipe set {version.Ref} --cmd CMD)");
                return MGitCli.ExitFailure;
            }

            context.Out.WriteLine(recipe);
            GlobalOptions.Say(parse, globals, context, $"parents: {string.Join(", ", parents.Select(p => p.Ref))}");
            return 0;
        });

        var setRef = new Argument<string>("REF") { Description = "NAME or NAME@VERSION" };
        var cmd = new Option<string>("--cmd") { Description = "Command template with {parent}, {parent:NAME}, {parents} and {output}", Required = true };
        var set = new Command("set", "Record or replace a version's recipe") { setRef, cmd };
        set.SetAction(parse =>
        {
            using var repository = globals.OpenRepository(parse, context);
            repository.SetRecipe(parse.GetValue(setRef)!, parse.GetValue(cmd)!);
            return 0;
        });

        command.Subcommands.Add(show);
        command.Subcommands.Add(set);
        return command;
    }

    /// <summary>The document of <c>mgit recipe show REF --json</c> (and of the web API's /api/recipe).</summary>
    public static JsonObject ToJson((ModelVersion Version, string? Recipe, IReadOnlyList<ModelVersion> Parents) of) =>
        new() { ["ref"] = of.Version.Ref, ["recipe"] = of.Recipe, ["parents"] = Json.Array(of.Parents.Select(p => p.Ref)) };
}
