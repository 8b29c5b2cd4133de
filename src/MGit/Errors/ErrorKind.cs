namespace MGit.Errors;

/// <summary>
/// What kind of error an <see cref="MGitException"/> is: what a caller switches on to decide
/// what to do (never the message text, which is for people and may change). The values are part
/// of the public API and never renumbered.
/// </summary>
public enum ErrorKind
{
    /// <summary>
    /// The operation did not succeed for a reason no other kind names; notably a command mgit ran
    /// for it (a recipe, a test command) failed, timed out or was interrupted. The kind of an
    /// <see cref="MGitException"/> made without one.
    /// </summary>
    Failed = 0,

    /// <summary>
    /// What the caller gave is malformed or does not fit the request: a bad reference, option,
    /// command template or URL, contradictory options, a model file that does not follow its
    /// format, a path that leaves its folder. Fix the input and ask again.
    /// </summary>
    InvalidInput = 1,

    /// <summary>A named thing does not exist: a model, version, tensor, test, remote, file, folder or repository.</summary>
    NotFound = 2,

    /// <summary>
    /// The request is sound but the state of the repository, a remote or the file system is in its
    /// way: a name already taken, an output that exists (<c>--force</c>), a version others derive
    /// from, a remote with versions not merged here ("pull first"), or a change another process
    /// made meanwhile ("add again").
    /// </summary>
    Conflict = 3,

    /// <summary>
    /// Another process holds what the operation needs and did not let go in time: the repository
    /// lock (gc against every other command), a remote's push lock, a busy lineage database. Try
    /// again later.
    /// </summary>
    Locked = 4,

    /// <summary>
    /// Stored data failed verification or cannot be made sense of: an object, manifest,
    /// fingerprint, format file or the lineage database of this repository, or what a remote
    /// holds. It is reported, never returned; <c>fsck</c> lists every such problem.
    /// </summary>
    Damaged = 5,

    /// <summary>
    /// Something this mgit does not support: a repository, object, schema or remote written by a
    /// newer mgit (upgrade mgit), a hash or codec it does not know, a feature a model does not
    /// allow (a tensor that is not a contiguous run of bytes).
    /// </summary>
    Unsupported = 6,

    /// <summary>The file system is full (or over quota); the message names its mount point.</summary>
    NoSpace = 7,

    /// <summary>
    /// A read or write failed beneath mgit: permission refused (by the file system or a remote's
    /// server), a read-only file system, a disk or network error, a server that cannot be reached
    /// or does not answer. Used where mgit knows what it was reading or writing (the lineage
    /// database, a remote); <see cref="IOException"/>s and <see cref="UnauthorizedAccessException"/>s
    /// of the file system are not wrapped: they pass through as .NET raises them, naming the path.
    /// </summary>
    Io = 8,

    /// <summary>A bug in mgit (the lineage database refused a statement mgit made); please report it.</summary>
    Internal = 9,
}
