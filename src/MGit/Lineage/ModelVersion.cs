namespace MGit.Lineage;

/// <summary>The two kinds of lineage edge: provenance (derived from) and succession (next version of).</summary>
public enum EdgeKind
{
    /// <summary>Derived from the parent (fine-tuned, pruned, quantized, ...): provenance.</summary>
    Adapted,
    /// <summary>A later version of the same model: succession.</summary>
    Versioned,
}

/// <summary>How a model was derived from an adapted parent.</summary>
public static class DerivationKinds
{
    /// <summary>The derivation kinds mgit knows, as written after <c>--how</c>.</summary>
    public static readonly IReadOnlyList<string> All = ["finetune", "prune", "quantize", "distill", "merge", "other"];
}

/// <summary>One stored version of a model.</summary>
public sealed record ModelVersion(
    long Id,
    string Name,
    int Version,
    string? Type,
    string ManifestId,
    long LogicalBytes,
    DateTimeOffset AddedAt,
    string? Message,
    IReadOnlyDictionary<string, string> Metadata,
    double? ErrorBound = null)
{
    /// <summary>The version's reference, <c>NAME@VERSION</c>.</summary>
    public string Ref => $"{Name}@{Version}";

    /// <summary>Stored lossily: every float element is within <see cref="ErrorBound"/> of what was added.</summary>
    public bool Lossy => ErrorBound is not null;
}

/// <summary>A lineage edge from parent to child, with the reason it exists.</summary>
public sealed record LineageEdge(long ParentId, long ChildId, EdgeKind Kind, string? How, string? Message);

/// <summary>The names of edge kinds as the CLI and the lineage database write them.</summary>
public static class EdgeKindNames
{
    /// <summary>The kind's name: <c>"adapted"</c> or <c>"versioned"</c>.</summary>
    public static string ToName(this EdgeKind kind) => kind == EdgeKind.Adapted ? "adapted" : "versioned";

    /// <summary>The kind a stored name means.</summary>
    /// <param name="name"><c>"adapted"</c> or <c>"versioned"</c>.</param>
    /// <exception cref="Errors.MGitException">Any other name: the repository is damaged.</exception>
    public static EdgeKind Parse(string name) => name switch
    {
        "adapted" => EdgeKind.Adapted,
        "versioned" => EdgeKind.Versioned,
        _ => throw new Errors.MGitException(Errors.ErrorKind.Damaged, $"unknown edge kind '{name}' in the repository"),
    };

    /// <summary>The kind a name means, or false when it names none.</summary>
    /// <param name="name"><c>"adapted"</c> or <c>"versioned"</c>.</param>
    /// <param name="kind">The kind when the name is known.</param>
    public static bool TryParse(string? name, out EdgeKind kind)
    {
        kind = name == "versioned" ? EdgeKind.Versioned : EdgeKind.Adapted;
        return name is "adapted" or "versioned";
    }
}
