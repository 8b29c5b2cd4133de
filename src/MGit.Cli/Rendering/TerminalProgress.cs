using MGit.Primitives;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace MGit.Cli.Rendering;

/// <summary>
/// Progress bars on stderr with bytes done, rate and time left (Spectre.Console's live display).
/// Made only for an interactive terminal: pipes, CI logs and tests get no progress at all (see
/// <see cref="GlobalOptions.Options"/>). One live display serves every piece of work begun while
/// another runs, and ends, cleared, when the last one does.
/// </summary>
public sealed class TerminalProgress(TextWriter error, bool forceAnsi = false) : IProgressSink
{
    private readonly Lock _gate = new();
    private Display? _display;

    public IProgressTask Begin(string description, long totalBytes)
    {
        lock (_gate)
        {
            _display ??= new Display(error, forceAnsi);
            return new Bar(this, _display, _display.Add(description, totalBytes));
        }
    }

    private void End(Display display, ProgressTask task)
    {
        lock (_gate)
        {
            task.StopTask();
            if (display.Remove() == 0)
            {
                // Stopped under the lock, so that a display begun next never draws over this one.
                display.Dispose();
                _display = null;
            }
        }
    }

    private sealed class Bar(TerminalProgress owner, Display display, ProgressTask task) : IProgressTask
    {
        private int _disposed;

        public void Advance(long bytes) => task.Increment(bytes);

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                owner.End(display, task);
            }
        }
    }

    /// <summary>Spectre's live display runs inside a callback: a thread of its own holds it open until the last bar ends.</summary>
    private sealed class Display : IDisposable
    {
        private readonly ManualResetEventSlim _ready = new();
        private readonly ManualResetEventSlim _done = new();
        private readonly Thread _thread;
        private ProgressContext? _context;
        private int _open;

        public Display(TextWriter error, bool forceAnsi)
        {
            var console = AnsiConsole.Create(new AnsiConsoleSettings
            {
                Ansi = forceAnsi ? AnsiSupport.Yes : AnsiSupport.Detect,
                ColorSystem = ColorSystemSupport.Detect,
                Interactive = InteractionSupport.Yes,
                Out = new AnsiConsoleOutput(error),
            });
            var progress = console.Progress()
                .AutoClear(true)
                .HideCompleted(true)
                .Columns(
                    new TaskDescriptionColumn { Alignment = Justify.Left },
                    new ProgressBarColumn(),
                    new PercentColumn(),
                    new DownloadedColumn { Base = FileSizeBase.Binary },
                    new TransferSpeedColumn { Base = FileSizeBase.Binary },
                    new RemainingTimeColumn());
            _thread = new Thread(() => progress.Start(context =>
            {
                _context = context;
                _ready.Set();
                _done.Wait();
            }))
            {
                IsBackground = true,
                Name = "mgit progress",
            };
            _thread.Start();
            _ready.Wait();
        }

        public ProgressTask Add(string description, long totalBytes)
        {
            _open++;
            // Spectre reads the description as markup: '[' in a model name is text here.
            return _context!.AddTask(Markup.Escape(description), autoStart: true, maxValue: Math.Max(1, totalBytes));
        }

        public int Remove() => --_open;

        /// <summary>Ends the live display (cleared) and waits for its thread.</summary>
        public void Dispose()
        {
            _done.Set();
            _thread.Join();
            _ready.Dispose();
            _done.Dispose();
        }
    }

    /// <summary>The share done, rounded as every percentage mgit prints (<see cref="Percent"/>): never "100%" before the end.</summary>
    private sealed class PercentColumn : ProgressColumn
    {
        public override IRenderable Render(RenderOptions options, ProgressTask task, TimeSpan deltaTime) =>
            new Text(Percent.Format(task.MaxValue <= 0 ? 1 : Math.Min(1, task.Value / task.MaxValue), decimals: 0).PadLeft(5));
    }
}
