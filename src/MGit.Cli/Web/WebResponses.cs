using System.Net;
using System.Text.Json.Nodes;
using MGit.Cli.Rendering;
using Microsoft.AspNetCore.Http;

namespace MGit.Cli.Web;

/// <summary>The server's one way to answer: JSON in the CLI's shapes, errors as one line, never a stack trace.</summary>
internal static class WebResponses
{
    public static bool IsApi(HttpRequest request) => request.Path.StartsWithSegments("/api");

    public static Task JsonAsync(HttpContext context, JsonNode? document, int status = StatusCodes.Status200OK)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json; charset=utf-8";
        context.Response.Headers.CacheControl = "no-store";
        return context.Response.WriteAsync(Json.ToText(document) + "\n", context.RequestAborted);
    }

    /// <summary><c>{"error": "..."}</c> for the API; a small page for a browser.</summary>
    public static Task ErrorAsync(HttpContext context, int status, string message)
    {
        if (IsApi(context.Request))
        {
            return JsonAsync(context, new JsonObject { ["error"] = message }, status);
        }

        context.Response.StatusCode = status;
        context.Response.ContentType = "text/html; charset=utf-8";
        string page = $"<!doctype html><meta charset=\"utf-8\"><title>{status}</title><h1>{status}</h1><p>{WebUtility.HtmlEncode(message)}</p><p><a href=\"/\">the lineage graph</a></p>\n";
        return context.Response.WriteAsync(page, context.RequestAborted);
    }
}
