using System.CommandLine;
using System.CommandLine.Parsing;
using MGit.Cli.Commands;
using MGit.Cli.Rendering;
using MGit.Errors;
using MGit.Primitives;
using MGit.Remotes.S3;
using MGit.Workspace;

namespace MGit.Cli;

/// <summary>Builds the command tree and owns the one error path to the user.</summary>
public static class MGitCli
{
    /// <summary>The command failed: every error the user can act on but those below.</summary>
    public const int ExitFailure = 1;

    /// <summary>The command line itself is wrong (an unknown option, a missing argument).</summary>
    public const int ExitUsage = 2;

    /// <summary>A bug in mgit (sysexits.h EX_SOFTWARE).</summary>
    public const int ExitInternal = 70;

    /// <summary>Another process holds a lock the command needed; the same command may succeed later (sysexits.h EX_TEMPFAIL).</summary>
    public const int ExitTryAgain = 75;

    public static int Run(string[] args, CliContext context)
    {
        // The library opens file:// remotes itself; the tool brings S3 (a separate package).
        S3Remote.Register();
        var globals = new GlobalOptions();
        var root = new RootCommand("mgit: version control for families of machine-learning models");
        root.Options.Add(globals.Repo);
        root.Options.Add(globals.Quiet);
        foreach (var command in AllCommands(globals, context))
        {
            root.Subcommands.Add(command);
        }

        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            string command = parse.CommandResult.Command == root ? "mgit" : $"mgit {parse.CommandResult.Command.Name}";
            context.Error.WriteLine($"mgit: {OneLine(parse.Errors[0].Message)} (see '{command} --help')");
            return ExitUsage;
        }

        if (OptionTakenAsArgument(parse) is { } unknown)
        {
            context.Error.WriteLine($"mgit: unknown option '{unknown}' for 'mgit {parse.CommandResult.Command.Name}' (see 'mgit {parse.CommandResult.Command.Name} --help'; put '--' before a name that starts with '-')");
            return ExitUsage;
        }

        try
        {
            return parse.Invoke(new InvocationConfiguration
            {
                Output = context.Out,
                Error = context.Error,
                EnableDefaultExceptionHandler = false,
                // Ctrl-C is ours (see Interruption): a command ends when it has cleaned up, not at a timeout.
                ProcessTerminationTimeout = null,
            });
        }
        catch (Exception e) when (context.Interruption.Requested)
        {
            // Whatever the command was doing when it was asked to stop, that is why it ended.
            context.Error.WriteLine("mgit: cancelled");
            if (context.Environment("MGIT_TRACE") == "1")
            {
                context.Error.WriteLine(e.ToString());
            }

            return context.Interruption.ExitCode;
        }
        catch (Exception e)
        {
            return Fail(context, e);
        }
    }

    private static IEnumerable<Command> AllCommands(GlobalOptions globals, CliContext context) =>
    [
        InitCommand.Build(globals, context),
        AddCommand.Build(globals, context),
        CheckoutCommand.Build(globals, context),
        ListCommand.Build(globals, context),
        ShowCommand.Build(globals, context),
        TagCommand.Build(globals, context),
        ReparentCommand.Build(globals, context),
        LogCommand.Build(globals, context),
        GraphCommand.Build(globals, context),
        StatsCommand.Build(globals, context),
        RemoveCommand.Build(globals, context),
        GcCommand.Build(globals, context),
        FsckCommand.Build(globals, context),
        QuickstartCommand.Build(globals, context),
        TestCommands.Build(globals, context),
        BisectCommand.Build(globals, context),
        RecipeCommands.Build(globals, context),
        CascadeCommand.Build(globals, context),
        CascadeCommand.BuildStep(globals, context),
        ConfigCommand.Build(globals, context),
        RemoteCommand.Build(globals, context),
        PushCommand.Build(globals, context),
        PullCommand.Build(globals, context),
        CloneCommand.Build(globals, context),
        DiffCommand.Build(globals, context),
        InferCommand.Build(globals, context),
        StatusCommand.Build(globals, context),
        ServeCommand.Build(globals, context),
    ];

    /// <summary>One line on stderr, a non-zero exit; the stack trace only with MGIT_TRACE=1.</summary>
    public static int Fail(CliContext context, Exception e)
    {
        // Parallel work (fsck, checkout, transfers) wraps what failed inside it: report the first.
        while (e is AggregateException { InnerExceptions.Count: > 0 } aggregate)
        {
            e = aggregate.InnerExceptions[0];
        }

        bool trace = context.Environment("MGIT_TRACE") == "1";
        string message = e is MGitException or IOException or UnauthorizedAccessException
            ? e.Message
            : $"internal error ({e.GetType().Name}): {e.Message}";
        context.Error.WriteLine($"mgit: {OneLine(message)}");
        if (trace)
        {
            context.Error.WriteLine(e.ToString());
        }

        return ExitCodeOf(e);
    }

    /// <summary>
    /// The exit code of an error, by its kind (README, "Exit codes"). Every kind the user can act
    /// on is 1, as it always was, but a lock held elsewhere: a script may simply try that again.
    /// File-system errors the library passes through are the user's to act on too.
    /// </summary>
    public static int ExitCodeOf(Exception e) => e switch
    {
        MGitException { Kind: ErrorKind.Locked } => ExitTryAgain,
        MGitException { Kind: ErrorKind.Internal } => ExitInternal,
        MGitException or IOException or UnauthorizedAccessException => ExitFailure,
        _ => ExitInternal,
    };

    /// <summary>
    /// An option-looking word the parser bound to a positional argument (`mgit log --json` took
    /// "--json" as a model name): unknown options are errors, never names. Words after "--" and
    /// negative numbers are values.
    /// </summary>
    private static string? OptionTakenAsArgument(ParseResult parse)
    {
        int doubleDash = parse.Tokens.ToList().FindIndex(t => t.Type == TokenType.DoubleDash);
        var escaped = parse.Tokens.Skip(doubleDash < 0 ? parse.Tokens.Count : doubleDash + 1).ToHashSet(ReferenceEqualityComparer.Instance);
        foreach (var child in parse.CommandResult.Children)
        {
            if (child is not ArgumentResult argument)
            {
                continue;
            }

            foreach (var token in argument.Tokens)
            {
                if (token.Value.Length > 1 && token.Value[0] == '-' && !escaped.Contains(token)
                    && !double.TryParse(token.Value, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out _))
                {
                    return token.Value;
                }
            }
        }

        return null;
    }

    private static string OneLine(string text) =>
        string.Join(' ', text.ReplaceLineEndings("\n").Split(['\n', '\t'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
}

/// <summary>Options every command accepts.</summary>
public sealed class GlobalOptions
{
    public Option<string?> Repo { get; } = new("--repo", "-C")
    {
        Description = "Repository folder (default: the current folder or the nearest one above it with .mgit)",
        Recursive = true,
    };

    public Option<bool> Quiet { get; } = new("--quiet", "-q")
    {
        Description = "No progress and no chatter; only the requested output",
        Recursive = true,
    };

    public Repository OpenRepository(ParseResult parse, CliContext context) =>
        Repository.Open(RepositoryPath(parse, context), Options(parse, context));

    /// <summary>The folder the command works in (-C, or the current one); the repository is it or the nearest one above it.</summary>
    public string RepositoryPath(ParseResult parse, CliContext context) => context.ResolvePath(parse.GetValue(Repo) ?? ".");

    public RepositoryOptions Options(ParseResult parse, CliContext context) => new()
    {
        Progress = !parse.GetValue(Quiet) && context.ErrorIsTerminal ? new TerminalProgress(context.Error) : NoProgress.Instance,
        FlushToDisk = context.Environment("MGIT_FSYNC") != "0",
        Environment = context.Environment,
        Workers = (int?)WholeNumber(context, "MGIT_WORKERS", 1, 256) ?? new RepositoryOptions().Workers,
        CheckoutCacheBytes = WholeNumber(context, "MGIT_CHECKOUT_CACHE_MB", 0, 1L << 30) << 20 ?? new RepositoryOptions().CheckoutCacheBytes,
        LineageSegmentsPerCheckpoint = (int?)WholeNumber(context, "MGIT_LINEAGE_SEGMENTS", 1, 4096) ?? RepositoryOptions.DefaultLineageSegmentsPerCheckpoint,
        PlacementCandidates = (int?)WholeNumber(context, "MGIT_PLACEMENT_CANDIDATES", 0, 1_000_000) ?? RepositoryOptions.DefaultPlacementCandidates,
        DirectWriteMinBytes = context.Environment("MGIT_DIRECT_IO") switch
        {
            "0" => long.MaxValue,
            "1" => 0,
            _ => RepositoryOptions.DefaultDirectWriteMinBytes,
        },
    };

    /// <summary>An environment setting that is a whole number from <paramref name="min"/> to <paramref name="max"/>; null when unset or anything else.</summary>
    private static long? WholeNumber(CliContext context, string name, long min, long max) =>
        long.TryParse(context.Environment(name), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out long value) && value >= min && value <= max
            ? value
            : null;

    /// <summary>Chatter goes to stderr so stdout stays machine-readable; -q silences it.</summary>
    public static void Say(ParseResult parse, GlobalOptions globals, CliContext context, string line)
    {
        if (!parse.GetValue(globals.Quiet))
        {
            context.Error.WriteLine(line);
        }
    }
}
