using System.Globalization;
using System.Text;
using MGit.Errors;
using MGit.Primitives;

namespace MGit.Lineage;

/// <summary>
/// A tag: a name that points at one version of a model (<c>resnet@production</c>). Tags belong to
/// a model: <c>production</c> of resnet and <c>production</c> of bert are two tags. A tag is
/// written wherever a ref is taken as <c>NAME@TAG</c>; a bare tag name is never read as a ref
/// (it would be a model name).
/// </summary>
/// <param name="Model">The model whose version the tag points at.</param>
/// <param name="Name">The tag's name (see <see cref="TagNames"/>).</param>
/// <param name="VersionId">The version pointed at (<see cref="ModelVersion.Id"/>).</param>
/// <param name="MovedBy">Who set or last moved the tag (<c>MGIT_USER</c>, else <c>USER</c>).</param>
/// <param name="MovedAt">When it was set or last moved (UTC).</param>
public sealed record ModelTag(string Model, string Name, long VersionId, string MovedBy, DateTimeOffset MovedAt)
{
    /// <summary>The tag as a ref, <c>MODEL@TAG</c>.</summary>
    public string Ref => $"{Model}@{Name}";
}

/// <summary>What one entry of a tag's history did.</summary>
public enum TagMoveKind
{
    /// <summary>The tag was set where it did not exist (first, or again after a delete).</summary>
    Created,
    /// <summary>The tag was moved to another version (with <c>--force</c>), or set again to settle a conflict.</summary>
    Moved,
    /// <summary>The tag was deleted.</summary>
    Deleted,
}

/// <summary>One entry of a tag's history: who pointed it where, and when.</summary>
/// <param name="Model">The tag's model.</param>
/// <param name="Name">The tag's name.</param>
/// <param name="Target">The version it was pointed at, as its ref today (or as it was, if that version is not held here); null for a delete.</param>
/// <param name="MovedBy">Who made the change.</param>
/// <param name="MovedAt">When (UTC).</param>
/// <param name="Kind">Created, moved or deleted.</param>
public sealed record TagMove(string Model, string Name, string? Target, string MovedBy, DateTimeOffset MovedAt, TagMoveKind Kind);

/// <summary>The rules for tag names.</summary>
public static class TagNames
{
    /// <summary>The longest tag name accepted, in characters.</summary>
    public const int MaxLength = 100;

    /// <summary>
    /// Why <paramref name="name"/> is not a valid tag name, or null. A tag name is ASCII letters,
    /// digits, '.', '_' and '-', and starts with a letter (so <c>NAME@3</c> always means version 3,
    /// and nothing that looks like a number is a tag).
    /// </summary>
    public static string? Problem(string? name) =>
        string.IsNullOrEmpty(name) ? "a tag name cannot be empty"
        : name.Length > MaxLength ? $"a tag name cannot be longer than {MaxLength} characters"
        : name.All(char.IsAsciiDigit) ? $"tag name '{name}' cannot be all digits (NAME@{name} names version {name})"
        : !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-') ? $"tag name '{name}' may hold only letters, digits, '.', '_' and '-'"
        : !char.IsAsciiLetter(name[0]) ? $"tag name '{name}' must start with a letter (NAME@1.5 or NAME@2x would read like a version)"
        : null;

    /// <summary>Refuses an invalid tag name.</summary>
    /// <param name="name">The tag name.</param>
    /// <exception cref="MGitException">The name breaks a rule of <see cref="Problem"/> (<see cref="ErrorKind.InvalidInput"/>).</exception>
    public static void Validate(string name)
    {
        if (Problem(name) is { } problem)
        {
            throw new MGitException(ErrorKind.InvalidInput, problem);
        }
    }
}

/// <summary>A version's identity in every repository (see <c>LineageSnapshot.KeyOf</c>), also what tag events name.</summary>
internal static class VersionKeys
{
    /// <summary>The BLAKE3 of its name, manifest id (its exact content) and the instant it was added (to 100 ns).</summary>
    public static string Of(string name, string manifest, string addedAt) =>
        ObjectId.Compute(Encoding.UTF8.GetBytes($"mgit-version\n{name}\n{manifest}\n{addedAt}")).ToString();

    public static string AddedAtText(DateTimeOffset addedAt) => addedAt.ToString("O", CultureInfo.InvariantCulture);

    public static string Of(ModelVersion version) => Of(version.Name, version.ManifestId, AddedAtText(version.AddedAt));
}
