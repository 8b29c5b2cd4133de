using MGit.Errors;
using MGit.Storage;

namespace MGit.Remotes;

/// <summary>
/// A remote in a folder (<c>file:///path</c>): a shared disk or a mounted network share. Keys are
/// files; writes go to a temporary name and are renamed into place; the lock is a kernel file lock
/// (flock), released when its holder exits or dies.
/// </summary>
internal sealed class FileRemote : IRemoteBackend
{
    private readonly string _root;

    public FileRemote(string url, string root, bool create)
    {
        Url = url;
        _root = Path.GetFullPath(root);
        if (!Directory.Exists(_root))
        {
            if (!create)
            {
                throw new MGitException(ErrorKind.NotFound, $"remote {url}: no such folder {_root}");
            }

            Directory.CreateDirectory(_root);
        }
    }

    public string Url { get; }

    private string PathOf(string key) => Path.Combine(_root, key.Replace('/', Path.DirectorySeparatorChar));

    private string TempDirectory => Path.Combine(_root, RemoteLayout.TempPrefix.TrimEnd('/'));

    public Task<IReadOnlyList<RemoteFile>> ListAsync(string prefix, CancellationToken cancel)
    {
        // Prefixes used here always end at a folder boundary ("objects/", "locks/x/").
        string folder = PathOf(prefix.TrimEnd('/'));
        if (!Directory.Exists(folder))
        {
            return Task.FromResult<IReadOnlyList<RemoteFile>>([]);
        }

        var keys = new DirectoryInfo(folder).EnumerateFiles("*", SearchOption.AllDirectories)
            .Select(f => new RemoteFile(Path.GetRelativePath(_root, f.FullName).Replace(Path.DirectorySeparatorChar, '/'), f.Length, f.LastWriteTimeUtc))
            .ToList();
        return Task.FromResult<IReadOnlyList<RemoteFile>>(keys);
    }

    public Task<long?> SizeAsync(string key, CancellationToken cancel)
    {
        var file = new FileInfo(PathOf(key));
        return Task.FromResult<long?>(file.Exists ? file.Length : null);
    }

    public async Task<bool> DownloadAsync(string key, string localPath, long maxBytes, CancellationToken cancel)
    {
        FileStream source;
        try
        {
            source = new FileStream(PathOf(key), FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, useAsync: true);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return false;
        }

        await using (source.ConfigureAwait(false))
        {
            if (source.Length > maxBytes)
            {
                throw new MGitException(ErrorKind.Damaged, $"remote {Url}: {key} is {source.Length} bytes, more than the {maxBytes} allowed");
            }

            var target = new FileStream(localPath, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true);
            await using var targetDisposal = target.ConfigureAwait(false);
            await source.CopyToAsync(target, cancel).ConfigureAwait(false);
        }

        return true;
    }

    public async Task UploadAsync(string key, string localPath, CancellationToken cancel)
    {
        var source = new FileStream(localPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, useAsync: true);
        await using var sourceDisposal = source.ConfigureAwait(false);
        await WriteAtomicallyAsync(key, target => source.CopyToAsync(target, cancel), cancel).ConfigureAwait(false);
    }

    public Task PutAsync(string key, ReadOnlyMemory<byte> content, CancellationToken cancel) =>
        WriteAtomicallyAsync(key, target => target.WriteAsync(content, cancel).AsTask(), cancel);

    private async Task WriteAtomicallyAsync(string key, Func<FileStream, Task> write, CancellationToken cancel)
    {
        Directory.CreateDirectory(TempDirectory);
        // Named by host and process, so a later push from this machine can tell a killed writer's file.
        string temp = Path.Combine(TempDirectory, TemporaryFiles.Name(TemporaryFiles.HostStem));
        try
        {
            var target = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true);
            await using (target.ConfigureAwait(false))
            {
                await write(target).ConfigureAwait(false);
                await target.FlushAsync(cancel).ConfigureAwait(false);
                target.Flush(flushToDisk: true);
            }

            string path = PathOf(key);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.Move(temp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp))
            {
                File.Delete(temp);
            }
        }
    }

    public Task DeleteAsync(string key, CancellationToken cancel)
    {
        File.Delete(PathOf(key));
        return Task.CompletedTask;
    }

    public async Task<IAsyncDisposable> LockAsync(string name, TimeSpan wait, CancellationToken cancel)
    {
        string path = PathOf($"{RemoteLayout.LockPrefix}{name}");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var deadline = DateTime.UtcNow + wait;
        while (true)
        {
            try
            {
                return new HeldLock(new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None));
            }
            catch (IOException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(Random.Shared.Next(20, 80), cancel).ConfigureAwait(false);
            }
            catch (IOException)
            {
                throw new MGitException(ErrorKind.Locked, $"remote {Url} is locked by another push; try again when it is done");
            }
        }
    }

    private sealed class HeldLock(FileStream stream) : IAsyncDisposable
    {
        public ValueTask DisposeAsync() => stream.DisposeAsync();
    }

    public void Dispose()
    {
    }
}
