using System.Collections.Concurrent;
using System.Runtime.ExceptionServices;
using MGit.Codecs;
using MGit.Errors;
using MGit.Formats;
using MGit.Primitives;

namespace MGit.Storage;

/// <summary>Totals of one ingest: what was read, and what was new to the store.</summary>
internal sealed class IngestTotals
{
    private long _bytesRead, _chunksNew, _chunksReused, _bytesNew, _storedNew;

    public long BytesRead => Interlocked.Read(ref _bytesRead);
    public long ChunksNew => Interlocked.Read(ref _chunksNew);
    public long ChunksReused => Interlocked.Read(ref _chunksReused);
    /// <summary>Logical bytes of the chunks that were not yet stored.</summary>
    public long BytesNew => Interlocked.Read(ref _bytesNew);
    /// <summary>Bytes the new chunks take in the store, after compression and deltas.</summary>
    public long StoredNew => Interlocked.Read(ref _storedNew);

    internal void Record(int length, long stored)
    {
        Interlocked.Add(ref _bytesRead, length);
        if (stored > 0)
        {
            Interlocked.Increment(ref _chunksNew);
            Interlocked.Add(ref _bytesNew, length);
            Interlocked.Add(ref _storedNew, stored);
        }
        else
        {
            Interlocked.Increment(ref _chunksReused);
        }
    }
}

/// <summary>
/// Streams a file into the object store: one thread reads segments in order and cuts them into
/// chunks; workers hash, compress and store chunks in parallel. At most a few chunks per worker
/// are in memory at once, whatever the size of the file.
/// </summary>
internal sealed class FileIngester
{
    private readonly ObjectStore _store;
    private readonly RepositoryFormat _format;
    private readonly int _workers;

    public FileIngester(ObjectStore store, RepositoryFormat format, int workers)
    {
        _store = store;
        _format = format;
        _workers = Math.Max(1, workers);
    }

    private sealed record Job(RentedBuffer Data, ElementKind Kind, BaseCandidate[] Bases, string[] Slots, int Index);

    private static long ChunkCount(long length, int chunkBytes) => (length + chunkBytes - 1) / chunkBytes;

    /// <summary>
    /// Stores one file. <paramref name="basesFor"/> names, per segment index, parent segments its
    /// chunks may be stored against (chunk i against chunk i, when both cover the same elements).
    /// </summary>
    /// <param name="lossyErrorBound">When set, float tensors with a parent counterpart are stored lossily within this bound.</param>
    /// <param name="observe">Sees every chunk on the reading thread, in file order (fingerprint sketches take their samples here).</param>
    /// <param name="publishing">
    /// The caller's sync threads, shared by all files of one add; the caller must then
    /// <see cref="DeferredPublishing.Complete"/> them before anything names the objects. Without
    /// it, this file's objects are all on disk when this returns.
    /// </param>
    /// <param name="cancellationToken">
    /// Checked before each chunk is read; the workers finish the chunk they hold (an object is
    /// written whole or not at all) and the call throws <see cref="OperationCanceledException"/>.
    /// </param>
    /// <param name="path">The file to read.</param>
    /// <param name="manifestPath">The file's path as the manifest records it (relative to the model root), also named in errors.</param>
    /// <param name="layout">The file's segments, as its format cuts it.</param>
    /// <param name="totals">Where what was read and stored is added up (shared by the files of one add).</param>
    /// <param name="progress">Told the bytes of each chunk stored, from the worker threads.</param>
    /// <param name="basesFor">Parent segments to store each segment's chunks against, by segment index; null for none.</param>
    public ManifestFile Ingest(string path, string manifestPath, FileLayout layout, IngestTotals totals, Action<long>? progress = null, Func<int, IReadOnlyList<BaseSegment>>? basesFor = null, double? lossyErrorBound = null, ChunkObserver? observe = null, DeferredPublishing? publishing = null, CancellationToken cancellationToken = default)
    {
        var segments = new ManifestSegment[layout.Segments.Count];
        using var queue = new BlockingCollection<Job>(boundedCapacity: _workers * 2);
        // Chunk objects are flushed and renamed on sync threads while the workers go on.
        using var ownPublishing = publishing is null && _store.FlushesToDisk ? new DeferredPublishing() : null;
        publishing ??= ownPublishing;
        // Stops the reader and the workers on the first failure, or when the caller cancels.
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        ExceptionDispatchInfo? failure = null;

        void Store(Job job)
        {
            using (job.Data)
            {
                ObjectId id;
                long stored;
                if (lossyErrorBound is double bound && _store.PutLossy(job.Data.Span, job.Kind, job.Bases, bound) is { } lossy)
                {
                    (id, stored) = lossy;
                }
                else
                {
                    id = ObjectId.Compute(job.Data.Span);
                    stored = _store.PutWithId(id, job.Data.Span, job.Kind, job.Bases, publishing);
                }

                job.Slots[job.Index] = id.ToString();
                totals.Record(job.Data.Length, stored);
                progress?.Invoke(job.Data.Length);
            }
        }

        void Work()
        {
            try
            {
                foreach (var job in queue.GetConsumingEnumerable(cancel.Token))
                {
                    Store(job);
                }
            }
            catch (OperationCanceledException) when (cancel.IsCancellationRequested)
            {
            }
            catch (Exception e)
            {
                Interlocked.CompareExchange(ref failure, ExceptionDispatchInfo.Capture(e), null);
                cancel.Cancel();
            }
        }

        // A file of one chunk (most files of a folder model) is stored on this thread: starting
        // workers would cost more than the chunk.
        var chunkBytesOf = layout.Segments.Select(s => Chunking.ChunkBytes(_format, s.Tensor)).ToArray();
        long chunkTotal = layout.Segments.Select((s, i) => ChunkCount(s.Length, chunkBytesOf[i])).Sum();
        var workers = new Task[chunkTotal <= 1 ? 0 : (int)Math.Min(_workers, chunkTotal)];
        for (int i = 0; i < workers.Length; i++)
        {
            workers[i] = Task.Factory.StartNew(Work, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        }

        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1, FileOptions.SequentialScan);
            if (stream.Length != layout.Length)
            {
                throw new MGitException(ErrorKind.Conflict, $"{manifestPath}: the file changed while it was being added");
            }

            for (int s = 0; s < layout.Segments.Count; s++)
            {
                var segment = layout.Segments[s];
                if (segment.Offset != stream.Position)
                {
                    throw new InvalidOperationException($"layout of {manifestPath} does not tile the file at offset {segment.Offset}");
                }

                int chunkBytes = chunkBytesOf[s];
                var slots = new string[checked((int)ChunkCount(segment.Length, chunkBytes))];
                segments[s] = new ManifestSegment
                {
                    Offset = segment.Offset,
                    Length = segment.Length,
                    Tensor = segment.Tensor is { } t ? new ManifestTensor { Name = t.Name, Dtype = t.Dtype, Shape = t.Shape } : null,
                    ChunkBytes = chunkBytes == _format.ChunkSize ? null : chunkBytes,
                    Chunks = slots,
                };

                long remaining = segment.Length;
                var kind = ElementKinds.FromDtype(segment.Tensor?.Dtype);
                var bases = basesFor?.Invoke(s) ?? [];
                int elementsPerChunk = chunkBytes / Math.Max(1, kind.Width());
                for (int c = 0; c < slots.Length; c++)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    int length = (int)Math.Min(chunkBytes, remaining);
                    var chunkBases = bases
                        .Where(b => c < b.Chunks.Count && b.ElementsPerChunk == elementsPerChunk)
                        .Select(b => new BaseCandidate(ObjectId.Parse(b.Chunks[c]), b.Kind))
                        .ToArray();
                    var buffer = new RentedBuffer(length);
                    try
                    {
                        stream.ReadExactly(buffer.Span);
                    }
                    catch (EndOfStreamException)
                    {
                        buffer.Dispose();
                        throw new MGitException(ErrorKind.Conflict, $"{manifestPath}: the file changed while it was being added");
                    }

                    observe?.Invoke(s, segment.Length - remaining, buffer.Span);
                    remaining -= length;
                    var job = new Job(buffer, kind, chunkBases, slots, c);
                    if (workers.Length == 0)
                    {
                        Store(job);
                        continue;
                    }

                    try
                    {
                        queue.Add(job, cancel.Token);
                    }
                    catch (OperationCanceledException)
                    {
                        buffer.Dispose();
                        break;
                    }
                }

                if (cancel.IsCancellationRequested)
                {
                    break;
                }
            }

            if (!cancel.IsCancellationRequested && stream.Position != layout.Length)
            {
                throw new InvalidOperationException($"layout of {manifestPath} ends at {stream.Position}, the file at {layout.Length}");
            }
        }
        catch
        {
            cancel.Cancel();
            throw;
        }
        finally
        {
            queue.CompleteAdding();
            Task.WaitAll(workers, CancellationToken.None); // they end on their own once the queue is done or cancelled
        }

        failure?.Throw();
        // Cancelled while the workers were waiting for the reader, or it for them: no file is whole.
        cancellationToken.ThrowIfCancellationRequested();
        ownPublishing?.Complete();
        return new ManifestFile
        {
            Path = manifestPath,
            Format = layout.Format,
            Length = layout.Length,
            ChunkSize = _format.ChunkSize,
            Segments = segments,
            Metadata = layout.Metadata,
            Views = layout.Views?.Select(v => new ManifestView
            {
                Name = v.Tensor.Name,
                Dtype = v.Tensor.Dtype,
                Shape = v.Tensor.Shape,
                Segment = v.Segment,
                StorageOffset = v.StorageOffset,
                Stride = v.Stride,
                Offset = v.ByteOffset,
                Length = v.ByteLength,
            }).ToList(),
        };
    }
}

/// <summary>Sees one chunk of segment <paramref name="segment"/>, starting <paramref name="offset"/> bytes into it.</summary>
public delegate void ChunkObserver(int segment, long offset, ReadOnlySpan<byte> data);

/// <summary>A parent's tensor segment that a new tensor's chunks may be stored against.</summary>
internal sealed record BaseSegment(IReadOnlyList<string> Chunks, ElementKind Kind, int ElementsPerChunk);
