using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using MGit.Cascade;
using MGit.Cli.Rendering;
using MGit.Errors;

namespace MGit.Cli.Commands;

/// <summary>
/// <c>mgit cascade [OLD] NEW | --resume | --status | --cancel</c>: re-derive everything downstream
/// of an updated model, then re-test; here or as one job graph on a cluster scheduler.
/// </summary>
public static class CascadeCommand
{
    public static Command Build(GlobalOptions globals, CliContext context)
    {
        var refs = new Argument<string[]>("OLD NEW") { Description = "OLD and NEW versions, or just NEW when it is a new version of OLD", Arity = new ArgumentArity(0, 2) };
        var resume = new Option<bool>("--resume") { Description = "Continue the latest cascade: retry what failed or was blocked" };
        var status = new Option<bool>("--status") { Description = "Show the latest cascade's steps and their cluster jobs (asking the scheduler for those not ended)" };
        var cancel = new Option<bool>("--cancel") { Description = "Cancel the latest cascade's cluster jobs that have not ended" };
        var dryRun = new Option<bool>("--dry-run") { Description = "Print the plan; change nothing" };
        var jobs = new Option<int>("--jobs", "-j") { Description = "Recipes run at once (local executor)", DefaultValueFactory = _ => 1 };
        var timeout = new Option<double>("--timeout") { Description = "Seconds a recipe may run (86400: 24 hours)", DefaultValueFactory = _ => 24 * 3600 };
        var noWait = new Option<bool>("--no-wait") { Description = "With a cluster executor: return once the jobs are submitted (follow them with --status)" };
        var json = new Option<bool>("--json") { Description = "Print the result as JSON" };
        var executor = new ExecutorOptions();
        var command = new Command("cascade", "Re-derive every model downstream of OLD on NEW by replaying recipes, then run their tests") { refs, resume, status, cancel, dryRun, jobs, timeout, noWait, json };
        executor.AddTo(command);
        command.SetAction(parse =>
        {
            var given = parse.GetValue(refs) ?? [];
            bool resuming = parse.GetValue(resume);
            bool showing = parse.GetValue(status);
            bool cancelling = parse.GetValue(cancel);
            if ((resuming ? 1 : 0) + (showing ? 1 : 0) + (cancelling ? 1 : 0) + (given.Length > 0 ? 1 : 0) != 1)
            {
                throw new MGitException(ErrorKind.InvalidInput, given.Length > 0 || resuming || showing || cancelling
                    ? "give one of: OLD NEW (or NEW), --resume, --status or --cancel"
                    : "name the new version: mgit cascade [OLD] NEW, or mgit cascade --resume | --status | --cancel");
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
            if (showing)
            {
                return ShowStatus(repository.CascadeProgress(), parse.GetValue(json), context);
            }

            if (cancelling)
            {
                int cancelled = repository.CancelCascade();
                GlobalOptions.Say(parse, globals, context, cancelled == 0 ? "no job of the latest cascade is queued or running" : $"cancelled {cancelled} job(s); their steps stay pending (mgit cascade --resume)");
                return 0;
            }

            var cluster = executor.Resolve(parse, repository, wait: !parse.GetValue(noWait));
            if (cluster is null && parse.GetValue(noWait))
            {
                throw new MGitException(ErrorKind.InvalidInput, "--no-wait is for a cluster executor (--executor slurm); a local cascade runs here");
            }

            var options = new CascadeOptions
            {
                DryRun = parse.GetValue(dryRun),
                Jobs = parse.GetValue(jobs),
                RecipeTimeout = TimeSpan.FromSeconds(parse.GetValue(timeout)),
                OnStep = step => GlobalOptions.Say(parse, globals, context, StepLine(step)),
                Cluster = cluster,
            };
            var result = resuming ? repository.ResumeCascade(options, context.Cancellation)
                : given.Length == 1 ? repository.UpdateCascade(null, given[0], options, context.Cancellation)
                : repository.UpdateCascade(given[0], given[1], options, context.Cancellation);
            if (parse.GetValue(json))
            {
                Json.Write(context.Out, new JsonObject
                {
                    ["id"] = result.Id,
                    ["old"] = result.Old,
                    ["new"] = result.New,
                    ["dry_run"] = result.DryRun,
                    ["executor"] = cluster?.Scheduler.Name ?? Scheduling.JobSchedulers.Local,
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
                bool submitted = result.Steps.Any(s => s.Status == CascadeStatus.Submitted);
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
                if (submitted)
                {
                    context.Out.WriteLine("submitted; follow with 'mgit cascade --status', stop with 'mgit cascade --cancel'");
                }
                else if (!result.DryRun && skipped.Count > 0)
                {
                    context.Out.WriteLine($"not re-derived: {string.Join(", ", skipped)}; fix (mgit recipe set ...) and run 'mgit cascade --resume'");
                }
            }

            return result.DryRun || result.Succeeded || result.Steps.Any(s => s.Status == CascadeStatus.Submitted) && result.Steps.All(s => s.Status is not (CascadeStatus.Failed or CascadeStatus.Blocked)) ? 0 : MGitCli.ExitFailure;
        });
        return command;
    }

    /// <summary>
    /// <c>mgit cascade-step ID MODEL</c>, hidden: one step of a recorded cascade, as a cluster job
    /// runs it. Exits 0 when the model was re-derived (its tests may fail; that does not stop its
    /// descendants, as locally), 1 otherwise, so the scheduler's <c>afterok</c> holds back only
    /// the descendants of a step that made nothing.
    /// </summary>
    public static Command BuildStep(GlobalOptions globals, CliContext context)
    {
        var id = new Argument<long>("ID") { Description = "The cascade's number" };
        var model = new Argument<string>("MODEL") { Description = "The step's model" };
        var timeout = new Option<double>("--timeout") { Description = "Seconds the recipe may run", DefaultValueFactory = _ => 24 * 3600 };
        var command = new Command("cascade-step", "Run one step of a recorded cascade (what a cluster job runs)") { id, model, timeout };
        command.Hidden = true;
        command.SetAction(parse =>
        {
            if (!(parse.GetValue(timeout) > 0))
            {
                throw new MGitException(ErrorKind.InvalidInput, "--timeout must be a positive number of seconds");
            }

            using var repository = globals.OpenRepository(parse, context);
            var step = repository.RunCascadeStep(parse.GetValue(id), parse.GetValue(model)!, TimeSpan.FromSeconds(parse.GetValue(timeout)), context.Cancellation);
            context.Out.WriteLine(StepLine(step) + (step.TestsAfter.Count == 0 ? "" : $"  tests: {Summary(step.TestsAfter)}"));
            return step.Status == CascadeStatus.Rederived ? 0 : MGitCli.ExitFailure;
        });
        return command;
    }

    private static int ShowStatus(CascadeProgress progress, bool json, CliContext context)
    {
        var record = progress.Cascade;
        if (json)
        {
            Json.Write(context.Out, new JsonObject
            {
                ["id"] = record.Id,
                ["old"] = record.OldRef,
                ["new"] = record.NewRef,
                ["started_at"] = record.StartedAt,
                ["steps"] = Json.Array(record.Steps, s => new JsonObject
                {
                    ["model"] = s.Model,
                    ["from"] = s.FromRef,
                    ["to"] = s.ToRef,
                    ["status"] = s.Status,
                    ["detail"] = s.Detail,
                    ["job"] = progress.Jobs.TryGetValue(s.Model, out var job) ? TestCommands.JobJson(job) : null,
                }),
            });
            return 0;
        }

        context.Out.WriteLine($"cascade {record.Id}: {record.OldRef} -> {record.NewRef}, started {record.StartedAt.ToString("u", CultureInfo.InvariantCulture)}");
        context.Out.Write(TextTable.Render(
            ["MODEL", "OLD -> NEW", "STATUS", "JOB", "STATE", "RUN TIME", "DETAIL"],
            record.Steps.Select(s =>
            {
                progress.Jobs.TryGetValue(s.Model, out var job);
                return (IReadOnlyList<string>)[
                    s.Model,
                    $"{s.FromRef} -> {s.ToRef ?? "-"}",
                    s.Status,
                    job is null ? "-" : $"{job.Scheduler} {job.JobId}",
                    job is null ? "-" : job.State + (job.Reason is { Length: > 0 } r && r != "None" ? $" ({r})" : ""),
                    job is { Phase: not "pending" } && job.RunTimeSeconds is double t ? $"{t:0} s" : "-",
                    s.Detail ?? (job is null ? "" : $"log: {job.LogPath}")];
            })));
        return 0;
    }

    /// <summary>One step as it ends: <c>rederived  a: a@1 -> a@2  DETAIL</c>.</summary>
    private static string StepLine(CascadeStepResult step) =>
        $"{step.Status,-10} {step.Model}: {step.From} -> {step.To ?? "-"}{(step.Detail is null ? "" : $"  {step.Detail}")}";

    private static string Summary(IReadOnlyList<MGit.Testing.TestResult> results) =>
        results.Count == 0 ? "-" : $"{results.Count(r => r.Passed)}/{results.Count} pass" + string.Concat(results.Where(r => !r.Passed).Select(r => $" ({r.Test}: {r.Reason})"));
}
