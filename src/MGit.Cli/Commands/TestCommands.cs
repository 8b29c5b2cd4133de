using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using MGit.Cli.Rendering;
using MGit.Errors;
using MGit.Lineage;
using MGit.Testing;

namespace MGit.Cli.Commands;

/// <summary><c>mgit test add|run|show|ls|rm</c>: tests registered on models or model types, run across the graph.</summary>
public static class TestCommands
{
    public static Command Build(GlobalOptions globals, CliContext context)
    {
        var command = new Command("test", "Register tests on models or model types, run them across the graph, show results");
        command.Subcommands.Add(BuildAdd(globals, context));
        command.Subcommands.Add(BuildRun(globals, context));
        command.Subcommands.Add(BuildShow(globals, context));
        command.Subcommands.Add(BuildList(globals, context));
        command.Subcommands.Add(BuildRemove(globals, context));
        return command;
    }

    private static Command BuildAdd(GlobalOptions globals, CliContext context)
    {
        var name = new Argument<string>("NAME") { Description = "Test name (letters, digits, '-', '_', '.')" };
        var cmd = new Option<string>("--cmd") { Description = "Command template: {model} = path of the checked-out model, {ref} = NAME@VERSION; run without a shell", Required = true };
        var scope = new Option<string>("--for") { Description = "all, type:TYPE or model:NAME [default: all]", DefaultValueFactory = _ => "all" };
        var pass = new Option<string?>("--pass") { Description = "Condition on the metrics the test prints as JSON on its last line, e.g. 'accuracy >= 0.9 and loss < 0.5' [default: exit code 0 passes]" };
        var timeout = new Option<double>("--timeout") { Description = "Seconds before the test is killed and fails", DefaultValueFactory = _ => TestDefinition.DefaultTimeoutSeconds };
        var replace = new Option<bool>("--replace") { Description = "Replace a test of the same name" };
        var command = new Command("add", "Register a test") { name, cmd, scope, pass, timeout, replace };
        command.SetAction(parse =>
        {
            var test = new TestDefinition(parse.GetValue(name)!, parse.GetValue(cmd)!, TestScope.Parse(parse.GetValue(scope)!), parse.GetValue(pass), parse.GetValue(timeout));
            using var repository = globals.OpenRepository(parse, context);
            repository.RegisterTest(test, parse.GetValue(replace));
            var graph = repository.Graph();
            int applies = graph.Versions.Count(v => test.Scope.AppliesTo(v.Name, v.Type));
            GlobalOptions.Say(parse, globals, context, $"registered test '{test.Name}' for {test.Scope}; it applies to {applies} stored version(s) now, and to matching models added later");
            return 0;
        });
        return command;
    }

    private static Command BuildRun(GlobalOptions globals, CliContext context)
    {
        var reference = new Argument<string?>("REF") { Description = "A model version [default: --all]", Arity = ArgumentArity.ZeroOrOne };
        var all = new Option<bool>("--all") { Description = "Every version of every model" };
        var descendants = new Option<string?>("--descendants") { Description = "REF and every model derived from it, transitively" };
        var only = new Option<string?>("--test") { Description = "Run only this test" };
        var jobs = new Option<int>("--jobs", "-j") { Description = "Tests run at once", DefaultValueFactory = _ => 1 };
        var json = new Option<bool>("--json") { Description = "Print the results as JSON" };
        var executor = new ExecutorOptions();
        var command = new Command("run", "Run the applicable tests on models and record the results") { reference, all, descendants, only, jobs, json };
        executor.AddTo(command);
        command.SetAction(parse =>
        {
            string? single = parse.GetValue(reference);
            string? root = parse.GetValue(descendants);
            if ((single is not null ? 1 : 0) + (root is not null ? 1 : 0) + (parse.GetValue(all) ? 1 : 0) > 1)
            {
                throw new MGitException(ErrorKind.InvalidInput, "give one of REF, --all or --descendants REF");
            }

            if (parse.GetValue(jobs) is < 1 or > 64)
            {
                throw new MGitException(ErrorKind.InvalidInput, "--jobs must be between 1 and 64");
            }

            using var repository = globals.OpenRepository(parse, context);
            var graph = repository.Graph();
            IReadOnlyList<ModelVersion> versions = single is not null ? [graph.Resolve(single)]
                : root is not null ? [graph.Resolve(root), .. graph.Descendants(graph.Resolve(root), EdgeKind.Adapted)]
                : graph.TopologicalOrder();
            bool quietJson = parse.GetValue(json);
            var conditions = repository.Tests.All().ToDictionary(t => t.Name, t => t.Pass, StringComparer.Ordinal);
            var results = repository.RunTests(versions, new TestRunOptions
            {
                Jobs = parse.GetValue(jobs),
                OnlyTest = parse.GetValue(only),
                OnResult = r => GlobalOptions.Say(parse, globals, context, ResultLine(r, conditions.GetValueOrDefault(r.Test))),
                Cluster = executor.Resolve(parse, repository, wait: true),
            }, context.Cancellation);
            if (quietJson)
            {
                Json.Write(context.Out, Json.Array(results, ResultJson));
            }
            else if (results.Count == 0)
            {
                context.Out.WriteLine("no test applies to the models given (see 'mgit test ls')");
            }
            else
            {
                context.Out.WriteLine($"{results.Count(r => r.Passed)} passed, {results.Count(r => !r.Passed)} failed");
            }

            return results.All(r => r.Passed) ? 0 : MGitCli.ExitFailure;
        });
        return command;
    }

    private static Command BuildShow(GlobalOptions globals, CliContext context)
    {
        var reference = new Argument<string?>("REF") { Description = "Only this model version [default: all]", Arity = ArgumentArity.ZeroOrOne };
        var json = new Option<bool>("--json") { Description = "Print JSON: [{ref, test, passed, metrics, duration_s, ...}]" };
        var command = new Command("show", "Show recorded test results as a models x tests table") { reference, json };
        command.SetAction(parse =>
        {
            using var repository = globals.OpenRepository(parse, context);
            var graph = repository.Graph();
            var only = parse.GetValue(reference) is { } r ? graph.Resolve(r) : null;
            var results = repository.Tests.Latest(graph, only is null ? null : [only.Id]);
            if (parse.GetValue(json))
            {
                Json.Write(context.Out, ToJson(results, repository.TestJobs()));
                return 0;
            }

            var tests = repository.Tests.All().Select(t => t.Name).Union(results.Select(x => x.Test)).Order(StringComparer.Ordinal).ToList();
            if (tests.Count == 0)
            {
                context.Out.WriteLine("no tests registered (mgit test add NAME --cmd CMD)");
                return 0;
            }

            var byCell = results.ToDictionary(x => (x.Ref, x.Test));
            var versions = only is null ? graph.TopologicalOrder() : [only];
            var rows = versions.Select(v => (IReadOnlyList<string>)[v.Ref, .. tests.Select(t => byCell.TryGetValue((v.Ref, t), out var x) ? Cell(x) : "-")]);
            context.Out.Write(TextTable.Render(["MODEL", .. tests], rows));
            return 0;
        });
        return command;
    }

    private static Command BuildList(GlobalOptions globals, CliContext context)
    {
        var json = new Option<bool>("--json") { Description = "Print JSON" };
        var command = new Command("ls", "List registered tests") { json };
        command.SetAction(parse =>
        {
            using var repository = globals.OpenRepository(parse, context);
            var tests = repository.Tests.All();
            if (parse.GetValue(json))
            {
                Json.Write(context.Out, Json.Array(tests, t => new JsonObject { ["name"] = t.Name, ["cmd"] = t.Command, ["for"] = t.Scope.ToString(), ["pass"] = t.Pass, ["timeout_s"] = t.TimeoutSeconds }));
                return 0;
            }

            context.Out.Write(TextTable.Render(["TEST", "FOR", "PASS", "TIMEOUT", "COMMAND"], tests.Select(t => (IReadOnlyList<string>)[t.Name, t.Scope.ToString(), t.Pass ?? "exit 0", Seconds(t.TimeoutSeconds), t.Command])));
            return 0;
        });
        return command;
    }

    private static Command BuildRemove(GlobalOptions globals, CliContext context)
    {
        var name = new Argument<string>("NAME") { Description = "Test name" };
        var command = new Command("rm", "Remove a test and its recorded results") { name };
        command.SetAction(parse =>
        {
            using var repository = globals.OpenRepository(parse, context);
            repository.Tests.Remove(parse.GetValue(name)!);
            return 0;
        });
        return command;
    }

    /// <summary>
    /// The document of <c>mgit test show [REF] --json</c> (and of the web API's /api/tests). A
    /// result that a cluster job made (or failed to make) carries the job: scheduler, id, state,
    /// exit code, run time and log.
    /// </summary>
    public static JsonArray ToJson(IEnumerable<TestResult> results, IReadOnlyDictionary<(string Ref, string Test), ClusterJobRecord> jobs) => Json.Array(results, r =>
    {
        var json = ResultJson(r);
        if (jobs.TryGetValue((r.Ref, r.Test), out var job) && job.SubmittedAt <= r.RanAt)
        {
            json["job"] = JobJson(job);
        }

        return json;
    });

    /// <summary>A cluster job as <c>test show --json</c> and <c>cascade --status --json</c> print it.</summary>
    public static JsonObject JobJson(ClusterJobRecord job) => new()
    {
        ["scheduler"] = job.Scheduler,
        ["id"] = job.JobId,
        ["state"] = job.State,
        ["reason"] = job.Reason,
        ["exit_code"] = job.ExitCode,
        ["run_time_s"] = job.RunTimeSeconds,
        ["log"] = job.LogPath,
        ["submitted_at"] = job.SubmittedAt,
    };

    public static JsonObject ResultJson(TestResult r) => new()
    {
        ["ref"] = r.Ref,
        ["test"] = r.Test,
        ["passed"] = r.Passed,
        ["metrics"] = Json.Map(r.Metrics),
        ["duration_s"] = Math.Round(r.DurationSeconds, 3),
        ["exit_code"] = r.ExitCode,
        ["reason"] = r.Reason,
        ["ran_at"] = r.RanAt,
        ["log"] = r.LogPath,
    };

    /// <summary>
    /// One line per test run: <c>PASS  m@1  accuracy  accuracy &gt;= 0.9 (0.934)  (2.1 s)</c>. The condition
    /// is shown with the values it was judged on; a run that failed before its metrics counted
    /// (exit code, time-out) says why instead.
    /// </summary>
    public static string ResultLine(TestResult result, string? condition)
    {
        var metrics = ConditionMetrics(condition);
        string verdict;
        if (condition is not null && result.ExitCode == 0)
        {
            string values = metrics.Count == 1
                ? Value(result, metrics[0])
                : string.Join(", ", metrics.Select(m => $"{m} {Value(result, m)}"));
            verdict = values.Length > 0 ? $"{condition} ({values})" : condition;
        }
        else
        {
            // No condition (exit 0 passes) or the command itself failed: the reason, and whatever it reported.
            string values = string.Join(", ", result.Metrics.Take(4).Select(m => $"{m.Key} {FormatMetric(m.Value)}"));
            verdict = values.Length > 0 ? $"{result.Reason} ({values})" : result.Reason;
        }

        return $"{(result.Passed ? "PASS" : "FAIL")}  {result.Ref}  {result.Test}  {verdict}  ({Seconds(result.DurationSeconds)}){(result.Passed ? "" : $"  log: {result.LogPath}")}";
    }

    private static string Value(TestResult result, string metric) =>
        metric == "exit_code" ? $"{result.ExitCode}"
        : result.Metrics.TryGetValue(metric, out var value) ? FormatMetric(value)
        : "not reported";

    /// <summary>The metric names a pass condition mentions, in order, once each (words other than and/or/not/true/false outside quotes).</summary>
    public static IReadOnlyList<string> ConditionMetrics(string? condition)
    {
        var names = new List<string>();
        if (condition is null)
        {
            return names;
        }

        for (int i = 0; i < condition.Length;)
        {
            char c = condition[i];
            if (c is '"' or '\'')
            {
                int close = condition.IndexOf(c, i + 1);
                i = close < 0 ? condition.Length : close + 1;
            }
            else if (char.IsLetter(c) || c == '_')
            {
                // As the condition's parser reads a name.
                int start = i;
                while (i < condition.Length && (char.IsLetterOrDigit(condition[i]) || condition[i] is '_' or '.' or '/' or '-'))
                {
                    i++;
                }

                string name = condition[start..i];
                if (name is not ("and" or "or" or "not" or "true" or "false") && !names.Contains(name))
                {
                    names.Add(name);
                }
            }
            else if (char.IsAsciiDigit(c) || c == '.')
            {
                // A number, exponent included (1e-3 is no metric 'e').
                while (i < condition.Length && (char.IsAsciiLetterOrDigit(condition[i]) || condition[i] is '.' || ((condition[i] is '-' or '+') && condition[i - 1] is 'e' or 'E')))
                {
                    i++;
                }
            }
            else
            {
                i++;
            }
        }

        return names;
    }

    /// <summary>A table cell: pass or fail and the metric values, briefly.</summary>
    public static string Cell(TestResult result)
    {
        string metrics = string.Join(" ", result.Metrics.Take(3).Select(m => $"{m.Key}={FormatMetric(m.Value)}"));
        return (result.Passed ? "pass" : "FAIL") + (metrics.Length > 0 ? $" {metrics}" : "");
    }

    private static string FormatMetric(System.Text.Json.JsonElement value) =>
        value.ValueKind == System.Text.Json.JsonValueKind.Number ? value.GetDouble().ToString("G4", CultureInfo.InvariantCulture) : value.ToString();

    public static string Seconds(double seconds) => seconds.ToString("0.##", CultureInfo.InvariantCulture) + " s";
}
