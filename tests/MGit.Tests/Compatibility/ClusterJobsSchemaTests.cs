using MGit.Cascade;
using MGit.Tests.TestSupport;
using Microsoft.Data.Sqlite;

namespace MGit.Tests.Compatibility;

/// <summary>
/// A repository of lineage schema 7 (before cluster jobs), made by mgit 32d868e with a recipe, a
/// test and a local cascade, kept verbatim under Fixtures/repo-schema7.
/// </summary>
public sealed class ClusterJobsSchemaTests
{
    [Fact]
    public void A_schema_7_repository_reads_as_having_no_cluster_jobs_and_is_upgraded_to_8_by_its_first_write()
    {
        using var dir = new TempDirectory();
        string source = Path.Combine(AppContext.BaseDirectory, "Fixtures", "repo-schema7");
        foreach (string file in Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories))
        {
            string target = Path.Combine(dir.Path, Path.GetRelativePath(source, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }

        string database = Path.Combine(dir.Path, ".mgit", "lineage.db");
        Assert.Equal(7, UserVersion(database));

        // Read: the old cascade, its steps and results are there, with no jobs; nothing is written.
        var status = CliRunner.Ok(dir.Path, "cascade", "--status").Out;
        Assert.Contains("cascade 1: base@1 -> base@2", status, StringComparison.Ordinal);
        Assert.Contains("rederived", status, StringComparison.Ordinal);
        using (var repository = Repository.Open(dir.Path, RepoFixture.Options))
        {
            var progress = repository.CascadeProgress();
            Assert.Equal(CascadeStatus.Rederived, Assert.Single(progress.Cascade.Steps).Status);
            Assert.Empty(progress.Jobs);
            Assert.Empty(repository.TestJobs());
        }

        Assert.DoesNotContain("\"job\"", CliRunner.Ok(dir.Path, "test", "show", "--json").Out, StringComparison.Ordinal);
        Assert.Equal(7, UserVersion(database));

        // The first write migrates; everything from before is still there.
        CliRunner.Ok(dir.Path, "tag", "tuned@2", "production");
        Assert.Equal(8, UserVersion(database));
        Assert.Equal("cp {parent} {output}", CliRunner.Ok(dir.Path, "recipe", "show", "tuned@2").Out.Trim());
        Assert.Contains("tuned@2  pass", CliRunner.Ok(dir.Path, "test", "show").Out, StringComparison.Ordinal);
        Assert.True(CliRunner.Ok(dir.Path, "fsck").ExitCode == 0);
        string output = dir.File("tuned.txt");
        CliRunner.Ok(dir.Path, "checkout", "tuned@2", "-o", output);
        Assert.Equal("base v2\n", File.ReadAllText(output));
    }

    private static long UserVersion(string database)
    {
        using var connection = new SqliteConnection($"Data Source={database};Mode=ReadOnly;Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA user_version";
        return (long)command.ExecuteScalar()!;
    }
}
