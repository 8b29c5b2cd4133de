using System.CommandLine;

namespace MGit.Cli.Commands;

public static class QuickstartCommand
{
    public static Command Build(GlobalOptions globals, CliContext context)
    {
        var command = new Command("quickstart", "Train a small real model family, add it, and show what mgit does");
        command.SetAction(_ => 0);
        return command;
    }
}
