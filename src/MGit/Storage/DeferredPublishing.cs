using System.Collections.Concurrent;
using System.Runtime.ExceptionServices;
using Microsoft.Win32.SafeHandles;

namespace MGit.Storage;

/// <summary>
/// Makes new objects durable and visible off the chunk workers: a written temporary file is
/// flushed to disk and then renamed to its final name on one of a few sync threads, so the
/// workers go on compressing while the disk flushes (on the benchmark VM an fsync takes a few
/// milliseconds, a tenth of a small model's add). Each object still goes flush, then rename, so a
/// visible object is always whole. <see cref="Complete"/> waits for all of them: nothing may refer
/// to these objects (a manifest, the lineage) before it returns.
/// </summary>
internal sealed class DeferredPublishing : IDisposable
{
    private const int SyncThreads = 4;
    private readonly BlockingCollection<(SafeFileHandle File, string Temp, string Path)> _queue = new(boundedCapacity: 64);
    private readonly Lock _startGate = new();
    private Thread[] _threads = [];
    private ExceptionDispatchInfo? _failure;
    private bool _completed;

    /// <summary>Takes over an open, fully written temporary object file: flushes, closes and renames it.</summary>
    internal void Publish(SafeFileHandle file, string temp, string path)
    {
        if (_failure is { } failure)
        {
            file.Dispose();
            DeleteQuietly(temp);
            failure.Throw();
        }

        StartThreads();
        _queue.Add((file, temp, path));
    }

    /// <summary>The sync threads start with the first object: a file whose chunks are all stored already costs none.</summary>
    private void StartThreads()
    {
        if (Volatile.Read(ref _threads).Length > 0)
        {
            return;
        }

        lock (_startGate)
        {
            if (_threads.Length > 0)
            {
                return;
            }

            var threads = new Thread[SyncThreads];
            for (int i = 0; i < threads.Length; i++)
            {
                threads[i] = new Thread(Run) { IsBackground = true, Name = "mgit object sync" };
                threads[i].Start();
            }

            Volatile.Write(ref _threads, threads);
        }
    }

    /// <summary>Waits until every object handed over is on disk under its final name; rethrows the first failure.</summary>
    public void Complete()
    {
        if (!_completed)
        {
            _completed = true;
            _queue.CompleteAdding();
            Thread[] started;
            lock (_startGate)
            {
                started = _threads;
            }

            foreach (var thread in started)
            {
                thread.Join();
            }
        }

        _failure?.Throw();
    }

    public void Dispose()
    {
        try
        {
            Complete();
        }
        catch (IOException)
        {
            // Already reported by Complete() on the normal path; on an error path the first error wins.
        }
        catch (UnauthorizedAccessException)
        {
        }

        _queue.Dispose();
    }

    /// <summary>A leftover temporary file is gc's to remove; failing to delete it must not end the sync thread.</summary>
    private static void DeleteQuietly(string temp)
    {
        try
        {
            File.Delete(temp);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }

    private void Run()
    {
        foreach (var (file, temp, path) in _queue.GetConsumingEnumerable())
        {
            try
            {
                if (_failure is null)
                {
                    ObjectStore.Publish(file, temp, path, flushToDisk: true);
                }
                else
                {
                    file.Dispose();
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                Interlocked.CompareExchange(ref _failure, ExceptionDispatchInfo.Capture(e), null);
            }
            finally
            {
                DeleteQuietly(temp);
            }
        }
    }
}
