using System.CommandLine;

namespace MGit.Cli.Commands;

public static class CheckoutCommand
{
    public static Command Build(GlobalOptions globals, CliContext context)
    {
        var reference = new Argument<string>("REF") { Description = "NAME or NAME@VERSION" };
        var output = new Option<string>("--output", "-o") { Description = "Where to write the file or folder", Required = true };
        var force = new Option<bool>("--force", "-f") { Description = "Overwrite an existing file, or write into a non-empty folder" };
        var command = new Command("checkout", "Write a stored model back out, byte for byte") { reference, output, force };
        command.SetAction(parse =>
        {
            using var repository = globals.OpenRepository(parse, context);
            // Resolve once: a NAME could gain a new version from another process between two look-ups.
            var version = repository.Resolve(parse.GetValue(reference)!);
            string written = repository.Checkout(version.Ref, context.ResolvePath(parse.GetValue(output)!), parse.GetValue(force));
            GlobalOptions.Say(parse, globals, context, $"checked out {version.Ref} to {written}");
            return 0;
        });
        return command;
    }
}
