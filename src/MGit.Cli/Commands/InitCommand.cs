using System.CommandLine;

namespace MGit.Cli.Commands;

public static class InitCommand
{
    public static Command Build(GlobalOptions globals, CliContext context)
    {
        var directory = new Argument<string?>("DIR") { Description = "Folder to make a repository in [default: the current folder]", Arity = ArgumentArity.ZeroOrOne };
        var command = new Command("init", "Create an empty repository (DIR/.mgit)") { directory };
        command.SetAction(parse =>
        {
            // -C means "run as if started in DIR", as in git: DIR (when given) is taken from there.
            string target = context.ResolvePath(Path.Combine(parse.GetValue(globals.Repo) ?? ".", parse.GetValue(directory) ?? "."));
            using var repository = Repository.Init(target, globals.Options(parse, context));
            GlobalOptions.Say(parse, globals, context, $"Initialized empty mgit repository in {repository.MetadataDirectory}");
            return 0;
        });
        return command;
    }
}
