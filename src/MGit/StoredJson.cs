using System.Text.Json;
using System.Text.Json.Serialization;
using MGit.Remotes;
using MGit.Storage;

namespace MGit;

// The JSON that mgit stores and reads, compiled ahead of time by the System.Text.Json source
// generator: no reflection at run time, so every command starts faster, and the CLI can be
// published as a native executable. Property order and names are those of the types, as before.

/// <summary>Content-addressed documents (manifests, lineage snapshots): compact, nulls left out.</summary>
[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(Manifest))]
[JsonSerializable(typeof(LineageSnapshot))]
internal sealed partial class StoredJson : JsonSerializerContext;

/// <summary>Settings files people may read or edit: indented.</summary>
[JsonSourceGenerationOptions(WriteIndented = true)]
[JsonSerializable(typeof(RepositoryFormat))]
[JsonSerializable(typeof(RemoteConfig))]
[JsonSerializable(typeof(RemoteFormat))]
internal sealed partial class SettingsJson : JsonSerializerContext;

/// <summary>Small values: lineage database columns (test metrics, id lists for queries) and JSON-quoted keys in diff paths.</summary>
[JsonSerializable(typeof(IReadOnlyDictionary<string, JsonElement>))]
[JsonSerializable(typeof(IReadOnlyCollection<long>))]
[JsonSerializable(typeof(string))]
internal sealed partial class ColumnJson : JsonSerializerContext;
