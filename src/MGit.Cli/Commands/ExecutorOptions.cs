using System.CommandLine;
using MGit.Errors;
using MGit.Scheduling;

namespace MGit.Cli.Commands;

/// <summary>
/// <c>--executor</c> and the scheduler options that <c>test run</c> and <c>cascade</c> share. The
/// command line wins over a test's or recipe's settings, which win over the repository's
/// (<c>mgit config</c>).
/// </summary>
public sealed class ExecutorOptions
{
    public Option<string?> Executor { get; } = new("--executor") { Description = $"Where the work runs: {string.Join(" or ", JobSchedulers.Names)} [default: mgit config executor, else local]" };
    public Option<string?> Partition { get; } = new("--partition") { Description = "Scheduler partition (queue) for every job" };
    public Option<string?> Gres { get; } = new("--gres") { Description = "Generic resources per job, e.g. gpu:1" };
    public Option<string?> Time { get; } = new("--time") { Description = "Scheduler time limit per job: MM, MM:SS, HH:MM:SS or D-HH:MM:SS" };
    public Option<int?> Cpus { get; } = new("--cpus") { Description = "CPUs per job" };
    public Option<string?> Mem { get; } = new("--mem") { Description = "Memory per job, e.g. 4G" };
    public Option<string?> Account { get; } = new("--account") { Description = "Account charged for the jobs" };
    public Option<string[]> SbatchArguments { get; } = new("--sbatch-arg") { Description = "A further sbatch option, one argument (repeatable), e.g. --sbatch-arg=--qos=high", AllowMultipleArgumentsPerToken = false };

    public void AddTo(Command command)
    {
        command.Options.Add(Executor);
        command.Options.Add(Partition);
        command.Options.Add(Gres);
        command.Options.Add(Time);
        command.Options.Add(Cpus);
        command.Options.Add(Mem);
        command.Options.Add(Account);
        command.Options.Add(SbatchArguments);
    }

    /// <summary>Where the work runs: null for this process, or the cluster settings (checked here, before anything is submitted).</summary>
    public ClusterOptions? Resolve(ParseResult parse, Repository repository, bool wait)
    {
        var config = repository.Config();
        string executor = parse.GetValue(Executor) ?? config.Executor;
        var scheduler = JobSchedulers.Create(executor);
        var given = new SchedulerOptions
        {
            Partition = parse.GetValue(Partition),
            Gres = parse.GetValue(Gres),
            Time = parse.GetValue(Time),
            Cpus = parse.GetValue(Cpus),
            Mem = parse.GetValue(Mem),
            Account = parse.GetValue(Account),
            ExtraArguments = parse.GetValue(SbatchArguments) ?? [],
        }.Validated();
        if (scheduler is null)
        {
            if (!given.IsEmpty)
            {
                throw new MGitException(ErrorKind.InvalidInput, "--partition, --gres, --time, --cpus, --mem, --account and --sbatch-arg are for a cluster executor; add --executor slurm");
            }

            return null;
        }

        return new ClusterOptions
        {
            Scheduler = scheduler,
            Options = given,
            MgitCommand = config.Get($"{scheduler.Name}.mgit") is { } command ? SchedulerOptions.SplitArguments(command, $"{scheduler.Name}.mgit") : CurrentMgit(),
            Wait = wait,
        };
    }

    /// <summary>
    /// How a job starts this same mgit: the native or apphost executable when that is what runs,
    /// else <c>dotnet mgit.dll</c> beside this assembly (a tool installed with dotnet, a test host).
    /// On a cluster it must be on the shared filesystem; <c>mgit config slurm.mgit</c> says otherwise.
    /// </summary>
    public static IReadOnlyList<string> CurrentMgit()
    {
        string? process = Environment.ProcessPath;
        if (process is not null && Path.GetFileNameWithoutExtension(process).Equals("mgit", StringComparison.OrdinalIgnoreCase))
        {
            return [process];
        }

        string folder = AppContext.BaseDirectory;
        string apphost = Path.Combine(folder, OperatingSystem.IsWindows() ? "mgit.exe" : "mgit");
        if (File.Exists(apphost))
        {
            return [apphost];
        }

        string dll = Path.Combine(folder, "mgit.dll");
        return File.Exists(dll) && process is not null
            ? [process, dll]
            : throw new MGitException(ErrorKind.Unsupported, "cannot tell how a job should start mgit; set it: mgit config slurm.mgit '/shared/path/to/mgit'");
    }
}
