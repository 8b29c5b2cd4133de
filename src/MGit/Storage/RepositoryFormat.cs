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
    public const int DefaultMaxDeltaDepth = 8;
    public const int DefaultChunkSize = 4 * 1024 * 1024;
    public const string FileName = "mgit.json";

    [JsonPropertyName("format_version")] public int FormatVersion { get; init; } = CurrentVersion;
    [JsonPropertyName("hash")] public string Hash { get; init; } = "blake3";
    [JsonPropertyName("chunk_size")] public int ChunkSize { get; init; } = DefaultChunkSize;
    [JsonPropertyName("max_delta_depth")] public int MaxDeltaDepth { get; init; } = DefaultMaxDeltaDepth;
    [JsonPropertyName("created_by")] public string? CreatedBy { get; init; }

    public void Save(string path)
    {
        string temp = path + ".tmp";
        File.WriteAllBytes(temp, JsonSerializer.SerializeToUtf8Bytes(this, StorageSettingsJson.Default.RepositoryFormat));
        File.Move(temp, path, overwrite: true);
    }

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

    /// <param name="invalid">The kind of error for a value out of range: damage in a stored file, bad input in a requested format.</param>
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
