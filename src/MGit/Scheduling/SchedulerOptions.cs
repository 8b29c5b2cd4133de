using System.Globalization;
using System.Text.RegularExpressions;
using MGit.Errors;

namespace MGit.Scheduling;

/// <summary>
/// What a job asks its scheduler for. Every field is optional (the cluster's defaults apply);
/// <see cref="Over"/> layers them: the command line over a test's or recipe's own settings over
/// the repository's (<c>mgit config slurm.*</c>).
/// </summary>
public sealed partial record SchedulerOptions
{
    /// <summary>The partition (queue) to run in.</summary>
    public string? Partition { get; init; }
    /// <summary>Generic resources, e.g. <c>gpu:1</c>.</summary>
    public string? Gres { get; init; }
    /// <summary>The time limit in the scheduler's format: <c>MM</c>, <c>MM:SS</c>, <c>HH:MM:SS</c>, <c>D-HH[:MM[:SS]]</c>.</summary>
    public string? Time { get; init; }
    /// <summary>CPUs per job.</summary>
    public int? Cpus { get; init; }
    /// <summary>Memory per job, e.g. <c>4G</c>.</summary>
    public string? Mem { get; init; }
    /// <summary>The account charged.</summary>
    public string? Account { get; init; }
    /// <summary>Further scheduler arguments, passed as given, each one argument (no shell).</summary>
    public IReadOnlyList<string> ExtraArguments { get; init; } = [];

    /// <summary>No setting at all.</summary>
    public static readonly SchedulerOptions None = new();

    /// <summary>These settings where given, <paramref name="lower"/>'s elsewhere; extra arguments are the lower ones then these (a later one wins in sbatch).</summary>
    public SchedulerOptions Over(SchedulerOptions lower)
    {
        ArgumentNullException.ThrowIfNull(lower);
        return new SchedulerOptions
        {
            Partition = Partition ?? lower.Partition,
            Gres = Gres ?? lower.Gres,
            Time = Time ?? lower.Time,
            Cpus = Cpus ?? lower.Cpus,
            Mem = Mem ?? lower.Mem,
            Account = Account ?? lower.Account,
            ExtraArguments = [.. lower.ExtraArguments, .. ExtraArguments],
        };
    }

    /// <summary>The setting names, as <c>mgit config</c> keys take them after <c>slurm.</c>.</summary>
    public static readonly IReadOnlyList<string> SettingNames = ["partition", "gres", "time", "cpus", "mem", "account", "sbatch-args"];

    /// <summary>The settings found among <paramref name="values"/> under <paramref name="prefix"/> (e.g. <c>slurm.</c>), each checked.</summary>
    public static SchedulerOptions FromSettings(IReadOnlyDictionary<string, string> values, string prefix)
    {
        ArgumentNullException.ThrowIfNull(values);
        string? Get(string name) => values.TryGetValue(prefix + name, out string? value) ? value : null;
        var options = new SchedulerOptions
        {
            Partition = Get("partition"),
            Gres = Get("gres"),
            Time = Get("time"),
            Cpus = Get("cpus") is { } cpus ? ParseCpus(cpus, prefix + "cpus") : null,
            Mem = Get("mem"),
            Account = Get("account"),
            ExtraArguments = Get("sbatch-args") is { } extra ? SplitArguments(extra, prefix + "sbatch-args") : [],
        };
        return options.Validated(prefix);
    }

    /// <summary>Checks one setting's value (for <c>mgit config</c> before it stores it); <paramref name="key"/> is the whole key, ending in <paramref name="name"/>.</summary>
    public static void ValidateSetting(string name, string value, string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (!SettingNames.Contains(name))
        {
            throw new MGitException(ErrorKind.InvalidInput, $"unknown scheduler setting '{key}'; known: {string.Join(", ", SettingNames)}");
        }

        FromSettings(new Dictionary<string, string> { [key] = value }, key[..^name.Length]);
    }

    /// <summary>Each setting checked, so that a bad value is refused here, in one line, not by the scheduler after a submission.</summary>
    public SchedulerOptions Validated(string what = "--")
    {
        CheckWord(Partition, what + "partition");
        CheckWord(Gres, what + "gres");
        CheckWord(Account, what + "account");
        if (Time is not null && !TimePattern().IsMatch(Time))
        {
            throw new MGitException(ErrorKind.InvalidInput, $"{what}time '{Time}' is not a time limit: use MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS");
        }

        if (Mem is not null && !MemoryPattern().IsMatch(Mem))
        {
            throw new MGitException(ErrorKind.InvalidInput, $"{what}mem '{Mem}' is not an amount of memory: use a number with an optional K, M, G or T (e.g. 4G)");
        }

        if (Cpus is < 1 or > 100_000)
        {
            throw new MGitException(ErrorKind.InvalidInput, $"{what}cpus must be a whole number from 1, not {Cpus}");
        }

        foreach (string argument in ExtraArguments)
        {
            if (argument.Length == 0 || argument.Contains('\0', StringComparison.Ordinal) || !argument.StartsWith('-'))
            {
                throw new MGitException(ErrorKind.InvalidInput, $"{what}sbatch-arg '{argument}' must be an option (starting with '-'), e.g. --qos=high");
            }
        }

        return this;
    }

    /// <summary>Whether nothing is set.</summary>
    public bool IsEmpty => (Partition is null && Gres is null && Time is null && Cpus is null && Mem is null && Account is null && ExtraArguments.Count == 0);

    /// <summary>Equal settings, the extra arguments compared by value.</summary>
    public bool Equals(SchedulerOptions? other) =>
        other is not null && Partition == other.Partition && Gres == other.Gres && Time == other.Time && Cpus == other.Cpus
        && Mem == other.Mem && Account == other.Account && ExtraArguments.SequenceEqual(other.ExtraArguments, StringComparer.Ordinal);

    /// <summary>A hash that agrees with <see cref="Equals(SchedulerOptions?)"/>.</summary>
    public override int GetHashCode() => HashCode.Combine(Partition, Gres, Time, Cpus, Mem, Account, ExtraArguments.Count);

    private static int ParseCpus(string text, string key) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int cpus) && cpus >= 1
            ? cpus
            : throw new MGitException(ErrorKind.InvalidInput, $"{key} must be a whole number from 1, not '{text}'");

    /// <summary>Extra arguments kept in one setting, split as <c>sh</c> splits words (quotes and backslashes), never run by a shell.</summary>
    public static IReadOnlyList<string> SplitArguments(string text, string key)
    {
        var words = Execution.CommandTemplate.Parse(text.Replace("{", "{{", StringComparison.Ordinal).Replace("}", "}}", StringComparison.Ordinal), key, _ => null);
        return words.Expand(_ => []);
    }

    private static void CheckWord(string? value, string key)
    {
        if (value is not null && (value.Length == 0 || value.Length > 200 || value.Any(c => char.IsWhiteSpace(c) || char.IsControl(c))))
        {
            throw new MGitException(ErrorKind.InvalidInput, $"{key} must be one word without spaces, not '{value}'");
        }
    }

    [GeneratedRegex(@"^(\d+|\d+:\d{1,2}|\d+:\d{1,2}:\d{1,2}|\d+-\d+|\d+-\d+:\d{1,2}|\d+-\d+:\d{1,2}:\d{1,2}|UNLIMITED|INFINITE|unlimited|infinite)$")]
    private static partial Regex TimePattern();

    [GeneratedRegex(@"^\d+[KMGTkmgt]?$")]
    private static partial Regex MemoryPattern();
}
