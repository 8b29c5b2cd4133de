using Microsoft.Data.Sqlite;

namespace MGit.Tests.TestSupport;

/// <summary>Repositories written by earlier versions of mgit, kept verbatim under Fixtures/, and what the compatibility tests read of them.</summary>
public static class RepositoryFixtures
{
    /// <summary>Copies the fixture repository <paramref name="name"/> (e.g. "repo-schema7") into <paramref name="destination"/>, so a test can change its copy.</summary>
    public static void CopyTo(string name, string destination)
    {
        string source = Path.Combine(AppContext.BaseDirectory, "Fixtures", name);
        foreach (string directory in Directory.EnumerateDirectories(source, "*", SearchOption.AllDirectories))
        {
            Directory.CreateDirectory(Path.Combine(destination, Path.GetRelativePath(source, directory)));
        }

        foreach (string file in Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories))
        {
            File.Copy(file, Path.Combine(destination, Path.GetRelativePath(source, file)));
        }
    }

    /// <summary>The lineage schema of a repository's database (<c>PRAGMA user_version</c>), read without changing it.</summary>
    public static long LineageSchema(string repositoryRoot)
    {
        using var connection = new SqliteConnection($"Data Source={Path.Combine(repositoryRoot, ".mgit", "lineage.db")};Mode=ReadOnly;Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA user_version";
        return (long)command.ExecuteScalar()!;
    }
}
