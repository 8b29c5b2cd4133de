using System.Globalization;
using System.Text;
using MGit.Errors;

namespace MGit.Scheduling;

/// <summary>
/// Slurm through its client tools: <c>sbatch</c> submits a generated script (the job's command,
/// every argument quoted for sh) with <c>--dependency=afterok:...</c> and
/// <c>--kill-on-invalid-dep=yes</c>, so a job whose parent failed is cancelled by Slurm instead of
/// waiting for ever; <c>squeue</c> and <c>scontrol</c> report states (<c>sacct</c> once a job has
/// left the controller's memory, where accounting is on); <c>scancel</c> cancels. The tools find
/// the cluster as they always do (<c>SLURM_CONF</c>, /etc/slurm).
/// </summary>
public sealed class SlurmScheduler : IJobScheduler
{
    /// <inheritdoc/>
    public string Name => "slurm";

    /// <summary>The sbatch argument list for <paramref name="job"/> and its script file (everything but running it; tests read it).</summary>
    public static IReadOnlyList<string> SubmitArguments(ClusterJob job, string scriptPath)
    {
        ArgumentNullException.ThrowIfNull(job);
        var options = job.Options.Validated();
        var arguments = new List<string>
        {
            "sbatch", "--parsable",
            $"--job-name={job.Name}",
            $"--output={job.LogPath}",
            $"--chdir={job.WorkingDirectory}",
        };
        if (job.After.Count > 0)
        {
            arguments.Add($"--dependency=afterok:{string.Join(':', job.After)}");
            arguments.Add("--kill-on-invalid-dep=yes");
        }

        AddIf(arguments, "--partition=", options.Partition);
        AddIf(arguments, "--gres=", options.Gres);
        AddIf(arguments, "--time=", options.Time);
        AddIf(arguments, "--cpus-per-task=", options.Cpus?.ToString(CultureInfo.InvariantCulture));
        AddIf(arguments, "--mem=", options.Mem);
        AddIf(arguments, "--account=", options.Account);
        arguments.AddRange(options.ExtraArguments);
        arguments.Add(scriptPath);
        return arguments;
    }

    /// <inheritdoc/>
    public string Submit(ClusterJob job)
    {
        ArgumentNullException.ThrowIfNull(job);
        Directory.CreateDirectory(Path.GetDirectoryName(job.LogPath)!);
        string script = Path.ChangeExtension(job.LogPath, ".sbatch");
        File.WriteAllText(script, ShellScript.Exec(job.Command, $"{job.Name}: written by mgit; sbatch runs it (see {Path.GetFileName(job.LogPath)})"), new UTF8Encoding(false));
        var result = ToolProcess.Run(SubmitArguments(job, script));
        string id = result.Output.Trim().Split(';')[0];
        if (result.ExitCode != 0 || id.Length == 0 || !id.All(char.IsAsciiDigit))
        {
            throw new MGitException(ErrorKind.Failed, $"sbatch refused {job.Name}: {result.FirstErrorLine}");
        }

        return id;
    }

    /// <inheritdoc/>
    public IReadOnlyDictionary<string, ClusterJobState> Query(IReadOnlyCollection<string> jobIds)
    {
        ArgumentNullException.ThrowIfNull(jobIds);
        var states = new Dictionary<string, ClusterJobState>(StringComparer.Ordinal);
        if (jobIds.Count == 0)
        {
            return states;
        }

        // squeue answers for every job still in the controller's memory (MinJobAge after it ended), in one call.
        var queue = ToolProcess.Run(["squeue", "--noheader", "--states=all", $"--jobs={string.Join(',', jobIds)}", "--format=%i|%T|%r|%M"]);
        if (queue.ExitCode != 0 && !queue.Error.Contains("Invalid job id", StringComparison.OrdinalIgnoreCase))
        {
            throw new MGitException(ErrorKind.Failed, $"squeue failed: {queue.FirstErrorLine}");
        }

        foreach (string line in queue.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            string[] fields = line.Split('|');
            if (fields.Length >= 4 && jobIds.Contains(fields[0]))
            {
                var phase = PhaseOf(fields[1]);
                states[fields[0]] = new ClusterJobState(fields[0], phase, fields[1], fields[2], null, ParseDuration(fields[3]));
            }
        }

        // An ended job's exit code is only in scontrol's (or sacct's) answer.
        foreach (var ended in states.Values.Where(s => s.Ended).ToList())
        {
            if (ShowJob(ended.JobId) is { } shown)
            {
                states[ended.JobId] = shown;
            }
        }

        var unknown = jobIds.Where(id => !states.ContainsKey(id)).ToList();
        if (unknown.Count > 0)
        {
            foreach (var accounted in Accounting(unknown))
            {
                states[accounted.JobId] = accounted;
            }
        }

        return states;
    }

    /// <inheritdoc/>
    public void Cancel(IReadOnlyCollection<string> jobIds)
    {
        ArgumentNullException.ThrowIfNull(jobIds);
        if (jobIds.Count == 0)
        {
            return;
        }

        var result = ToolProcess.Run(["scancel", .. jobIds]);
        if (result.ExitCode != 0 && !result.Error.Contains("Invalid job id", StringComparison.OrdinalIgnoreCase) && !result.Error.Contains("already completing or completed", StringComparison.OrdinalIgnoreCase))
        {
            throw new MGitException(ErrorKind.Failed, $"scancel failed: {result.FirstErrorLine}");
        }
    }

    /// <summary>What mgit makes of a Slurm job state (the base word; "CANCELLED by 0" is CANCELLED).</summary>
    public static JobPhase PhaseOf(string state)
    {
        ArgumentNullException.ThrowIfNull(state);
        string word = state.Split(' ', 2)[0].TrimEnd('+');
        return word switch
        {
            "COMPLETED" => JobPhase.Succeeded,
            "CANCELLED" => JobPhase.Cancelled,
            "FAILED" or "SPECIAL_EXIT" or "REVOKED" => JobPhase.Failed,
            "TIMEOUT" or "NODE_FAIL" or "PREEMPTED" or "OUT_OF_MEMORY" or "BOOT_FAIL" or "DEADLINE" => JobPhase.Killed,
            "RUNNING" or "COMPLETING" or "STAGE_OUT" or "SIGNALING" or "SUSPENDED" or "STOPPED" or "RESV_DEL_HOLD" => JobPhase.Running,
            _ => JobPhase.Pending, // PENDING, CONFIGURING, REQUEUED, REQUEUE_HOLD, REQUEUE_FED, RESIZING
        };
    }

    /// <summary>Reads <c>scontrol -o show job ID</c>: one line of KEY=VALUE pairs.</summary>
    private static ClusterJobState? ShowJob(string jobId)
    {
        var result = ToolProcess.Run(["scontrol", "--oneliner", "show", "job", jobId]);
        return result.ExitCode == 0 ? ParseShowJob(result.Output) : null;
    }

    /// <summary>The state in one line of <c>scontrol -o show job</c>.</summary>
    public static ClusterJobState? ParseShowJob(string line)
    {
        ArgumentNullException.ThrowIfNull(line);
        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string pair in line.Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            int equals = pair.IndexOf('=', StringComparison.Ordinal);
            if (equals > 0)
            {
                fields.TryAdd(pair[..equals], pair[(equals + 1)..]);
            }
        }

        if (!fields.TryGetValue("JobId", out string? id) || !fields.TryGetValue("JobState", out string? state))
        {
            return null;
        }

        return new ClusterJobState(id, PhaseOf(state), state, fields.GetValueOrDefault("Reason"), ParseExitCode(fields.GetValueOrDefault("ExitCode")), ParseDuration(fields.GetValueOrDefault("RunTime")));
    }

    /// <summary>Jobs the controller forgot, from accounting (absent where accounting is off).</summary>
    private static IEnumerable<ClusterJobState> Accounting(IReadOnlyList<string> jobIds)
    {
        var result = ToolProcess.Run(["sacct", "--noheader", "--parsable2", "--allocations", $"--jobs={string.Join(',', jobIds)}", "--format=JobID,State,ExitCode,ElapsedRaw,Reason"]);
        if (result.ExitCode != 0)
        {
            yield break;
        }

        foreach (string line in result.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            string[] fields = line.Split('|');
            if (fields.Length >= 5 && jobIds.Contains(fields[0]))
            {
                TimeSpan? elapsed = long.TryParse(fields[3], NumberStyles.None, CultureInfo.InvariantCulture, out long seconds) ? TimeSpan.FromSeconds(seconds) : null;
                yield return new ClusterJobState(fields[0], PhaseOf(fields[1]), fields[1].Split(' ', 2)[0], fields[4], ParseExitCode(fields[2]), elapsed);
            }
        }
    }

    /// <summary>"2:0" (exit code 2) or "0:15" (killed by signal 15: no exit code).</summary>
    private static int? ParseExitCode(string? text)
    {
        if (text is null)
        {
            return null;
        }

        string[] parts = text.Split(':');
        if (!int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int code))
        {
            return null;
        }

        bool signalled = parts.Length > 1 && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int signal) && signal != 0;
        return signalled && code == 0 ? null : code;
    }

    /// <summary>Slurm durations: "M:SS", "H:MM:SS", "D-HH:MM:SS".</summary>
    private static TimeSpan? ParseDuration(string? text)
    {
        if (string.IsNullOrEmpty(text) || text is "INVALID" or "UNLIMITED")
        {
            return null;
        }

        int days = 0;
        int dash = text.IndexOf('-', StringComparison.Ordinal);
        if (dash > 0 && int.TryParse(text[..dash], NumberStyles.None, CultureInfo.InvariantCulture, out days))
        {
            text = text[(dash + 1)..];
        }

        long seconds = 0;
        foreach (string part in text.Split(':'))
        {
            if (!long.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out long value))
            {
                return null;
            }

            seconds = (seconds * 60) + value;
        }

        return TimeSpan.FromDays(days) + TimeSpan.FromSeconds(seconds);
    }

    private static void AddIf(List<string> arguments, string option, string? value)
    {
        if (value is not null)
        {
            arguments.Add(option + value);
        }
    }
}
