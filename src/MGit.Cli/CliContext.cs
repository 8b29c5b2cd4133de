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
        System.Environment.CurrentDirectory,
        System.Environment.GetEnvironmentVariable,
        !Console.IsErrorRedirected);

    public string ResolvePath(string path) => Path.GetFullPath(path, WorkingDirectory);
}
