using MGit.Errors;

namespace MGit.Storage;

/// <summary>
/// A process-level lock on the repository: commands that write objects hold it shared, garbage
/// collection holds it exclusive, so gc never deletes an object an unfinished add has just written.
/// (.NET maps FileShare onto flock on Unix, and the kernel drops it when a process dies.)
/// </summary>
internal sealed class RepositoryLock : IDisposable
{
    private readonly FileStream _stream;

    private RepositoryLock(FileStream stream) => _stream = stream;

    public static RepositoryLock Shared(string path, TimeSpan wait) => Acquire(path, FileShare.ReadWrite, wait);

    public static RepositoryLock Exclusive(string path, TimeSpan wait) => Acquire(path, FileShare.None, wait);

    /// <summary>The lock held alone, taken at once, or null while any other command holds it.</summary>
    public static RepositoryLock? TryExclusive(string path)
    {
        try
        {
            return new RepositoryLock(new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None));
        }
        catch (IOException)
        {
            return null;
        }
    }

    private static RepositoryLock Acquire(string path, FileShare share, TimeSpan wait)
    {
        var deadline = DateTime.UtcNow + wait;
        while (true)
        {
            try
            {
                return new RepositoryLock(new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, share));
            }
            catch (IOException) when (DateTime.UtcNow < deadline)
            {
                Thread.Sleep(50);
            }
            catch (IOException)
            {
                throw new MGitException(ErrorKind.Locked, share == FileShare.None
                    ? "another mgit process is using the repository; gc needs it alone, try again when it is done"
                    : "mgit gc is running on this repository; try again when it is done");
            }
        }
    }

    public void Dispose() => _stream.Dispose();
}
