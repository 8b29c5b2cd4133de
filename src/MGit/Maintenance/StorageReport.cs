using System.IO.Enumeration;
using MGit.Lineage;
using MGit.Primitives;
using MGit.Storage;
using MGit.Workspace;

namespace MGit.Maintenance;

/// <summary>Where the bytes of a version went: its own new objects, by codec.</summary>
public sealed record VersionStorage(string Ref, long LogicalBytes, long StoredBytes, IReadOnlyDictionary<string, long> CodecBytes);

/// <summary>How one tensor is stored: codecs of its chunks, what it was stored against, and its size on disk.</summary>
public sealed record TensorStorage(string File, string Name, IReadOnlyDictionary<string, int> Codecs, string? Base, long StoredBytes, int MaxDepth);

/// <summary>The repository's size at a glance: what it holds and what that costs on disk.</summary>
/// <param name="Models">Distinct model names.</param>
/// <param name="Versions">Versions of all models.</param>
/// <param name="LogicalBytes">The size of every version's files, as checked out.</param>
/// <param name="StoredBytes">What the object store takes on disk, after deduplication and compression.</param>
/// <param name="Objects">Objects in the store.</param>
public sealed record RepositoryStats(int Models, int Versions, long LogicalBytes, long StoredBytes, long Objects)
{
    /// <summary>How many logical bytes each stored byte holds (the saving factor); 0 for an empty store.</summary>
    public double Ratio => StoredBytes == 0 ? 0 : (double)LogicalBytes / StoredBytes;
}

/// <summary>What the repository costs on disk: as a whole, per version, per tensor.</summary>
internal sealed class StorageReport(RepositoryContext context)
{
    /// <summary>What the repository holds and what it costs on disk (objects and the lineage database; not caches, logs or temporary files).</summary>
    public RepositoryStats Stats()
    {
        var (models, versions, logicalBytes) = context.Lineage.ReadTotals();
        long stored = 0;
        long objects = 0;
        // What the repository keeps: objects and the lineage database; not the checkout cache, logs or
        // temporary files, whose folders are not even entered. One stat per file, no FileInfo kept.
        var disposable = new HashSet<string>(
            new[] { context.CheckoutCacheDirectory, context.LogDirectory, context.TempDirectory, context.PlacementCacheDirectory, context.Reserve.Path }.Select(Path.TrimEndingDirectorySeparator),
            StringComparer.Ordinal);
        string objectsDirectory = Path.Combine(context.MetadataDirectory, "objects");
        var files = new FileSystemEnumerable<(long Length, bool IsObject)>(
            context.MetadataDirectory,
            (ref FileSystemEntry entry) => (entry.Length, Path.GetDirectoryName(entry.Directory).SequenceEqual(objectsDirectory)),
            new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0, IgnoreInaccessible = false })
        {
            // Of the files only the reserve is disposable, at the top: no path is built for any other.
            ShouldIncludePredicate = (ref FileSystemEntry entry) => !entry.IsDirectory && !(entry.Directory.SequenceEqual(context.MetadataDirectory) && disposable.Contains(entry.ToFullPath())),
            ShouldRecursePredicate = (ref FileSystemEntry entry) => !disposable.Contains(entry.ToFullPath()),
        };
        foreach (var (length, isObject) in files)
        {
            stored += length;
            if (isObject)
            {
                objects++;
            }
        }

        return new RepositoryStats(models, versions, logicalBytes, stored, objects);
    }

    /// <summary>
    /// Each version's own cost: the stored size of the objects it added (objects are charged to
    /// the first version, in add order, that needs them), split by codec.
    /// </summary>
    public IReadOnlyList<VersionStorage> StorageByVersion()
    {
        var graph = context.Graph();
        var charged = new HashSet<ObjectId>();
        var result = new List<VersionStorage>();
        foreach (var version in graph.Versions)
        {
            var codecs = new SortedDictionary<string, long>(StringComparer.Ordinal);
            long stored = 0;
            var manifestId = ObjectId.Parse(version.ManifestId);
            foreach (var id in context.LoadManifest(version).ChunkIds.Prepend(manifestId))
            {
                if (!charged.Add(id) || context.Objects.TryInspect(id) is not { } info)
                {
                    continue;
                }

                string codec = id == manifestId ? "manifest" : info.CodecName;
                codecs[codec] = codecs.GetValueOrDefault(codec) + info.StoredLength;
                stored += info.StoredLength;
            }

            result.Add(new VersionStorage(version.Ref, version.LogicalBytes, stored, codecs));
        }

        return result;
    }

    /// <summary>Per tensor of a version: codec mix, the tensor its deltas are against (named after the oldest version of its own line holding that chunk, else of any other), stored bytes.</summary>
    public IReadOnlyList<TensorStorage> TensorStorageOf(string reference)
    {
        // The version's own line (ancestors and descendants) through indexes: not the whole graph.
        var line = context.Lineage.ReadLine(ModelRef.Parse(reference));
        var version = line.Focus;
        var manifest = context.LoadManifest(version);

        var tensors = new List<(string File, string Name, SortedDictionary<string, int> Codecs, string? BaseChunk, long Stored, int Depth)>();
        foreach (var file in manifest.Files)
        {
            foreach (var listed in file.ListedTensors())
            {
                var codecs = new SortedDictionary<string, int>(StringComparer.Ordinal);
                long stored = 0;
                int depth = 0;
                string? baseChunk = null;
                foreach (string chunk in listed.Segment?.Chunks ?? [])
                {
                    if (context.Objects.TryInspect(ObjectId.Parse(chunk)) is not { } info)
                    {
                        codecs["missing"] = codecs.GetValueOrDefault("missing") + 1;
                        continue;
                    }

                    codecs[info.CodecName] = codecs.GetValueOrDefault(info.CodecName) + 1;
                    stored += info.StoredLength;
                    depth = Math.Max(depth, info.Depth);
                    baseChunk ??= info.BaseId?.ToString();
                }

                tensors.Add((file.Path, listed.Tensor.Name, codecs, baseChunk, stored, depth));
            }
        }

        var owners = OwnersOf(tensors.Select(t => t.BaseChunk).OfType<string>().ToHashSet(StringComparer.Ordinal), version, line.Graph);
        return tensors.Select(t => new TensorStorage(t.File, t.Name, t.Codecs, t.BaseChunk is { } b ? owners.GetValueOrDefault(b, b) : null, t.Stored, t.Depth)).ToList();
    }

    /// <summary>
    /// The version and tensor each of <paramref name="chunks"/> (delta bases) first belonged to:
    /// searched in the version's own line first, oldest first, where the bases are chosen from
    /// (parents, their earlier versions), and in every other version only for what is left.
    /// </summary>
    private Dictionary<string, string> OwnersOf(HashSet<string> chunks, ModelVersion version, LineageGraph line)
    {
        var owners = new Dictionary<string, string>(StringComparer.Ordinal);
        void Search(IEnumerable<ModelVersion> versions)
        {
            foreach (var other in versions.Where(v => v.Id != version.Id))
            {
                if (owners.Count == chunks.Count)
                {
                    return;
                }

                foreach (var segment in context.LoadManifest(other).Files.SelectMany(f => f.Segments).Where(s => s.Tensor is not null))
                {
                    foreach (string chunk in segment.Chunks.Where(chunks.Contains))
                    {
                        owners.TryAdd(chunk, $"{other.Ref}:{segment.Tensor!.Name}");
                    }
                }
            }
        }

        Search(line.Versions.OrderBy(v => v.Id));
        if (owners.Count < chunks.Count)
        {
            Search(context.Graph().Versions);
        }

        return owners;
    }
}
