using System.Text.Json;
using System.Text.Json.Serialization;
using MGit.Errors;
using MGit.Formats;
using MGit.Primitives;

namespace MGit.Storage;

/// <summary>
/// How to rebuild every file of one model version: each file is an ordered list of segments,
/// each segment a list of chunk objects. Stored as a content-addressed JSON object, so a
/// version's content is named by one id (which later lets remotes and merges move it as is).
/// </summary>
public sealed record Manifest
{
    /// <summary>
    /// The newest manifest schema this mgit reads; bump it when a field changes meaning or a field
    /// an older reader would silently drop is added. 1: files and empty folders. 2: symbolic links
    /// (<see cref="Links"/>). A manifest is written with the lowest schema that holds it, so one
    /// without links stays schema 1, byte for byte as before, and readable by older mgit.
    /// </summary>
    public const int CurrentSchema = 2;

    /// <summary>The schema of a manifest that records symbolic links.</summary>
    public const int LinksSchema = 2;

    /// <summary>Schema version this manifest was written with (see <see cref="CurrentSchema"/>).</summary>
    [JsonPropertyName("schema")] public int Schema { get; init; } = 1;
    /// <summary>Whether the model is a single file (<c>"file"</c>) or a folder of files (<c>"folder"</c>).</summary>
    [JsonPropertyName("kind")] public required string Kind { get; init; } // "file" or "folder"
    /// <summary>The model's files, each with the chunks that rebuild it.</summary>
    [JsonPropertyName("files")] public required IReadOnlyList<ManifestFile> Files { get; init; }
    /// <summary>Folders of a folder model that hold no files, kept so a checkout recreates them.</summary>
    [JsonPropertyName("directories")] public IReadOnlyList<string> EmptyDirectories { get; init; } = [];

    /// <summary>Symbolic links of a folder model, each pointing inside it (schema 2; absent when there are none).</summary>
    [JsonPropertyName("links")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<ManifestLink>? Links { get; init; }

    /// <summary>Total size in bytes of the model's files as checked out (before dedup and compression).</summary>
    [JsonIgnore] public long LogicalBytes => Files.Sum(f => f.Length);

    /// <summary>Every chunk object the manifest refers to, repeats included.</summary>
    [JsonIgnore] public IEnumerable<ObjectId> ChunkIds => Files.SelectMany(f => f.Segments).SelectMany(s => s.Chunks).Select(ObjectId.Parse);

    /// <summary>Serializes the manifest to the JSON stored as its object.</summary>
    public byte[] ToJson() => JsonSerializer.SerializeToUtf8Bytes(this, StorageJson.Default.Manifest);

    /// <summary>Reads a manifest from its stored JSON.</summary>
    /// <param name="json">The manifest object's bytes.</param>
    /// <param name="what">Names the manifest in error messages.</param>
    /// <exception cref="MGitException">The manifest is unreadable, empty or inconsistent, or its schema is newer than this mgit reads.</exception>
    public static Manifest FromJson(ReadOnlySpan<byte> json, string what)
    {
        Manifest? manifest;
        try
        {
            manifest = JsonSerializer.Deserialize(json, StorageJson.Default.Manifest);
        }
        catch (JsonException e)
        {
            throw new MGitException(ErrorKind.Damaged, $"manifest {what} is unreadable: {e.Message}");
        }

        if (manifest is null)
        {
            throw new MGitException(ErrorKind.Damaged, $"manifest {what} is empty");
        }

        if (manifest.Schema > CurrentSchema)
        {
            throw new MGitException(ErrorKind.Unsupported, $"manifest {what} uses schema {manifest.Schema}, newer than this mgit understands ({CurrentSchema}); upgrade mgit");
        }

        if (manifest.Problem() is { } problem)
        {
            throw new MGitException(ErrorKind.Damaged, $"manifest {what} {problem}");
        }

        return manifest;
    }

    /// <summary>
    /// What makes this manifest unsafe or impossible to check out, or null: every path it names
    /// must pass <see cref="ModelPaths"/>, a single-file model holds one file named by a plain file
    /// name, and a folder model names each path once.
    /// </summary>
    public string? Problem()
    {
        if (Kind is not ("file" or "folder"))
        {
            return $"has an unknown kind '{ModelPaths.Printable(Kind)}'";
        }

        if (Files is null || EmptyDirectories is null || Files.Any(f => f is null) || EmptyDirectories.Any(d => d is null) || (Links?.Any(l => l is null) ?? false))
        {
            return "has a missing list";
        }

        var links = Links ?? [];
        if (Kind == "file")
        {
            if (Files.Count != 1 || EmptyDirectories.Count != 0 || links.Count != 0)
            {
                return $"is a single-file model with {Files.Count} files";
            }

            string name = Files[0].Path;
            return ModelPaths.Problem(name) is { } problem ? $"names {problem}: '{ModelPaths.Printable(name)}'"
                : name.Contains('/', StringComparison.Ordinal) ? $"names a file in a folder for a single-file model: '{ModelPaths.Printable(name)}'"
                : null;
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (string path in Files.Select(f => f.Path).Concat(EmptyDirectories).Concat(links.Select(l => l.Path)))
        {
            if (ModelPaths.Problem(path) is { } problem)
            {
                return $"names {problem}: '{ModelPaths.Printable(path)}'";
            }

            if (!seen.Add(path))
            {
                return $"names '{ModelPaths.Printable(path)}' twice";
            }
        }

        if (links.Count == 0)
        {
            return null;
        }

        // Nothing is written through a link: no path may lie inside one (each path's folders, once).
        var linkPaths = links.Select(l => l.Path).ToHashSet(StringComparer.Ordinal);
        foreach (string path in seen)
        {
            for (int slash = path.IndexOf('/', StringComparison.Ordinal); slash > 0; slash = path.IndexOf('/', slash + 1))
            {
                if (linkPaths.Contains(path[..slash]))
                {
                    return $"names '{ModelPaths.Printable(path)}' inside the link '{ModelPaths.Printable(path[..slash])}'";
                }
            }
        }

        foreach (var link in links)
        {
            if (ModelPaths.LinkTargetProblem(link.Path, link.Target, linkPaths.Contains) is { } problem)
            {
                return $"has a link '{ModelPaths.Printable(link.Path)}' {problem}";
            }
        }

        return null;
    }
}

/// <summary>A symbolic link of a folder model: where it is, and the relative target it names (inside the model).</summary>
public sealed record ManifestLink(
    [property: JsonPropertyName("path")] string Path,
    [property: JsonPropertyName("target")] string Target);

/// <summary>One file of a model version: its format, length and the segments that rebuild its bytes in order.</summary>
public sealed record ManifestFile
{
    /// <summary>Path relative to the model root, '/'-separated; the file name for a single-file model.</summary>
    [JsonPropertyName("path")] public required string Path { get; init; }
    /// <summary>The model format detected for the file (<c>"safetensors"</c>, <c>"onnx"</c>, ...), as in <see cref="Formats.Catalog.ModelFormats"/>.</summary>
    [JsonPropertyName("format")] public required string Format { get; init; }
    /// <summary>Length of the file in bytes.</summary>
    [JsonPropertyName("length")] public required long Length { get; init; }
    /// <summary>Chunk size of segments that do not name their own (skeleton and blobs; every segment in format 1).</summary>
    [JsonPropertyName("chunk_size")] public required int ChunkSize { get; init; }
    /// <summary>The file's bytes in order, cut at tensor boundaries; together they cover the whole file.</summary>
    [JsonPropertyName("segments")] public required IReadOnlyList<ManifestSegment> Segments { get; init; }
    /// <summary>Format-level metadata of the file (safetensors' <c>__metadata__</c>, for instance), shown in details and diffs.</summary>
    [JsonPropertyName("metadata")] public IReadOnlyDictionary<string, string>? Metadata { get; init; }

    /// <summary>Tensors that are views into shared segments (PyTorch storages); absent when every tensor is its own segment.</summary>
    [JsonPropertyName("views")] public IReadOnlyList<ManifestView>? Views { get; init; }

    /// <summary>The size of each chunk of <paramref name="segment"/> (all but its last), in bytes.</summary>
    public int ChunkBytesOf(ManifestSegment segment) => segment.ChunkBytes ?? ChunkSize;

    /// <summary>The tensors users see: the views when the format has them, else the tensor segments; each with the segment holding its bytes.</summary>
    public IEnumerable<ListedTensor> ListedTensors() =>
        Views is { } views
            ? views.Select(v => new ListedTensor(new ManifestTensor { Name = v.Name, Dtype = v.Dtype, Shape = v.Shape }, v.Segment is int i && i >= 0 && i < Segments.Count ? Segments[i] : null, v.Offset, v.Length, v))
            : Segments.Where(s => s.Tensor is not null).Select(s => new ListedTensor(s.Tensor!, s, s.Offset, s.Length, null));
}

/// <summary>A tensor as listed to users; <see cref="Segment"/> holds its bytes (null when they are skeleton), <see cref="View"/> is set for a view into it.</summary>
public sealed record ListedTensor(ManifestTensor Tensor, ManifestSegment? Segment, long Offset, long Length, ManifestView? View);

/// <summary>A tensor stored as a strided view into a segment (see <see cref="Formats.TensorView"/>).</summary>
public sealed record ManifestView
{
    /// <summary>The tensor's name in the file.</summary>
    [JsonPropertyName("name")] public required string Name { get; init; }
    /// <summary>The tensor's element type, as the format names it.</summary>
    [JsonPropertyName("dtype")] public required string Dtype { get; init; }
    /// <summary>The tensor's dimensions.</summary>
    [JsonPropertyName("shape")] public required IReadOnlyList<long> Shape { get; init; }
    /// <summary>Index of the segment holding the bytes, or null when they are not a span of the file.</summary>
    [JsonPropertyName("segment")] public int? Segment { get; init; }
    /// <summary>Offset, in elements, of the view's first element within its storage.</summary>
    [JsonPropertyName("storage_offset")] public long StorageOffset { get; init; }
    /// <summary>Step, in elements, between neighbours along each dimension.</summary>
    [JsonPropertyName("stride")] public required IReadOnlyList<long> Stride { get; init; }
    /// <summary>File offset of the first element, and the bytes the view spans from there.</summary>
    [JsonPropertyName("offset")] public long Offset { get; init; }
    /// <summary>Bytes the view spans from <see cref="Offset"/>.</summary>
    [JsonPropertyName("length")] public long Length { get; init; }
}

/// <summary>A contiguous byte range of a file, stored as a list of chunks; a tensor's data when <see cref="Tensor"/> is set, else skeleton (headers, graph, blobs).</summary>
public sealed record ManifestSegment
{
    /// <summary>Offset of the segment's first byte in the file.</summary>
    [JsonPropertyName("offset")] public required long Offset { get; init; }
    /// <summary>Length of the segment in bytes.</summary>
    [JsonPropertyName("length")] public required long Length { get; init; }
    /// <summary>The tensor whose data this segment holds, or null for skeleton bytes.</summary>
    [JsonPropertyName("tensor")] public ManifestTensor? Tensor { get; init; }
    /// <summary>Bytes per chunk of this segment when it differs from the file's chunk_size (tensors are cut by element count).</summary>
    [JsonPropertyName("chunk_bytes")] public int? ChunkBytes { get; init; }
    /// <summary>Chunk object ids: every chunk holds the segment's chunk bytes but the last.</summary>
    [JsonPropertyName("chunks")] public required IReadOnlyList<string> Chunks { get; init; }
}

/// <summary>A tensor as recorded in a manifest: name, element type and shape.</summary>
public sealed record ManifestTensor
{
    /// <summary>The tensor's name in the file.</summary>
    [JsonPropertyName("name")] public required string Name { get; init; }
    /// <summary>The tensor's element type, as the format names it.</summary>
    [JsonPropertyName("dtype")] public required string Dtype { get; init; }
    /// <summary>The tensor's dimensions.</summary>
    [JsonPropertyName("shape")] public required IReadOnlyList<long> Shape { get; init; }

    /// <summary>The same tensor as the formats describe it.</summary>
    public TensorInfo ToInfo() => new(Name, Dtype, Shape);
}
