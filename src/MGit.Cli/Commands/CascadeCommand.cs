using System.CommandLine;
using System.Text.Json.Nodes;
using MGit.Cascade;
using MGit.Cli.Rendering;
using MGit.Errors;

namespace MGit.Cli.Commands;

/// <summary><c>mgit cascade [OLD] NEW | --resume</c>: re-derive everything downstream of an updated model, then re-test.</summary>
public static class CascadeCommand
{
    public static Command Build(GlobalOptions globals, CliContext context)
    {
        var refs = new Argument<string[]>("OLD NEW") { Description = "OLD and NEW versions, or just NEW when it is a new version of OLD", Arity = new ArgumentArity(0, 2) };
        var resume = new Option<bool>("--resume") { Description = "Continue the latest cascade: retry what failed or was blocked" };
        var dryRun = new Option<bool>("--dry-run") { Description = "Print the plan; change nothing" };
        var jobs = new Option<int>("--jobs", "-j") { Description = "Recipes run at once", DefaultValueFactory = _ => 1 };
        var timeout = new Option<double>("--timeout") { Description = "Seconds a recipe may run (86400: 24 hours)", DefaultValueFactory = _ => 24 * 3600 };
        var json = new Option<bool>("--json") { Description = "Print the result as JSON" };
        var command = new Command("cascade", "Re-derive every model downstream of OLD on NEW by replaying recipes, then run their tests") { refs, resume, dryRun, jobs, timeout, json };
        command.SetAction(parse =>
        {
            var given = parse.GetValue(refs) ?? [];
            bool resuming = parse.GetValue(resume);
            if (resuming == (given.Length > 0))
            {
                throw new MGitException(ErrorKind.InvalidInput, resuming ? "--resume continues the latest cascade; give no refs with it" : "name the new version: mgit cascade [OLD] NEW, or mgit cascade --resume");
            }

            if (parse.GetValue(jobs) is < 1 or > 64)
            {
                throw new MGitException(ErrorKind.InvalidInput, "--jobs must be between 1 and 64");
            }

            if (!(parse.GetValue(timeout) > 0))
            {
                throw new MGitException(ErrorKind.InvalidInput, "--timeout must be a positive number of seconds");
            }

            using var repository = globals.OpenRepository(parse, context);
            var options = new CascadeOptions
            {
                DryRun = parse.GetValue(dryRun),
                Jobs = parse.GetValue(jobs),
                RecipeTimeout = TimeSpan.FromSeconds(parse.GetValue(timeout)),
                OnStep = step => GlobalOptions.Say(parse, globals, context, $"{step.Status,-10} {step.Model}: {step.From} -> {step.To ?? "-"}{(step.Detail is null ? "" : $"  {step.Detail}")}"),
            };
            var result = resuming ? repository.ResumeCascade(options, context.Cancellation)
                : given.Length == 1 ? repository.UpdateCascade(null, given[0], options, context.Cancellation)
                : repository.UpdateCascade(given[0], given[1], options, context.Cancellation);
            if (parse.GetValue(json))
            {
                Json.Write(context.Out, new JsonObject
                {
                    ["old"] = result.Old,
                    ["new"] = result.New,
                    ["dry_run"] = result.DryRun,
                    ["succeeded"] = result.Succeeded,
                    ["nothing_to_do"] = result.NothingToDo,
                    ["steps"] = Json.Array(result.Steps, s => new JsonObject
                    {
                        ["model"] = s.Model,
                        ["from"] = s.From,
                        ["to"] = s.To,
                        ["status"] = s.Status,
                        ["detail"] = s.Detail,
                        ["parents"] = Json.Array(s.Parents),
                        ["tests_before"] = Json.Array(s.TestsBefore, TestCommands.ResultJson),
                        ["tests_after"] = Json.Array(s.TestsAfter, TestCommands.ResultJson),
                    }),
                });
            }
            else if (result.NothingToDo is { } why)
            {
                context.Out.WriteLine($"cascade {result.Old} -> {result.New}: {why}");
            }
            else
            {
                context.Out.WriteLine(result.DryRun ? $"plan: cascade {result.Old} -> {result.New} (dry run, nothing changed)" : $"cascade {result.Old} -> {result.New}");
                context.Out.Write(TextTable.Render(
                    ["MODEL", "OLD -> NEW", "STATUS", "TESTS BEFORE", "TESTS AFTER", "DETAIL"],
                    result.Steps.Select(s => (IReadOnlyList<string>)[
                        s.Model,
                        $"{s.From} -> {s.To ?? "-"}",
                        s.Status,
                        Summary(s.TestsBefore),
                        result.DryRun ? "" : Summary(s.TestsAfter),
                        s.Detail ?? (result.DryRun ? $"parents: {string.Join(", ", s.Parents)}" : "")])));
                var skipped = result.Steps.Where(s => s.Status is CascadeStatus.NoRecipe or CascadeStatus.Blocked or CascadeStatus.Failed).Select(s => s.Model).ToList();
                if (!result.DryRun && skipped.Count > 0)
                {
                    context.Out.WriteLine($"not re-derived: {string.Join(", ", skipped)}; fix (mgit recipe set ...) and run 'mgit cascade --resume'");
                }
            }

            return result.DryRun || result.Succeeded ? 0 : MGitCli.ExitFailure;
        });
        return command;
    }

    private static string Summary(IReadOnlyList<MGit.Testing.TestResult> results) =>
        results.Count == 0 ? "-" : $"{results.Count(r => r.Passed)}/{results.Count} pass" + string.Concat(results.Where(r => !r.Passed).Select(r => $" ({r.Test}: {r.Reason})"));
}
