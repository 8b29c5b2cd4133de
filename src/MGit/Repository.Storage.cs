using MGit.Primitives;
using MGit.Storage;

namespace MGit;

/// <summary>Where the bytes of a version went: its own new objects, by codec.</summary>
public sealed record VersionStorage(string Ref, long LogicalBytes, long StoredBytes, IReadOnlyDictionary<string, long> CodecBytes);

/// <summary>How one tensor is stored: codecs of its chunks, what it was stored against, and its size on disk.</summary>
public sealed record TensorStorage(string File, string Name, IReadOnlyDictionary<string, int> Codecs, string? Base, long StoredBytes, int MaxDepth);

public sealed partial class Repository
{
    /// <summary>
    /// Each version's own cost: the stored size of the objects it added (objects are charged to
    /// the first version, in add order, that needs them), split by codec.
    /// </summary>
    public IReadOnlyList<VersionStorage> StorageByVersion()
    {
        var graph = Graph();
        var charged = new HashSet<ObjectId>();
        var result = new List<VersionStorage>();
        foreach (var version in graph.Versions)
        {
            var codecs = new SortedDictionary<string, long>(StringComparer.Ordinal);
            long stored = 0;
            var manifestId = ObjectId.Parse(version.ManifestId);
            foreach (var id in LoadManifest(version).ChunkIds.Prepend(manifestId))
            {
                if (!charged.Add(id) || _objects.TryInspect(id) is not { } info)
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

    /// <summary>Per tensor of a version: codec mix, the parent tensor its deltas are against, stored bytes.</summary>
    public IReadOnlyList<TensorStorage> TensorStorageOf(string reference)
    {
        var graph = Graph();
        var version = graph.Resolve(reference);
        var manifest = LoadManifest(version);

        // Which version and tensor each chunk first belonged to, to name delta bases.
        var owners = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var other in graph.Versions.Where(v => v.Id != version.Id))
        {
            foreach (var segment in LoadManifest(other).Files.SelectMany(f => f.Segments).Where(s => s.Tensor is not null))
            {
                foreach (string chunk in segment.Chunks)
                {
                    owners.TryAdd(chunk, $"{other.Ref}:{segment.Tensor!.Name}");
                }
            }
        }

        var result = new List<TensorStorage>();
        foreach (var file in manifest.Files)
        {
            foreach (var listed in file.ListedTensors())
            {
                var codecs = new SortedDictionary<string, int>(StringComparer.Ordinal);
                long stored = 0;
                int depth = 0;
                string? baseName = null;
                foreach (string chunk in listed.Segment?.Chunks ?? [])
                {
                    if (_objects.TryInspect(ObjectId.Parse(chunk)) is not { } info)
                    {
                        codecs["missing"] = codecs.GetValueOrDefault("missing") + 1;
                        continue;
                    }

                    codecs[info.CodecName] = codecs.GetValueOrDefault(info.CodecName) + 1;
                    stored += info.StoredLength;
                    depth = Math.Max(depth, info.Depth);
                    if (baseName is null && info.BaseId is { } baseId)
                    {
                        baseName = owners.GetValueOrDefault(baseId.ToString(), baseId.ToString());
                    }
                }

                result.Add(new TensorStorage(file.Path, listed.Tensor.Name, codecs, baseName, stored, depth));
            }
        }

        return result;
    }
}
