using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using MGit.Errors;

namespace MGit.Cli.Web;

/// <summary>
/// <c>mgit graph --format html</c>: the graph page as one file that opens anywhere, offline. The
/// served shell's scripts and styles are inlined and the graph is put in as data
/// (<c>window.MGIT_STATIC</c>), so the page makes no request at all.
/// </summary>
internal static partial class StaticGraphPage
{
    public static string Build(JsonNode graph, string title)
    {
        string html = WebAssets.IndexHtml;
        html = ScriptTag().Replace(html, m => "<script>" + EscapeClosing(Asset("assets/" + m.Groups["path"].Value), "script") + "</script>");
        html = StyleTag().Replace(html, m => "<style>" + EscapeClosing(Asset("assets/" + m.Groups["path"].Value), "style") + "</style>");
        string data = $"<script>window.MGIT_STATIC = {ScriptSafeJson(new JsonObject { ["graph"] = graph.DeepClone(), ["title"] = title })};</script>\n";
        int firstScript = html.IndexOf("<script", StringComparison.OrdinalIgnoreCase);
        if (firstScript < 0)
        {
            throw new MGitException(ErrorKind.Internal, "the embedded index.html loads no script");
        }

        return html.Insert(firstScript, data);
    }

    private static string Asset(string path) =>
        WebAssets.ReadText(path) ?? throw new MGitException(ErrorKind.Internal, $"index.html names {path}, which this mgit does not embed");

    /// <summary>
    /// The data is untrusted text (names, messages): every '&lt;', '&gt;', '&amp;' and quote is
    /// written as a \u escape, so nothing in it can end the script element.
    /// </summary>
    private static string ScriptSafeJson(JsonNode node)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JavaScriptEncoder.Default }))
        {
            node.WriteTo(writer);
        }

        return Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }

    /// <summary>An inlined library that mentions "&lt;/script" in a string would end its element early; "&lt;\/" reads the same to JavaScript and CSS.</summary>
    private static string EscapeClosing(string text, string element) =>
        Regex.Replace(text, "</(" + element + ")", @"<\/$1", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant);

    [GeneratedRegex("""<script src="/assets/(?<path>[^"]+)"></script>""")]
    private static partial Regex ScriptTag();

    [GeneratedRegex("""<link rel="stylesheet" href="/assets/(?<path>[^"]+)">""")]
    private static partial Regex StyleTag();
}
