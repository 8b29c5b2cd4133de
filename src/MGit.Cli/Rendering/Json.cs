using System.Text.Json;
using System.Text.Json.Serialization;
using MGit.Lineage;

namespace MGit.Cli.Rendering;

/// <summary>The JSON shapes the command-line contract promises (snake_case fields).</summary>
public static class Json
{
    private static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public static void Write(TextWriter output, object value) => output.WriteLine(JsonSerializer.Serialize(value, Options));

    public static object Edge(EdgeView edge) => new { @ref = edge.Ref, kind = edge.Kind.ToName(), how = edge.How, message = edge.Message };

    public static object Version(LineageGraph graph, ModelVersion version) => new
    {
        @ref = version.Ref,
        name = version.Name,
        version = version.Version,
        type = version.Type,
        parents = graph.ParentEdges(version).Select(e => Edge(new EdgeView(graph[e.ParentId].Ref, e.Kind, e.How, e.Message))).ToList(),
        logical_bytes = version.LogicalBytes,
        added_at = version.AddedAt,
        message = version.Message,
        metadata = version.Metadata,
        lossy = version.Lossy,
        error_bound = version.ErrorBound,
    };
}
