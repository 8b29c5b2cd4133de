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
    /// <summary>Ctrl-C for the command run in this context (by default, nothing interrupts it but <see cref="Interruption.Interrupt"/>).</summary>
    public Interruption Interruption { get; init; } = new();

    /// <summary>The token long operations take: cancelled by the first Ctrl-C.</summary>
    public CancellationToken Cancellation => Interruption.Token;

    public static CliContext FromConsole(Interruption interruption) => new(
        Console.Out,
        Console.Error,
        CurrentDirectory(),
        System.Environment.GetEnvironmentVariable,
        !Console.IsErrorRedirected)
    {
        Interruption = interruption,
    };

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
