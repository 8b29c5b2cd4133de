using MGit.Errors;
using MGit.Formats;
using MGit.Lineage;
using MGit.Primitives;
using MGit.Storage;
using MGit.Workspace;

namespace MGit.Checkout;

/// <summary>Stored files and tensors read straight from the store, without a checkout to disk.</summary>
internal sealed class StoredFiles(RepositoryContext context)
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
    /// disposed, so gc waits (up to <see cref="RepositoryOptions.LockWait"/>) rather
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
        var version = context.Resolve(reference);
        var file = FileOf(version.Ref, context.LoadManifest(version), path);
        var repositoryLock = RepositoryLock.Shared(context.LockPath, context.Options.LockWait);
        try
        {
            return new StoredFileStream(context.Objects, file, repositoryLock);
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
    /// count (the product of its shape, from <c>mgit show</c>), in row-major order. A strided
    /// PyTorch view is gathered into row-major order.
    /// </remarks>
    /// <param name="reference">The version to read from (NAME@VERSION, or a name for its latest version).</param>
    /// <param name="tensorName">The tensor's name as stored in the model file.</param>
    /// <param name="destination">Receives the elements; its length must be the tensor's element count.</param>
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
        var version = context.Resolve(reference);
        var (manifestFile, listed) = TensorOf(version.Ref, context.LoadManifest(version), tensorName, file);
        string what = $"{version.Ref}: tensor '{tensorName}'";
        var tensor = listed.Tensor;
        int size = TensorElements.Check<T>(tensor.Dtype, tensor.Shape, destination.Length, what);
        if (listed.Segment is not { } segment)
        {
            throw new MGitException(ErrorKind.Unsupported, $"{what} is compressed inside its file, not stored as bytes of it; check the file out and load it with its own reader");
        }

        long bytes = checked(destination.Length * (long)size);
        using var repositoryLock = RepositoryLock.Shared(context.LockPath, context.Options.LockWait);
        Stream elements = new ChunkedReadStream(context.Objects, segment.Chunks.Select(ObjectId.Parse).ToList(), manifestFile.ChunkBytesOf(segment), segment.Length);
        try
        {
            if (listed.View is not { } view)
            {
                if (segment.Length != bytes)
                {
                    throw new MGitException(ErrorKind.Damaged, $"{what} has {segment.Length} stored bytes where {destination.Length} {tensor.Dtype} elements take {bytes}");
                }
            }
            else
            {
                long first = view.Offset - segment.Offset;
                if (first < 0 || view.Length < 0 || first + view.Length > segment.Length)
                {
                    throw new MGitException(ErrorKind.Damaged, $"{what} is a view outside its storage");
                }

                elements = TensorView.IsContiguous(view.Shape, view.Stride)
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
    /// Streams one tensor's bytes from the store without rebuilding the file. With several files
    /// (a sharded folder), <paramref name="file"/> picks one when the name is ambiguous.
    /// </summary>
    public Stream OpenTensor(string reference, string tensorName, string? file = null)
    {
        var version = context.Resolve(reference);
        var (manifestFile, listed) = TensorOf(version.Ref, context.LoadManifest(version), tensorName, file);
        if (listed.Segment is not { } segment || (listed.View is { } strided && !TensorView.IsContiguous(strided.Shape, strided.Stride)))
        {
            throw new MGitException(ErrorKind.Unsupported, $"{version.Ref}: tensor '{tensorName}' is not a contiguous run of stored bytes (a compressed or strided view); check the file out instead");
        }

        var stream = new ChunkedReadStream(context.Objects, segment.Chunks.Select(ObjectId.Parse).ToList(), manifestFile.ChunkBytesOf(segment), segment.Length);
        return listed.View is null ? stream : new SubReadStream(stream, listed.Offset - segment.Offset, listed.Length);
    }

    /// <summary>The file <paramref name="path"/> names in a manifest (following the model's links), or its only file.</summary>
    private static ManifestFile FileOf(string label, Manifest manifest, string? path)
    {
        if (path is null)
        {
            if (manifest.Files.Count == 1)
            {
                return manifest.Files[0];
            }

            throw manifest.Files.Count == 0
                ? new MGitException(ErrorKind.NotFound, $"{label} has no files")
                : new MGitException(ErrorKind.InvalidInput, $"{label} has {manifest.Files.Count} files; name one (e.g. '{ModelPaths.Printable(manifest.Files[0].Path)}')");
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

        throw new MGitException(ErrorKind.NotFound, $"{label} has no file '{ModelPaths.Printable(path)}'");
    }

    /// <summary>The one tensor named <paramref name="tensorName"/> (in <paramref name="file"/>, when given), with the file holding it.</summary>
    private static (ManifestFile File, ListedTensor Listed) TensorOf(string label, Manifest manifest, string tensorName, string? file)
    {
        if (file is not null && !manifest.Files.Any(f => f.Path == file))
        {
            throw new MGitException(ErrorKind.NotFound, $"{label} has no file '{ModelPaths.Printable(file)}'");
        }

        var matches = manifest.Files
            .Where(f => file is null || f.Path == file)
            .SelectMany(f => f.ListedTensors().Where(t => t.Tensor.Name == tensorName).Select(t => (File: f, Listed: t)))
            .ToList();
        return matches.Count switch
        {
            0 => throw new MGitException(ErrorKind.NotFound, $"{label} has no tensor named '{tensorName}'"),
            1 => matches[0],
            _ => throw new MGitException(ErrorKind.InvalidInput, $"{label} has {matches.Count} tensors named '{tensorName}'; name the file"),
        };
    }
}
