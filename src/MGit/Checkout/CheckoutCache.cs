using System.Collections.Concurrent;
using MGit.Lineage;
using MGit.Storage;
using MGit.Workspace;

namespace MGit.Checkout;

/// <summary>
/// Read-only checkouts of stored models in <c>.mgit/cache/checkouts</c>, one per stored content,
/// that tests, lossy checks and cascade recipes run on: a model is written once however many
/// runs use it. Deleting the cache is always safe.
/// </summary>
internal sealed class CheckoutCache(RepositoryContext context, ModelWriter writer)
{
    private readonly ConcurrentDictionary<string, object> _gates = new(StringComparer.Ordinal);

    /// <summary>
    /// The path of a read-only checkout of a stored model under <c>.mgit/cache/checkouts/ID</c>,
    /// written on first use (to a temporary name, published by rename, so concurrent runs and
    /// processes never see half a model). Deleting the cache is always safe.
    /// </summary>
    public string Get(string manifestId, Manifest manifest, CancellationToken cancellationToken)
    {
        var slot = CheckoutSlot(manifestId, manifest);
        lock (_gates.GetOrAdd(manifestId, _ => new object()))
        {
            if (Directory.Exists(slot.Folder))
            {
                // A checkout hard-linked to this one shares its files with the user: unless each file
                // still has the length and modification time noted when it was linked, verify its
                // bytes before trusting them, and write it again if they changed.
                var files = ModelFiles(manifest, slot.Model);
                if (!File.Exists(slot.LinkedMarker) || StampStillHolds(slot.LinkedMarker, files))
                {
                    return slot.Model;
                }

                if (StoredContent.Matches(manifest, files, cancellationToken))
                {
                    File.WriteAllText(slot.LinkedMarker, Stamp(files));
                    return slot.Model;
                }

                Directory.Delete(slot.Folder, recursive: true);
            }

            try
            {
                writer.WriteModel(manifestId[..12], manifest, slot.PartialModel, overwrite: false, cancellationToken);
                slot.Publish();
            }
            finally
            {
                slot.Discard();
            }

            return slot.Model;
        }
    }

    /// <summary>
    /// Writes the checkouts a test run will need and the cache lacks in one pipeline, as
    /// <c>checkout REF...</c> does, so a run over a family decodes each parent chunk once; each is
    /// published as <see cref="Get"/> publishes one.
    /// </summary>
    public void Prepare(IEnumerable<(ModelVersion Version, Manifest Manifest)> needed, CancellationToken cancellationToken)
    {
        var missing = needed
            .DistinctBy(m => m.Version.ManifestId, StringComparer.Ordinal)
            .Where(m => !Directory.Exists(CheckoutSlot(m.Version.ManifestId, m.Manifest).Folder))
            .ToDictionary(m => m.Version.Id);
        if (missing.Count < 2)
        {
            return;
        }

        var graph = context.WithDatabase(context.Graph);
        var versions = graph.ParentsFirst(missing.Values.Select(m => m.Version));
        var slots = versions.Select(v => CheckoutSlot(v.ManifestId, missing[v.Id].Manifest)).ToList();
        try
        {
            writer.WriteFamily(graph, versions, (version, i) => (missing[version.Id].Manifest, slots[i].PartialModel), overwrite: false, cancellationToken);
            slots.ForEach(slot => slot.Publish());
        }
        finally
        {
            slots.ForEach(slot => slot.Discard());
        }
    }

    /// <summary>Notes that a checkout was hard-linked to the cached one, with each file's length and modification time, so that a later use that finds them changed verifies the bytes first (<see cref="Get"/>).</summary>
    public void MarkLinked(string manifestId, Manifest manifest)
    {
        var slot = CheckoutSlot(manifestId, manifest);
        File.WriteAllText(slot.LinkedMarker, Stamp(ModelFiles(manifest, slot.Model)));
    }

    /// <summary>
    /// Whether the marker's stamp still describes the files. File times come from a coarse clock
    /// (a few milliseconds on Linux), so an edit made in the same tick as the marker was written
    /// leaves the time unchanged: a file not older than the marker is "racy" (as git calls it) and
    /// its bytes are verified; the marker written after that verification is then trusted.
    /// </summary>
    private static bool StampStillHolds(string marker, List<(string FullPath, string RelativePath)> files)
    {
        var markedAt = File.GetLastWriteTimeUtc(marker);
        return File.ReadAllText(marker) == Stamp(files)
            && files.All(f => File.GetLastWriteTimeUtc(f.FullPath) < markedAt);
    }

    /// <summary>Each file's path, length and modification time: what an edit through a hard link changes.</summary>
    private static string Stamp(List<(string FullPath, string RelativePath)> files) =>
        string.Join('\n', files.Select(f => new FileInfo(f.FullPath) is { Exists: true } info
            ? string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{f.RelativePath}\t{info.Length}\t{info.LastWriteTimeUtc.Ticks}")
            : $"{f.RelativePath}\tmissing"));

    /// <summary>A checkout's files as (full path, path in the model), in manifest order.</summary>
    private static List<(string FullPath, string RelativePath)> ModelFiles(Manifest manifest, string model) =>
        manifest.Kind == "file"
            ? [(model, manifest.Files.Single().Path)]
            : manifest.Files.Select(f => (ModelPaths.ForWriting(model, f.Path), f.Path)).ToList();

    private CheckoutCacheSlot CheckoutSlot(string manifestId, Manifest manifest) =>
        new(Path.Combine(context.CheckoutCacheDirectory, manifestId), manifest.Kind == "file" ? manifest.Files.Single().Path : "model");

    /// <summary>
    /// Where the read-only checkout of one stored content lives (<c>.mgit/cache/checkouts/ID</c>,
    /// the model at <see cref="Model"/> inside it) and the private folder it is written in first,
    /// published by rename so that concurrent runs and processes never see half a model.
    /// </summary>
    private sealed class CheckoutCacheSlot(string directory, string modelName)
    {
        private readonly string _partial = Path.Combine(Path.GetDirectoryName(directory)!, TemporaryFiles.Name($"{Path.GetFileName(directory)}.partial"));

        public string Folder { get; } = directory;

        public string Model => ModelPaths.ForWriting(Folder, modelName);

        /// <summary>Present when some checkout is a hard link to these files (a name no model file in the slot can take: the model is one entry, <see cref="Model"/>).</summary>
        public string LinkedMarker => Path.Combine(Folder, modelName == LinkedMarkerName ? LinkedMarkerName + "-" : LinkedMarkerName);

        /// <summary>Where the model is written before it is published.</summary>
        public string PartialModel => ModelPaths.ForWriting(_partial, modelName);

        /// <summary>Makes the written model read-only and renames it into place, unless another got there first.</summary>
        public void Publish()
        {
            MakeReadOnly(PartialModel);
            try
            {
                Directory.Move(_partial, Folder);
            }
            catch (IOException) when (Directory.Exists(Folder))
            {
                // Another process published the same content first; theirs is as good as ours.
            }
        }

        /// <summary>Removes what is left of the private folder (all of it, if it was never published).</summary>
        public void Discard()
        {
            if (Directory.Exists(_partial))
            {
                Directory.Delete(_partial, recursive: true);
            }
        }
    }

    private const string LinkedMarkerName = ".mgit-linked";

    private static void MakeReadOnly(string path)
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        const UnixFileMode ReadOnly = UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead;
        if (File.Exists(path))
        {
            File.SetUnixFileMode(path, ReadOnly);
            return;
        }

        // Links are left as they are: a mode set on one is set on its target (maybe a folder).
        foreach (var file in new DirectoryInfo(path).EnumerateFiles("*", SearchOption.AllDirectories).Where(f => f.LinkTarget is null))
        {
            file.UnixFileMode = ReadOnly;
        }
    }
}
