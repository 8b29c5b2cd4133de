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

    public static RepositoryOptions Options { get; } = new() { FlushToDisk = false };

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
