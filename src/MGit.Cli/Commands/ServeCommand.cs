using System.CommandLine;
using System.Diagnostics;
using MGit.Cli.Web;
using MGit.Primitives;

namespace MGit.Cli.Commands;

/// <summary><c>mgit serve</c>: the repository as web pages and a JSON API, read only, until Ctrl-C.</summary>
public static class ServeCommand
{
    public static Command Build(GlobalOptions globals, CliContext context)
    {
        var port = new Option<int>("--port") { Description = "Port to listen on (0: any free port)", DefaultValueFactory = _ => WebServerOptions.DefaultPort };
        var host = new Option<string>("--host") { Description = "Address to bind; anything but loopback needs --token", DefaultValueFactory = _ => "127.0.0.1" };
        var token = new Option<string?>("--token") { Description = "Secret every request must carry (bearer token or cookie) [default: $MGIT_SERVE_TOKEN]" };
        var open = new Option<bool>("--open") { Description = "Open the graph page in the default browser" };
        var command = new Command("serve", "Serve the repository as web pages (lineage graph, models, diffs, storage) and a JSON API, read only") { port, host, token, open };
        command.SetAction(parse =>
        {
            int chosenPort = parse.GetValue(port);
            if (chosenPort is < 0 or > 65535)
            {
                throw new Errors.MGitException(Errors.ErrorKind.InvalidInput, $"--port {chosenPort}: a port is 0 to 65535");
            }

            string? secret = parse.GetValue(token) ?? context.Environment("MGIT_SERVE_TOKEN");
            var options = new WebServerOptions(globals.RepositoryPath(parse, context), globals.Options(parse, context) with { Progress = NoProgress.Instance }, WebServerOptions.ParseHost(parse.GetValue(host)!, secret), chosenPort, secret);
            return Serve(options, parse.GetValue(open), context).GetAwaiter().GetResult();
        });
        return command;
    }

    private static async Task<int> Serve(WebServerOptions options, bool openBrowser, CliContext context)
    {
        await using var server = await WebServer.StartAsync(options, context.Cancellation).ConfigureAwait(false);
        string url = server.Address.ToString() + (options.Token is { Length: > 0 } t ? "?token=" + Uri.EscapeDataString(t) : "");
        context.Out.WriteLine($"serving {server.RepositoryRoot} at {url}");
        context.Out.Flush();
        context.Error.WriteLine("read only; Ctrl-C stops it");
        if (openBrowser)
        {
            OpenInBrowser(url, context);
        }

        await server.RunUntilCancelledAsync(context.Cancellation).ConfigureAwait(false);
        return 0;
    }

    private static void OpenInBrowser(string url, CliContext context)
    {
        try
        {
            Process.Start(new ProcessStartInfo(url) { UseShellExecute = true })?.Dispose();
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            context.Error.WriteLine($"mgit: could not open a browser ({e.Message}); open {url}");
        }
    }
}
