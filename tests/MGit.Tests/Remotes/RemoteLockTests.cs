using MGit.Remotes;
using MGit.Tests.TestSupport;

namespace MGit.Tests.Remotes;

/// <summary>The push lock admits one holder at a time, on a folder (flock) and on S3 (claims).</summary>
public sealed class RemoteLockTests
{
    [Fact] public void File_lock_is_exclusive() => Exclusive("file");
    [S3Fact] public void S3_lock_is_exclusive() => Exclusive("s3");

    private static void Exclusive(string kind)
    {
        using var dir = new TempDirectory();
        var remote = TestRemote.Create(kind, dir);
        int inside = 0;
        int entries = 0;
        int overlaps = 0;
        // Separate backends, as separate processes would have.
        var workers = Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
        {
            using var backend = remote.Open();
            for (int i = 0; i < 3; i++)
            {
                await using (await backend.LockAsync("test", TimeSpan.FromSeconds(60), default))
                {
                    if (Interlocked.Increment(ref inside) > 1)
                    {
                        Interlocked.Increment(ref overlaps);
                    }

                    Interlocked.Increment(ref entries);
                    await Task.Delay(20);
                    Interlocked.Decrement(ref inside);
                }
            }
        })).ToArray();
        Task.WaitAll(workers);
        Assert.Equal(12, entries);
        Assert.Equal(0, overlaps);
    }

    [S3Fact]
    public void S3_a_live_claim_blocks_until_it_is_withdrawn()
    {
        using var dir = new TempDirectory();
        var remote = TestRemote.Create("s3", dir);
        using var backend = remote.Open();
        // Another holder's claim (expiry is two minutes of server time: too long to wait for here).
        backend.PutAsync($"{RemoteLayout.LockPrefix}test/00000000000000000-stale", "lock"u8.ToArray(), default).Wait();
        var blocked = Assert.ThrowsAsync<MGit.Errors.MGitException>(() => backend.LockAsync("test", TimeSpan.FromMilliseconds(300), default));
        Assert.Contains("locked by another push", blocked.Result.Message);
        backend.DeleteAsync($"{RemoteLayout.LockPrefix}test/00000000000000000-stale", default).Wait();
        backend.LockAsync("test", TimeSpan.FromSeconds(5), default).Result.DisposeAsync().AsTask().Wait();
    }
}
