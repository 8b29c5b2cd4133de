namespace MGit.Primitives;

/// <summary>Where long work reports how far it got; the CLI draws bars, a library caller may ignore it.</summary>
public interface IProgressSink
{
    IProgressTask Begin(string description, long totalBytes);
}

public interface IProgressTask : IDisposable
{
    /// <summary>Called from worker threads; implementations must be thread-safe.</summary>
    void Advance(long bytes);
}

/// <summary>Reports nothing.</summary>
public sealed class NoProgress : IProgressSink, IProgressTask
{
    public static readonly NoProgress Instance = new();

    public IProgressTask Begin(string description, long totalBytes) => this;

    public void Advance(long bytes) { }

    public void Dispose() { }
}
