using System.Text;
using MGit.Formats;
using MGit.Primitives;
using MGit.Storage;

namespace MGit.Diff;

/// <summary>
/// Collects the sampled values of one tensor while its bytes stream past in order (during add,
/// or while reading a file or stored chunks). Positions are stratified: one per K-th of the
/// tensor, offset within its stratum by a generator seeded with the element count only.
/// </summary>
internal sealed class TensorSketch
{
    private readonly string _dtype;
    private readonly int _width;
    private readonly long[] _positions;
    private readonly float[] _samples;
    private int _next;

    public TensorSketch(TensorInfo tensor)
    {
        _dtype = tensor.Dtype;
        _width = ElementValues.Width(tensor.Dtype) ?? 0;
        long elements = tensor.Shape.Aggregate(1L, (a, b) => checked(a * b));
        _positions = _width == 0 ? [] : Positions(elements);
        _samples = new float[_positions.Length];
    }

    /// <summary>Sorted, distinct element positions sampled in a tensor of <paramref name="elements"/> elements.</summary>
    public static long[] Positions(long elements)
    {
        int k = (int)Math.Min(elements, ModelFingerprint.SamplesPerTensor);
        var positions = new long[k];
        ulong state = (ulong)elements ^ 0x9E3779B97F4A7C15UL;
        for (int j = 0; j < k; j++)
        {
            long start = elements * j / k;
            long end = elements * (j + 1) / k;
            positions[j] = start + (long)(SplitMix(ref state) % (ulong)(end - start));
        }

        return positions;
    }

    private static ulong SplitMix(ref ulong state)
    {
        unchecked
        {
            ulong z = state += 0x9E3779B97F4A7C15UL;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            return z ^ (z >> 31);
        }
    }

    /// <summary>Byte offset (within the tensor) of the next sample still wanted, or null when complete.</summary>
    public long? NextWantedOffset => _next < _positions.Length ? _positions[_next] * _width : null;

    /// <summary>Takes the samples that fall inside these bytes, which start at <paramref name="offset"/> of the tensor; calls must come in order.</summary>
    public void Observe(long offset, ReadOnlySpan<byte> bytes)
    {
        while (_next < _positions.Length)
        {
            long at = _positions[_next] * _width - offset;
            if (at < 0)
            {
                _next++; // skipped over (never happens for in-order calls)
                continue;
            }

            if (at + _width > bytes.Length)
            {
                return;
            }

            _samples[_next++] = (float)ElementValues.DecodeOne(_dtype, bytes.Slice((int)at, _width));
        }
    }

    public float[] Samples => _samples;
}

/// <summary>Builds model fingerprints from a file being added, a file on disk, or a stored version.</summary>
internal static class Fingerprints
{
    /// <summary>
    /// A tensor's content hash: BLAKE3 over dtype, shape and the ids of its chunks. Equal for equal
    /// content cut the same way, which the repository's chunking guarantees; computed from the
    /// manifest alone, without the data.
    /// </summary>
    public static ObjectId ContentHash(string dtype, IReadOnlyList<long> shape, IEnumerable<string> chunkIds)
    {
        var text = new StringBuilder(dtype).Append('|').AppendJoin(',', shape);
        foreach (string id in chunkIds)
        {
            text.Append('|').Append(id);
        }

        return ObjectId.Compute(Encoding.UTF8.GetBytes(text.ToString()));
    }

    /// <summary>Sketches for every tensor segment of a file about to be ingested; feed them through <see cref="Observer"/>.</summary>
    public static TensorSketch?[] SketchesFor(FileLayout layout) =>
        layout.Segments.Select(s => s.Tensor is { } t ? new TensorSketch(t) : null).ToArray();

    /// <summary>An ingest observer that passes each chunk to its segment's sketch.</summary>
    public static ChunkObserver Observer(TensorSketch?[] sketches) =>
        (segment, offset, data) => sketches[segment]?.Observe(offset, data);

    /// <summary>The fingerprint of ingested files, from their manifest entries and the sketches filled during ingest.</summary>
    public static ModelFingerprint FromIngest(IReadOnlyList<(ManifestFile File, TensorSketch?[] Sketches)> files)
    {
        var tensors = new List<TensorFingerprint>();
        foreach (var (file, sketches) in files)
        {
            for (int s = 0; s < file.Segments.Count; s++)
            {
                if (file.Segments[s].Tensor is { } t)
                {
                    tensors.Add(new TensorFingerprint(t.Name, t.Dtype, t.Shape, ContentHash(t.Dtype, t.Shape, file.Segments[s].Chunks), sketches[s]?.Samples ?? []));
                }
            }
        }

        return new ModelFingerprint(tensors);
    }

    /// <summary>
    /// Fingerprints files on disk without storing them: each tensor is read once, cut as the
    /// repository would cut it and hashed chunk by chunk (so hashes match stored versions).
    /// </summary>
    /// <param name="files">The files and their layouts.</param>
    /// <param name="format">The repository's format (how it cuts chunks).</param>
    /// <param name="kurtosis">When given, filled with the excess kurtosis of each weight matrix (<see cref="WeightMoments"/>), by tensor name.</param>
    /// <param name="cancellationToken">Checked at every chunk.</param>
    public static ModelFingerprint FromFiles(IEnumerable<(string FullPath, FileLayout Layout)> files, RepositoryFormat format, Dictionary<string, double>? kurtosis = null, CancellationToken cancellationToken = default)
    {
        var tensors = new List<TensorFingerprint>();
        foreach (var (path, layout) in files)
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1, FileOptions.SequentialScan);
            foreach (var segment in layout.Segments)
            {
                if (segment.Tensor is not { } tensor)
                {
                    continue;
                }

                var sketch = new TensorSketch(tensor);
                var moments = kurtosis is not null && WeightMoments.Applies(tensor.Dtype, tensor.Shape) ? new WeightMoments(tensor.Dtype) : null;
                var ids = ChunkIds(stream, segment.Offset, segment.Length, Chunking.ChunkBytes(format, tensor), sketch, moments, cancellationToken);
                if (moments?.ExcessKurtosis() is double k)
                {
                    kurtosis![tensor.Name] = k;
                }

                tensors.Add(new TensorFingerprint(tensor.Name, tensor.Dtype, tensor.Shape, ContentHash(tensor.Dtype, tensor.Shape, ids), sketch.Samples));
            }
        }

        return new ModelFingerprint(tensors);
    }

    /// <summary>Chunk ids of a run of bytes cut every <paramref name="chunkBytes"/>; sketches the tensor on the way.</summary>
    public static List<string> ChunkIds(Stream stream, long offset, long length, int chunkBytes, TensorSketch? sketch, WeightMoments? moments = null, CancellationToken cancellationToken = default)
    {
        var ids = new List<string>();
        stream.Position = offset;
        using var buffer = new RentedBuffer(chunkBytes);
        long done = 0;
        while (done < length)
        {
            cancellationToken.ThrowIfCancellationRequested();
            int take = (int)Math.Min(chunkBytes, length - done);
            var span = buffer.Span[..take];
            stream.ReadExactly(span);
            ids.Add(ObjectId.Compute(span).ToString());
            sketch?.Observe(done, span);
            moments?.Observe(span);
            done += take;
        }

        return ids;
    }

    /// <summary>
    /// The fingerprint of a stored version that has none (added by an older mgit): hashes from
    /// the manifest, samples read from the chunks that hold them (each chunk at most once).
    /// </summary>
    public static ModelFingerprint FromStored(Manifest manifest, ObjectStore objects)
    {
        var tensors = new List<TensorFingerprint>();
        Span<byte> element = stackalloc byte[8];
        foreach (var file in manifest.Files)
        {
            foreach (var segment in file.Segments)
            {
                if (segment.Tensor is not { } t)
                {
                    continue;
                }

                var sketch = new TensorSketch(t.ToInfo());
                int width = ElementValues.Width(t.Dtype) ?? 0;
                if (width > 0)
                {
                    using var stream = new ChunkedReadStream(objects, segment.Chunks.Select(ObjectId.Parse).ToList(), file.ChunkBytesOf(segment), segment.Length);
                    while (sketch.NextWantedOffset is long at && at + width <= segment.Length)
                    {
                        stream.Position = at;
                        stream.ReadExactly(element[..width]);
                        sketch.Observe(at, element[..width]);
                    }
                }

                tensors.Add(new TensorFingerprint(t.Name, t.Dtype, t.Shape, ContentHash(t.Dtype, t.Shape, segment.Chunks), sketch.Samples));
            }
        }

        return new ModelFingerprint(tensors);
    }
}
