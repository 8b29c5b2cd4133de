using System.Globalization;
using MGit.Errors;

namespace MGit.Lineage;

/// <summary>A reference to a model version as users write it: <c>NAME@VERSION</c>, or <c>NAME</c> for the latest.</summary>
public sealed record ModelRef(string Name, int? Version)
{
    /// <summary>The longest model name accepted, in characters.</summary>
    public const int MaxNameLength = 200;

    /// <summary>Reads a reference as users write it, <c>NAME</c> or <c>NAME@VERSION</c>.</summary>
    /// <param name="text">The reference; the last '@' separates the version.</param>
    /// <exception cref="MGitException">The name is invalid or the version is not a number from 1 (<see cref="ErrorKind.InvalidInput"/>).</exception>
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
        if (!int.TryParse(version, NumberStyles.None, CultureInfo.InvariantCulture, out int number) || number < 1)
        {
            throw new MGitException(ErrorKind.InvalidInput, $"'{text}' is not a valid model reference: the version after '@' must be a number from 1");
        }

        return new ModelRef(name, number);
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

    /// <summary>The reference as users write it: <c>NAME@VERSION</c>, or <c>NAME</c> without a version.</summary>
    public override string ToString() => Version is int v ? $"{Name}@{v}" : Name;
}
