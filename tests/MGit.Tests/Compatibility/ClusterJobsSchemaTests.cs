using MGit.Cascade;
using MGit.Tests.TestSupport;

namespace MGit.Tests.Compatibility;

/// <summary>
/// A repository of lineage schema 7 (before cluster jobs), made by mgit 32d868e with a recipe, a
/// test and a local cascade, kept verbatim under Fixtures/repo-schema7.
/// </summary>
public sealed class ClusterJobsSchemaTests
{
    [Fact]
    public void A_schema_7_repository_reads_as_having_no_cluster_jobs_and_is_upgraded_by_its_first_write()
    {
        using var dir = new TempDirectory();
        RepositoryFixtures.CopyTo("repo-schema7", dir.Path);
        Assert.Equal(7, RepositoryFixtures.LineageSchema(dir.Path));

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
        Assert.Equal(7, RepositoryFixtures.LineageSchema(dir.Path));

        // The first write migrates; everything from before is still there.
        CliRunner.Ok(dir.Path, "tag", "tuned@2", "production");
        Assert.Equal(MGit.Lineage.LineageStore.SchemaVersion, RepositoryFixtures.LineageSchema(dir.Path));
        Assert.Equal("cp {parent} {output}", CliRunner.Ok(dir.Path, "recipe", "show", "tuned@2").Out.Trim());
        Assert.Contains("tuned@2  pass", CliRunner.Ok(dir.Path, "test", "show").Out, StringComparison.Ordinal);
        Assert.True(CliRunner.Ok(dir.Path, "fsck").ExitCode == 0);
        string output = dir.File("tuned.txt");
        CliRunner.Ok(dir.Path, "checkout", "tuned@2", "-o", output);
        Assert.Equal("base v2\n", File.ReadAllText(output));
    }
}
