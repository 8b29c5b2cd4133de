using System.CommandLine;

namespace MGit.Cli.Commands;

public static class CheckoutCommand
{
    public static Command Build(GlobalOptions globals, CliContext context)
    {
        var references = new Argument<string[]>("REF")
        {
            Description = "NAME or NAME@VERSION; with several, each goes to OUTPUT/NAME@VERSION",
            Arity = ArgumentArity.OneOrMore,
        };
        var output = new Option<string>("--output", "-o") { Description = "Where to write the file or folder (with several REFs, the folder that takes them)", Required = true };
        var force = new Option<bool>("--force", "-f") { Description = "Overwrite an existing file, or write into a non-empty folder" };
        var command = new Command("checkout", "Write stored models back out, byte for byte") { references, output, force };
        command.SetAction(parse =>
        {
            using var repository = globals.OpenRepository(parse, context);
            string[] named = parse.GetValue(references)!;
            string target = context.ResolvePath(parse.GetValue(output)!);
            if (named.Length > 1)
            {
                foreach (var (reference, path) in repository.Checkout(named, target, parse.GetValue(force), context.Cancellation))
                {
                    GlobalOptions.Say(parse, globals, context, $"checked out {reference} to {path}");
                }

                return 0;
            }

            // Resolve once: a NAME could gain a new version from another process between two look-ups.
            var version = repository.Resolve(named[0]);
            string written = repository.Checkout(version.Ref, target, parse.GetValue(force), context.Cancellation);
            GlobalOptions.Say(parse, globals, context, $"checked out {version.Ref} to {written}");
            return 0;
        });
        return command;
    }
}
