using MGit.Errors;

namespace MGit.Storage;

/// <summary>
/// One file of a stored version, read back byte for byte without being written anywhere: a
/// read-only, seekable stream over its chunks in manifest order (<see cref="ChunkedReadStream"/>,
/// which decodes one chunk at a time and keeps a few).
/// </summary>
/// <remarks>
/// What is verified, and when (the same as checkout): the manifest was checked when it was loaded
/// (it is itself a stored object, verified on read, and its paths pass <see cref="ModelPaths"/>);
/// on opening, its chunk lengths must add up to the file's length; on every read, each chunk
/// the read touches is decoded and checked against its checksum (or its id, for objects without
/// one) and against the length the manifest gives it before any of its bytes is returned. There
/// is no whole-file hash to check at the end: the manifest names every chunk by its content, so
/// verified chunks in manifest order are the file. Damage raises
/// <see cref="DamagedObjectException"/> from the read that meets it.
/// <para>
/// The stream holds what it is given to keep (the repository's shared lock, so that gc cannot
/// delete its objects while it is open) until it is disposed. Not thread-safe, as streams are not.
/// </para>
/// </remarks>
internal sealed class StoredFileStream : ReadOnlySeekableStream
{
    private readonly ChunkedReadStream _chunks;
    private readonly IDisposable? _keepAlive;
    private bool _disposed;

    public StoredFileStream(ObjectStore store, ManifestFile file, IDisposable? keepAlive)
    {
        var chunks = FileMaterializer.Chunks(file).ToList();
        long total = chunks.Sum(c => (long)c.Length);
        if (total != file.Length)
        {
            throw new MGitException(ErrorKind.Damaged, $"manifest of {file.Path} is inconsistent: its chunks make {total} bytes where it records {file.Length}");
        }

        _chunks = new ChunkedReadStream(store, chunks);
        _keepAlive = keepAlive;
        Path = file.Path;
    }

    /// <summary>The file's path within its model ('/'-separated).</summary>
    public string Path { get; }

    public override long Length => _chunks.Length;

    public override int Read(Span<byte> buffer)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _chunks.Position = Position;
        int read = _chunks.Read(buffer);
        Position += read;
        return read;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing && !_disposed)
        {
            _disposed = true;
            _chunks.Dispose();
            _keepAlive?.Dispose();
        }

        base.Dispose(disposing);
    }
}
