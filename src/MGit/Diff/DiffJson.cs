using System.Text.Json.Serialization;

namespace MGit.Diff;

/// <summary>JSON-quoted keys in diff paths, compiled ahead of time by the System.Text.Json source generator.</summary>
[JsonSerializable(typeof(string))]
internal sealed partial class DiffJson : JsonSerializerContext;
