namespace MGit.Primitives;

/// <summary>Where long work reports how far it got; the CLI draws bars, a library caller may ignore it.</summary>
public interface IProgressSink
{
    /// <summary>Starts reporting one piece of work; dispose the task when it ends.</summary>
    /// <param name="description">What the work is, as shown to the user.</param>
    /// <param name="totalBytes">How many bytes the work will process.</param>
    IProgressTask Begin(string description, long totalBytes);
}

/// <summary>One piece of work in progress, begun by <see cref="IProgressSink.Begin"/>; disposing it ends the report.</summary>
public interface IProgressTask : IDisposable
{
    /// <summary>Called from worker threads; implementations must be thread-safe.</summary>
    void Advance(long bytes);
}

/// <summary>Reports nothing.</summary>
public sealed class NoProgress : IProgressSink, IProgressTask
{
    /// <summary>The one instance; it holds no state.</summary>
    public static readonly NoProgress Instance = new();

    /// <inheritdoc/>
    public IProgressTask Begin(string description, long totalBytes) => this;

    /// <inheritdoc/>
    public void Advance(long bytes) { }

    /// <inheritdoc/>
    public void Dispose() { }
}
