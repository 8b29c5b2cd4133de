using MGit.Errors;

namespace MGit.Scheduling;

/// <summary>
/// The schedulers mgit can hand work to, by <c>--executor</c> name. <c>local</c> is not among them:
/// it is mgit running the work itself. A new scheduler is one <see cref="IJobScheduler"/> class
/// and one line here.
/// </summary>
public static class JobSchedulers
{
    /// <summary>The executor that runs work in this process (the default).</summary>
    public const string Local = "local";

    private static readonly Dictionary<string, Func<IJobScheduler>> Known = new(StringComparer.Ordinal)
    {
        ["slurm"] = () => new SlurmScheduler(),
    };

    /// <summary>Every executor name: local and each scheduler.</summary>
    public static IReadOnlyList<string> Names => [Local, .. Known.Keys];

    /// <summary>The scheduler of that name, or null for <c>local</c>; an unknown name is an error.</summary>
    public static IJobScheduler? Create(string name) =>
        name == Local ? null
        : Known.TryGetValue(name, out var create) ? create()
        : throw new MGitException(ErrorKind.InvalidInput, $"unknown executor '{name}'; use one of: {string.Join(", ", Names)}");
}
