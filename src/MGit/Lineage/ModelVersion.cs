namespace MGit.Lineage;

/// <summary>The two kinds of lineage edge: provenance (derived from) and succession (next version of).</summary>
public enum EdgeKind
{
    Adapted,
    Versioned,
}

/// <summary>How a model was derived from an adapted parent.</summary>
public static class DerivationKinds
{
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
    public string Ref => $"{Name}@{Version}";

    /// <summary>Stored lossily: every float element is within <see cref="ErrorBound"/> of what was added.</summary>
    public bool Lossy => ErrorBound is not null;
}

/// <summary>A lineage edge from parent to child, with the reason it exists.</summary>
public sealed record LineageEdge(long ParentId, long ChildId, EdgeKind Kind, string? How, string? Message);

public static class EdgeKindNames
{
    public static string ToName(this EdgeKind kind) => kind == EdgeKind.Adapted ? "adapted" : "versioned";

    public static EdgeKind Parse(string name) => name switch
    {
        "adapted" => EdgeKind.Adapted,
        "versioned" => EdgeKind.Versioned,
        _ => throw new Errors.MGitException(Errors.ErrorKind.Damaged, $"unknown edge kind '{name}' in the repository"),
    };

    public static bool TryParse(string? name, out EdgeKind kind)
    {
        kind = name == "versioned" ? EdgeKind.Versioned : EdgeKind.Adapted;
        return name is "adapted" or "versioned";
    }
}
