using System.Text.Json.Serialization;

namespace MGit.Remotes;

// The JSON that remotes store, compiled ahead of time by the System.Text.Json source generator.
// The options are part of the stored format: a snapshot is named by the hash of its bytes.

/// <summary>Lineage snapshots, content-addressed: compact, nulls left out.</summary>
[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(LineageSnapshot))]
internal sealed partial class RemoteJson : JsonSerializerContext;

/// <summary>Remote settings (the repository's remotes, a remote's format file), which people may read or edit: indented.</summary>
[JsonSourceGenerationOptions(WriteIndented = true)]
[JsonSerializable(typeof(RemoteConfig))]
[JsonSerializable(typeof(RemoteFormat))]
internal sealed partial class RemoteSettingsJson : JsonSerializerContext;
