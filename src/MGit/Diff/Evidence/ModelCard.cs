using System.Globalization;
using System.Text;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;
using YamlDotNet.RepresentationModel;

namespace MGit.Diff.Evidence;

/// <summary>
/// The lineage a Hugging Face model card (README.md) declares in its YAML front matter:
/// <c>base_model</c> (one id or a list) and <c>base_model_relation</c>. A card that says nothing, or
/// says it badly, gives no claim and at most a note: evidence never fails a placement.
/// </summary>
internal static class ModelCard
{
    /// <summary>
    /// How much of a card is read: the front matter must end within it. Cards run long (tables,
    /// evaluation results), their front matter rarely past a few tens of KiB.
    /// </summary>
    public const int MaxFrontMatterBytes = 256 * 1024;

    /// <summary>Deeper YAML is refused before it is built: YamlDotNet builds nodes recursively and a
    /// few thousand nested brackets would overflow the stack (a crash nothing can catch).</summary>
    private const int MaxDepth = 32;

    /// <summary>Reads the claims of the card at <paramref name="path"/>, reading at most <see cref="MaxFrontMatterBytes"/>.</summary>
    public static void Read(string path, string display, List<BaseClaim> claims, List<string> notes)
    {
        byte[] buffer = new byte[MaxFrontMatterBytes];
        int read;
        bool more;
        using (var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1))
        {
            read = stream.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
            more = read == buffer.Length && stream.ReadByte() >= 0;
        }

        // A card cut inside a multi-byte character decodes it as U+FFFD: only text past the cut is affected.
        string text = Encoding.UTF8.GetString(buffer, 0, read);
        Parse(text, more, display, claims, notes);
    }

    /// <summary>Reads the claims of a card's text; <paramref name="truncated"/> when the card goes on past it.</summary>
    public static void Parse(string text, bool truncated, string display, List<BaseClaim> claims, List<string> notes)
    {
        if (FrontMatter(text, truncated, display, notes) is not { } yaml)
        {
            return;
        }

        YamlMappingNode? root;
        try
        {
            var stream = new YamlStream();
            stream.Load(new DepthLimitedParser(new Parser(new StringReader(yaml))));
            if (stream.Documents.Count == 0)
            {
                return;
            }

            root = stream.Documents[0].RootNode as YamlMappingNode;
        }
        catch (YamlException e)
        {
            // The front matter starts on the card's second line, after the opening '---'.
            long line = e.Start.Line + 1;
            notes.Add($"{display}: front matter is not valid YAML (line {line.ToString(CultureInfo.InvariantCulture)}): {OneLine(e.Message)}");
            return;
        }

        if (root is null)
        {
            notes.Add($"{display}: front matter is not a mapping of keys to values");
            return;
        }

        var bases = Bases(root, display, notes);
        if (bases.Count == 0)
        {
            return;
        }

        string? relation = null;
        string source = $"{display} base_model";
        if (Value(root, "base_model_relation") is { } given)
        {
            if (given is YamlScalarNode { Value: { Length: > 0 } word } && HubRelation(word) is { } mapped)
            {
                relation = mapped;
                source = word.Equals("adapter", StringComparison.OrdinalIgnoreCase)
                    ? $"{display} base_model (adapter)"
                    : $"{display} base_model (base_model_relation: {word.Trim().ToLowerInvariant()})";
            }
            else if (!(given is YamlScalarNode scalar && (IsNull(scalar) || string.IsNullOrWhiteSpace(scalar.Value))))
            {
                notes.Add($"{display}: base_model_relation {Describe(given)} is not one of finetune, adapter, quantized, merge; ignored");
            }
        }

        // The Hub reads several bases without a relation as a merge.
        relation ??= bases.Count > 1 ? "merge" : null;
        foreach (string name in bases)
        {
            claims.Add(new BaseClaim(name, relation, source));
        }
    }

    /// <summary>The Hub's <c>base_model_relation</c> in mgit's words, or null for a word the Hub does not define.</summary>
    public static string? HubRelation(string word) => word.Trim().ToLowerInvariant() switch
    {
        "finetune" or "adapter" => "finetune",
        "quantized" => "quantize",
        "merge" => "merge",
        _ => null,
    };

    /// <summary>
    /// The YAML between an opening <c>---</c> on the first line and the next <c>---</c> (or
    /// <c>...</c>) line, or null (with a note when a front matter was begun but cannot be read).
    /// </summary>
    private static string? FrontMatter(string text, bool truncated, string display, List<string> notes)
    {
        var reader = new StringReader(text.StartsWith('\uFEFF') ? text[1..] : text);
        if (reader.ReadLine() is not { } first || first.TrimEnd() != "---")
        {
            return null;
        }

        var yaml = new StringBuilder();
        while (reader.ReadLine() is { } line)
        {
            string marker = line.TrimEnd();
            if (marker is "---" or "...")
            {
                return yaml.ToString();
            }

            yaml.Append(line).Append('\n');
        }

        notes.Add(truncated
            ? $"{display}: front matter does not end within the first {MaxFrontMatterBytes / 1024} KiB; not read"
            : $"{display}: front matter has no closing '---'; not read");
        return null;
    }

    /// <summary>The names under <c>base_model</c>: one string, or a list of strings.</summary>
    private static List<string> Bases(YamlMappingNode root, string display, List<string> notes)
    {
        var bases = new List<string>();
        switch (Value(root, "base_model"))
        {
            case null:
                break;
            case YamlScalarNode scalar when IsNull(scalar):
                break;
            case YamlScalarNode scalar:
                if (!string.IsNullOrWhiteSpace(scalar.Value))
                {
                    bases.Add(scalar.Value.Trim());
                }

                break;
            case YamlSequenceNode list:
                foreach (var item in list)
                {
                    if (item is YamlScalarNode { Value: { } value } entry && !IsNull(entry) && !string.IsNullOrWhiteSpace(value))
                    {
                        if (!bases.Contains(value.Trim(), StringComparer.OrdinalIgnoreCase))
                        {
                            bases.Add(value.Trim());
                        }
                    }
                    else if (item is not YamlScalarNode)
                    {
                        notes.Add($"{display}: an entry of base_model is not a name; ignored");
                    }
                }

                break;
            default:
                notes.Add($"{display}: base_model is neither a name nor a list of names; ignored");
                break;
        }

        return bases;
    }

    /// <summary>YAML's null (<c>null</c>, <c>~</c>, nothing) unquoted: the representation model keeps scalars as text.</summary>
    private static bool IsNull(YamlScalarNode scalar) =>
        (scalar.Style is ScalarStyle.Plain or ScalarStyle.Any) && scalar.Value is null or "" or "~" or "null" or "Null" or "NULL";

    private static YamlNode? Value(YamlMappingNode map, string key)
    {
        foreach (var (k, v) in map.Children)
        {
            if (k is YamlScalarNode { Value: { } name } && name == key)
            {
                return v;
            }
        }

        return null;
    }

    private static string Describe(YamlNode node) => node is YamlScalarNode { Value: { } s } ? $"'{OneLine(s)}'" : "(not a word)";

    private static string OneLine(string s) => s.ReplaceLineEndings(" ").Trim();

    /// <summary>Refuses nesting deeper than <see cref="MaxDepth"/> as the events stream past, before any node is built.</summary>
    private sealed class DepthLimitedParser(IParser inner) : IParser
    {
        private int _depth;

        public ParsingEvent? Current => inner.Current;

        public bool MoveNext()
        {
            if (!inner.MoveNext())
            {
                return false;
            }

            switch (inner.Current)
            {
                case MappingStart or SequenceStart:
                    if (++_depth > MaxDepth)
                    {
                        throw new YamlException(inner.Current.Start, inner.Current.End, $"nested more than {MaxDepth} deep");
                    }

                    break;
                case MappingEnd or SequenceEnd:
                    _depth--;
                    break;
            }

            return true;
        }
    }
}
