using MGit.Remotes;
using MGit.Tests.TestSupport;

namespace MGit.Tests.Remotes;

/// <summary>
/// refs/lineage is the one key a push overwrites, and a pull may read it while another push
/// writes it. A read must see one whole version, old or new, never a mix: servers that overwrite
/// in place (s3rver does) can serve a torn body, which the client has to notice and read again.
/// </summary>
public sealed class RemoteOverwriteTests
{
    [Fact] public void File_a_read_racing_overwrites_sees_one_whole_version() => ReadsRacingOverwrites("file");
    [S3Fact] public void S3_a_read_racing_overwrites_sees_one_whole_version() => ReadsRacingOverwrites("s3");

    private static void ReadsRacingOverwrites(string kind)
    {
        using var dir = new TempDirectory();
        var remote = TestRemote.Create(kind, dir);
        // Two versions of different lengths and contents, large enough that a write takes a while.
        byte[][] versions = [Enumerable.Repeat((byte)'a', 200_000).ToArray(), Enumerable.Repeat((byte)'b', 300_000).ToArray()];
        using (var setup = remote.Open())
        {
            setup.PutAsync(RemoteLayout.LineageRef, versions[0], default).Wait();
        }

        using var stop = new CancellationTokenSource();
        int writes = 0;
        var writer = Task.Run(async () =>
        {
            using var backend = remote.Open();
            while (!stop.IsCancellationRequested)
            {
                var started = DateTime.UtcNow;
                await backend.PutAsync(RemoteLayout.LineageRef, versions[Volatile.Read(ref writes) % 2], default);
                Interlocked.Increment(ref writes);
                // Pushes overwrite a key once each, not back to back. s3rver's object is torn for
                // the whole PUT, so the pause scales with the write (four times as long) and a
                // reader has gaps to land in, as it has when real pushes race a pull, on a fast
                // machine or a loaded one.
                await Task.Delay(TimeSpan.FromMilliseconds(10) + (4 * (DateTime.UtcNow - started)));
            }
        });

        int reads = 0;
        using (var reader = remote.Open())
        {
            var until = DateTime.UtcNow + TimeSpan.FromSeconds(3);
            var giveUp = DateTime.UtcNow + TimeSpan.FromSeconds(60);
            string local = dir.File("read");
            while ((DateTime.UtcNow < until || reads < 5 || Volatile.Read(ref writes) <= 10) && DateTime.UtcNow < giveUp)
            {
                Assert.True(reader.DownloadAsync(RemoteLayout.LineageRef, local, RemoteLayout.MaxSnapshotBytes, default).Result);
                byte[] read = File.ReadAllBytes(local);
                Assert.True(read.AsSpan().SequenceEqual(versions[0]) || read.AsSpan().SequenceEqual(versions[1]), $"read {reads} is neither version ({read.Length} bytes)");
                reads++;
            }
        }

        stop.Cancel();
        writer.Wait();
        Assert.True(writes > 10, $"only {writes} overwrites raced the reads: the test proves less than it should");
    }
}
