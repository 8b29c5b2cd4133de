using System.Net;
using MGit.Errors;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace MGit.Cli.Web;

/// <summary>
/// <c>mgit serve</c>: Kestrel over one repository, read only. Pages are one embedded shell
/// (<c>Web/wwwroot</c>) whose script picks the page from the address; data comes from the JSON API
/// (<see cref="WebApi"/>). Built on the empty host (Kestrel core and routing only): no
/// configuration files, no logging providers, nothing that would make start-up slow or let a
/// file in the current folder change what is served.
/// </summary>
public sealed class WebServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private WebServer(WebApplication app, Uri address, string repositoryRoot)
    {
        _app = app;
        Address = address;
        RepositoryRoot = repositoryRoot;
    }

    /// <summary>The address the server listens on (the real port when 0 was asked for).</summary>
    public Uri Address { get; }

    /// <summary>The root folder of the repository served (the options' folder or the nearest one above it).</summary>
    public string RepositoryRoot { get; }

    /// <summary>Finds the repository, binds, and starts serving.</summary>
    public static async Task<WebServer> StartAsync(WebServerOptions options, CancellationToken cancellationToken)
    {
        // A folder that is no repository fails here, with the usual message, not on the first
        // request; every request then opens the root found here.
        using (var repository = Repository.Open(options.RepositoryPath, options.Repository))
        {
            options = options with { RepositoryPath = repository.Root };
        }

        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ApplicationName = "mgit", ContentRootPath = AppContext.BaseDirectory });
        builder.WebHost.UseKestrelCore().ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Listen(options.Address, options.Port);
        });
        builder.Services.AddRoutingCore();
        builder.Logging.ClearProviders();
        var app = builder.Build();
        Configure(app, options);
        try
        {
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (IOException e)
        {
            await app.DisposeAsync().ConfigureAwait(false);
            throw new MGitException(ErrorKind.Io, $"cannot listen on {options.Address}:{options.Port}: {e.Message}");
        }

        string bound = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new WebServer(app, new Uri(bound.Replace("[::]", "[::1]", StringComparison.Ordinal).Replace("0.0.0.0", "127.0.0.1", StringComparison.Ordinal)), options.RepositoryPath);
    }

    /// <summary>Runs until <paramref name="cancellationToken"/> is cancelled (Ctrl-C), then stops serving.</summary>
    public async Task RunUntilCancelledAsync(CancellationToken cancellationToken)
    {
        try
        {
            await Task.Delay(Timeout.Infinite, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        await _app.StopAsync(CancellationToken.None).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync().ConfigureAwait(false);

    private static void Configure(WebApplication app, WebServerOptions options)
    {
        var gate = new TokenGate(options.Token);
        var api = new WebApi(options);
        app.Use(async (HttpContext context, RequestDelegate next) =>
        {
            Secure(context.Response);
            if (!await gate.AdmitAsync(context).ConfigureAwait(false))
            {
                return;
            }

            try
            {
                await next(context).ConfigureAwait(false);
            }
            catch (Exception e) when (!context.Response.HasStarted && !context.RequestAborted.IsCancellationRequested)
            {
                await WebResponses.ErrorAsync(context, StatusOf(e), MessageOf(e)).ConfigureAwait(false);
            }
        });
        app.UseRouting();
        foreach (var (path, handle) in api.Routes())
        {
            app.MapGet(path, new RequestDelegate(handle));
        }

        app.MapGet("/assets/{**path}", new RequestDelegate(Asset));
        foreach (string page in new[] { "/", "/graph", "/storage" })
        {
            app.MapGet(page, new RequestDelegate(context => Page(context, StatusCodes.Status200OK)));
        }

        app.MapGet("/model", new RequestDelegate(context => PageOfRefs(context, api, WebApi.Required(context, "ref"))));
        app.MapGet("/diff", new RequestDelegate(context => PageOfRefs(context, api, WebApi.Optional(context, "a"), WebApi.Optional(context, "b"))));
        app.MapFallback("{**path}", new RequestDelegate(context => WebResponses.ErrorAsync(context, StatusCodes.Status404NotFound, $"no page at {context.Request.Path}")));
    }

    /// <summary>
    /// A page about models answers 404 when a ref does not resolve (the page itself then shows
    /// the API's message); the shell is the same either way.
    /// </summary>
    private static Task PageOfRefs(HttpContext context, WebApi api, params string?[] references)
    {
        int status = StatusCodes.Status200OK;
        using (var repository = api.Open())
        {
            var graph = repository.Graph();
            foreach (string reference in references.OfType<string>())
            {
                try
                {
                    graph.Resolve(reference);
                }
                catch (MGitException e) when (e.Kind == ErrorKind.NotFound)
                {
                    status = StatusCodes.Status404NotFound;
                }
            }
        }

        return Page(context, status);
    }

    private static Task Page(HttpContext context, int status)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "text/html; charset=utf-8";
        context.Response.Headers.CacheControl = "no-cache";
        return context.Response.WriteAsync(WebAssets.IndexHtml, context.RequestAborted);
    }

    private static async Task Asset(HttpContext context)
    {
        string path = "assets/" + (context.Request.RouteValues["path"] as string ?? "");
        await using var stream = WebAssets.Open(path);
        if (stream is null)
        {
            await WebResponses.ErrorAsync(context, StatusCodes.Status404NotFound, $"no asset {path}").ConfigureAwait(false);
            return;
        }

        context.Response.ContentType = WebAssets.ContentType(path);
        context.Response.ContentLength = stream.Length;
        context.Response.Headers.CacheControl = "no-cache";
        await stream.CopyToAsync(context.Response.Body, context.RequestAborted).ConfigureAwait(false);
    }

    /// <summary>
    /// Defence in depth behind escaping every untrusted string: scripts only from this server
    /// (no inline script can run), no framing, no content sniffing, no referrer to elsewhere.
    /// </summary>
    private static void Secure(HttpResponse response)
    {
        var headers = response.Headers;
        headers.ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";
        headers.XContentTypeOptions = "nosniff";
        headers.XFrameOptions = "DENY";
        headers["Referrer-Policy"] = "no-referrer";
    }

    private static int StatusOf(Exception e) => e switch
    {
        MGitException { Kind: ErrorKind.NotFound } => StatusCodes.Status404NotFound,
        MGitException { Kind: ErrorKind.InvalidInput or ErrorKind.Unsupported } => StatusCodes.Status400BadRequest,
        MGitException { Kind: ErrorKind.Locked } => StatusCodes.Status503ServiceUnavailable,
        _ => StatusCodes.Status500InternalServerError,
    };

    /// <summary>The same one line the CLI would print; never a stack trace.</summary>
    private static string MessageOf(Exception e)
    {
        while (e is AggregateException { InnerExceptions.Count: > 0 } aggregate)
        {
            e = aggregate.InnerExceptions[0];
        }

        return e is MGitException or IOException or UnauthorizedAccessException ? e.Message : $"internal error ({e.GetType().Name})";
    }
}
