using System.CommandLine;
using System.Text.Json.Nodes;
using MGit.Cli.Rendering;

namespace MGit.Cli.Commands;

/// <summary><c>mgit bisect TEST --from REF [--to ANCESTOR]</c>: where along a derivation chain a test started failing.</summary>
public static class BisectCommand
{
    public static Command Build(GlobalOptions globals, CliContext context)
    {
        var test = new Argument<string>("TEST") { Description = "A registered test" };
        var from = new Option<string>("--from") { Description = "A model that fails the test", Required = true };
        var to = new Option<string?>("--to") { Description = "An ancestor that passes [default: the root of the chain of adapted parents]" };
        var json = new Option<bool>("--json") { Description = "Print JSON: {first_failing, runs: [{ref, passed}]}" };
        var command = new Command("bisect", "Find the first model along a derivation chain that fails a test, in about log2(n) runs") { test, from, to, json };
        command.SetAction(parse =>
        {
            using var repository = globals.OpenRepository(parse, context);
            var result = repository.Bisect(parse.GetValue(test)!, parse.GetValue(from)!, parse.GetValue(to), run =>
                GlobalOptions.Say(parse, globals, context, $"{(run.Passed ? "pass" : "FAIL")}  {run.Ref}  {run.Reason}"), context.Cancellation);
            if (parse.GetValue(json))
            {
                Json.Write(context.Out, new JsonObject
                {
                    ["test"] = result.Test,
                    ["first_failing"] = result.FirstFailing,
                    ["last_passing"] = result.LastPassing,
                    ["chain"] = Json.Array(result.Chain),
                    ["runs"] = Json.Array(result.Runs, r => new JsonObject { ["ref"] = r.Ref, ["passed"] = r.Passed, ["reason"] = r.Reason }),
                });
            }
            else
            {
                context.Out.WriteLine($"{result.FirstFailing} is the first model that fails {result.Test} (its parent {result.LastPassing} passes); {result.Runs.Count} runs along a chain of {result.Chain.Count}");
            }

            return 0;
        });
        return command;
    }
}
