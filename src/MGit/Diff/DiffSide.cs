using MGit.Errors;
using MGit.Formats;
using MGit.Formats.Catalog;
using MGit.Primitives;
using MGit.Storage;

namespace MGit.Diff;

/// <summary>
/// One tensor of a side of a diff. <see cref="Chunks"/> are the ids of its chunks as the
/// repository cuts them (stored, or computed for a file on disk), so equal ids mean equal bytes.
/// <see cref="Open"/> gives a seekable stream in which the tensor starts at <see cref="Offset"/>.
/// </summary>
public sealed record DiffTensor(string File, string Name, string Dtype, IReadOnlyList<long> Shape, IReadOnlyList<ObjectId> Chunks, int ChunkBytes, Func<Stream> Open, long Offset)
{
    /// <summary>Number of elements: the product of <see cref="Shape"/>.</summary>
    public long Elements { get; } = Shape.Aggregate(1L, (x, y) => checked(x * y));

    /// <summary>The tensor's length in bytes (its stream may go on past it: a file on disk holds other data after it).</summary>
    public long ByteLength { get; init; }

    /// <summary>Whether the two tensors hold the same bytes with the same dtype and shape, judged by chunk ids without reading data.</summary>
    public bool SameContent(DiffTensor other) =>
        Dtype == other.Dtype && Shape.SequenceEqual(other.Shape) && ChunkBytes == other.ChunkBytes && Chunks.SequenceEqual(other.Chunks);

    /// <summary>A hash of dtype, shape and chunk ids that names the tensor's content, used to find renamed tensors.</summary>
    public ObjectId ContentHash => Fingerprints.ContentHash(Dtype, Shape, Chunks.Select(c => c.ToString()));
}

/// <summary>
/// One file of a side of a diff. <see cref="ReadAll"/> is only called for small files (text and JSON
/// diffs); <see cref="Open"/> gives a seekable stream over the whole file, for structural diffs
/// that read only its skeleton.
/// </summary>
internal sealed record DiffFile(string Path, string Format, long Length, IReadOnlyDictionary<string, string>? Metadata, IReadOnlyList<ObjectId> Chunks, int TensorCount, Func<byte[]> ReadAll, Func<Stream> Open);

/// <summary>A model as a diff sees it: a stored version, or a file or folder on disk.</summary>
internal sealed record DiffSide(string Label, bool SingleFile, IReadOnlyList<DiffFile> Files, IReadOnlyList<DiffTensor> Tensors)
{
    /// <summary>A stored version: everything comes from its manifest; data is read only where needed.</summary>
    public static DiffSide FromStored(string label, Manifest manifest, ObjectStore objects)
    {
        var files = new List<DiffFile>();
        var tensors = new List<DiffTensor>();
        foreach (var file in manifest.Files)
        {
            var chunks = FileMaterializer.Chunks(file).ToList();
            files.Add(new DiffFile(file.Path, file.Format, file.Length, file.Metadata, chunks.Select(c => c.Id).ToList(), file.Segments.Count(s => s.Tensor is not null), () => ReadStored(objects, chunks, file.Length), () => new ChunkedReadStream(objects, chunks)));
            foreach (var segment in file.Segments)
            {
                if (segment.Tensor is { } t)
                {
                    var ids = segment.Chunks.Select(ObjectId.Parse).ToList();
                    int chunkBytes = file.ChunkBytesOf(segment);
                    long length = segment.Length;
                    tensors.Add(new DiffTensor(file.Path, t.Name, t.Dtype, t.Shape, ids, chunkBytes, () => new ChunkedReadStream(objects, ids, chunkBytes, length), 0) { ByteLength = length });
                }
            }
        }

        return new DiffSide(label, manifest.Kind == "file", files, tensors);
    }

    /// <summary>
    /// A model file or folder on disk, read as add would read it: every file's layout, and the
    /// ids of its chunks cut as the repository cuts them (one hashing pass), so it compares with
    /// stored versions exactly.
    /// </summary>
    public static DiffSide FromPath(string label, string path, RepositoryFormat format, IReadOnlyList<(string FullPath, string RelativePath)> files)
    {
        var diffFiles = new List<DiffFile>();
        var tensors = new List<DiffTensor>();
        foreach (var (fullPath, relativePath) in files)
        {
            var layout = ModelFormats.ReadLayout(fullPath, Path.Combine(label, relativePath));
            var fileChunks = new List<ObjectId>();
            using (var stream = new FileStream(fullPath, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1, FileOptions.SequentialScan))
            {
                foreach (var segment in layout.Segments)
                {
                    int chunkBytes = Chunking.ChunkBytes(format, segment.Tensor);
                    var ids = Fingerprints.ChunkIds(stream, segment.Offset, segment.Length, chunkBytes, sketch: null).Select(ObjectId.Parse).ToList();
                    fileChunks.AddRange(ids);
                    if (segment.Tensor is { } t)
                    {
                        tensors.Add(new DiffTensor(relativePath, t.Name, t.Dtype, t.Shape, ids, chunkBytes, () => new FileStream(fullPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16), segment.Offset) { ByteLength = segment.Length });
                    }
                }
            }

            diffFiles.Add(new DiffFile(relativePath, layout.Format, layout.Length, layout.Metadata, fileChunks, layout.Tensors.Count(), () => File.ReadAllBytes(fullPath), () => new FileStream(fullPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16)));
        }

        return new DiffSide(label, !Directory.Exists(path), diffFiles, tensors);
    }

    private static byte[] ReadStored(ObjectStore objects, List<(ObjectId Id, int Length)> chunks, long length)
    {
        if (length > ModelDiff.MaxTextBytes)
        {
            throw new MGitException(ErrorKind.Unsupported, $"refusing to read {length} bytes for a text diff");
        }

        var bytes = new byte[length];
        int offset = 0;
        foreach (var (id, chunkLength) in chunks)
        {
            using var chunk = objects.Read(id);
            if (chunk.Length != chunkLength)
            {
                throw new MGitException(ErrorKind.Damaged, $"a chunk is {chunk.Length} bytes where the manifest expects {chunkLength}");
            }

            chunk.Span.CopyTo(bytes.AsSpan(offset, chunkLength));
            offset += chunkLength;
        }

        return bytes;
    }
}
