using MGit.Workspace;

namespace MGit.Tests.TestSupport;

/// <summary>A temporary folder with a fresh repository and a place for model files.</summary>
public sealed class RepoFixture : IDisposable
{
    private readonly TempDirectory _dir = new();

    public RepoFixture(int chunkSize = 64 * 1024)
    {
        RepositoryPath = _dir.File("repo");
        Models = _dir.File("models");
        Directory.CreateDirectory(Models);
        Repository = MGit.Repository.Init(RepositoryPath, Options, chunkSize);
    }

    /// <summary>
    /// Every checkout of these tests is written with direct I/O where the file system takes it
    /// (by default only files of 256 MiB and more are): the byte-for-byte checks of the whole suite
    /// run over the direct path, and the CLI tests, with the default, over the buffered one.
    /// </summary>
    public static RepositoryOptions Options { get; } = new() { FlushToDisk = false, DirectWriteMinBytes = 0 };

    public Repository Repository { get; private set; }

    public string RepositoryPath { get; }

    public string Models { get; }

    public string Scratch(string name) => _dir.File(name);

    public string Model(string name) => Path.Combine(Models, name);

    public long StoredBytes => Repository.Stats().StoredBytes;

    public void Reopen()
    {
        Repository.Dispose();
        Repository = MGit.Repository.Open(RepositoryPath, Options);
    }

    public void Dispose()
    {
        Repository.Dispose();
        _dir.Dispose();
    }
}
