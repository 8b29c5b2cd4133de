using System.Reflection;
using MGit.Errors;

namespace MGit.Cli.Web;

/// <summary>
/// The pages' files, embedded in the tool (<c>Web/wwwroot/</c>, logical names <c>wwwroot/...</c>):
/// nothing is read from disk or fetched at run time, so the tool serves the same pages anywhere.
/// </summary>
internal static class WebAssets
{
    private const string Prefix = "wwwroot/";

    private static readonly Assembly Tool = typeof(WebAssets).Assembly;

    private static readonly HashSet<string> Names = Tool.GetManifestResourceNames().Where(n => n.StartsWith(Prefix, StringComparison.Ordinal)).ToHashSet(StringComparer.Ordinal);

    private static readonly Lazy<string> Index = new(() => ReadText("index.html") ?? throw new MGitException(ErrorKind.Internal, "this mgit was built without its web pages (Web/wwwroot/index.html)"));

    /// <summary>The page shell every page route answers with (read from the assembly once).</summary>
    public static string IndexHtml => Index.Value;

    /// <summary>A file under wwwroot/ by its '/'-separated path, or null: only embedded names are ever opened.</summary>
    public static Stream? Open(string path) => Names.Contains(Prefix + path) ? Tool.GetManifestResourceStream(Prefix + path) : null;

    public static string? ReadText(string path)
    {
        using var stream = Open(path);
        if (stream is null)
        {
            return null;
        }

        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    public static string ContentType(string path) => Path.GetExtension(path).ToLowerInvariant() switch
    {
        ".html" => "text/html; charset=utf-8",
        ".js" or ".mjs" => "text/javascript; charset=utf-8",
        ".css" => "text/css; charset=utf-8",
        ".json" or ".map" => "application/json; charset=utf-8",
        ".svg" => "image/svg+xml",
        ".png" => "image/png",
        ".ico" => "image/x-icon",
        ".woff2" => "font/woff2",
        _ => "text/plain; charset=utf-8",
    };
}
