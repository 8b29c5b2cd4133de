using MGit.Cli;

using var interruption = Interruption.FromSignals();
return MGitCli.Run(args, CliContext.FromConsole(interruption));
