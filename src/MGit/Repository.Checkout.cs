using MGit.Errors;
using MGit.Storage;

namespace MGit;

public sealed partial class Repository
{
    /// <summary>
    /// Rebuilds a model version at <paramref name="output"/>, byte-identical to what was added.
    /// A single-file model given an existing folder lands inside it under its own file name. Files
    /// are written under temporary names and renamed only after their hash checks out.
    /// Returns the path written.
    /// </summary>
    public string Checkout(string reference, string output, bool overwrite = false)
    {
        var version = Resolve(reference);
        return WriteModel(version.Ref, LoadManifest(version), output, overwrite);
    }

    /// <summary>Writes a manifest's files at <paramref name="output"/>; <paramref name="label"/> names it in progress.</summary>
    private string WriteModel(string label, Manifest manifest, string output, bool overwrite)
    {
        string target = Path.GetFullPath(output);
        var materializer = new FileMaterializer(_objects, _options.Workers);

        using var repositoryLock = RepositoryLock.Shared(LockPath, _options.LockWait);
        using var progress = _options.Progress.Begin($"checking out {label}", manifest.LogicalBytes);
        if (manifest.Kind == "file")
        {
            var file = manifest.Files.Single();
            if (Directory.Exists(target))
            {
                target = Path.Combine(target, file.Path);
            }

            if (File.Exists(target) && !overwrite)
            {
                throw new MGitException($"{output} already exists; pass --force to overwrite it");
            }

            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            WriteFileAtomically(materializer, file, target, progress);
            return target;
        }

        if (File.Exists(target))
        {
            throw new MGitException($"{output} is a file; a folder model needs a folder");
        }

        if (Directory.Exists(target) && Directory.EnumerateFileSystemEntries(target).Any() && !overwrite)
        {
            throw new MGitException($"{output} is not empty; pass --force to write into it");
        }

        Directory.CreateDirectory(target);
        foreach (var file in manifest.Files)
        {
            string path = SafeJoin(target, file.Path);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            WriteFileAtomically(materializer, file, path, progress);
        }

        foreach (string directory in manifest.EmptyDirectories)
        {
            Directory.CreateDirectory(SafeJoin(target, directory));
        }

        return target;
    }

    private static void WriteFileAtomically(FileMaterializer materializer, ManifestFile file, string path, IProgressTask progress)
    {
        string temp = $"{path}.mgit-partial-{Environment.ProcessId}";
        try
        {
            // Preallocated (fallocate): a full disk fails here rather than midway, and ext4 then
            // writes the chunks without allocating blocks as it goes (checkout of a 2 GB model:
            // 1.15-1.33 s against 1.46-1.83 s without, on the benchmark VM).
            var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, Share = FileShare.None, BufferSize = 1, PreallocationSize = file.Length };
            using (var stream = new FileStream(temp, options))
            {
                stream.SetLength(file.Length);
                materializer.Write(file, stream, progress.Advance);
                stream.Flush(flushToDisk: false);
            }

            File.Move(temp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp))
            {
                File.Delete(temp);
            }
        }
    }

    /// <summary>Joins a stored relative path to a root, refusing any that would escape it.</summary>
    private static string SafeJoin(string root, string relativePath)
    {
        string full = Path.GetFullPath(Path.Combine(root, relativePath.Replace('/', Path.DirectorySeparatorChar)));
        if (!IsInside(full, root) || full == Path.GetFullPath(root))
        {
            throw new MGitException($"the manifest names a path outside the model folder: '{relativePath}'");
        }

        return full;
    }
}
