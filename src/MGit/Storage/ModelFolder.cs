using MGit.Errors;

namespace MGit.Storage;

/// <summary>What a folder model holds: its files, its symbolic links and its empty folders, each by '/'-separated relative path in ordinal order.</summary>
internal sealed record ModelFolder(List<(string FullPath, string RelativePath)> Files, List<ManifestLink> Links, List<string> EmptyDirectories)
{
    /// <summary>The folder a repository keeps its data in, inside its root; never part of a folder model.</summary>
    public const string RepositoryFolderName = ".mgit";

    /// <summary>Whether <paramref name="path"/> is <paramref name="folder"/> or inside it (by path, links not followed).</summary>
    public static bool IsInside(string path, string folder)
    {
        string relative = Path.GetRelativePath(folder, path);
        return relative == "." || (!relative.StartsWith("..", StringComparison.Ordinal) && !Path.IsPathRooted(relative));
    }

    /// <summary>
    /// Every entry under a folder (a <c>.mgit</c> folder in it excepted). A symbolic link is
    /// refused, so nothing outside the folder is stored by accident (a <c>tokenizer.json</c>
    /// pointing at <c>/etc/passwd</c>); with <paramref name="keepLinks"/> a link is recorded as a
    /// link, and only when it points inside the folder, both as written and where it leads.
    /// Each path must also be one every platform can check out (<see cref="ModelPaths"/>).
    /// </summary>
    public static ModelFolder Enumerate(string folder, bool keepLinks = false)
    {
        string root = Path.TrimEndingDirectorySeparator(Path.GetFullPath(folder));
        var entries = new ModelFolder([], [], []);
        var pending = new Stack<string>();
        pending.Push(root);
        while (pending.Count > 0)
        {
            var directory = new DirectoryInfo(pending.Pop());
            bool empty = true;
            foreach (var entry in directory.EnumerateFileSystemInfos())
            {
                empty = false;
                string relative = Path.GetRelativePath(root, entry.FullName).Replace(Path.DirectorySeparatorChar, '/');
                if (entry.LinkTarget is { } target)
                {
                    entries.Links.Add(new ManifestLink(relative, LinkInside(root, entry, relative, target, keepLinks)));
                }
                else if (entry is DirectoryInfo sub)
                {
                    if (sub.Name != RepositoryFolderName)
                    {
                        pending.Push(sub.FullName);
                    }
                }
                else
                {
                    entries.Files.Add((entry.FullName, relative));
                }

                if (ModelPaths.Problem(relative) is { } problem)
                {
                    throw new MGitException(ErrorKind.Unsupported, $"{entry.FullName}: mgit cannot store this name ({problem})");
                }
            }

            if (empty && directory.FullName != root)
            {
                entries.EmptyDirectories.Add(Path.GetRelativePath(root, directory.FullName).Replace(Path.DirectorySeparatorChar, '/'));
            }
        }

        entries.Files.Sort((a, b) => string.CompareOrdinal(a.RelativePath, b.RelativePath));
        entries.Links.Sort((a, b) => string.CompareOrdinal(a.Path, b.Path));
        entries.EmptyDirectories.Sort(StringComparer.Ordinal);
        return entries;
    }

    /// <summary>The target to record for a link in a folder model (relative), or why it is refused.</summary>
    private static string LinkInside(string root, FileSystemInfo link, string relative, string target, bool keepLinks)
    {
        if (!keepLinks)
        {
            throw new MGitException(ErrorKind.InvalidInput, $"{link.FullName} is a symbolic link (to {target}); mgit does not store links unless told to: --follow-symlinks keeps those that point inside the folder (to store what links point to, add a copy made with 'cp -rL')");
        }

        // Where it leads after every link on the way, and the target as written, made relative.
        FileSystemInfo? final;
        try
        {
            final = link.ResolveLinkTarget(returnFinalTarget: true);
        }
        catch (IOException)
        {
            final = null; // a loop of links
        }

        string written = Path.IsPathRooted(target) ? Path.GetRelativePath(Path.GetDirectoryName(link.FullName)!, target) : target;
        written = written.Replace(Path.DirectorySeparatorChar, '/');
        if (final is null || !final.Exists || !IsInside(final.FullName, root) || final.FullName == root
            || ModelPaths.LinkTargetProblem(relative, written, _ => false) is not null)
        {
            throw new MGitException(ErrorKind.InvalidInput, $"{link.FullName} is a symbolic link to {target}, {(final is { Exists: true } ? "outside the folder" : "which does not exist")}; only links that point inside the folder can be kept (to store what links point to, add a copy made with 'cp -rL')");
        }

        return written;
    }
}
