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

    /// <summary>Runs a command that must succeed; the assertion names it and shows its error.</summary>
    public static CliResult Ok(string workingDirectory, params string[] args)
    {
        var result = Run(workingDirectory, args);
        Assert.True(result.ExitCode == 0, $"mgit {string.Join(' ', args)} exited {result.ExitCode}: {result.Error}");
        return result;
    }

    /// <summary>The mgit.dll built next to the tests (the test project references the CLI).</summary>
    public static string CliAssembly => Path.Combine(AppContext.BaseDirectory, "mgit.dll");

    /// <summary>How to start <paramref name="program"/> with these arguments in that folder, its output redirected.</summary>
    public static ProcessStartInfo StartInfo(string program, string workingDirectory, IEnumerable<string> args)
    {
        var start = new ProcessStartInfo(program)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        return start;
    }

    public static Process Start(string workingDirectory, params string[] args) =>
        Process.Start(StartInfo("dotnet", workingDirectory, [CliAssembly, .. args])) ?? throw new InvalidOperationException("could not start mgit");

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
