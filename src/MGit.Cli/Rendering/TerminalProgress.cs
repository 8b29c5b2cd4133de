using System.Diagnostics;
using MGit.Primitives;

namespace MGit.Cli.Rendering;

/// <summary>
/// A one-line progress bar on stderr, redrawn at most ten times a second; only on an
/// interactive terminal (pipes and CI get no progress lines at all).
/// </summary>
public sealed class TerminalProgress(TextWriter error) : IProgressSink
{
    public IProgressTask Begin(string description, long totalBytes) => new Bar(error, description, totalBytes);

    private sealed class Bar(TextWriter error, string description, long total) : IProgressTask
    {
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private readonly Lock _gate = new();
        private long _done;
        private long _lastDrawMs = -1000;

        public void Advance(long bytes)
        {
            long done = Interlocked.Add(ref _done, bytes);
            lock (_gate)
            {
                long now = _clock.ElapsedMilliseconds;
                if (now - _lastDrawMs >= 100)
                {
                    _lastDrawMs = now;
                    Draw(done);
                }
            }
        }

        private void Draw(long done)
        {
            double fraction = total <= 0 ? 1 : Math.Min(1, done / (double)total);
            int filled = (int)(fraction * 30);
            error.Write($"\r{description} [{new string('#', filled)}{new string('.', 30 - filled)}] {fraction * 100,5:0.0}%");
        }

        public void Dispose()
        {
            lock (_gate)
            {
                // Clear the line so the command's own output starts clean.
                error.Write("\r" + new string(' ', description.Length + 45) + "\r");
            }
        }
    }
}
