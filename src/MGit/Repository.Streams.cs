using MGit.Errors;
using MGit.Lineage;
using MGit.Storage;

namespace MGit;

/// <summary>
/// A file of a model to add from memory or from the network: its path inside the model
/// ('/'-separated, relative; a plain file name for a single-file model) and its bytes, read once
/// from where the stream stands to its end. The stream stays the caller's to dispose.
/// </summary>
public sealed record ModelFileContent(string Path, Stream Content);

public sealed partial class Repository
{
    /// <summary>
    /// Opens one file of a stored version as a read-only, seekable stream of exactly the bytes
    /// that were added, without writing it anywhere: chunks are decoded as reads reach them, one
    /// at a time, and the last few are kept (<see cref="ChunkedReadStream.CacheBytes"/>), so memory
    /// stays small whatever the size of the file.
    /// </summary>
    /// <remarks>
    /// Every chunk a read touches is verified before any of its bytes is returned, as checkout
    /// verifies it: its decoded content against the checksum its object carries (or its id, for
    /// objects without one) and its length against the manifest; on opening, the manifest's chunk
    /// lengths must make the file's length. Chunks in manifest order are the file (the manifest,
    /// itself a verified object, names them by content), so there is no whole-file check to wait
    /// for: a read that meets damage throws <see cref="DamagedObjectException"/>, and everything
    /// read before it was intact. The stream holds the repository's shared lock until it is
    /// disposed, so <see cref="Gc"/> waits (up to <see cref="RepositoryOptions.LockWait"/>) rather
    /// than delete what it reads. In a lazy clone, missing chunks are fetched as they are read.
    /// </remarks>
    /// <param name="reference">NAME (the latest version) or NAME@VERSION.</param>
    /// <param name="path">
    /// The file inside a folder model ('/'-separated, as <c>mgit show</c> lists it; a symbolic
    /// link of the model is followed). May be omitted for a model of one file.
    /// </param>
    /// <exception cref="MGitException">The version, or the file, does not exist; or the model has several files and <paramref name="path"/> is null.</exception>
    public Stream OpenFile(string reference, string? path = null)
    {
        var version = Resolve(reference);
        var file = FileOf(version.Ref, LoadManifest(version), path);
        var repositoryLock = RepositoryLock.Shared(LockPath, _options.LockWait);
        try
        {
            return new StoredFileStream(_objects, file, repositoryLock);
        }
        catch
        {
            repositoryLock.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Reads one tensor of a stored version into <paramref name="destination"/>, as the values
    /// the file holds (decoded from however the chunks are stored: raw, compressed, as deltas, or
    /// lossily within the version's error bound; verified as <see cref="OpenFile"/> verifies).
    /// </summary>
    /// <remarks>
    /// <typeparamref name="T"/> must be the dtype's own type: F64 <see cref="double"/>, F32
    /// <see cref="float"/>, F16 <see cref="Half"/>, I64 <see cref="long"/>, I32 <see cref="int"/>,
    /// I16 <see cref="short"/>, I8 <see cref="sbyte"/>, U64 <see cref="ulong"/>, U32
    /// <see cref="uint"/>, U16 <see cref="ushort"/>, U8 <see cref="byte"/>, BOOL <see cref="bool"/>
    /// (any non-zero byte is true). BF16, which .NET has no type for, is read as <see cref="float"/>
    /// (widened exactly) or as <see cref="ushort"/> (its raw bits); F16 may also be read as
    /// <see cref="float"/>. <paramref name="destination"/> must hold exactly the tensor's element
    /// count (the product of its shape, from <see cref="Show"/>), in row-major order. A strided
    /// PyTorch view is gathered into row-major order.
    /// </remarks>
    /// <param name="file">With several files (a sharded folder), picks the one holding the tensor when its name is ambiguous.</param>
    /// <exception cref="MGitException">
    /// No such version or tensor; the name is ambiguous; the dtype is not one of the above or
    /// <typeparamref name="T"/> does not fit it; the destination's length is not the element count;
    /// or the tensor's bytes are compressed inside its file (a deflated PyTorch storage).
    /// </exception>
    /// <exception cref="DamagedObjectException">A chunk of the tensor failed verification.</exception>
    public void ReadTensor<T>(string reference, string tensorName, Span<T> destination, string? file = null)
        where T : unmanaged
    {
        var version = Resolve(reference);
        var (manifestFile, listed) = TensorOf(version.Ref, LoadManifest(version), tensorName, file);
        string what = $"{version.Ref}: tensor '{tensorName}'";
        var tensor = listed.Tensor;
        int size = TensorElements.Check<T>(tensor.Dtype, tensor.Shape, destination.Length, what);
        if (listed.Segment is not { } segment)
        {
            throw new MGitException($"{what} is compressed inside its file, not stored as bytes of it; check the file out and load it with its own reader");
        }

        long bytes = checked(destination.Length * (long)size);
        using var repositoryLock = RepositoryLock.Shared(LockPath, _options.LockWait);
        Stream elements = new ChunkedReadStream(_objects, segment.Chunks.Select(ObjectId.Parse).ToList(), manifestFile.ChunkBytesOf(segment), segment.Length);
        try
        {
            if (listed.View is not { } view)
            {
                if (segment.Length != bytes)
                {
                    throw new MGitException($"{what} has {segment.Length} stored bytes where {destination.Length} {tensor.Dtype} elements take {bytes}");
                }
            }
            else
            {
                long first = view.Offset - segment.Offset;
                if (first < 0 || view.Length < 0 || first + view.Length > segment.Length)
                {
                    throw new MGitException($"{what} is a view outside its storage");
                }

                elements = Formats.PyTorch.PyTorchFormat.IsContiguous(view.Shape, view.Stride)
                    ? new SubReadStream(elements, first, bytes)
                    : new StridedViewStream(elements, first, size, view.Shape, view.Stride);
            }

            TensorElements.Read(elements, tensor.Dtype, destination);
        }
        finally
        {
            elements.Dispose();
        }
    }

    /// <summary>
    /// Adds a single-file model whose bytes come from a stream, exactly as <see cref="Add(string, AddOptions)"/>
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
    /// <exception cref="MGitException">The name or path is refused, or the add fails as an add from disk would (messages name the file by its path in the model).</exception>
    public AddResult Add(string name, ModelFileContent file, AddOptions options)
    {
        ArgumentNullException.ThrowIfNull(file);
        if (file.Path is not null && file.Path.Contains('/', StringComparison.Ordinal))
        {
            throw new MGitException($"'{ModelPaths.Printable(file.Path)}' is not a file name; a single-file model's file has no folder (add a folder model with a list of files)");
        }

        return AddSpooled(name, [file], options, folder: false);
    }

    /// <summary>
    /// Adds a folder model whose files come from streams (a Hugging Face folder held in memory or
    /// downloaded, say), exactly as <see cref="Add(string, AddOptions)"/> adds a folder holding
    /// those files at those paths. A list of one file still makes a folder model; for a
    /// single-file model use <see cref="Add(string, ModelFileContent, AddOptions)"/>.
    /// </summary>
    /// <remarks>
    /// Each stream is copied to the repository's temporary folder (in blocks of 1 MiB) and the
    /// folder is then added as from disk; the copies are removed afterwards, whether the add
    /// succeeded or not. Paths follow the rules of stored paths (relative, '/'-separated, no
    /// <c>..</c>), each is given once, none is also a folder of another, and none lies in a
    /// folder named <c>.mgit</c> (which an add from disk skips).
    /// </remarks>
    /// <param name="name">The model's name; <see cref="AddOptions.Name"/>, if set, must be the same.</param>
    /// <exception cref="MGitException">The name or a path is refused, or the add fails as an add from disk would (messages name files by their paths in the model).</exception>
    public AddResult Add(string name, IReadOnlyList<ModelFileContent> files, AddOptions options)
    {
        ArgumentNullException.ThrowIfNull(files);
        return AddSpooled(name, files, options, folder: true);
    }

    private AddResult AddSpooled(string name, IReadOnlyList<ModelFileContent> files, AddOptions options, bool folder)
    {
        ArgumentNullException.ThrowIfNull(options);
        ModelRef.ValidateName(name);
        if (options.Name is { } given && given != name)
        {
            throw new MGitException($"the model is named '{name}' and also '{given}' in its options; give one name");
        }

        CheckStreamPaths(files);
        string spool = Path.Combine(TempDirectory, TemporaryFiles.Name("add-stream"));
        string root = folder ? Path.Combine(spool, "model") : spool;
        var startedAt = DateTime.UtcNow;
        bool failed = false;
        // Held from the first byte spooled to the end of the add: gc empties the temporary folder.
        var repositoryLock = RepositoryLock.Shared(LockPath, _options.LockWait);
        try
        {
            foreach (var (path, content) in files)
            {
                string target = ModelPaths.ForWriting(root, path);
                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                using var output = new FileStream(target, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 1);
                content.CopyTo(output, 1 << 20);
            }

            return Add(folder ? root : Path.Combine(root, files[0].Path), options with { Name = name }, madeByCascade: true);
        }
        catch (InvalidModelFileException e) when (e.Message.Contains(root, StringComparison.Ordinal))
        {
            failed = true;
            // Name the file as the caller knows it, not by where it was spooled.
            string file = e.Message[..^(e.Problem.Length + 2)];
            file = Path.GetRelativePath(root, file).Replace(Path.DirectorySeparatorChar, '/');
            throw new InvalidModelFileException(file, e.Problem) { Recognized = e.Recognized };
        }
        catch (IOException e) when (DiskSpace.IsNoSpace(e, MetadataDirectory))
        {
            failed = true;
            throw DiskSpace.NoSpace(MetadataDirectory, e);
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
                    RemoveWhatAFailedAddWrote(startedAt);
                }
            }
        }
    }

    /// <summary>Refuses paths a folder on disk could not hold as given, before a byte is spooled.</summary>
    private static void CheckStreamPaths(IReadOnlyList<ModelFileContent> files)
    {
        if (files.Count == 0)
        {
            throw new MGitException("give at least one file to add");
        }

        var paths = new HashSet<string>(StringComparer.Ordinal);
        foreach (var file in files)
        {
            ArgumentNullException.ThrowIfNull(file);
            if (file.Content is null || !file.Content.CanRead)
            {
                throw new MGitException($"the content of '{ModelPaths.Printable(file.Path)}' is not a readable stream");
            }

            if (ModelPaths.Problem(file.Path) is { } problem)
            {
                throw new MGitException($"'{ModelPaths.Printable(file.Path)}': mgit cannot store this name ({problem})");
            }

            if (file.Path.Split('/').Contains(DirectoryName))
            {
                throw new MGitException($"'{ModelPaths.Printable(file.Path)}' is inside a folder named {DirectoryName}, which an add skips");
            }

            if (!paths.Add(file.Path))
            {
                throw new MGitException($"'{ModelPaths.Printable(file.Path)}' is given twice");
            }
        }

        foreach (string path in paths)
        {
            for (int slash = path.IndexOf('/', StringComparison.Ordinal); slash > 0; slash = path.IndexOf('/', slash + 1))
            {
                if (paths.Contains(path[..slash]))
                {
                    throw new MGitException($"'{ModelPaths.Printable(path[..slash])}' is given as a file and as the folder of '{ModelPaths.Printable(path)}'");
                }
            }
        }
    }

    /// <summary>The file <paramref name="path"/> names in a manifest (following the model's links), or its only file.</summary>
    private static ManifestFile FileOf(string label, Manifest manifest, string? path)
    {
        if (path is null)
        {
            return manifest.Files.Count == 1
                ? manifest.Files[0]
                : throw new MGitException(manifest.Files.Count == 0
                    ? $"{label} has no files"
                    : $"{label} has {manifest.Files.Count} files; name one (e.g. '{ModelPaths.Printable(manifest.Files[0].Path)}')");
        }

        var files = manifest.Files.ToDictionary(f => f.Path, StringComparer.Ordinal);
        var links = (manifest.Links ?? []).ToDictionary(l => l.Path, l => l.Target, StringComparer.Ordinal);
        string current = path;
        // Each step replaces a link on the way by its target; a manifest's links cannot form a
        // loop that stays inside the model for long, and the count bounds one that would.
        for (int step = 0; step < 40; step++)
        {
            if (files.TryGetValue(current, out var file))
            {
                return file;
            }

            var names = current.Split('/');
            int link = Enumerable.Range(1, names.Length).FirstOrDefault(n => links.ContainsKey(string.Join('/', names[..n])));
            if (link == 0)
            {
                break;
            }

            string linkPath = string.Join('/', names[..link]);
            var resolved = new List<string>(names[..(link - 1)]);
            foreach (string name in links[linkPath].Split('/').Concat(names[link..]))
            {
                if (name != "..")
                {
                    resolved.Add(name);
                }
                else if (resolved.Count > 0)
                {
                    resolved.RemoveAt(resolved.Count - 1);
                }
            }

            current = string.Join('/', resolved);
        }

        throw new MGitException($"{label} has no file '{ModelPaths.Printable(path)}'");
    }

    /// <summary>The one tensor named <paramref name="tensorName"/> (in <paramref name="file"/>, when given), with the file holding it.</summary>
    private static (ManifestFile File, ListedTensor Listed) TensorOf(string label, Manifest manifest, string tensorName, string? file)
    {
        if (file is not null && !manifest.Files.Any(f => f.Path == file))
        {
            throw new MGitException($"{label} has no file '{ModelPaths.Printable(file)}'");
        }

        var matches = manifest.Files
            .Where(f => file is null || f.Path == file)
            .SelectMany(f => f.ListedTensors().Where(t => t.Tensor.Name == tensorName).Select(t => (File: f, Listed: t)))
            .ToList();
        return matches.Count switch
        {
            0 => throw new MGitException($"{label} has no tensor named '{tensorName}'"),
            1 => matches[0],
            _ => throw new MGitException($"{label} has {matches.Count} tensors named '{tensorName}'; name the file"),
        };
    }
}
