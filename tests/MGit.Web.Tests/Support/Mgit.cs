using System.Text;
using System.Text.RegularExpressions;
using MGit.Cli;

namespace MGit.Web.Tests.Support;

/// <summary>Runs mgit commands in memory through the CLI's entry point, as a user's shell would run them.</summary>
internal static class Mgit
{
    public static CliContext Context(string workingDirectory, TextWriter output, TextWriter error) =>
        new(output, error, workingDirectory, name => name == "MGIT_FSYNC" ? "0" : null, ErrorIsTerminal: false);

    /// <summary>Runs a command that must succeed and returns what it printed.</summary>
    public static string Ok(string workingDirectory, params string[] args) => Exits(0, workingDirectory, args);

    /// <summary>Runs a command that must end with <paramref name="expected"/> and returns what it printed.</summary>
    public static string Exits(int expected, string workingDirectory, params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = MGitCli.Run(args, Context(workingDirectory, output, error));
        if (code != expected)
        {
            throw new InvalidOperationException($"mgit {string.Join(' ', args)} exited {code}, not {expected}: {error}{output}");
        }

        return output.ToString();
    }
}

/// <summary>
/// <c>mgit serve --port 0</c> running in memory until disposed (Ctrl-C through the context's
/// interruption); its address is the URL the command prints, as a user reads it.
/// </summary>
public sealed partial class ServeRun : IAsyncDisposable
{
    private readonly CliContext _context;
    private readonly Task<int> _run;

    private ServeRun(CliContext context, Task<int> run, string printedUrl)
    {
        _context = context;
        _run = run;
        PrintedUrl = printedUrl;
        var url = new Uri(printedUrl);
        Address = new Uri(url.GetLeftPart(UriPartial.Authority) + "/");
    }

    /// <summary>The URL as printed (with <c>?token=</c> when the server has one).</summary>
    public string PrintedUrl { get; }

    /// <summary>The server's root, <c>http://127.0.0.1:PORT/</c>.</summary>
    public Uri Address { get; }

    public string Url(string pathAndQuery) => new Uri(Address, pathAndQuery).ToString();

    public static async Task<ServeRun> StartAsync(string repository, params string[] extra)
    {
        var output = new UrlWriter();
        var error = TextWriter.Synchronized(new StringWriter());
        var context = Mgit.Context(repository, output, error);
        var run = Task.Run(() => MGitCli.Run(["serve", "--port", "0", .. extra], context));
        var first = await Task.WhenAny(output.Url, run, Task.Delay(TimeSpan.FromSeconds(60))).ConfigureAwait(false);
        if (first != output.Url)
        {
            context.Interruption.Interrupt();
            throw new InvalidOperationException($"mgit serve printed no address (exited: {run.IsCompleted}): {output}{error}");
        }

        return new ServeRun(context, run, await output.Url.ConfigureAwait(false));
    }

    public async ValueTask DisposeAsync()
    {
        _context.Interruption.Interrupt();
        await _run.WaitAsync(TimeSpan.FromSeconds(30)).ConfigureAwait(false);
        _context.Interruption.Dispose();
    }

    /// <summary>Standard output that notices the "serving DIR at URL" line (written from the server's thread).</summary>
    private sealed partial class UrlWriter : TextWriter
    {
        private readonly StringBuilder _text = new();
        private readonly Lock _gate = new();
        private readonly TaskCompletionSource<string> _url = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task<string> Url => _url.Task;

        public override Encoding Encoding => Encoding.UTF8;

        public override void Write(char value) => Write(value.ToString());

        public override void Write(char[] buffer, int index, int count) => Write(new string(buffer, index, count));

        public override void Write(string? value)
        {
            lock (_gate)
            {
                _text.Append(value);
                if (Serving().Match(_text.ToString()) is { Success: true } match)
                {
                    _url.TrySetResult(match.Groups[1].Value);
                }
            }
        }

        public override string ToString()
        {
            lock (_gate)
            {
                return _text.ToString();
            }
        }

        [GeneratedRegex(@"serving .* at (http://\S+)\r?\n")]
        private static partial Regex Serving();
    }
}
