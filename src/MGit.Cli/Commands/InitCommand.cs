using System.CommandLine;

namespace MGit.Cli.Commands;

public static class InitCommand
{
    public static Command Build(GlobalOptions globals, CliContext context)
    {
        var directory = new Argument<string?>("DIR") { Description = "Folder to make a repository in (default: the current folder)", Arity = ArgumentArity.ZeroOrOne };
        var command = new Command("init", "Create an empty repository (DIR/.mgit)") { directory };
        command.SetAction(parse =>
        {
            string target = context.ResolvePath(parse.GetValue(directory) ?? parse.GetValue(globals.Repo) ?? ".");
            using var repository = Repository.Init(target, globals.Options(parse, context));
            GlobalOptions.Say(parse, globals, context, $"Initialized empty mgit repository in {repository.MetadataDirectory}");
            return 0;
        });
        return command;
    }
}
