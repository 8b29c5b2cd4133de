using System.CommandLine;
using MGit.Errors;

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
        var output = new Option<string?>("--output", "-o") { Description = "Where to write the file or folder (with several REFs, the folder that takes them) [default: ./FILE as it was added, or ./NAME for a folder model]" };
        var force = new Option<bool>("--force", "-f") { Description = "Overwrite an existing file, or write into a non-empty folder" };
        var link = new Option<bool>("--link") { Description = "Link the cached checkout instead of writing the bytes again: a reflink where the file system has them, else a read-only hard link (one REF)" };
        var command = new Command("checkout", "Write stored models back out, byte for byte") { references, output, force, link };
        command.SetAction(parse =>
        {
            using var repository = globals.OpenRepository(parse, context);
            string[] named = parse.GetValue(references)!;
            string? given = parse.GetValue(output);
            if (named.Length > 1)
            {
                if (parse.GetValue(link))
                {
                    throw new MGitException(ErrorKind.InvalidInput, "--link checks out one model at a time");
                }

                string target = context.ResolvePath(given ?? ".");
                foreach (var (reference, path) in repository.Checkout(named, target, parse.GetValue(force), context.Cancellation))
                {
                    GlobalOptions.Say(parse, globals, context, $"checked out {reference} to {path}");
                }

                return 0;
            }

            // Resolve once: a NAME could gain a new version from another process between two look-ups.
            var version = repository.Resolve(named[0]);
            string destination = given is null ? repository.DefaultCheckoutPath(version.Ref, context.WorkingDirectory) : context.ResolvePath(given);
            if (parse.GetValue(link))
            {
                var linked = repository.CheckoutLinked(version.Ref, destination, parse.GetValue(force), context.Cancellation);
                GlobalOptions.Say(parse, globals, context, linked.Method == "copy"
                    ? $"checked out {version.Ref} to {linked.Path} (copied: this file system cannot link to the repository's cache)"
                    : $"linked {version.Ref} to {linked.Path} ({linked.Method}{(linked.Method == "hardlink" ? ", read-only" : "")})");
                return 0;
            }

            string written = repository.Checkout(version.Ref, destination, parse.GetValue(force), context.Cancellation);
            GlobalOptions.Say(parse, globals, context, $"checked out {version.Ref} to {written}");
            return 0;
        });
        return command;
    }
}
