using System.Text.Json;
using System.Text.Json.Serialization;
using MGit.Errors;

namespace MGit.Remotes;

/// <summary>A named remote: where it is, and for S3-compatible servers the endpoint.</summary>
public sealed record RemoteEntry(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("url")] string Url,
    [property: JsonPropertyName("endpoint")] string? Endpoint);

/// <summary>
/// <c>.mgit/remotes.json</c>: the configured remotes, and which one a lazy clone fetches missing
/// objects from. Kept out of the lineage database and out of mgit.json: it is local settings, not
/// repository content, and an older mgit simply ignores the file.
/// </summary>
internal sealed record RemoteConfig
{
    public const string FileName = "remotes.json";

    [JsonPropertyName("remotes")] public IReadOnlyList<RemoteEntry> Remotes { get; init; } = [];

    /// <summary>Set in a lazy clone: the remote that objects missing here are fetched from on use.</summary>
    [JsonPropertyName("lazy_from")] public string? LazyFrom { get; init; }

    public RemoteEntry Get(string name) =>
        Remotes.FirstOrDefault(r => r.Name == name)
        ?? throw new MGitException(ErrorKind.NotFound, Remotes.Count == 0
            ? $"no remote named '{name}' (no remotes are configured; 'mgit remote add NAME URL' adds one)"
            : $"no remote named '{name}' (remotes: {string.Join(", ", Remotes.Select(r => r.Name))})");

    public static RemoteConfig Load(string metadataDirectory)
    {
        string path = Path.Combine(metadataDirectory, FileName);
        if (!File.Exists(path))
        {
            return new RemoteConfig();
        }

        RemoteConfig config;
        try
        {
            config = JsonSerializer.Deserialize(File.ReadAllBytes(path), RemoteSettingsJson.Default.RemoteConfig) ?? new RemoteConfig();
        }
        catch (JsonException e)
        {
            throw new MGitException(ErrorKind.Damaged, $"{path} is unreadable: {e.Message}");
        }

        // A file written by hand or by an older mgit may hold a user:password in a URL or endpoint.
        // It is masked as it is read, so no listing or message can ever show it; using such a
        // remote is refused (RemoteBackends.Validate), and a later save keeps only the mask.
        return config.Remotes.Any(r => RemoteBackends.HasCredentials(r.Url) || (r.Endpoint is { } e && RemoteBackends.HasCredentials(e)))
            ? config with { Remotes = config.Remotes.Select(r => r with { Url = RemoteBackends.Redact(r.Url), Endpoint = r.Endpoint is null ? null : RemoteBackends.Redact(r.Endpoint) }).ToList() }
            : config;
    }

    public void Save(string metadataDirectory)
    {
        string path = Path.Combine(metadataDirectory, FileName);
        string temp = $"{path}.{Environment.ProcessId}.tmp";
        File.WriteAllBytes(temp, JsonSerializer.SerializeToUtf8Bytes(this, RemoteSettingsJson.Default.RemoteConfig));
        File.Move(temp, path, overwrite: true);
    }

    /// <summary>Remote names are short words: they appear in commands and messages.</summary>
    public static void ValidateName(string name)
    {
        if (name.Length is 0 or > 64 || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.') || name[0] is '-' or '.')
        {
            throw new MGitException(ErrorKind.InvalidInput, $"'{name}' is not a valid remote name (letters, digits, '-', '_' and '.', up to 64)");
        }
    }
}
