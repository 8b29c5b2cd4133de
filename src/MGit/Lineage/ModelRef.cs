using System.Globalization;
using MGit.Errors;

namespace MGit.Lineage;

/// <summary>A reference to a model version as users write it: <c>NAME@VERSION</c>, <c>NAME@TAG</c>, or <c>NAME</c> for the latest.</summary>
public sealed record ModelRef(string Name, int? Version)
{
    /// <summary>The tag the reference names (<c>NAME@TAG</c>), or null when it names a version number or the latest.</summary>
    public string? Tag { get; init; }

    /// <summary>The longest model name accepted, in characters.</summary>
    public const int MaxNameLength = 200;

    /// <summary>Reads a reference as users write it, <c>NAME</c>, <c>NAME@VERSION</c> or <c>NAME@TAG</c>.</summary>
    /// <param name="text">The reference; the last '@' separates the version or tag.</param>
    /// <exception cref="MGitException">The name is invalid, or what follows '@' is neither a number from 1 nor a tag name (<see cref="ErrorKind.InvalidInput"/>).</exception>
    public static ModelRef Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        int at = text.LastIndexOf('@');
        if (at < 0)
        {
            ValidateName(text);
            return new ModelRef(text, null);
        }

        string name = text[..at];
        string version = text[(at + 1)..];
        ValidateName(name);
        if (int.TryParse(version, NumberStyles.None, CultureInfo.InvariantCulture, out int number) && number >= 1)
        {
            return new ModelRef(name, number);
        }

        if (version.Length > 0 && char.IsAsciiLetter(version[0]) && TagNames.Problem(version) is { } problem)
        {
            throw new MGitException(ErrorKind.InvalidInput, $"'{text}' is not a valid model reference: {problem}");
        }

        if (TagNames.Problem(version) is not null)
        {
            throw new MGitException(ErrorKind.InvalidInput, $"'{text}' is not a valid model reference: the version after '@' must be a number from 1 (or a tag name)");
        }

        return new ModelRef(name, null) { Tag = version };
    }

    /// <summary>The model name a reference as written names (what comes before its last '@'), not checked: for finding the model before resolving the reference.</summary>
    internal static string NameOf(string text)
    {
        int at = text.LastIndexOf('@');
        return at < 0 ? text : text[..at];
    }

    /// <summary>
    /// Names are free text (spaces and shell characters included; they never reach a shell) but
    /// cannot contain '@' (the version separator) or control characters, start with '-' (an option),
    /// or be blank.
    /// </summary>
    public static void ValidateName(string name)
    {
        if (NameProblem(name) is { } problem)
        {
            throw new MGitException(ErrorKind.InvalidInput, problem);
        }
    }

    /// <summary>Why <paramref name="name"/> is not a valid model name (see <see cref="ValidateName"/>), or null.</summary>
    public static string? NameProblem(string? name) =>
        string.IsNullOrWhiteSpace(name) ? "a model name cannot be empty"
        : name.Length > MaxNameLength ? $"model name is longer than {MaxNameLength} characters"
        : name.Contains('@') ? $"model name '{name}' cannot contain '@' (it separates name and version)"
        : name.Any(char.IsControl) ? "a model name cannot contain control characters"
        : name[0] == '-' || char.IsWhiteSpace(name[0]) || char.IsWhiteSpace(name[^1]) ? $"model name '{name}' cannot start with '-' or start or end with a space"
        : null;

    /// <summary>The reference as users write it: <c>NAME@VERSION</c>, <c>NAME@TAG</c>, or <c>NAME</c> without either.</summary>
    public override string ToString() => Version is int v ? $"{Name}@{v}" : Tag is { } tag ? $"{Name}@{tag}" : Name;
}
