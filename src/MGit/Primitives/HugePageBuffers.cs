using System.Collections.Concurrent;
using System.Runtime.InteropServices;

namespace MGit.Primitives;

/// <summary>
/// The large working buffers (a chunk's payload, its planes, its decoded content): pinned arrays
/// whose 2 MiB-aligned middle the kernel is asked to back with transparent huge pages, kept in a
/// small pool. A command touches only a few dozen MB of such buffers, but on fresh memory every
/// 4 KiB page costs a fault, and those faults were a fifth of a 90 MB checkout's CPU; one huge page
/// costs one. Where the kernel says no (or is not Linux) they are ordinary pooled arrays.
/// </summary>
internal static class HugePageBuffers
{
    /// <summary>Smaller requests go to the ordinary shared pool.</summary>
    public const int MinimumLength = 1 << 20;

    private const int PageBytes = 2 << 20;
    private const int Classes = 8;
    private const int KeptPerClass = 32;

    private static readonly ConcurrentStack<Block>[] Pools = Enumerable.Range(0, Classes).Select(_ => new ConcurrentStack<Block>()).ToArray();
    private static int _adviceWorks = OperatingSystem.IsLinux() ? 1 : 0;

    /// <summary>A pooled block: <see cref="Array"/> from <see cref="Offset"/> holds (<see cref="Class"/> + 1) x 2 MiB.</summary>
    public sealed record Block(byte[] Array, int Offset, int Class);

    /// <summary>A block of at least <paramref name="length"/> bytes, or null when the length is beyond the pooled classes.</summary>
    public static Block? Rent(int length)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(length, 1);
        int sizeClass = (int)(((long)length + PageBytes - 1) / PageBytes) - 1;
        if (sizeClass >= Classes)
        {
            return null;
        }

        if (Pools[sizeClass].TryPop(out var block))
        {
            return block;
        }

        int capacity = (sizeClass + 1) * PageBytes;
        var array = GC.AllocateUninitializedArray<byte>(capacity + PageBytes, pinned: true);
        long address = Marshal.UnsafeAddrOfPinnedArrayElement(array, 0).ToInt64();
        int offset = (int)(((address + PageBytes - 1) & ~(long)(PageBytes - 1)) - address);
        Advise(address + offset, capacity);
        return new Block(array, offset, sizeClass);
    }

    public static void Return(Block block)
    {
        var pool = Pools[block.Class];
        if (pool.Count < KeptPerClass)
        {
            pool.Push(block);
        }
    }

    private static void Advise(long address, int length)
    {
        if (Volatile.Read(ref _adviceWorks) == 0)
        {
            return;
        }

        try
        {
            if (NativeMethods.madvise((nint)address, (nuint)length, NativeMethods.MadviseHugePage) != 0)
            {
                Volatile.Write(ref _adviceWorks, 0);
            }
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            Volatile.Write(ref _adviceWorks, 0);
        }
    }

    private static class NativeMethods
    {
        public const int MadviseHugePage = 14;

#pragma warning disable SYSLIB1054 // LibraryImport needs unsafe code; this signature is blittable as is.
        [DllImport("libc", SetLastError = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
#pragma warning disable CA1401, IDE1006 // private, and named as the C function it binds
        public static extern int madvise(nint address, nuint length, int advice);
#pragma warning restore CA1401, IDE1006
#pragma warning restore SYSLIB1054
    }
}
