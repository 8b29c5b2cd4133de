namespace MGit.Tests.TestSupport;

/// <summary>Every file under .mgit with its length and last-write time, to prove a refused command changed nothing.</summary>
public static class RepositorySnapshot
{
    public static IReadOnlyList<string> Take(string repositoryRoot)
    {
        string meta = Path.Combine(repositoryRoot, ".mgit");
        return Directory.EnumerateFiles(meta, "*", SearchOption.AllDirectories)
            .Where(f => !f.EndsWith("-shm", StringComparison.Ordinal) && !f.EndsWith("lock", StringComparison.Ordinal))
            .Select(f => $"{Path.GetRelativePath(meta, f)} {new FileInfo(f).Length} {Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(f)))}")
            .Order(StringComparer.Ordinal)
            .ToList();
    }
}
