using System.Text.Json.Serialization;

namespace MGit.Storage;

// The JSON that storage writes, compiled ahead of time by the System.Text.Json source generator:
// no reflection at run time (faster start, native CLI). Names and order are those of the types;
// the options are part of the stored format: changing them changes the bytes of every manifest.

/// <summary>Manifests, content-addressed: compact, nulls left out.</summary>
[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(Manifest))]
internal sealed partial class StorageJson : JsonSerializerContext;

/// <summary>The repository format file, which people may read: indented.</summary>
[JsonSourceGenerationOptions(WriteIndented = true)]
[JsonSerializable(typeof(RepositoryFormat))]
internal sealed partial class StorageSettingsJson : JsonSerializerContext;
