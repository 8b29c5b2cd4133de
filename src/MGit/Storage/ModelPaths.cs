using System.Text;
using MGit.Errors;

namespace MGit.Storage;

/// <summary>
/// The one rule for paths that come from data (manifests, snapshots, remotes, the entries of a
/// folder being added) rather than from the user's command line: '/'-separated, relative,
/// normalised, inside the folder they are joined to on every platform. It is enforced where such
/// a path enters (a manifest refuses to load with one) and again by <see cref="ForWriting"/>,
/// which every writer of a model's files uses, so a new writer cannot forget it.
/// </summary>
internal static class ModelPaths
{
    /// <summary>Longest path accepted, in UTF-8 bytes (Linux's PATH_MAX).</summary>
    public const int MaxPathBytes = 4096;

    /// <summary>Longest single name accepted, in UTF-8 bytes (NAME_MAX on Linux and most file systems).</summary>
    public const int MaxNameBytes = 255;

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>What makes <paramref name="path"/> unsafe to join to a folder, or null when it is safe.</summary>
    public static string? Problem(string? path)
    {
        if (string.IsNullOrEmpty(path))
        {
            return "an empty path";
        }

        int bytes;
        try
        {
            bytes = StrictUtf8.GetByteCount(path);
        }
        catch (EncoderFallbackException)
        {
            return "a path that is not valid Unicode";
        }

        if (bytes > MaxPathBytes)
        {
            return $"a path longer than {MaxPathBytes} bytes";
        }

        foreach (char c in path)
        {
            if (char.IsControl(c))
            {
                return "a path with a control character";
            }

            if (c == '\\')
            {
                return "a path with a backslash (a Windows separator)";
            }
        }

        if (path[0] == '/')
        {
            return "an absolute path";
        }

        // "C:", "C:x" and "C:/x" are rooted on Windows; ':' also names alternate streams there.
        if (path.Length >= 2 && char.IsAsciiLetter(path[0]) && path[1] == ':')
        {
            return "a drive-rooted path";
        }

        foreach (var name in path.Split('/'))
        {
            switch (name)
            {
                case "":
                    return "a path with an empty segment ('//' or a trailing '/')";
                case ".":
                    return "a path with a '.' segment";
                case "..":
                    return "a path with a '..' segment";
            }

            if (StrictUtf8.GetByteCount(name) > MaxNameBytes)
            {
                return $"a path with a name longer than {MaxNameBytes} bytes";
            }
        }

        return null;
    }

    /// <summary>
    /// What makes <paramref name="target"/>, the target of a link at <paramref name="linkPath"/>,
    /// point anywhere but inside the model folder, or null: it is relative ('..' allowed), and
    /// resolved from the link's folder it stays inside without naming the folder itself, and no
    /// folder on its way is itself a link (<paramref name="isLink"/>): the kernel would resolve
    /// that link before a following '..', and a path that reads as inside could lead outside.
    /// </summary>
    public static string? LinkTargetProblem(string linkPath, string? target, Func<string, bool> isLink)
    {
        // The target with every '..' taken as a name is checked as a path; then the '..' are resolved.
        if (Problem(target?.Replace("..", "__", StringComparison.Ordinal)) is { } problem)
        {
            return $"to {problem}: '{Printable(target)}'";
        }

        var folders = new List<string>(linkPath.Split('/')[..^1]);
        var names = target!.Split('/');
        for (int i = 0; i < names.Length; i++)
        {
            string name = names[i];
            if (name != "..")
            {
                folders.Add(name);
                if (i < names.Length - 1 && isLink(string.Join('/', folders)))
                {
                    return $"through another link: '{Printable(target)}'";
                }
            }
            else if (folders.Count == 0)
            {
                return $"to a target outside the model: '{Printable(target)}'";
            }
            else
            {
                folders.RemoveAt(folders.Count - 1);
            }
        }

        return folders.Count == 0 ? $"to the model folder itself: '{Printable(target)}'" : null;
    }

    /// <summary>Throws when <paramref name="path"/> is unsafe; <paramref name="what"/> names where it came from.</summary>
    public static void Check(string? path, string what)
    {
        if (Problem(path) is { } problem)
        {
            throw new MGitException(ErrorKind.Damaged, $"{what} names {problem}: '{Printable(path)}'; refused");
        }
    }

    /// <summary>
    /// Where <paramref name="relativePath"/> lands under <paramref name="root"/>, for creating it:
    /// the path must pass <see cref="Problem"/>, and no folder between the root and the file may be
    /// a symbolic link (which would carry the write elsewhere, whatever the path says).
    /// </summary>
    public static string ForWriting(string root, string relativePath)
    {
        Check(relativePath, "the model");
        string fullRoot = Path.TrimEndingDirectorySeparator(Path.GetFullPath(root));
        string current = fullRoot;
        var names = relativePath.Split('/');
        // The folders on the way must be real folders; the file itself may be a link, since it is
        // written under another name and renamed over it (which replaces the link, not its target).
        foreach (string name in names.AsSpan(0, names.Length - 1))
        {
            current = Path.Combine(current, name);
            if (new FileInfo(current).LinkTarget is not null)
            {
                throw new MGitException(ErrorKind.Conflict, $"{current} is a symbolic link; mgit does not write through links");
            }
        }

        return Path.Combine(current, names[^1]);
    }

    /// <summary>A path as it may be shown in a one-line message: control characters escaped.</summary>
    public static string Printable(string? path) =>
        path is null ? "" : path.Any(char.IsControl) ? string.Concat(path.Select(c => char.IsControl(c) ? $"\\x{(int)c:x2}" : c.ToString())) : path;
}
