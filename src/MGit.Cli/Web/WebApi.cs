using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using MGit.Cli.Commands;
using MGit.Cli.Rendering;
using MGit.Errors;
using Microsoft.AspNetCore.Http;

namespace MGit.Cli.Web;

/// <summary>
/// The JSON API under /api: each document is the one the matching command prints with --json,
/// built by the same method, so scripts and the pages share one contract (docs/WEB.md).
/// Every request opens the repository anew (read only), so the answers follow the repository.
/// </summary>
internal sealed class WebApi(WebServerOptions options)
{
    /// <summary>Path, handler: every route the API has.</summary>
    public IEnumerable<(string Path, Func<HttpContext, Task> Handle)> Routes() =>
    [
        ("/api/ls", context => Json(context, repository => ListCommand.ToJson(repository.ListVersions()))),
        ("/api/graph", context => Json(context, repository =>
        {
            var graph = repository.Graph();
            return GraphExport.JsonShape(graph, repository.Tests.Latest(graph));
        })),
        ("/api/show", context => Json(context, repository => ShowCommand.ToJson(repository, repository.Show(Required(context, "ref"))))),
        ("/api/recipe", context => Json(context, repository => RecipeCommands.ToJson(repository.RecipeOf(Required(context, "ref"))))),
        ("/api/tests", context => Json(context, repository =>
        {
            var graph = repository.Graph();
            var only = Optional(context, "ref") is { } reference ? graph.Resolve(reference) : null;
            return TestCommands.ToJson(repository.Tests.Latest(graph, only is null ? null : [only.Id]), repository.TestJobs());
        })),
        ("/api/diff", context => Json(context, repository => DiffCommand.ToJson(repository.Diff(Required(context, "a"), Required(context, "b"))))),
        ("/api/stats", context => Json(context, repository => StatsCommand.ToJson(repository, repository.Stats()))),
        ("/api/file", File),
        ("/api/repository", context => WebResponses.JsonAsync(context, new JsonObject { ["name"] = Path.GetFileName(Path.TrimEndingDirectorySeparator(options.RepositoryPath)) })),
    ];

    /// <summary>Opens the repository for one request; the caller disposes it.</summary>
    public Repository Open() => Repository.Open(options.RepositoryPath, options.Repository);

    private async Task Json(HttpContext context, Func<Repository, JsonNode> build)
    {
        JsonNode document;
        using (var repository = Open())
        {
            document = build(repository);
        }

        await WebResponses.JsonAsync(context, document).ConfigureAwait(false);
    }

    /// <summary>
    /// The byte-exact file, streamed: only a path the model's manifest lists can be named (never a
    /// path on disk), and every chunk is verified as it is read, as checkout verifies. Damage found
    /// mid-stream aborts the response, so a client never gets a complete-looking wrong file.
    /// </summary>
    private async Task File(HttpContext context)
    {
        string reference = Required(context, "ref");
        string? path = Optional(context, "path");
        using var repository = Open();
        var details = repository.Show(reference);
        var file = path is null
            ? details.Manifest.Files.Count == 1 ? details.Manifest.Files[0] : throw new MGitException(ErrorKind.InvalidInput, $"{details.Version.Ref} has {details.Manifest.Files.Count} files: name one with path=")
            : details.Manifest.Files.FirstOrDefault(f => f.Path == path) ?? throw new MGitException(ErrorKind.NotFound, $"{details.Version.Ref} has no file '{path}'");
        await using var content = repository.OpenFile(details.Version.Ref, file.Path);
        var response = context.Response;
        response.ContentType = "application/octet-stream";
        response.ContentLength = file.Length;
        response.Headers.ContentDisposition = new ContentDispositionHeaderValue("attachment") { FileNameStar = Path.GetFileName(file.Path) }.ToString();
        response.Headers.CacheControl = "no-store";
        await content.CopyToAsync(response.Body, 1 << 20, context.RequestAborted).ConfigureAwait(false);
    }

    public static string Required(HttpContext context, string name) =>
        Optional(context, name) ?? throw new MGitException(ErrorKind.InvalidInput, $"missing parameter '{name}'");

    public static string? Optional(HttpContext context, string name) =>
        context.Request.Query.TryGetValue(name, out var value) && !string.IsNullOrEmpty(value.ToString()) ? value.ToString() : null;
}
