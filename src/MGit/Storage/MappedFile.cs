using System.IO.MemoryMappedFiles;
using Microsoft.Win32.SafeHandles;

namespace MGit.Storage;

/// <summary>
/// A read-only view of a byte range of a file, mapped into memory, so that reading an object's
/// payload costs no copy out of the page cache (a fifth of a 2 GB checkout's CPU when payloads
/// were read into buffers). Objects are never changed in place (they are written aside and
/// renamed over), so a mapping always sees a whole, final file.
/// </summary>
/// <remarks>The only unsafe code in mgit: a span over the mapped pages, valid until disposal.</remarks>
internal sealed unsafe class MappedFile : IDisposable
{
    private readonly MemoryMappedFile _map;
    private readonly MemoryMappedViewAccessor _view;
    private readonly byte* _start;
    private int _disposed;

    private MappedFile(MemoryMappedFile map, MemoryMappedViewAccessor view, int length)
    {
        _map = map;
        _view = view;
        Length = length;
        byte* pointer = null;
        view.SafeMemoryMappedViewHandle.AcquirePointer(ref pointer);
        _start = pointer + view.PointerOffset;
    }

    /// <summary>Maps <paramref name="length"/> bytes of <paramref name="file"/> from <paramref name="offset"/>; null where the file system cannot map it.</summary>
    public static MappedFile? TryMap(SafeFileHandle file, long offset, int length)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(length, 1);
        MemoryMappedFile? map = null;
        MemoryMappedViewAccessor? view = null;
        try
        {
            map = MemoryMappedFile.CreateFromFile(file, null, 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: true);
            view = map.CreateViewAccessor(offset, length, MemoryMappedFileAccess.Read);
            return new MappedFile(map, view, length);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException)
        {
            view?.Dispose();
            map?.Dispose();
            return null;
        }
    }

    public int Length { get; }

    public ReadOnlySpan<byte> Span
    {
        get
        {
            ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
            return new ReadOnlySpan<byte>(_start, Length);
        }
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _map.Dispose();
    }
}
