using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using MGit.Errors;
using MGit.Lineage;
using MGit.Storage;

namespace MGit.Remotes;

/// <summary>One version as it travels between repositories.</summary>
public sealed record SnapshotVersion
{
    /// <summary>The version's identity across repositories: see <see cref="LineageSnapshot.KeyOf"/>.</summary>
    [JsonPropertyName("key")] public required string Key { get; init; }
    [JsonPropertyName("name")] public required string Name { get; init; }
    [JsonPropertyName("version")] public required int Version { get; init; }
    [JsonPropertyName("type")] public string? Type { get; init; }
    [JsonPropertyName("manifest")] public required string Manifest { get; init; }
    [JsonPropertyName("logical_bytes")] public required long LogicalBytes { get; init; }
    [JsonPropertyName("added_at")] public required string AddedAt { get; init; }
    [JsonPropertyName("message")] public string? Message { get; init; }
    [JsonPropertyName("error_bound")] public double? ErrorBound { get; init; }
    [JsonPropertyName("metadata")] public IReadOnlyDictionary<string, string> Metadata { get; init; } = new Dictionary<string, string>();
    /// <summary>How the version was derived (schema 2), so a clone can run the cascade.</summary>
    [JsonPropertyName("recipe")] public string? Recipe { get; init; }

    public string Ref => $"{Name}@{Version}";
}

/// <summary>One edge, its ends named by version keys.</summary>
public sealed record SnapshotEdge(
    [property: JsonPropertyName("parent")] string Parent,
    [property: JsonPropertyName("child")] string Child,
    [property: JsonPropertyName("kind")] string Kind,
    [property: JsonPropertyName("how")] string? How,
    [property: JsonPropertyName("message")] string? Message);

/// <summary>
/// The lineage graph as a remote stores it: a JSON document named by its BLAKE3, so it is verified
/// like every object and never changes once written. Exported table by table from the lineage
/// database (models and versions, edges, metadata); tables added later travel only once they are
/// listed here, with their own schema bump.
/// </summary>
public sealed record LineageSnapshot
{
    /// <summary>1: versions (with metadata) and edges. 2: versions carry their recipe.</summary>
    public const int CurrentSchema = 2;

    [JsonPropertyName("format")] public string Format { get; init; } = "mgit-lineage";
    [JsonPropertyName("schema")] public int Schema { get; init; } = CurrentSchema;
    [JsonPropertyName("versions")] public required IReadOnlyList<SnapshotVersion> Versions { get; init; }
    [JsonPropertyName("edges")] public required IReadOnlyList<SnapshotEdge> Edges { get; init; }

    public static LineageSnapshot Empty { get; } = new() { Versions = [], Edges = [] };

    /// <summary>
    /// A version's identity in every repository: the BLAKE3 of its name, manifest id (its exact
    /// content) and the instant it was added (to 100 ns). The same file added under the same name
    /// in two repositories is two versions (both are kept); a version copied by push or pull keeps
    /// its key whatever number it ends up with.
    /// </summary>
    public static string KeyOf(string name, string manifest, string addedAt) =>
        ObjectId.Compute(Encoding.UTF8.GetBytes($"mgit-version\n{name}\n{manifest}\n{addedAt}")).ToString();

    public static string AddedAtText(DateTimeOffset addedAt) => addedAt.ToString("O", CultureInfo.InvariantCulture);

    public static string KeyOf(ModelVersion version) => KeyOf(version.Name, version.ManifestId, AddedAtText(version.AddedAt));

    /// <summary>The versions given (every version by default) and the edges between them.</summary>
    public static LineageSnapshot FromGraph(LineageGraph graph, IReadOnlyCollection<ModelVersion>? selection = null, IReadOnlyDictionary<long, string>? recipes = null)
    {
        var versions = selection ?? graph.Versions;
        var keys = versions.ToDictionary(v => v.Id, KeyOf);
        return new LineageSnapshot
        {
            Versions = versions.Select(v => new SnapshotVersion
            {
                Key = keys[v.Id],
                Name = v.Name,
                Version = v.Version,
                Type = v.Type,
                Manifest = v.ManifestId,
                LogicalBytes = v.LogicalBytes,
                AddedAt = AddedAtText(v.AddedAt),
                Message = v.Message,
                ErrorBound = v.ErrorBound,
                Metadata = new SortedDictionary<string, string>(v.Metadata.ToDictionary(), StringComparer.Ordinal),
                Recipe = recipes?.GetValueOrDefault(v.Id),
            }).ToList(),
            Edges = graph.Edges
                .Where(e => keys.ContainsKey(e.ParentId) && keys.ContainsKey(e.ChildId))
                .Select(e => new SnapshotEdge(keys[e.ParentId], keys[e.ChildId], e.Kind.ToName(), e.How, e.Message))
                .ToList(),
        };
    }

    /// <summary>Sorted so that equal graphs give equal bytes (and so equal ids): an unchanged push writes nothing.</summary>
    public byte[] ToJson()
    {
        var canonical = this with
        {
            Versions = Versions.OrderBy(v => v.Name, StringComparer.Ordinal).ThenBy(v => v.Version).ToList(),
            Edges = Edges.OrderBy(e => e.Child, StringComparer.Ordinal).ThenBy(e => e.Parent, StringComparer.Ordinal).ThenBy(e => e.Kind, StringComparer.Ordinal).ToList(),
        };
        return JsonSerializer.SerializeToUtf8Bytes(canonical, StoredJson.Default.LineageSnapshot);
    }

    /// <summary>Parses and checks a snapshot: names, numbers, ids, keys and edge ends must all be sound.</summary>
    public static LineageSnapshot Parse(ReadOnlySpan<byte> json, string what)
    {
        LineageSnapshot? snapshot;
        try
        {
            snapshot = JsonSerializer.Deserialize(json, StoredJson.Default.LineageSnapshot);
        }
        catch (JsonException e)
        {
            throw new MGitException($"{what} is unreadable: {e.Message}");
        }

        if (snapshot is null || snapshot.Format != "mgit-lineage")
        {
            throw new MGitException($"{what} is not an mgit lineage snapshot");
        }

        if (snapshot.Schema > CurrentSchema)
        {
            throw new MGitException($"{what} uses lineage snapshot schema {snapshot.Schema}, newer than this mgit understands ({CurrentSchema}); upgrade mgit");
        }

        var keys = new HashSet<string>(StringComparer.Ordinal);
        var refs = new HashSet<(string, int)>();
        foreach (var v in snapshot.Versions)
        {
            ModelRef.ValidateName(v.Name);
            if (v.Version < 1 || !ObjectId.TryParse(v.Manifest, out _) || v.LogicalBytes < 0 || v.Metadata is null)
            {
                throw new MGitException($"{what}: version {v.Ref} is malformed");
            }

            if (!DateTimeOffset.TryParse(v.AddedAt, CultureInfo.InvariantCulture, DateTimeStyles.None, out _) || KeyOf(v.Name, v.Manifest, v.AddedAt) != v.Key)
            {
                throw new MGitException($"{what}: version {v.Ref} does not match its key");
            }

            if (!keys.Add(v.Key) || !refs.Add((v.Name, v.Version)))
            {
                throw new MGitException($"{what}: version {v.Ref} appears twice");
            }
        }

        foreach (var e in snapshot.Edges)
        {
            if (!keys.Contains(e.Parent) || !keys.Contains(e.Child) || e.Parent == e.Child)
            {
                throw new MGitException($"{what}: an edge names a version it does not hold");
            }

            _ = EdgeKindNames.Parse(e.Kind);
        }

        return snapshot;
    }
}
