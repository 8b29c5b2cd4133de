using System.Text.Json;
using System.Text.Json.Serialization;

namespace MGit.Testing;

/// <summary>
/// Lineage database columns of the test registry (result metrics, id lists for queries), compiled
/// ahead of time by the System.Text.Json source generator; default options, as stored so far.
/// </summary>
[JsonSerializable(typeof(IReadOnlyDictionary<string, JsonElement>))]
[JsonSerializable(typeof(IReadOnlyCollection<long>))]
internal sealed partial class TestingJson : JsonSerializerContext;
