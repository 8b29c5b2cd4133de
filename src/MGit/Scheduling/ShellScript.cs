using System.Text;
using MGit.Errors;
using MGit.Execution;

namespace MGit.Scheduling;

/// <summary>
/// Job scripts for schedulers that run a script (sbatch): the command is written with every
/// argument quoted for <c>sh</c>, so that names and paths with quotes, spaces, <c>$( )</c>,
/// backquotes and newlines reach the program as the single arguments they are.
/// </summary>
public static class ShellScript
{
    /// <summary>One argument quoted for sh: plain words as they are, everything else in single quotes (a quote inside as <c>'\''</c>).</summary>
    public static string Quote(string argument)
    {
        ArgumentNullException.ThrowIfNull(argument);
        if (argument.Contains('\0', StringComparison.Ordinal))
        {
            throw new MGitException(ErrorKind.InvalidInput, "an argument holds a NUL character, which no command line can carry");
        }

        // The rule the run logs already quote by, so a log line and a job script read the same.
        return CommandRunner.Quote(argument);
    }

    /// <summary>A script that replaces itself with <paramref name="command"/> (so the scheduler's signals reach it directly).</summary>
    public static string Exec(IReadOnlyList<string> command, string description)
    {
        ArgumentNullException.ThrowIfNull(command);
        ArgumentOutOfRangeException.ThrowIfZero(command.Count);
        var script = new StringBuilder();
        script.Append("#!/bin/sh\n");
        foreach (string line in description.Split('\n'))
        {
            script.Append("# ").Append(line.Replace('\r', ' ')).Append('\n');
        }

        script.Append("exec ").AppendJoin(' ', command.Select(Quote)).Append('\n');
        return script.ToString();
    }
}
