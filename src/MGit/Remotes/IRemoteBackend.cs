namespace MGit.Remotes;

/// <summary>
/// Where a remote keeps its files: a flat key space of immutable objects plus one small mutable
/// ref. Backends only move bytes; what the keys mean (<see cref="RemoteLayout"/>), verification and
/// merging live above them, so a new kind of storage is one class implementing this.
/// </summary>
public interface IRemoteBackend : IDisposable
{
    /// <summary>The URL as the user gave it, for messages.</summary>
    string Url { get; }

    /// <summary>Every key that starts with <paramref name="prefix"/> (keys are '/'-separated, relative to the remote's root), with its size.</summary>
    Task<IReadOnlyList<RemoteFile>> ListAsync(string prefix, CancellationToken cancel);

    /// <summary>
    /// The size of what a key holds, null when it does not exist: one question per key, where
    /// <see cref="ListAsync"/> lists a whole prefix. By default a listing of the key itself (right
    /// for stores whose prefixes need not end at a '/', as S3's).
    /// </summary>
    async Task<long?> SizeAsync(string key, CancellationToken cancel)
    {
        foreach (var file in await ListAsync(key, cancel).ConfigureAwait(false))
        {
            if (file.Key == key)
            {
                return file.Size;
            }
        }

        return null;
    }

    /// <summary>Copies a key's bytes into <paramref name="localPath"/>; false when the key does not exist. More than <paramref name="maxBytes"/> is refused.</summary>
    Task<bool> DownloadAsync(string key, string localPath, long maxBytes, CancellationToken cancel);

    /// <summary>Stores a local file under a key. The key appears whole or not at all (never half written).</summary>
    Task UploadAsync(string key, string localPath, CancellationToken cancel);

    /// <summary>Stores bytes under a key, atomically as <see cref="UploadAsync(string, string, CancellationToken)"/>.</summary>
    Task PutAsync(string key, ReadOnlyMemory<byte> content, CancellationToken cancel);

    /// <summary>Removes a key; a key that does not exist is not an error.</summary>
    Task DeleteAsync(string key, CancellationToken cancel);

    /// <summary>
    /// Takes the remote's lock called <paramref name="name"/>, waiting up to <paramref name="wait"/>.
    /// Only one holder at a time across all machines; a holder that dies loses it (by expiry or by
    /// the kernel), so a killed push never blocks a remote for good.
    /// </summary>
    Task<IAsyncDisposable> LockAsync(string name, TimeSpan wait, CancellationToken cancel);
}

/// <summary>A key on a remote, the size of what it holds and, where the backend tells, when it was last written.</summary>
public readonly record struct RemoteFile(string Key, long Size, DateTimeOffset? LastModified = null);
