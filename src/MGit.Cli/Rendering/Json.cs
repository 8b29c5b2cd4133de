using System.Buffers;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using MGit.Lineage;

namespace MGit.Cli.Rendering;

/// <summary>
/// The JSON shapes the command-line contract promises (snake_case fields), built as JSON nodes:
/// no reflection, so the same code runs in the native (ahead-of-time compiled) mgit.
/// </summary>
public static class Json
{
    private static readonly JsonWriterOptions WriterOptions = new()
    {
        Indented = true,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public static void Write(TextWriter output, JsonNode? value) => output.WriteLine(ToText(value));

    /// <summary>The document as the CLI prints it (indented, UTF-8 characters as they are), without the final newline.</summary>
    public static string ToText(JsonNode? value)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, WriterOptions))
        {
            WriteNode(writer, value);
        }

        return System.Text.Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }

    /// <summary>
    /// Writes the JSON array of <paramref name="items"/> as they come, a few kilobytes at a time,
    /// byte for byte what <see cref="Write"/> prints for the whole array: the array is never held.
    /// </summary>
    public static void WriteArray<T>(TextWriter output, IEnumerable<T> items, Func<T, JsonNode?> toNode)
    {
        using var json = new StreamedJson(output);
        json.Array(items, toNode);
    }

    /// <summary>
    /// A JSON document written to a text writer as it is made, drained every few kilobytes, in the
    /// layout <see cref="Write"/> gives (indented, then a line break): documents of 100,000
    /// versions are written without being held.
    /// </summary>
    public sealed class StreamedJson(TextWriter output) : IDisposable
    {
        private const int DrainAt = 64 * 1024;
        private readonly ArrayBufferWriter<byte> _buffer = new(DrainAt * 2);
        private Utf8JsonWriter? _writer;

        /// <summary>The writer for the document's structure (objects, property names).</summary>
        public Utf8JsonWriter Writer => _writer ??= new Utf8JsonWriter(_buffer, WriterOptions);

        /// <summary>Writes one value.</summary>
        public void Node(JsonNode? value)
        {
            WriteNode(Writer, value);
            if (Writer.BytesPending + _buffer.WrittenCount >= DrainAt)
            {
                Drain();
            }
        }

        /// <summary>Writes an array of <paramref name="items"/>, each turned into a node as it comes.</summary>
        public void Array<T>(IEnumerable<T> items, Func<T, JsonNode?> toNode)
        {
            Writer.WriteStartArray();
            foreach (var item in items)
            {
                Node(toNode(item));
            }

            Writer.WriteEndArray();
        }

        // Whole values only: a drained chunk never splits a UTF-8 character.
        private void Drain()
        {
            Writer.Flush();
            output.Write(System.Text.Encoding.UTF8.GetString(_buffer.WrittenSpan));
            _buffer.ResetWrittenCount();
        }

        /// <summary>Writes what is left and the closing line break.</summary>
        public void Dispose()
        {
            Drain();
            _writer?.Dispose();
            output.WriteLine();
        }
    }

    internal static void WriteNode(Utf8JsonWriter writer, JsonNode? value)
    {
        if (value is null)
        {
            writer.WriteNullValue();
        }
        else
        {
            value.WriteTo(writer);
        }
    }

    /// <summary>A JSON array of <paramref name="items"/>, each turned into a node by <paramref name="toNode"/>.</summary>
    public static JsonArray Array<T>(IEnumerable<T> items, Func<T, JsonNode?> toNode) => new(items.Select(toNode).ToArray());

    /// <summary>A JSON array of strings or numbers.</summary>
    public static JsonArray Array(IEnumerable<string> items) => Array(items, s => s);

    public static JsonArray Array(IEnumerable<long> items) => Array(items, n => n);

    /// <summary>A JSON object from a dictionary (null stays null), keys in the dictionary's order.</summary>
    public static JsonObject? Map<T>(IEnumerable<KeyValuePair<string, T>>? entries, Func<T, JsonNode?> toNode) =>
        entries is null ? null : new JsonObject(entries.Select(e => KeyValuePair.Create(e.Key, toNode(e.Value))));

    public static JsonObject? Map(IEnumerable<KeyValuePair<string, string>>? entries) => Map(entries, s => s);

    /// <summary>Test metrics as reported: any JSON value.</summary>
    public static JsonObject Map(IReadOnlyDictionary<string, JsonElement> metrics) => Map(metrics, e => JsonValue.Create(e))!;

    public static JsonObject Edge(EdgeView edge) => new()
    {
        ["ref"] = edge.Ref,
        ["kind"] = edge.Kind.ToName(),
        ["how"] = edge.How,
        ["message"] = edge.Message,
    };

    public static JsonObject Version(LineageGraph graph, ModelVersion version) => Version(VersionListing.Of(graph, version));

    /// <summary>A version as <c>ls --json</c> lists it.</summary>
    public static JsonObject Version(VersionListing listing) => new()
    {
        ["ref"] = listing.Version.Ref,
        ["name"] = listing.Version.Name,
        ["version"] = listing.Version.Version,
        ["type"] = listing.Version.Type,
        ["parents"] = Array(listing.Parents, Edge),
        ["logical_bytes"] = listing.Version.LogicalBytes,
        ["added_at"] = listing.Version.AddedAt,
        ["message"] = listing.Version.Message,
        ["metadata"] = Map(listing.Version.Metadata),
        ["lossy"] = listing.Version.Lossy,
        ["error_bound"] = listing.Version.ErrorBound,
        ["tags"] = Array(listing.Tags),
    };
}
