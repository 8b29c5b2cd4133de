namespace MGit.Errors;

/// <summary>
/// An error the user can act on. Its message is one line and is shown as is (prefixed "mgit: ");
/// its <see cref="Kind"/> says what kind of error it is, for programs (the CLI's exit code comes
/// from it). No exception of the lineage database's (SQLite) leaves the library: it arrives as an
/// <see cref="MGitException"/> with the original as <see cref="Exception.InnerException"/>.
/// <see cref="IOException"/> and <see cref="UnauthorizedAccessException"/> are wrapped only where
/// mgit knows what they mean (a full disk: <see cref="ErrorKind.NoSpace"/>; an object file the disk
/// cannot read: <see cref="ErrorKind.Damaged"/>); others pass through as .NET raises them, naming
/// their path. Anything else that escapes is a bug.
/// </summary>
public class MGitException : Exception
{
    /// <summary>An error of the given kind with a one-line message.</summary>
    /// <param name="kind">What kind of error it is.</param>
    /// <param name="message">The one-line message shown to the user.</param>
    public MGitException(ErrorKind kind, string message) : base(message) => Kind = kind;

    /// <summary>An error of the given kind caused by another exception.</summary>
    /// <param name="kind">What kind of error it is.</param>
    /// <param name="message">The one-line message shown to the user.</param>
    /// <param name="inner">The exception that caused it.</param>
    public MGitException(ErrorKind kind, string message, Exception inner) : base(message, inner) => Kind = kind;

    /// <summary>An error of kind <see cref="ErrorKind.Failed"/>; prefer naming the kind.</summary>
    public MGitException(string message) : this(ErrorKind.Failed, message) { }

    /// <summary>An error of kind <see cref="ErrorKind.Failed"/>; prefer naming the kind.</summary>
    public MGitException(string message, Exception inner) : this(ErrorKind.Failed, message, inner) { }

    /// <summary>What kind of error this is: switch on it, never on the message.</summary>
    public ErrorKind Kind { get; }
}

/// <summary>Stored data failed verification: it is reported, never returned (<see cref="ErrorKind.Damaged"/>).</summary>
public sealed class DamagedObjectException : MGitException
{
    /// <summary>Reports a damaged object.</summary>
    /// <param name="objectId">The id of the damaged object.</param>
    /// <param name="problem">What verification found wrong.</param>
    public DamagedObjectException(string objectId, string problem)
        : base(ErrorKind.Damaged, $"object {objectId} is damaged: {problem}") => ObjectId = objectId;

    /// <summary>The id of the damaged object, in hex.</summary>
    public string ObjectId { get; }
}

/// <summary>
/// A model file that does not follow its format (<see cref="ErrorKind.InvalidInput"/>), or uses a
/// part of it mgit does not read (<see cref="ErrorKind.Unsupported"/>).
/// </summary>
public sealed class InvalidModelFileException : MGitException
{
    /// <summary>Reports a model file that mgit cannot read.</summary>
    /// <param name="file">The file, named first in the message.</param>
    /// <param name="problem">What is wrong with it (made one line).</param>
    /// <param name="kind"><see cref="ErrorKind.InvalidInput"/> for a broken file, <see cref="ErrorKind.Unsupported"/> for a part of the format mgit does not read.</param>
    public InvalidModelFileException(string file, string problem, ErrorKind kind = ErrorKind.InvalidInput)
        : base(kind, $"{file}: {OneLine(problem)}") => Problem = OneLine(problem);

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
