namespace MGit.Diff.Evidence;

/// <summary>
/// Which model of the repository a declared base names. A claim is a Hub id (<c>org/name</c>,
/// <c>name@rev</c>), a Hub URL (<c>https://huggingface.co/org/name</c>, <c>hf://org/name</c>), a
/// path (<c>./models/name/</c>, a Hub cache folder <c>models--org--name/snapshots/...</c>) or a file
/// name; repository models are named however their owner chose. Matches, best first:
/// (1) a model named exactly the claim or its <c>org/name</c>, or with a <c>--meta</c> value equal
/// to either; (2) a model named <c>org-name</c> or <c>org--name</c> (the Hub cache's style);
/// (3) a model named <c>name</c> (or, for a file, its name without the extension). Case is ignored.
/// Two different models at the best level make the claim ambiguous: no match rather than a guess.
/// </summary>
internal static class BaseNameMatcher
{
    private static readonly string[] HubPrefixes = ["https://huggingface.co/", "http://huggingface.co/", "https://hf.co/", "http://hf.co/", "huggingface.co/", "hf.co/", "hf://"];

    /// <summary>File extensions of checkpoints that a claim may name as a file (kohya writes the base's file name).</summary>
    private static readonly string[] FileExtensions = [".safetensors", ".gguf", ".ckpt", ".bin", ".pt", ".pth", ".onnx"];

    /// <summary>
    /// The repository model <paramref name="claim"/> names, or null when none does, when two do
    /// equally well, or when the best match is <paramref name="selfName"/> (a model naming itself,
    /// as a re-saved model's <c>_name_or_path</c> does). The model being placed may be among the
    /// candidates with its metadata: a claim matching its metadata is then known for a self-claim too.
    /// </summary>
    public static string? Match(string claim, string selfName, IReadOnlyList<(string Name, IReadOnlyDictionary<string, string> Meta)> candidates)
    {
        if (Parse(claim) is not { } parsed)
        {
            return null;
        }

        int best = int.MaxValue;
        var winners = new List<string>();
        bool selfSeen = false;
        foreach (var (name, meta) in candidates)
        {
            selfSeen |= IsSelf(name, selfName);
            Consider(name, Level(parsed, name, meta));
        }

        if (!selfSeen)
        {
            Consider(selfName, Level(parsed, selfName, Empty));
        }

        return winners.Count == 1 && !IsSelf(winners[0], selfName) ? winners[0] : null;

        void Consider(string name, int level)
        {
            if (level > best)
            {
                return;
            }

            if (level < best)
            {
                best = level;
                winners.Clear();
            }

            // Names differing in case are different models: matched alike, they are ambiguous.
            if (!winners.Contains(name, StringComparer.Ordinal))
            {
                winners.Add(name);
            }
        }
    }

    private static readonly IReadOnlyDictionary<string, string> Empty = new Dictionary<string, string>();

    private static bool IsSelf(string name, string selfName) => string.Equals(name, selfName, StringComparison.OrdinalIgnoreCase);

    /// <summary>How well a model matches (1 best, 3 worst), or <see cref="int.MaxValue"/> for not at all.</summary>
    private static int Level(Claim claim, string name, IReadOnlyDictionary<string, string> meta)
    {
        string n = name.Trim();
        if (Same(n, claim.Whole) || Same(n, claim.Id) || meta.Values.Any(v => Same(v.Trim(), claim.Whole) || Same(v.Trim(), claim.Id)))
        {
            return 1;
        }

        if (claim.Org is { } org && (Same(n, $"{org}-{claim.Name}") || Same(n, $"{org}--{claim.Name}")))
        {
            return 2;
        }

        return Same(n, claim.Name) || (claim.Stem is { } stem && Same(n, stem)) ? 3 : int.MaxValue;
    }

    private static bool Same(string a, string? b) => b is not null && string.Equals(a, b, StringComparison.OrdinalIgnoreCase);

    /// <summary>A claim taken apart: as written, as <c>org/name</c> (or <c>name</c>), its parts, and a file name's stem.</summary>
    private sealed record Claim(string Whole, string Id, string? Org, string Name, string? Stem);

    private static Claim? Parse(string claim)
    {
        string whole = claim.Trim();
        string rest = whole;
        bool hub = false;
        foreach (string prefix in HubPrefixes)
        {
            if (rest.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
            {
                rest = rest[prefix.Length..];
                hub = true;
                break;
            }
        }

        if (!hub && rest.IndexOf("://", StringComparison.Ordinal) is int scheme and >= 0)
        {
            // Another site's URL: its path names the model as a Hub URL's does (github.com/org/name).
            rest = rest[(scheme + 3)..];
            rest = rest.IndexOf('/', StringComparison.Ordinal) is int slash and >= 0 ? rest[(slash + 1)..] : "";
        }

        if (rest.IndexOfAny(['?', '#']) is int query and >= 0)
        {
            rest = rest[..query];
        }

        var segments = rest.Replace('\\', '/').Split('/', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Where(s => s is not ("." or ".." or "~")).ToList();

        // A Hub URL's page for a file or a revision: org/name/tree/main, org/name/resolve/rev/file.
        if (hub && segments.Count > 2 && segments[2] is "tree" or "resolve" or "blob" or "commit")
        {
            segments.RemoveRange(2, segments.Count - 2);
        }

        // The Hub cache: .../models--org--name/snapshots/<hash>/ names org/name.
        int cache = segments.FindLastIndex(s => s.StartsWith("models--", StringComparison.OrdinalIgnoreCase));
        if (cache >= 0)
        {
            var parts = segments[cache]["models--".Length..].Split("--", StringSplitOptions.RemoveEmptyEntries);
            segments = [.. parts];
        }

        if (segments.Count == 0)
        {
            return null;
        }

        // name@rev names a revision of name.
        string last = segments[^1];
        if (last.IndexOf('@', StringComparison.Ordinal) is int at and > 0)
        {
            last = last[..at];
        }

        string? org = segments.Count > 1 ? segments[^2] : null;
        string? stem = FileExtensions.FirstOrDefault(e => last.EndsWith(e, StringComparison.OrdinalIgnoreCase)) is { } extension && last.Length > extension.Length
            ? last[..^extension.Length]
            : null;
        return new Claim(whole, org is null ? last : $"{org}/{last}", org, last, stem);
    }
}
