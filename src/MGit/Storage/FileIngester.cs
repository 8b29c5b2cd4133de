using System.Collections.Concurrent;
using System.Runtime.ExceptionServices;
using MGit.Codecs;
using MGit.Errors;
using MGit.Formats;

namespace MGit.Storage;

/// <summary>Totals of one ingest: what was read, and what was new to the store.</summary>
public sealed class IngestTotals
{
    private long _bytesRead, _chunksNew, _chunksReused, _bytesNew;

    public long BytesRead => Interlocked.Read(ref _bytesRead);
    public long ChunksNew => Interlocked.Read(ref _chunksNew);
    public long ChunksReused => Interlocked.Read(ref _chunksReused);
    /// <summary>Logical bytes of the chunks that were not yet stored.</summary>
    public long BytesNew => Interlocked.Read(ref _bytesNew);

    internal void Record(int length, bool written)
    {
        Interlocked.Add(ref _bytesRead, length);
        if (written)
        {
            Interlocked.Increment(ref _chunksNew);
            Interlocked.Add(ref _bytesNew, length);
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
public sealed class FileIngester
{
    private readonly ObjectStore _store;
    private readonly int _chunkSize;
    private readonly int _workers;

    public FileIngester(ObjectStore store, int chunkSize, int workers)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(chunkSize, 1024);
        _store = store;
        _chunkSize = chunkSize;
        _workers = Math.Max(1, workers);
    }

    private sealed record Job(RentedBuffer Data, ElementKind Kind, string[] Slots, int Index);

    public ManifestFile Ingest(string path, string manifestPath, FileLayout layout, IngestTotals totals, Action<long>? progress = null)
    {
        var segments = new ManifestSegment[layout.Segments.Count];
        using var queue = new BlockingCollection<Job>(boundedCapacity: _workers * 2);
        using var cancel = new CancellationTokenSource();
        ExceptionDispatchInfo? failure = null;

        void Work()
        {
            try
            {
                foreach (var job in queue.GetConsumingEnumerable(cancel.Token))
                {
                    using (job.Data)
                    {
                        var id = ObjectId.Compute(job.Data.Span);
                        bool written = _store.PutWithId(id, job.Data.Span, job.Kind);
                        job.Slots[job.Index] = id.ToString();
                        totals.Record(job.Data.Length, written);
                        progress?.Invoke(job.Data.Length);
                    }
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

        var workers = new Task[_workers];
        for (int i = 0; i < workers.Length; i++)
        {
            workers[i] = Task.Factory.StartNew(Work, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        }

        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1, FileOptions.SequentialScan);
            if (stream.Length != layout.Length)
            {
                throw new MGitException($"{manifestPath}: the file changed while it was being added");
            }

            for (int s = 0; s < layout.Segments.Count; s++)
            {
                var segment = layout.Segments[s];
                if (segment.Offset != stream.Position)
                {
                    throw new InvalidOperationException($"layout of {manifestPath} does not tile the file at offset {segment.Offset}");
                }

                long chunkCount = (segment.Length + _chunkSize - 1) / _chunkSize;
                var slots = new string[checked((int)chunkCount)];
                segments[s] = new ManifestSegment
                {
                    Offset = segment.Offset,
                    Length = segment.Length,
                    Tensor = segment.Tensor is { } t ? new ManifestTensor { Name = t.Name, Dtype = t.Dtype, Shape = t.Shape } : null,
                    Chunks = slots,
                };

                long remaining = segment.Length;
                var kind = ElementKinds.FromDtype(segment.Tensor?.Dtype);
                for (int c = 0; c < slots.Length; c++)
                {
                    int length = (int)Math.Min(_chunkSize, remaining);
                    var buffer = new RentedBuffer(length);
                    try
                    {
                        stream.ReadExactly(buffer.Span);
                    }
                    catch (EndOfStreamException)
                    {
                        buffer.Dispose();
                        throw new MGitException($"{manifestPath}: the file changed while it was being added");
                    }

                    remaining -= length;
                    try
                    {
                        queue.Add(new Job(buffer, kind, slots, c), cancel.Token);
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
            Task.WaitAll(workers);
        }

        failure?.Throw();
        return new ManifestFile
        {
            Path = manifestPath,
            Format = layout.Format,
            Length = layout.Length,
            ChunkSize = _chunkSize,
            Segments = segments,
            Metadata = layout.Metadata,
        };
    }
}
