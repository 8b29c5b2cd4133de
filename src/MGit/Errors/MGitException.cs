namespace MGit.Errors;

/// <summary>
/// An error the user can act on. Its message is one line and is shown as is (prefixed "mgit: ");
/// anything else that escapes is a bug and is reported with its type.
/// </summary>
public class MGitException : Exception
{
    public MGitException(string message) : base(message) { }
    public MGitException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>Stored data failed verification: it is reported, never returned.</summary>
public sealed class DamagedObjectException : MGitException
{
    public DamagedObjectException(string objectId, string problem)
        : base($"object {objectId} is damaged: {problem}") => ObjectId = objectId;

    public string ObjectId { get; }
}

/// <summary>A model file that does not follow its format.</summary>
public sealed class InvalidModelFileException : MGitException
{
    public InvalidModelFileException(string file, string problem) : base($"{file}: {OneLine(problem)}") => Problem = OneLine(problem);

    /// <summary>What is wrong, without the file name.</summary>
    public string Problem { get; }

    /// <summary>
    /// The file is certainly of the format (its structure was recognised before the problem was
    /// found): it is refused even when only its content, not its name, pointed at the format.
    /// </summary>
    public bool Recognized { get; init; }

    /// <summary>Names read from a file may hold line breaks or other control characters: they are escaped so the message stays one line.</summary>
    private static string OneLine(string text) =>
        text.Any(char.IsControl) ? string.Concat(text.Select(c => char.IsControl(c) ? $"\\x{(int)c:x2}" : c.ToString())) : text;
}
