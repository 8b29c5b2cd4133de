using MGit.Storage;
using MGit.Tests.TestSupport;

namespace MGit.Tests.Storage;

public sealed class CheckoutFileTests
{
    /// <summary>
    /// Whether the folder's file system takes O_DIRECT here: Linux on x64 or Arm64, on a disk file
    /// system (ext4, xfs, btrfs); there the direct path must be the one taken.
    /// </summary>
    private static bool DirectExpected(string folder)
    {
        if (!OperatingSystem.IsLinux() || System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture is not (System.Runtime.InteropServices.Architecture.X64 or System.Runtime.InteropServices.Architecture.Arm64))
        {
            return false;
        }

        string full = Path.GetFullPath(folder);
        var mount = File.ReadAllLines("/proc/mounts")
            .Select(line => line.Split(' '))
            .Where(f => f.Length > 2 && (full == f[1] || full.StartsWith(f[1].TrimEnd('/') + "/", StringComparison.Ordinal)))
            .MaxBy(f => f[1].Length);
        return mount is not null && mount[2] is "ext4" or "xfs" or "btrfs";
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Chunks_of_every_alignment_written_from_several_threads_make_the_file(bool direct)
    {
        // Pieces that start and end anywhere: inside one block, on block boundaries, spanning
        // many blocks, and more than a staging buffer (4 MiB) at once; the file's end is not aligned.
        using var dir = new TempDirectory();
        int[] lengths = [1, 7, 4096, 4095, 4097, 8192 + 3, 100_000, 5 << 20, 3, 12_288, 65_536 + 11, (4 << 20) + 4096, 17];
        long total = lengths.Sum(l => (long)l);
        var expected = new byte[total];
        new Random(21).NextBytes(expected);
        string path = dir.File("out.bin");
        using (var stream = new FileStream(path, new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, Share = FileShare.Write, BufferSize = 1, PreallocationSize = total }))
        {
            stream.SetLength(total);
            using var writer = direct ? new DirectWriter() : null;
            using var file = new CheckoutFile(stream.SafeFileHandle, path, writer);
            Assert.Equal(direct && DirectExpected(dir.Path), file.WritesDirect);
            var pieces = new List<(long Offset, int Length)>();
            long offset = 0;
            foreach (int length in lengths)
            {
                pieces.Add((offset, length));
                offset += length;
            }

            Parallel.ForEach(pieces.OrderBy(p => (p.Offset * 7919) % 13), new ParallelOptions { MaxDegreeOfParallelism = 4 }, piece =>
                file.Write(expected.AsSpan((int)piece.Offset, piece.Length), piece.Offset));
            writer?.Complete();
            Assert.Equal(direct && DirectExpected(dir.Path), file.WritesDirect);
        }

        Assert.Equal(expected, File.ReadAllBytes(path));
    }

    [Fact]
    public void A_file_system_that_is_not_a_local_disk_gets_ordinary_writes()
    {
        // tmpfs (where /dev/shm is one): direct writes are not tried, and the file is whole.
        string folder = "/dev/shm";
        if (!OperatingSystem.IsLinux() || !Directory.Exists(folder))
        {
            return;
        }

        string path = Path.Combine(folder, $"mgit-test-{Guid.NewGuid():N}");
        try
        {
            var expected = new byte[(1 << 20) + 5];
            new Random(4).NextBytes(expected);
            using (var stream = new FileStream(path, new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, Share = FileShare.Write, BufferSize = 1 }))
            {
                stream.SetLength(expected.Length);
                using var writer = new DirectWriter();
                using var file = new CheckoutFile(stream.SafeFileHandle, path, writer);
                Assert.False(file.WritesDirect);
                file.Write(expected.AsSpan(3), 3);
                file.Write(expected.AsSpan(0, 3), 0);
                writer.Complete();
            }

            Assert.Equal(expected, File.ReadAllBytes(path));
        }
        finally
        {
            File.Delete(path);
        }
    }
}
