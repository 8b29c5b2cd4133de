namespace MGit.Bench;

internal static class BenchmarkCommand
{
    public static int Run(Arguments options, string[] commandLine)
    {
        _ = options;
        _ = commandLine;
        return 0;
    }
}
