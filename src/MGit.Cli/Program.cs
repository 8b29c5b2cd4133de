using MGit.Cli;

return MGitCli.Run(args, CliContext.FromConsole());
