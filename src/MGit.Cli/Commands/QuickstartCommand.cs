using System.CommandLine;
using MGit.Cli.Rendering;
using MGit.Quickstart;

namespace MGit.Cli.Commands;

public static class QuickstartCommand
{
    public static Command Build(GlobalOptions globals, CliContext context)
    {
        var directory = new Argument<string?>("DIR") { Description = "A new folder for the example [default: a fresh folder under the system temp folder]", Arity = ArgumentArity.ZeroOrOne };
        var command = new Command("quickstart", "Train a small real model family (Palmer penguins), add it with its lineage, and check a model back out") { directory };
        command.SetAction(parse =>
        {
            string target = parse.GetValue(directory) is { } given
                ? context.ResolvePath(given)
                : Path.Combine(Path.GetTempPath(), $"mgit-quickstart-{DateTime.UtcNow:yyyyMMdd-HHmmss}-{Environment.ProcessId}");
            var o = context.Out;
            o.WriteLine($"Training a small penguin-classifier family on the Palmer penguins data (344 real birds) in {target}");
            var result = QuickstartRunner.Run(target, globals.Options(parse, context));
            o.WriteLine();
            foreach (var step in result.Steps)
            {
                var lineage = step.Member.VersionOf is { } previous ? $"next version of {previous}"
                    : step.Member.Parents.Count > 0 ? $"{step.Member.How} of {string.Join(", ", step.Member.Parents)}"
                    : "new root";
                o.WriteLine($"  mgit add {Path.GetRelativePath(result.Directory, step.Member.Path),-38} -> {step.Added.Version.Ref,-22} {lineage}; accuracy {Percent.Format(step.Member.TestAccuracy)}; stored in {LineageTree.Size(step.Added.StoredBytes)} of {LineageTree.Size(step.Added.LogicalBytes)}");
            }

            using var repository = Repository.Open(result.Directory, globals.Options(parse, context));
            o.WriteLine();
            o.WriteLine("$ mgit log");
            o.Write(LineageTree.Render(repository.Graph()));
            var stats = repository.Stats();
            o.WriteLine();
            o.WriteLine("$ mgit stats");
            o.WriteLine($"  {stats.Models} models, {stats.Versions} versions: {LineageTree.Size(stats.LogicalBytes)} of model files stored in {LineageTree.Size(stats.StoredBytes)} ({stats.Ratio:0.00}x: equal tensors stored once, derived ones as deltas)");
            o.WriteLine();
            o.WriteLine($"$ mgit checkout {result.CheckedOutRef} --output {Path.GetRelativePath(result.Directory, result.CheckedOutPath)}");
            o.WriteLine(result.CheckoutIdentical ? "  every file is byte-identical to the trained original" : "  MISMATCH: the checkout differs from the original");
            o.WriteLine();
            o.WriteLine($"Explore it: cd {result.Directory} && mgit status && mgit show penguin-sex");
            o.WriteLine();
            o.WriteLine("Run mgit right away from the source tree:  dotnet run --project src/MGit.Cli -- status");
            o.WriteLine("or install the command (once):  dotnet pack MGit.slnx -c Release -o nupkg && dotnet tool install --global MGit.Tool --add-source nupkg");
            o.WriteLine("  and put .NET tools on your PATH:  export PATH=\"$PATH:$HOME/.dotnet/tools\"");
            return result.CheckoutIdentical ? 0 : MGitCli.ExitFailure;
        });
        return command;
    }
}
