using System.Text.Json;
using System.Text.Json.Serialization;
using MGit.Errors;

namespace MGit.Remotes;

/// <summary>
/// <c>mgit-remote.json</c> at a remote's root: the remote's own format version, and the chunking
/// its writers used, so that a clone cuts new files the same way and equal tensors dedupe.
/// Bump <see cref="CurrentVersion"/> when the remote layout or snapshot schema changes meaning.
/// </summary>
internal sealed record RemoteFormat
{
    /// <summary>
    /// 1: loose object files, lineage snapshots, one ref naming the current snapshot. 2: the ref
    /// names a lineage log (a checkpoint and the segments pushed since, see <see cref="LineageLogHead"/>);
    /// a format-1 remote is read as a checkpoint alone and becomes format 2 on its next push.
    /// </summary>
    public const int CurrentVersion = 2;

    [JsonPropertyName("remote_format")] public int Version { get; init; } = CurrentVersion;
    [JsonPropertyName("hash")] public string Hash { get; init; } = "blake3";
    [JsonPropertyName("chunk_size")] public int ChunkSize { get; init; }
    [JsonPropertyName("max_delta_depth")] public int MaxDeltaDepth { get; init; }

    public byte[] ToJson() => JsonSerializer.SerializeToUtf8Bytes(this, RemoteSettingsJson.Default.RemoteFormat);

    public static RemoteFormat Parse(byte[] json, string url)
    {
        RemoteFormat? format;
        try
        {
            format = JsonSerializer.Deserialize(json, RemoteSettingsJson.Default.RemoteFormat);
        }
        catch (JsonException e)
        {
            throw new MGitException(ErrorKind.Damaged, $"remote {url}: {RemoteLayout.FormatKey} is unreadable: {e.Message}");
        }

        if (format is null || format.Version < 1)
        {
            throw new MGitException(ErrorKind.Damaged, $"remote {url}: {RemoteLayout.FormatKey} is not an mgit remote description");
        }

        if (format.Version > CurrentVersion)
        {
            throw new MGitException(ErrorKind.Unsupported, $"remote {url} uses remote format {format.Version}, newer than this mgit supports ({CurrentVersion}); upgrade mgit");
        }

        if (format.Hash != "blake3")
        {
            throw new MGitException(ErrorKind.Unsupported, $"remote {url} hashes with '{format.Hash}', which this mgit does not support");
        }

        return format;
    }
}
