using System.Text.Json;
using System.Text.Json.Serialization;
using MGit.Errors;

namespace MGit.Storage;

/// <summary>
/// The repository's format description, <c>.mgit/mgit.json</c>: the single place that says which
/// on-disk format a repository uses. Bump <see cref="CurrentVersion"/> when the object layout,
/// manifest schema, lineage schema or chunking rule changes meaning; keep a fixture of the old
/// version in the tests and either read it or refuse it with a clear message.
/// </summary>
public sealed record RepositoryFormat
{
    /// <summary>
    /// 1: loose objects (raw, zstd, byte planes), byte-sized chunks. 2: adds delta objects (against
    /// a base chunk: XOR, cast, prune) and element-aligned chunks for tensors. 3: new objects carry
    /// a checksum of their content in a 32-byte header (object format 2). Older formats read as is.
    /// </summary>
    public const int CurrentVersion = 3;
    /// <summary>Delta chain depth of a new repository (see <see cref="MaxDeltaDepth"/>).</summary>
    public const int DefaultMaxDeltaDepth = 8;
    /// <summary>Chunk size of a new repository, 4 MiB.</summary>
    public const int DefaultChunkSize = 4 * 1024 * 1024;
    /// <summary>Name of the format file inside <c>.mgit</c>.</summary>
    public const string FileName = "mgit.json";

    /// <summary>The on-disk format version of the repository (see <see cref="CurrentVersion"/>).</summary>
    [JsonPropertyName("format_version")] public int FormatVersion { get; init; } = CurrentVersion;
    /// <summary>The hash that names objects; always <c>"blake3"</c> today.</summary>
    [JsonPropertyName("hash")] public string Hash { get; init; } = "blake3";
    /// <summary>Bytes per chunk for skeleton and blobs; since format 2 tensors are cut every chunk_size/4 elements instead.</summary>
    [JsonPropertyName("chunk_size")] public int ChunkSize { get; init; } = DefaultChunkSize;
    /// <summary>The most delta objects a chunk may have to be rebuilt through; limits the cost of reading one chunk.</summary>
    [JsonPropertyName("max_delta_depth")] public int MaxDeltaDepth { get; init; } = DefaultMaxDeltaDepth;
    /// <summary>The mgit version that created the repository, for diagnosis; not checked.</summary>
    [JsonPropertyName("created_by")] public string? CreatedBy { get; init; }

    /// <summary>Writes the description to <paramref name="path"/>, replacing any file there in one step.</summary>
    public void Save(string path)
    {
        string temp = path + ".tmp";
        File.WriteAllBytes(temp, JsonSerializer.SerializeToUtf8Bytes(this, StorageSettingsJson.Default.RepositoryFormat));
        File.Move(temp, path, overwrite: true);
    }

    /// <summary>Reads and validates the description at <paramref name="path"/>.</summary>
    /// <exception cref="MGitException">The file is unreadable or damaged, or uses a format this mgit does not support.</exception>
    public static RepositoryFormat Load(string path)
    {
        RepositoryFormat? format;
        try
        {
            format = JsonSerializer.Deserialize(File.ReadAllBytes(path), StorageSettingsJson.Default.RepositoryFormat);
        }
        catch (JsonException e)
        {
            throw new MGitException(ErrorKind.Damaged, $"{path} is unreadable: {e.Message}", e);
        }
        catch (IOException e)
        {
            throw new MGitException(ErrorKind.Io, $"{path} is unreadable: {e.Message}", e);
        }

        if (format is null)
        {
            throw new MGitException(ErrorKind.Damaged, $"{path} is empty");
        }

        Validate(format, path);
        return format;
    }

    /// <summary>Checks every value of a format description.</summary>
    /// <param name="format">The description to check.</param>
    /// <param name="path">Where it came from, named in the error.</param>
    /// <param name="invalid">The kind of error for a value out of range: damage in a stored file, bad input in a requested format.</param>
    /// <exception cref="MGitException">A value is out of range, or the format version is newer than this mgit supports.</exception>
    public static void Validate(RepositoryFormat format, string path, ErrorKind invalid = ErrorKind.Damaged)
    {
        if (format.FormatVersion > CurrentVersion)
        {
            throw new MGitException(ErrorKind.Unsupported, $"this repository uses format version {format.FormatVersion}, newer than this mgit supports ({CurrentVersion}); upgrade mgit");
        }

        if (format.FormatVersion < 1)
        {
            throw new MGitException(invalid, $"{path} names an invalid format version {format.FormatVersion}");
        }

        if (format.Hash != "blake3")
        {
            throw new MGitException(ErrorKind.Unsupported, $"this repository hashes with '{format.Hash}', which this mgit does not support");
        }

        if (format.ChunkSize < 1024 || format.ChunkSize > 64 * 1024 * 1024 || format.ChunkSize % 64 != 0)
        {
            throw new MGitException(invalid, $"{path} names an invalid chunk size {format.ChunkSize}");
        }

        if (format.MaxDeltaDepth is < 0 or > 32)
        {
            throw new MGitException(invalid, $"{path} names an invalid max_delta_depth {format.MaxDeltaDepth} (0 to 32)");
        }
    }
}
