using MGit.Errors;
using MGit.Lineage;
using MGit.Storage;
using MGit.Workspace;

namespace MGit.Ingest;

/// <summary>
/// A file of a model to add from memory or from the network: its path inside the model
/// ('/'-separated, relative; a plain file name for a single-file model) and its bytes, read once
/// from where the stream stands to its end. The stream stays the caller's to dispose.
/// </summary>
public sealed record ModelFileContent(string Path, Stream Content);

/// <summary>Adds models whose files come from streams: each is spooled to the repository's temporary folder, then added as from disk.</summary>
internal sealed class StreamIngestion(RepositoryContext context, Ingestion ingestion)
{
    /// <summary>
    /// Adds a single-file model whose bytes come from a stream, exactly as <see cref="Ingestion.Add(string, AddOptions, CancellationToken)"/>
    /// adds the same bytes from a file named <see cref="ModelFileContent.Path"/> (a plain file
    /// name: its extension tells the format, as on disk).
    /// </summary>
    /// <remarks>
    /// The stream is copied to the repository's temporary folder first (in blocks of 1 MiB, so
    /// memory stays small whatever its size), because an add reads a file more than once (its
    /// layout first, then its content); the copy is removed afterwards, whether the add succeeded
    /// or not. The repository's shared lock is held throughout, so gc cannot remove it midway.
    /// </remarks>
    /// <param name="name">The model's name; <see cref="AddOptions.Name"/>, if set, must be the same.</param>
    /// <param name="file">The model file: a plain file name and a stream of its bytes.</param>
    /// <param name="options">The model's parents and metadata, as for an add from disk.</param>
    /// <param name="cancellationToken">Cancelled, the add stores no version and removes what it wrote.</param>
    /// <exception cref="MGitException">The name or path is refused, or the add fails as an add from disk would (messages name the file by its path in the model).</exception>
    public AddResult Add(string name, ModelFileContent file, AddOptions options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(file);
        if (file.Path is not null && file.Path.Contains('/', StringComparison.Ordinal))
        {
            throw new MGitException(ErrorKind.InvalidInput, $"'{ModelPaths.Printable(file.Path)}' is not a file name; a single-file model's file has no folder (add a folder model with a list of files)");
        }

        return AddSpooled(name, [file], options, folder: false, cancellationToken);
    }

    /// <summary>
    /// Adds a folder model whose files come from streams (a Hugging Face folder held in memory or
    /// downloaded, say), exactly as <see cref="Ingestion.Add(string, AddOptions, CancellationToken)"/> adds a folder holding
    /// those files at those paths. A list of one file still makes a folder model; for a
    /// single-file model use <see cref="Add(string, ModelFileContent, AddOptions, CancellationToken)"/>.
    /// </summary>
    /// <remarks>
    /// Each stream is copied to the repository's temporary folder (in blocks of 1 MiB) and the
    /// folder is then added as from disk; the copies are removed afterwards, whether the add
    /// succeeded or not. Paths follow the rules of stored paths (relative, '/'-separated, no
    /// <c>..</c>), each is given once, none is also a folder of another, and none lies in a
    /// folder named <c>.mgit</c> (which an add from disk skips).
    /// </remarks>
    /// <param name="name">The model's name; <see cref="AddOptions.Name"/>, if set, must be the same.</param>
    /// <param name="files">The folder's files: each a path in the model and a stream of its bytes.</param>
    /// <param name="options">The model's parents and metadata, as for an add from disk.</param>
    /// <param name="cancellationToken">Cancelled, the add stores no version and removes what it wrote.</param>
    /// <exception cref="MGitException">The name or a path is refused, or the add fails as an add from disk would (messages name files by their paths in the model).</exception>
    public AddResult Add(string name, IReadOnlyList<ModelFileContent> files, AddOptions options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(files);
        return AddSpooled(name, files, options, folder: true, cancellationToken);
    }

    private AddResult AddSpooled(string name, IReadOnlyList<ModelFileContent> files, AddOptions options, bool folder, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        ModelRef.ValidateName(name);
        if (options.Name is { } given && given != name)
        {
            throw new MGitException(ErrorKind.InvalidInput, $"the model is named '{name}' and also '{given}' in its options; give one name");
        }

        CheckStreamPaths(files);
        string spool = Path.Combine(context.TempDirectory, TemporaryFiles.Name("add-stream"));
        string root = folder ? Path.Combine(spool, "model") : spool;
        var startedAt = DateTime.UtcNow;
        bool failed = false;
        // Held from the first byte spooled to the end of the add: gc empties the temporary folder.
        var repositoryLock = RepositoryLock.Shared(context.LockPath, context.Options.LockWait);
        try
        {
            foreach (var (path, content) in files)
            {
                string target = ModelPaths.ForWriting(root, path);
                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                using var output = new FileStream(target, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 1);
                Spool(content, output, cancellationToken);
            }

            return ingestion.Add(folder ? root : Path.Combine(root, files[0].Path), options with { Name = name }, madeByCascade: true, cancellationToken);
        }
        catch (InvalidModelFileException e) when (e.Message.Contains(root, StringComparison.Ordinal))
        {
            failed = true;
            // Name the file as the caller knows it, not by where it was spooled.
            string file = e.Message[..^(e.Problem.Length + 2)];
            file = Path.GetRelativePath(root, file).Replace(Path.DirectorySeparatorChar, '/');
            throw new InvalidModelFileException(file, e.Problem) { Recognized = e.Recognized };
        }
        catch (IOException e) when (DiskSpace.IsNoSpace(e, context.MetadataDirectory))
        {
            failed = true;
            throw DiskSpace.NoSpace(context.MetadataDirectory, e);
        }
        catch
        {
            failed = true;
            throw;
        }
        finally
        {
            try
            {
                if (Directory.Exists(spool))
                {
                    Directory.Delete(spool, recursive: true);
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Not to hide the add's own outcome: the copy carries this process's id, so the
                // next command that writes removes it once this process is gone, and gc at any time.
            }
            finally
            {
                repositoryLock.Dispose();
                if (failed)
                {
                    // The add's own clean-up needs the lock alone, which this held: done again now.
                    ingestion.RemoveWhatAFailedAddWrote(startedAt);
                }
            }
        }
    }

    /// <summary>Refuses paths a folder on disk could not hold as given, before a byte is spooled.</summary>
    private static void CheckStreamPaths(IReadOnlyList<ModelFileContent> files)
    {
        if (files.Count == 0)
        {
            throw new MGitException(ErrorKind.InvalidInput, "give at least one file to add");
        }

        var paths = new HashSet<string>(StringComparer.Ordinal);
        foreach (var file in files)
        {
            ArgumentNullException.ThrowIfNull(file);
            if (file.Content is null || !file.Content.CanRead)
            {
                throw new MGitException(ErrorKind.InvalidInput, $"the content of '{ModelPaths.Printable(file.Path)}' is not a readable stream");
            }

            if (ModelPaths.Problem(file.Path) is { } problem)
            {
                throw new MGitException(ErrorKind.InvalidInput, $"'{ModelPaths.Printable(file.Path)}': mgit cannot store this name ({problem})");
            }

            if (file.Path.Split('/').Contains(RepositoryContext.DirectoryName))
            {
                throw new MGitException(ErrorKind.InvalidInput, $"'{ModelPaths.Printable(file.Path)}' is inside a folder named {RepositoryContext.DirectoryName}, which an add skips");
            }

            if (!paths.Add(file.Path))
            {
                throw new MGitException(ErrorKind.InvalidInput, $"'{ModelPaths.Printable(file.Path)}' is given twice");
            }
        }

        foreach (string path in paths)
        {
            for (int slash = path.IndexOf('/', StringComparison.Ordinal); slash > 0; slash = path.IndexOf('/', slash + 1))
            {
                if (paths.Contains(path[..slash]))
                {
                    throw new MGitException(ErrorKind.InvalidInput, $"'{ModelPaths.Printable(path[..slash])}' is given as a file and as the folder of '{ModelPaths.Printable(path)}'");
                }
            }
        }
    }

    /// <summary>Copies a stream in blocks of 1 MiB, checking for cancellation between blocks.</summary>
    private static void Spool(Stream content, Stream output, CancellationToken cancellationToken)
    {
        byte[] block = System.Buffers.ArrayPool<byte>.Shared.Rent(1 << 20);
        try
        {
            int read;
            while ((read = content.Read(block, 0, 1 << 20)) > 0)
            {
                cancellationToken.ThrowIfCancellationRequested();
                output.Write(block, 0, read);
            }
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(block);
        }
    }
}
