using System.Diagnostics;
using MGit.Tests.TestSupport;

namespace MGit.Tests.Scheduling;

/// <summary>
/// A test that needs a real Slurm cluster: Debian's slurm-wlm and munge, which .ci/run installs,
/// and root to start the daemons. Elsewhere it is skipped with the reason; under CI (CI set) it
/// runs and fails if Slurm is missing, so CI never passes without the cluster tests.
/// </summary>
public sealed class SlurmFactAttribute : FactAttribute
{
    public SlurmFactAttribute()
    {
        if (Environment.GetEnvironmentVariable("CI") is null && SlurmCluster.MissingBecause() is { } why)
        {
            Skip = why;
        }
    }
}

[CollectionDefinition(Name)]
public sealed class SlurmTests : ICollectionFixture<SlurmCluster>
{
    public const string Name = "slurm";
}

/// <summary>
/// A real single-node Slurm cluster for the tests of one run: <c>tests/slurm/cluster.sh</c>
/// generates its slurm.conf in a temporary folder and starts munged, slurmctld and slurmd; the
/// fixture points every Slurm client of this process (and of the jobs' mgit) at it through
/// <c>SLURM_CONF</c>, and stops the daemons by their process ids at the end.
/// </summary>
public sealed class SlurmCluster : IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly string? _previousConf = Environment.GetEnvironmentVariable("SLURM_CONF");
    private readonly bool _started;

    public SlurmCluster()
    {
        if (MissingBecause() is { } why)
        {
            // Under CI the [SlurmFact] tests run anyway and fail here, saying what is missing.
            StartError = why;
            return;
        }

        var start = Run("start");
        if (start.ExitCode != 0)
        {
            StartError = $"tests/slurm/cluster.sh start failed: {start.Output}";
            return;
        }

        _started = true;
        Environment.SetEnvironmentVariable("SLURM_CONF", Path.Combine(Folder, "slurm.conf"));
    }

    /// <summary>The cluster's folder (slurm.conf, logs, state).</summary>
    public string Folder => _dir.Path;

    public string? StartError { get; }

    /// <summary>Fails the test with the reason when the cluster did not start.</summary>
    public void Require()
    {
        if (StartError is not null)
        {
            throw new InvalidOperationException($"no Slurm cluster: {StartError}");
        }
    }

    /// <summary>Ids of jobs the cluster still has queued or running.</summary>
    public IReadOnlyList<string> ActiveJobs()
    {
        Require();
        var (code, output) = Tool("squeue", "--noheader", "--format=%i|%T");
        Assert.Equal(0, code);
        return output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(l => l.Split('|')[0]).ToList();
    }

    /// <summary>A Slurm client's exit code and output.</summary>
    public static (int ExitCode, string Output) Tool(string program, params string[] args)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        string output = process.StandardOutput.ReadToEnd() + process.StandardError.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, output);
    }

    /// <summary>Why no cluster can be started here, or null when one can.</summary>
    public static string? MissingBecause()
    {
        if (!OperatingSystem.IsLinux())
        {
            return "needs Linux for a Slurm cluster";
        }

        if (Environment.UserName != "root")
        {
            return "needs root to start munged, slurmctld and slurmd (CI runs it)";
        }

        foreach (string tool in new[] { "munged", "slurmctld", "slurmd", "sbatch" })
        {
            if (!(Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Any(dir => File.Exists(Path.Combine(dir, tool)) || File.Exists(Path.Combine("/usr/sbin", tool))))
            {
                return $"{tool} is not installed: apt-get install slurm-wlm munge (.ci/run does)";
            }
        }

        return null;
    }

    private (int ExitCode, string Output) Run(string verb) =>
        Tool("bash", Path.Combine(RepositoryRoot(), "tests", "slurm", "cluster.sh"), verb, Folder);

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "MGit.slnx")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("cannot find the repository root (MGit.slnx) above " + AppContext.BaseDirectory);
    }

    public void Dispose()
    {
        if (_started)
        {
            Run("stop");
            Environment.SetEnvironmentVariable("SLURM_CONF", _previousConf);
        }

        _dir.Dispose();
    }
}
