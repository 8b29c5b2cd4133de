using System.Collections.Concurrent;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using MGit.Primitives;
using Microsoft.Win32.SafeHandles;

namespace MGit.Storage;

/// <summary>
/// A file being checked out, written chunk by chunk at the chunks' offsets from several threads.
/// With direct writes on (Linux on x64 or Arm64, and a file system that takes O_DIRECT), the
/// block-aligned middle of each chunk is copied to an aligned buffer and handed to a
/// <see cref="DirectWriter"/>, whose thread writes it through a second handle opened with
/// O_DIRECT, straight to the disk; the few bytes at each end, which share a block with the next
/// chunk, go through the page cache. Anything that refuses direct I/O falls back to ordinary
/// writes, for the whole file from then on.
/// </summary>
/// <remarks>
/// Why: a checkout writes gigabytes that the page cache would hold twice over (dirty, then clean)
/// and write back later anyway. Allocating those pages costs more kernel time than all of mgit's
/// decoding: on the benchmark VM, whose memory freed a few seconds earlier must be faulted back
/// from the host, a buffered 2 GB checkout spent 1.7-6.2 s in the kernel against 1.2 s of decoding.
/// Direct writes go at the disk's pace with almost no CPU, whatever the memory did before. No
/// block is written both ways: a block either lies inside one chunk (direct) or holds a chunk
/// boundary (buffered, by both chunks).
/// </remarks>
internal sealed class CheckoutFile : IDisposable
{
    /// <summary>The alignment of direct writes: the logical block size of every common disk and file system.</summary>
    public const int BlockBytes = 4096;

    private readonly SafeFileHandle _buffered;
    private readonly Lock _bufferedGate = new();
    private readonly DirectWriter? _writer;
    private SafeFileHandle? _direct;
    private volatile bool _directFailed;

    /// <param name="buffered">The file's ordinary handle, already sized.</param>
    /// <param name="path">The file's path, to open the direct handle by.</param>
    /// <param name="writer">The thread that does the direct writes; null for none.</param>
    public CheckoutFile(SafeFileHandle buffered, string path, DirectWriter? writer)
    {
        _buffered = buffered;
        _direct = writer is null ? null : DirectIo.TryOpen(path);
        _writer = _direct is null ? null : writer;
    }

    /// <summary>Whether writes still go direct (false when never opened so, or after a refusal).</summary>
    public bool WritesDirect => _direct is not null && !_directFailed;

    /// <summary>Writes <paramref name="data"/> at <paramref name="offset"/>; safe to call from several threads for disjoint ranges.</summary>
    public void Write(ReadOnlySpan<byte> data, long offset)
    {
        long start = AlignUp(offset);
        long end = (offset + data.Length) & ~(long)(BlockBytes - 1);
        if (!WritesDirect || _writer is null || end - start < BlockBytes)
        {
            WriteBuffered(data, offset);
            return;
        }

        int head = (int)(start - offset);
        int middle = (int)(end - start);
        if (head > 0)
        {
            WriteBuffered(data[..head], offset);
        }

        _writer.Write(this, data.Slice(head, middle), start);
        if (head + middle < data.Length)
        {
            WriteBuffered(data[(head + middle)..], end);
        }
    }

    private static long AlignUp(long offset) => (offset + BlockBytes - 1) & ~(long)(BlockBytes - 1);

    private void WriteBuffered(ReadOnlySpan<byte> data, long offset)
    {
        // ext4 (like xfs and btrfs) takes a file's inode lock exclusively for a buffered write,
        // and a second writer spun on it in the kernel (3-8% of a family checkout's CPU); waiting
        // here lets it sleep instead.
        lock (_bufferedGate)
        {
            RandomAccess.Write(_buffered, data, offset);
        }
    }

    /// <summary>Writes block-aligned bytes from an aligned buffer (the writer's thread), directly where that still works.</summary>
    internal void WriteAligned(ReadOnlySpan<byte> aligned, long offset)
    {
        if (!_directFailed && _direct is { } handle)
        {
            try
            {
                RandomAccess.Write(handle, aligned, offset);
                return;
            }
            catch (IOException)
            {
                // EINVAL from a file system or device with other alignment rules, say: the
                // ordinary path writes this and the rest, and reports a real error (a full disk).
                _directFailed = true;
            }
        }

        WriteBuffered(aligned, offset);
    }

    public void Dispose()
    {
        Interlocked.Exchange(ref _direct, null)?.Dispose();
    }

    /// <summary>Opening a second handle with O_DIRECT: by fcntl on an ordinary handle, so no path crosses into native code.</summary>
    private static class DirectIo
    {
        private const int GetStatusFlags = 3; // F_GETFL
        private const int SetStatusFlags = 4; // F_SETFL

        /// <summary>
        /// The local disk file systems direct writes are used on (statfs magic numbers: ext4, xfs,
        /// btrfs). Elsewhere (NFS, FUSE, tmpfs, ...) a direct write may be slow or refused, and the
        /// page cache is the better path.
        /// </summary>
        private static readonly HashSet<long> LocalDiskFileSystems = [0xEF53, 0x58465342, 0x9123683E];

        /// <summary>O_DIRECT differs by architecture; null where mgit does not know it.</summary>
        private static int? DirectFlag => !OperatingSystem.IsLinux() ? null : RuntimeInformation.ProcessArchitecture switch
        {
            Architecture.X64 => 0x4000,
            Architecture.Arm64 => 0x10000,
            _ => null,
        };

        public static SafeFileHandle? TryOpen(string path)
        {
            if (DirectFlag is not { } flag)
            {
                return null;
            }

            SafeFileHandle? handle = null;
            try
            {
                handle = File.OpenHandle(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite);
                int fd = (int)handle.DangerousGetHandle();
                // struct statfs starts with its f_type on 64-bit Linux; the buffer is larger than the struct.
                var statfs = new long[32];
                if (NativeMethods.fstatfs(fd, statfs) != 0 || !LocalDiskFileSystems.Contains(statfs[0]))
                {
                    handle.Dispose();
                    return null;
                }

                int flags = NativeMethods.fcntl(fd, GetStatusFlags, 0);
                if (flags != -1 && NativeMethods.fcntl(fd, SetStatusFlags, flags | flag) != -1)
                {
                    return handle;
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or DllNotFoundException or EntryPointNotFoundException)
            {
                // No direct writes, then: the ordinary handle does them all.
            }

            handle?.Dispose();
            return null;
        }
    }

    private static class NativeMethods
    {
#pragma warning disable SYSLIB1054 // LibraryImport needs unsafe code; this signature is blittable as is.
        [DllImport("libc", SetLastError = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
#pragma warning disable CA1401, IDE1006 // private, and named as the C function it binds
        public static extern int fcntl(int fd, int command, int argument);

        [DllImport("libc", SetLastError = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        public static extern int fstatfs(int fd, [Out] long[] buffer);
#pragma warning restore CA1401, IDE1006
#pragma warning restore SYSLIB1054
    }
}

/// <summary>
/// The thread that carries a checkout's direct writes, so that decoding never waits for the disk:
/// chunks are copied into aligned buffers and queued (a few at most, so memory stays bounded),
/// and one thread writes them in turn (the disk gains nothing from more writers).
/// </summary>
internal sealed class DirectWriter : IDisposable
{
    /// <summary>The most one queued write carries (an aligned staging buffer's size).</summary>
    private const int StagingBytes = 4 << 20;

    private readonly BlockingCollection<Job> _jobs = new(boundedCapacity: 4);
    private readonly Thread _thread;
    private Exception? _failure;
    private int _disposed;

    public DirectWriter()
    {
        _thread = new Thread(Run) { IsBackground = true, Name = "mgit direct writes" };
        _thread.Start();
    }

    private readonly record struct Job(CheckoutFile File, HugePageBuffers.Block Staging, int Length, long Offset);

    /// <summary>Queues block-aligned <paramref name="data"/> for <paramref name="offset"/> of <paramref name="file"/> (a copy: the caller may reuse its buffer).</summary>
    internal void Write(CheckoutFile file, ReadOnlySpan<byte> data, long offset)
    {
        for (int done = 0; done < data.Length;)
        {
            if (Volatile.Read(ref _failure) is { } failure)
            {
                ExceptionDispatchInfo.Throw(failure);
            }

            int piece = Math.Min(StagingBytes, data.Length - done);
            var staging = HugePageBuffers.Rent(StagingBytes) ?? throw new InvalidOperationException("no staging buffer");
            data.Slice(done, piece).CopyTo(staging.Array.AsSpan(staging.Offset, piece));
            _jobs.Add(new Job(file, staging, piece, offset + done));
            done += piece;
        }
    }

    private void Run()
    {
        foreach (var job in _jobs.GetConsumingEnumerable())
        {
            try
            {
                if (Volatile.Read(ref _failure) is null)
                {
                    job.File.WriteAligned(job.Staging.Array.AsSpan(job.Staging.Offset, job.Length), job.Offset);
                }
            }
            catch (Exception e)
            {
                // Kept for Complete (and the next Write) to throw; the queue is still drained so no writer blocks.
                Interlocked.CompareExchange(ref _failure, e, null);
            }
            finally
            {
                HugePageBuffers.Return(job.Staging);
            }
        }
    }

    /// <summary>Waits until every queued write is done; throws the first failure.</summary>
    public void Complete()
    {
        if (!_jobs.IsAddingCompleted)
        {
            _jobs.CompleteAdding();
        }

        _thread.Join();
        if (Volatile.Read(ref _failure) is { } failure)
        {
            ExceptionDispatchInfo.Throw(failure);
        }
    }

    /// <summary>Stops the thread once the queue is empty (after an error elsewhere too); throws nothing.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        if (!_jobs.IsAddingCompleted)
        {
            _jobs.CompleteAdding();
        }

        _thread.Join();
        _jobs.Dispose();
    }
}
