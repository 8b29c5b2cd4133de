namespace MGit.Cli;

/// <summary>
/// Everything a command touches outside the library: streams, working directory, environment.
/// Tests build one over string writers and run commands in memory.
/// </summary>
public sealed record CliContext(
    TextWriter Out,
    TextWriter Error,
    string WorkingDirectory,
    Func<string, string?> Environment,
    bool ErrorIsTerminal)
{
    public static CliContext FromConsole() => new(
        Console.Out,
        Console.Error,
        CurrentDirectory(),
        System.Environment.GetEnvironmentVariable,
        !Console.IsErrorRedirected);

    /// <summary>The working directory; "/" when it was deleted under us (paths given then must be absolute, and say so when missing).</summary>
    private static string CurrentDirectory()
    {
        try
        {
            return System.Environment.CurrentDirectory;
        }
        catch (IOException)
        {
            return Path.GetPathRoot(AppContext.BaseDirectory) ?? "/";
        }
    }

    public string ResolvePath(string path) => Path.GetFullPath(path, WorkingDirectory);
}
