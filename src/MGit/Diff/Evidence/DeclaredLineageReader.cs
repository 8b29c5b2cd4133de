using System.Globalization;
using System.Text.Json;
using MGit.Errors;
using MGit.Formats;
using MGit.Formats.Gguf;
using MGit.Formats.Safetensors;

namespace MGit.Diff.Evidence;

/// <summary>
/// Reads what a model's files say about the model it was made from: a Hugging Face card's
/// <c>base_model</c>, <c>config.json</c>'s <c>_name_or_path</c>, a PEFT adapter's base, keys of a
/// safetensors <c>__metadata__</c>, a GGUF's <c>general.base_model.*</c>. Every read is bounded (a
/// file over its cap is skipped with a note) and nothing a file says can make it throw: a file it
/// cannot read becomes a note, because declared lineage only ever adds to what the weights show.
/// </summary>
internal static class DeclaredLineageReader
{
    /// <summary>config.json and adapter_config.json are read whole, so only up to this size (real ones are a few KiB; vocabularies live elsewhere).</summary>
    public const int MaxJsonBytes = 4 * 1024 * 1024;

    /// <summary>safetensors <c>__metadata__</c> keys that name a base (kohya's LoRA trainer writes <c>ss_sd_model_name</c>).</summary>
    private static readonly string[] SafetensorsKeys = ["base_model", "base_model_name_or_path", "_name_or_path", "parent", "ss_sd_model_name"];

    private static readonly SafetensorsFormat Safetensors = new();
    private static readonly GgufFormat Gguf = new();

    /// <summary>
    /// The claims of a model's files: (full path, path inside the model) for each, one entry for a
    /// single-file model. Weight files whose layout the caller has already read can be passed in
    /// <paramref name="layouts"/> (by path inside the model) so their headers are not read again.
    /// </summary>
    public static DeclaredLineage Read(IReadOnlyList<(string FullPath, string RelativePath)> files, IReadOnlyDictionary<string, FileLayout>? layouts = null)
    {
        var claims = new List<BaseClaim>();
        var notes = new List<string>();
        var weightClaims = new HashSet<(string Base, string? Relation, string Key)>();
        string? folder = files.Count == 0 ? null : ModelFolder(files[0]);
        // A lone weights file is a single-file model: it has no folder of its own to be named by path.
        bool isFolder = files.Count != 1 || Rank(files[0].RelativePath) != 3 || !IsRootFile(files[0].RelativePath);

        // The card first, then configs, then weights: the card is what the author wrote for people.
        foreach (var (full, relative) in files.OrderBy(f => Rank(f.RelativePath)).ThenBy(f => f.RelativePath, StringComparer.Ordinal))
        {
            int rank = Rank(relative);
            if (rank == int.MaxValue)
            {
                continue;
            }

            try
            {
                switch (rank)
                {
                    case 0:
                        ModelCard.Read(full, relative, claims, notes);
                        break;
                    case 1:
                        ReadJson(full, relative, ["_name_or_path", "base_model_name_or_path"], relation: null, folder, claims, notes);
                        break;
                    case 2:
                        ReadJson(full, relative, ["base_model_name_or_path"], relation: "finetune", folder, claims, notes);
                        break;
                    default:
                        var layout = layouts?.GetValueOrDefault(relative) ?? ReadLayout(full, relative);
                        var found = new List<BaseClaim>();
                        FromWeights(layout, relative, isFolder ? folder : null, found);
                        foreach (var claim in found)
                        {
                            // Shards of one checkpoint repeat one another's metadata: the first shard speaks for all.
                            string key = claim.Source[(relative.Length + 1)..];
                            if (weightClaims.Add((claim.Base.ToLowerInvariant(), claim.Relation, key)))
                            {
                                claims.Add(claim);
                            }
                        }

                        break;
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or MGitException)
            {
                // A format error already names the file: only its problem goes in brackets.
                notes.Add($"{relative}: not read for its base model ({OneLine(e is InvalidModelFileException bad ? bad.Problem : e.Message)})");
            }
        }

        return new DeclaredLineage(claims, notes);
    }

    /// <summary>
    /// The claims a weights file's header metadata makes (safetensors <c>__metadata__</c>, GGUF
    /// <c>general.*</c>), for a caller that has its layout; <paramref name="folder"/> is the model's
    /// own folder, if it is one (a claim of its own path is ignored).
    /// </summary>
    public static void FromWeights(FileLayout layout, string display, string? folder, List<BaseClaim> claims)
    {
        if (layout.Metadata is not { } metadata)
        {
            return;
        }

        if (layout.Format == Safetensors.Name)
        {
            foreach (string key in SafetensorsKeys)
            {
                if (metadata.TryGetValue(key, out string? value) && Usable(value, folder))
                {
                    claims.Add(key == "ss_sd_model_name"
                        ? new BaseClaim(value.Trim(), "finetune", $"{display} __metadata__ {key} (adapter)")
                        : new BaseClaim(value.Trim(), null, $"{display} __metadata__ {key}"));
                }
            }
        }
        else if (layout.Format == Gguf.Name)
        {
            FromGguf(metadata, display, claims);
        }
    }

    /// <summary>
    /// A GGUF's source (the model it was converted from, the nearer ancestor) and its base models
    /// (llama.cpp's gguf.md: <c>general.base_model.count</c>, then <c>.{id}.repo_url</c>,
    /// <c>.{id}.organization</c> and <c>.{id}.name</c> for each).
    /// </summary>
    private static void FromGguf(IReadOnlyDictionary<string, string> metadata, string display, List<BaseClaim> claims)
    {
        if (metadata.TryGetValue("general.source.repo_url", out string? source) && !string.IsNullOrWhiteSpace(source))
        {
            claims.Add(new BaseClaim(source.Trim(), null, $"{display} general.source.repo_url"));
        }

        if (!metadata.TryGetValue("general.base_model.count", out string? countText)
            || !int.TryParse(countText, NumberStyles.None, CultureInfo.InvariantCulture, out int count))
        {
            return;
        }

        // The count is the file's word: only as many entries as the header can have held are looked up.
        count = Math.Min(count, HeaderLimits.MaxMetadataEntries);
        var bases = new List<(string Name, string Key)>();
        for (int i = 0; i < count; i++)
        {
            string prefix = $"general.base_model.{i.ToString(CultureInfo.InvariantCulture)}.";
            if (Text(prefix + "repo_url") is { } url)
            {
                bases.Add((url, prefix + "repo_url"));
            }
            else if (Text(prefix + "name") is { } name)
            {
                // convert_hf_to_gguf splits a Hub id into organization and name; put it back together.
                bases.Add(Text(prefix + "organization") is { } organization ? ($"{organization}/{name}", prefix + "organization/name") : (name, prefix + "name"));
            }
        }

        string? relation = bases.Count > 1 ? "merge" : null;
        foreach (var (name, key) in bases)
        {
            claims.Add(new BaseClaim(name, relation, $"{display} {key}"));
        }

        string? Text(string key) => metadata.TryGetValue(key, out string? value) && !string.IsNullOrWhiteSpace(value) ? value.Trim() : null;
    }

    /// <summary>Which source a file is (card, config, adapter config, weights), or <see cref="int.MaxValue"/> for none.</summary>
    private static int Rank(string relative)
    {
        if (IsRootFile(relative))
        {
            if (relative.Equals("README.md", StringComparison.OrdinalIgnoreCase))
            {
                return 0;
            }

            if (relative.Equals("config.json", StringComparison.Ordinal))
            {
                return 1;
            }

            if (relative.Equals("adapter_config.json", StringComparison.Ordinal))
            {
                return 2;
            }
        }

        string name = relative[(relative.LastIndexOf('/') + 1)..];
        return Safetensors.ClaimsByName(name) || Gguf.ClaimsByName(name) ? 3 : int.MaxValue;
    }

    /// <summary>Only the top folder's card and configs describe the model (a diffusers folder's <c>unet/config.json</c> describes a part).</summary>
    private static bool IsRootFile(string relative) => !relative.Contains('/', StringComparison.Ordinal);

    /// <summary>The folder the model's paths are relative to.</summary>
    private static string ModelFolder((string FullPath, string RelativePath) file)
    {
        string full = Path.GetFullPath(file.FullPath);
        int depth = file.RelativePath.Count(c => c == '/') + 1;
        string folder = full;
        for (int i = 0; i < depth; i++)
        {
            folder = Path.GetDirectoryName(folder) ?? folder;
        }

        return folder;
    }

    private static FileLayout ReadLayout(string full, string relative)
    {
        using var stream = new FileStream(full, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1);
        var format = Safetensors.ClaimsByName(relative) ? (IModelFormat)Safetensors : Gguf;
        return format.ReadLayout(stream, stream.Length, relative);
    }

    private static void ReadJson(string full, string relative, string[] keys, string? relation, string? folder, List<BaseClaim> claims, List<string> notes)
    {
        byte[] bytes;
        using (var stream = new FileStream(full, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1))
        {
            if (stream.Length > MaxJsonBytes)
            {
                notes.Add($"{relative}: larger than {MaxJsonBytes / (1024 * 1024)} MiB; not read for its base model");
                return;
            }

            bytes = new byte[stream.Length];
            stream.ReadExactly(bytes);
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(bytes, new JsonDocumentOptions { MaxDepth = 64, AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
        }
        catch (JsonException e)
        {
            notes.Add($"{relative}: not valid JSON ({OneLine(e.Message)}); not read for its base model");
            return;
        }

        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                notes.Add($"{relative}: not a JSON object; not read for its base model");
                return;
            }

            foreach (string key in keys)
            {
                if (document.RootElement.TryGetProperty(key, out var value) && value.ValueKind == JsonValueKind.String
                    && value.GetString() is { } name && Usable(name, folder)
                    && !claims.Any(c => c.Base.Equals(name.Trim(), StringComparison.OrdinalIgnoreCase) && c.Source.StartsWith(relative + " ", StringComparison.Ordinal)))
                {
                    claims.Add(new BaseClaim(name.Trim(), relation, relation is null ? $"{relative} {key}" : $"{relative} {key} (adapter)"));
                }
            }
        }
    }

    /// <summary>
    /// Whether a named base is worth a claim: not empty, and not a path to the model's own folder
    /// (transformers writes where a model was loaded from, which for a re-saved model is itself).
    /// </summary>
    private static bool Usable(string value, string? folder)
    {
        string name = value.Trim();
        if (name.Length == 0)
        {
            return false;
        }

        if (folder is null || !LooksLikePath(name))
        {
            return true;
        }

        string trimmed = name.TrimEnd('/', '\\');
        if (trimmed is "." or "")
        {
            return false;
        }

        string last = trimmed[(trimmed.LastIndexOfAny(['/', '\\']) + 1)..];
        string own = Path.GetFileName(Path.TrimEndingDirectorySeparator(folder));
        if (Path.IsPathRooted(trimmed))
        {
            return !string.Equals(Path.TrimEndingDirectorySeparator(Path.GetFullPath(trimmed)), Path.TrimEndingDirectorySeparator(folder), StringComparison.Ordinal);
        }

        // A relative path was relative to wherever the script ran: its last folder is all that can be compared.
        return !string.Equals(last, own, StringComparison.Ordinal);
    }

    private static bool LooksLikePath(string name) =>
        !name.Contains("://", StringComparison.Ordinal)
        && (Path.IsPathRooted(name) || name.StartsWith('.') || name.StartsWith('~') || name.Contains('\\', StringComparison.Ordinal)
            || name.EndsWith('/') || name.Count(c => c == '/') > 1);

    private static string OneLine(string s) => s.ReplaceLineEndings(" ").Trim();
}
