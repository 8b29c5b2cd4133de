using System.CommandLine;
using System.Text.Json.Nodes;
using MGit.Cli.Rendering;
using MGit.Errors;

namespace MGit.Cli.Commands;

/// <summary><c>mgit config [KEY [VALUE]] [--unset KEY] [--json]</c>: the repository's local settings.</summary>
public static class ConfigCommand
{
    public static Command Build(GlobalOptions globals, CliContext context)
    {
        var key = new Argument<string?>("KEY") { Description = "executor, slurm.SETTING, slurm.mgit, test.NAME.slurm.SETTING or recipe.MODEL.slurm.SETTING", Arity = ArgumentArity.ZeroOrOne };
        var value = new Argument<string?>("VALUE") { Description = "The value to set", Arity = ArgumentArity.ZeroOrOne };
        var unset = new Option<bool>("--unset") { Description = "Remove KEY" };
        var json = new Option<bool>("--json") { Description = "Print the settings as a JSON object" };
        var command = new Command("config", "Show or change the repository's local settings (.mgit/config.json; never pushed)") { key, value, unset, json };
        command.SetAction(parse =>
        {
            string? name = parse.GetValue(key);
            string? given = parse.GetValue(value);
            using var repository = globals.OpenRepository(parse, context);
            var config = repository.Config();
            if (parse.GetValue(unset))
            {
                if (name is null || given is not null)
                {
                    throw new MGitException(ErrorKind.InvalidInput, "--unset takes one KEY: mgit config --unset KEY");
                }

                if (!config.Unset(name))
                {
                    throw new MGitException(ErrorKind.NotFound, $"{name} is not set");
                }

                return 0;
            }

            if (name is not null && given is not null)
            {
                config.Set(name, given);
                return 0;
            }

            if (name is not null)
            {
                var found = config.Get(name) ?? throw new MGitException(ErrorKind.NotFound, $"{name} is not set");
                if (parse.GetValue(json))
                {
                    Json.Write(context.Out, new JsonObject { [name] = found });
                }
                else
                {
                    context.Out.WriteLine(found);
                }

                return 0;
            }

            if (parse.GetValue(json))
            {
                var all = new JsonObject();
                foreach (var (k, v) in config.Values)
                {
                    all[k] = v;
                }

                Json.Write(context.Out, all);
            }
            else
            {
                context.Out.Write(config.ToString());
            }

            return 0;
        });
        return command;
    }
}
