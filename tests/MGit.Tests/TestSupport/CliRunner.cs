using System.Diagnostics;
using MGit.Cli;

namespace MGit.Tests.TestSupport;

public sealed record CliResult(int ExitCode, string Out, string Error);

/// <summary>Runs mgit commands in memory, or as a real process where processes are the point.</summary>
public static class CliRunner
{
    public static CliResult Run(string workingDirectory, params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var context = new CliContext(output, error, workingDirectory, name => name == "MGIT_FSYNC" ? "0" : null, ErrorIsTerminal: false);
        int code = MGitCli.Run(args, context);
        return new CliResult(code, output.ToString(), error.ToString());
    }

    /// <summary>The mgit.dll built next to the tests (the test project references the CLI).</summary>
    public static string CliAssembly => Path.Combine(AppContext.BaseDirectory, "mgit.dll");

    public static Process Start(string workingDirectory, params string[] args)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(CliAssembly);
        foreach (string arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        return Process.Start(start) ?? throw new InvalidOperationException("could not start mgit");
    }

    public static CliResult RunProcess(string workingDirectory, params string[] args) => Finish(Start(workingDirectory, args), args);

    /// <summary>Starts a process (output redirected) and waits for it, killing it after 3 minutes.</summary>
    public static CliResult RunProcess(ProcessStartInfo start, IEnumerable<string> args) =>
        Finish(Process.Start(start) ?? throw new InvalidOperationException($"could not start {start.FileName}"), args);

    private static CliResult Finish(Process started, IEnumerable<string> args)
    {
        using var process = started;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(3)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"mgit {string.Join(' ', args)} did not finish");
        }

        return new CliResult(process.ExitCode, stdout.Result, stderr.Result);
    }
}
