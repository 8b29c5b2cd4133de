using System.Diagnostics;

namespace MGit.Tests.TestSupport;

/// <summary>
/// A test that needs python3 with torch and numpy (Debian's python3-torch), used only to write
/// real checkpoints and to load checkouts; skipped with the reason where they are missing.
/// </summary>
public sealed class TorchFactAttribute : FactAttribute
{
    public TorchFactAttribute()
    {
        if (PythonTorch.Missing is { } reason)
        {
            Skip = reason;
        }
    }
}

/// <summary>Runs small python3 programs that use torch (see <see cref="TorchFactAttribute"/>).</summary>
public static class PythonTorch
{
    /// <summary>
    /// The first python3 that imports torch: the one on PATH, else the system's (a pyenv or venv
    /// python3 first on PATH does not see Debian's python3-torch).
    /// </summary>
    private static readonly Lazy<string?> Interpreter = new(() =>
        new[] { "python3", "/usr/bin/python3" }.FirstOrDefault(python =>
        {
            try
            {
                return Run(python, "import torch, numpy", [], check: false).ExitCode == 0;
            }
            catch (System.ComponentModel.Win32Exception)
            {
                return false;
            }
        }));

    /// <summary>Why the torch tests cannot run here, or null when they can.</summary>
    public static string? Missing => Interpreter.Value is null ? "no python3 that imports torch and numpy: install python3-torch (bash .ci/run does)" : null;

    /// <summary>Runs <paramref name="program"/> with <paramref name="args"/> as sys.argv[1:]; fails the test when it fails.</summary>
    public static string Run(string program, params string[] args) =>
        Run(Interpreter.Value ?? throw new InvalidOperationException(Missing), program, args, check: true).Out;

    private static CliResult Run(string python, string program, string[] args, bool check)
    {
        var start = CliRunner.StartInfo(python, Path.GetTempPath(), ["-c", program, .. args]);
        using var process = Process.Start(start) ?? throw new InvalidOperationException("python3 did not start");
        var output = process.StandardOutput.ReadToEndAsync();
        string error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        var result = new CliResult(process.ExitCode, output.Result, error);
        if (check && result.ExitCode != 0)
        {
            throw new InvalidOperationException($"python3 failed ({result.ExitCode}): {error}");
        }

        return result;
    }
}
