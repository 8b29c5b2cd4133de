using System.Globalization;
using MGit.Errors;
using MGit.Lineage;
using MGit.Primitives;
using MGit.Storage;
using MGit.Workspace;

namespace MGit.Checkout;

/// <summary>Writes stored models back to disk, byte-identical to what was added: one model, or a family in one pipeline.</summary>
internal sealed class ModelWriter(RepositoryContext context)
{
    /// <summary>
    /// Rebuilds a model version at <paramref name="output"/>, byte-identical to what was added.
    /// A single-file model given an existing folder lands inside it under its own file name. Files
    /// are written under temporary names and renamed only after their hash checks out.
    /// Returns the path written. A checkout that fails or is cancelled (taken at every chunk)
    /// takes back the files and folders it created; with <paramref name="overwrite"/>, files it
    /// had already replaced keep their new content.
    /// </summary>
    public string Checkout(string reference, string output, bool overwrite, CancellationToken cancellationToken)
    {
        var version = context.Resolve(reference);
        return WriteModel(version.Ref, context.LoadManifest(version), output, overwrite, cancellationToken);
    }

    /// <summary>
    /// Where a checkout goes by default in <paramref name="directory"/>: a single-file model under
    /// the file name it was added with, a folder model in a folder named as the model (its last
    /// '/'-part), as <c>git clone</c> names its folder.
    /// </summary>
    public string DefaultOutput(string reference, string directory)
    {
        var version = context.Resolve(reference);
        var manifest = context.LoadManifest(version);
        string name = manifest.Kind == "file" ? Path.GetFileName(manifest.Files.Single().Path) : version.Name[(version.Name.LastIndexOf('/') + 1)..];
        return ModelPaths.ForWriting(directory, name);
    }

    /// <summary>
    /// Rebuilds several model versions inside <paramref name="folder"/>, each in a folder named by
    /// its ref (NAME@VERSION; a single-file model's file goes inside it under its own name), in
    /// one pipeline. Parents come first (<see cref="LineageGraph.ParentsFirst"/>), the files are
    /// written side by side (<see cref="FileMaterializer"/>), and a decoded chunk that is wanted
    /// again, as a chunk of another file or as the delta base of one, is kept until its last use
    /// (<see cref="DecodedChunkCache"/>, within <see cref="RepositoryOptions.CheckoutCacheBytes"/>):
    /// a family checked out together decodes each parent chunk about once. Nothing is written
    /// unless every version resolves and, without <paramref name="overwrite"/>, every target is free;
    /// a checkout that fails or is cancelled takes back what it created, as the single one does.
    /// </summary>
    public IReadOnlyList<(string Ref, string Path)> Checkout(IReadOnlyList<string> references, string folder, bool overwrite, CancellationToken cancellationToken)
    {
        var graph = context.Graph();
        var versions = graph.ParentsFirst(references.Select(graph.Resolve));
        if (versions.Count == 0)
        {
            throw new MGitException(ErrorKind.InvalidInput, "name at least one model to check out");
        }

        string root = Path.GetFullPath(folder);
        if (File.Exists(root))
        {
            throw new MGitException(ErrorKind.InvalidInput, $"{folder} is a file; checking out several models needs a folder");
        }

        var folders = versions.Select(v => RefFolder(root, v)).ToList();
        if (!overwrite && folders.Find(f => File.Exists(f) || (Directory.Exists(f) && Directory.EnumerateFileSystemEntries(f).Any())) is { } taken)
        {
            throw new MGitException(ErrorKind.Conflict, $"{taken} already exists; pass --force to write into it");
        }

        // A failed checkout takes back the folders it made (the root, each ref's, any between for
        // names with a '/'), deepest first, where nothing went into them.
        var made = folders
            .SelectMany(f => FolderAndParents(f, upTo: root))
            .Distinct(StringComparer.Ordinal)
            .Where(f => !Directory.Exists(f))
            .OrderByDescending(f => f.Length)
            .ToList();
        try
        {
            var models = WriteFamily(graph, versions, (version, i) =>
            {
                Directory.CreateDirectory(folders[i]);
                return (context.LoadManifest(version), folders[i]);
            }, overwrite, cancellationToken);
            return versions.Select((v, i) => (v.Ref, models[i].Target)).ToList();
        }
        catch
        {
            foreach (string created in made.Where(f => Directory.Exists(f) && !Directory.EnumerateFileSystemEntries(f).Any()))
            {
                Directory.Delete(created);
            }

            throw;
        }
    }

    /// <summary>
    /// Writes versions (parents first, as <see cref="LineageGraph.ParentsFirst"/> orders them) in
    /// one pipeline sharing decoded chunks; <paramref name="target"/> gives each version's
    /// manifest and where it goes. A version's generation is one more than that of its deepest
    /// ancestor among them.
    /// </summary>
    public List<ModelFiles> WriteFamily(LineageGraph graph, IReadOnlyList<ModelVersion> versions, Func<ModelVersion, int, (Manifest Manifest, string Output)> target, bool overwrite, CancellationToken cancellationToken)
    {
        var generation = new Dictionary<long, int>();
        var models = new List<ModelFiles>(versions.Count);
        for (int i = 0; i < versions.Count; i++)
        {
            var version = versions[i];
            generation[version.Id] = graph.Ancestors(version).Where(a => generation.ContainsKey(a.Id)).Select(a => generation[a.Id] + 1).DefaultIfEmpty(0).Max();
            var (manifest, output) = target(version, i);
            models.Add(PlanModel(manifest, output, overwrite, generation[version.Id]));
        }

        var chunks = models.SelectMany(m => m.Manifest.Files).SelectMany(FileMaterializer.Chunks).Select(c => c.Id);
        using var cache = DecodedChunkCache.ForChunks(chunks, id => context.Objects.TryInspect(id)?.BaseId, context.Options.CheckoutCacheBytes);
        WriteModels($"{versions.Count} models", models, cache, cancellationToken);
        return models;
    }

    /// <summary><paramref name="folder"/> and each folder above it, up to and with <paramref name="upTo"/> (which holds it).</summary>
    private static IEnumerable<string> FolderAndParents(string folder, string upTo)
    {
        for (string? current = folder; current is not null && current.Length >= upTo.Length; current = Path.GetDirectoryName(current))
        {
            yield return current;
        }
    }

    /// <summary>Where a version goes in a checkout of several: a folder named by its ref, which must stay inside <paramref name="root"/>.</summary>
    private static string RefFolder(string root, ModelVersion version)
    {
        string target = Path.GetFullPath(Path.Combine(root, version.Ref));
        string relative = Path.GetRelativePath(root, target);
        if (relative == "." || relative == ".." || relative.StartsWith(".." + Path.DirectorySeparatorChar, StringComparison.Ordinal) || Path.IsPathRooted(relative))
        {
            throw new MGitException(ErrorKind.InvalidInput, $"the name of {version.Ref} is not a folder name inside {root}; check it out on its own with --output");
        }

        return target;
    }

    /// <summary>A model to write: its manifest, the path it goes to, and where each of its files goes.</summary>
    public sealed record ModelFiles(Manifest Manifest, string Target, IReadOnlyList<(ManifestFile File, string Path)> Files, int Generation);

    /// <summary>Writes a manifest's files at <paramref name="output"/>; <paramref name="label"/> names it in progress. Returns the path written.</summary>
    public string WriteModel(string label, Manifest manifest, string output, bool overwrite, CancellationToken cancellationToken)
    {
        var model = PlanModel(manifest, output, overwrite, generation: 0);
        WriteModels(label, [model], cache: null, cancellationToken);
        return model.Target;
    }

    /// <summary>Where a manifest's files go at <paramref name="output"/>, refusing to overwrite unless told to.</summary>
    private static ModelFiles PlanModel(Manifest manifest, string output, bool overwrite, int generation)
    {
        string target = Path.GetFullPath(output);
        if (manifest.Kind == "file")
        {
            var file = manifest.Files.Single();
            if (Directory.Exists(target))
            {
                target = ModelPaths.ForWriting(target, file.Path);
            }

            if (File.Exists(target) && !overwrite)
            {
                throw new MGitException(ErrorKind.Conflict, $"{target} already exists; pass --force to overwrite it");
            }

            if (Directory.Exists(target))
            {
                throw new MGitException(ErrorKind.InvalidInput, $"{target} is a folder; a single-file model needs a file name");
            }

            return new ModelFiles(manifest, target, [(file, target)], generation);
        }

        if (File.Exists(target))
        {
            throw new MGitException(ErrorKind.InvalidInput, $"{output} is a file; a folder model needs a folder");
        }

        if (Directory.Exists(target) && Directory.EnumerateFileSystemEntries(target).Any() && !overwrite)
        {
            throw new MGitException(ErrorKind.Conflict, $"{output} is not empty; pass --force to write into it");
        }

        return new ModelFiles(manifest, target, manifest.Files.Select(f => (f, ModelPaths.ForWriting(target, f.Path))).ToList(), generation);
    }

    /// <summary>Files open at once at most: a group larger than this is written in parts.</summary>
    private const int MaxOpenOutputs = 256;

    /// <summary>
    /// Writes the models' files under temporary names, in groups of the files that line up (a
    /// single-file model's file, or the same path in each folder model), each group in one
    /// pipeline, and renames each group's files into place once all of them are whole.
    /// </summary>
    private void WriteModels(string label, List<ModelFiles> models, DecodedChunkCache? cache, CancellationToken cancellationToken)
    {
        try
        {
            WriteModelsUnderLock(label, models, cache, cancellationToken);
        }
        catch (Exception e) when (DiskSpace.IsNoSpace(e, models[0].Target))
        {
            throw DiskSpace.NoSpace(models[0].Target, e);
        }
    }

    private void WriteModelsUnderLock(string label, List<ModelFiles> models, DecodedChunkCache? cache, CancellationToken cancellationToken)
    {
        using var repositoryLock = RepositoryLock.Shared(context.LockPath, context.Options.LockWait);
        using var progress = context.Options.Progress.Begin($"checking out {label}", models.Sum(m => m.Manifest.LogicalBytes));
        var created = new CreatedPaths();
        try
        {
            foreach (var model in models.Where(m => m.Manifest.Kind != "file"))
            {
                created.Folder(model.Target);
            }

            RemoveStalePartials(models.SelectMany(m => m.Files.Select(f => f.Path)));
            var materializer = new FileMaterializer(context.Objects, context.Options.Workers, cache);
            var groups = models
                .SelectMany(m => m.Files.Select(f => (Key: m.Manifest.Kind == "file" ? "" : f.File.Path, f.File, f.Path, m.Generation)))
                .GroupBy(f => f.Key, StringComparer.Ordinal)
                .SelectMany(g => g.Chunk(MaxOpenOutputs));
            foreach (var group in groups)
            {
                WriteFilesAtomically(materializer, group.Select(f => (f.File, f.Path, f.Generation)).ToList(), progress, context.Options.DirectWriteMinBytes, created, cancellationToken);
            }

            foreach (var model in models.Where(m => m.Manifest.Kind != "file"))
            {
                WriteFolderExtras(model, created, cancellationToken);
            }
        }
        catch
        {
            created.TakeBack();
            throw;
        }
    }

    /// <summary>A folder model's empty folders and, last (nothing is ever written through them), its symbolic links.</summary>
    private static void WriteFolderExtras(ModelFiles model, CreatedPaths created, CancellationToken cancellationToken)
    {
        foreach (string directory in model.Manifest.EmptyDirectories)
        {
            created.Folder(ModelPaths.ForWriting(model.Target, directory));
        }

        foreach (var link in model.Manifest.Links ?? [])
        {
            cancellationToken.ThrowIfCancellationRequested();
            string path = ModelPaths.ForWriting(model.Target, link.Path);
            created.Folder(Path.GetDirectoryName(path)!);
            created.File(path);
            WriteLink(path, link.Target);
        }
    }

    /// <summary>
    /// Checks a model out as links to the files of <paramref name="cached"/>, a verified read-only
    /// checkout of the same manifest (<see cref="CheckoutCache"/>): a reflink where the file system
    /// has them, else a hard link, every file read-only. Returns null, having made nothing, when
    /// the file system cannot link there (another file system, say); else the path and the
    /// weakest method used.
    /// </summary>
    public static (string Path, FileLinks.Method Method)? LinkModel(Manifest manifest, string cached, string output, bool overwrite, CancellationToken cancellationToken)
    {
        var model = PlanModel(manifest, output, overwrite, generation: 0);
        var created = new CreatedPaths();
        var weakest = FileLinks.Method.Reflink;
        try
        {
            if (manifest.Kind != "file")
            {
                created.Folder(model.Target);
            }

            foreach (var (file, path) in model.Files)
            {
                cancellationToken.ThrowIfCancellationRequested();
                string source = manifest.Kind == "file" ? cached : ModelPaths.ForWriting(cached, file.Path);
                created.Folder(Path.GetDirectoryName(path)!);
                string temporary = Path.Combine(Path.GetDirectoryName(path)!, TemporaryFiles.Name(Path.GetFileName(path)));
                var method = FileLinks.Link(source, temporary);
                if (method == FileLinks.Method.None)
                {
                    created.TakeBack();
                    return null;
                }

                weakest = (FileLinks.Method)Math.Max((int)weakest, (int)method);
                try
                {
                    if (method == FileLinks.Method.Reflink && !OperatingSystem.IsWindows())
                    {
                        File.SetUnixFileMode(temporary, UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
                    }

                    created.File(path);
                    File.Move(temporary, path, overwrite);
                }
                finally
                {
                    File.Delete(temporary);
                }
            }

            WriteFolderExtras(model, created, cancellationToken);
            return (model.Target, weakest);
        }
        catch
        {
            created.TakeBack();
            throw;
        }
    }

    /// <summary>
    /// The files and folders a checkout brought into being, where nothing was before, so that one
    /// that fails or is cancelled can take them back and leave no half model behind.
    /// </summary>
    private sealed class CreatedPaths
    {
        private readonly List<string> _folders = [];
        private readonly List<string> _files = [];

        /// <summary>Creates <paramref name="folder"/> and any folder above it that is missing, noting each.</summary>
        public void Folder(string folder)
        {
            var missing = new List<string>();
            for (string? current = folder; current is not null && !Directory.Exists(current); current = Path.GetDirectoryName(current))
            {
                missing.Add(current);
            }

            Directory.CreateDirectory(folder);
            _folders.AddRange(missing);
        }

        /// <summary>Notes a path about to be written, if nothing is there yet (with --force, a file replaced is not taken back).</summary>
        public void File(string path)
        {
            if (!System.IO.File.Exists(path) && new FileInfo(path).LinkTarget is null)
            {
                _files.Add(path);
            }
        }

        public void TakeBack()
        {
            try
            {
                foreach (string file in _files)
                {
                    System.IO.File.Delete(file); // a link itself, never its target
                }

                // Deepest first; a folder something else has since gone into stays.
                foreach (string folder in _folders.Distinct(StringComparer.Ordinal).OrderByDescending(f => f.Length))
                {
                    if (Directory.Exists(folder) && !Directory.EnumerateFileSystemEntries(folder).Any())
                    {
                        Directory.Delete(folder);
                    }
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Best effort: the error that stopped the checkout is the one to report.
            }
        }
    }

    /// <summary>Creates a symbolic link at <paramref name="path"/>, in place of the file or link there (never of a folder).</summary>
    private static void WriteLink(string path, string target)
    {
        var existing = new FileInfo(path);
        if (existing.LinkTarget is null && Directory.Exists(path))
        {
            throw new MGitException(ErrorKind.Conflict, $"{path} is a folder; the model has a link there");
        }

        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        if (existing.LinkTarget is not null || existing.Exists)
        {
            existing.Delete(); // a link is removed itself, not its target
        }

        File.CreateSymbolicLink(path, target.Replace('/', Path.DirectorySeparatorChar));
    }

    /// <summary>What a file being checked out is called until it is whole; the writing process's id follows.</summary>
    private const string PartialMarker = ".mgit-partial-";

    private static void WriteFilesAtomically(FileMaterializer materializer, List<(ManifestFile File, string Path, int Generation)> files, IProgressTask progress, long directWriteMinBytes, CreatedPaths created, CancellationToken cancellationToken)
    {
        string suffix = PartialMarker + Environment.ProcessId.ToString(CultureInfo.InvariantCulture);
        var streams = new List<FileStream>(files.Count);
        var outputs = new List<CheckoutFile>(files.Count);
        var writer = files.Any(f => f.File.Length >= directWriteMinBytes) ? new DirectWriter() : null;
        try
        {
            foreach (var (file, path, _) in files)
            {
                created.Folder(Path.GetDirectoryName(path)!);
                // Preallocated (fallocate): a full disk fails here rather than midway, and ext4 then
                // writes the chunks without allocating blocks as it goes (checkout of a 2 GB model:
                // 1.15-1.33 s against 1.46-1.83 s without, on the benchmark VM). Shared for writing
                // with the direct handle CheckoutFile may open; the name is private to this process.
                var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, Share = FileShare.Write, BufferSize = 1, PreallocationSize = file.Length };
                var stream = new FileStream(path + suffix, options);
                streams.Add(stream);
                stream.SetLength(file.Length);
                outputs.Add(new CheckoutFile(stream.SafeFileHandle, path + suffix, file.Length >= directWriteMinBytes ? writer : null));
            }

            materializer.Write(files.Select((f, i) => new FileMaterializer.Output(f.File, outputs[i], f.Generation)).ToList(), progress.Advance, cancellationToken);
            writer?.Complete();
            foreach (var output in outputs)
            {
                output.Dispose();
            }

            foreach (var stream in streams)
            {
                stream.Dispose();
            }

            foreach (var (_, path, _) in files)
            {
                created.File(path);
                File.Move(path + suffix, path, overwrite: true);
            }
        }
        finally
        {
            writer?.Dispose(); // after an error: lets the queued writes end before the files close
            foreach (var output in outputs)
            {
                output.Dispose();
            }

            foreach (var stream in streams)
            {
                stream.Dispose();
            }

            foreach (var (_, path, _) in files)
            {
                if (File.Exists(path + suffix))
                {
                    File.Delete(path + suffix);
                }
            }
        }
    }

    /// <summary>
    /// Deletes what checkouts of these paths that were killed midway left (<c>PATH.mgit-partial-PID</c>,
    /// as large as the file), where that process is no longer running: nothing else ever would. One
    /// scan of each folder, whatever the number of files in it.
    /// </summary>
    private static void RemoveStalePartials(IEnumerable<string> paths)
    {
        foreach (var folder in paths.GroupBy(p => Path.GetDirectoryName(p) ?? "", StringComparer.Ordinal))
        {
            var targets = folder.Select(Path.GetFileName).ToHashSet(StringComparer.Ordinal);
            if (!Directory.Exists(folder.Key))
            {
                continue;
            }

            foreach (string partial in Directory.EnumerateFiles(folder.Key, "*" + PartialMarker + "*"))
            {
                string name = Path.GetFileName(partial);
                int marker = name.LastIndexOf(PartialMarker, StringComparison.Ordinal);
                if (targets.Contains(name[..marker])
                    && int.TryParse(name.AsSpan(marker + PartialMarker.Length), NumberStyles.None, CultureInfo.InvariantCulture, out int pid)
                    && !TemporaryFiles.IsRunning(pid))
                {
                    File.Delete(partial);
                }
            }
        }
    }
}
