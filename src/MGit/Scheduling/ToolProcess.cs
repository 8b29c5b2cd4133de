using System.Diagnostics;
using MGit.Errors;

namespace MGit.Scheduling;

/// <summary>What a scheduler's command-line tool printed and how it exited.</summary>
internal sealed record ToolOutput(int ExitCode, string Output, string Error)
{
    /// <summary>The first line of what it said on error (or output), for a one-line message.</summary>
    public string FirstErrorLine => (Error.Trim().Length > 0 ? Error : Output).Trim().Split('\n')[0].Trim();
}

/// <summary>Runs a scheduler's client tool (sbatch, squeue, scancel...) with an argument list, no shell, and a timeout.</summary>
internal static class ToolProcess
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(120);

    public static ToolOutput Run(IReadOnlyList<string> arguments)
    {
        var start = new ProcessStartInfo(arguments[0])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (string argument in arguments.Skip(1))
        {
            start.ArgumentList.Add(argument);
        }

        Process process;
        try
        {
            process = Process.Start(start) ?? throw new MGitException(ErrorKind.Failed, $"could not start {arguments[0]}");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new MGitException(ErrorKind.Unsupported, $"cannot run {arguments[0]}: {e.Message} (is the scheduler's client installed and on PATH?)", e);
        }

        using (process)
        {
            process.StandardInput.Close();
            var output = process.StandardOutput.ReadToEndAsync();
            var error = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(Timeout))
            {
                process.Kill(entireProcessTree: true);
                throw new MGitException(ErrorKind.Failed, $"{arguments[0]} did not answer in {Timeout.TotalSeconds:0} s");
            }

            process.WaitForExit();
            return new ToolOutput(process.ExitCode, output.GetAwaiter().GetResult(), error.GetAwaiter().GetResult());
        }
    }
}
