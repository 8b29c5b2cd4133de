using MGit.Lineage;
using MGit.Tests.TestSupport;

namespace MGit.Tests.Compatibility;

/// <summary>A repository of lineage schema 5 (before tags), kept verbatim under Fixtures/repo-schema5.</summary>
public sealed class TagSchemaTests
{
    [Fact]
    public void A_schema_5_repository_reads_as_having_no_tags_and_gains_them_on_its_first_tag()
    {
        using var dir = new TempDirectory();
        RepositoryFixtures.CopyTo("repo-schema5", dir.Path);
        Assert.Equal(5, RepositoryFixtures.LineageSchema(dir.Path));
        using (var repository = Repository.Open(dir.Path, RepoFixture.Options))
        {
            var graph = repository.Graph();
            Assert.Equal(["base@1", "tuned@1", "tuned@2"], graph.Versions.Select(v => v.Ref));
            Assert.Empty(graph.Tags);
            var missing = Assert.Throws<MGit.Errors.MGitException>(() => graph.Resolve("tuned@production"));
            Assert.Equal(MGit.Errors.ErrorKind.NotFound, missing.Kind);
            Assert.Equal(5, RepositoryFixtures.LineageSchema(dir.Path)); // reading changes nothing

            var change = repository.Tag("tuned@1", "production");
            Assert.True(change.Changed);
            Assert.Equal(LineageStore.SchemaVersion, RepositoryFixtures.LineageSchema(dir.Path)); // migrated to the newest schema
            Assert.Equal("tuned@1", repository.Resolve("tuned@production").Ref);

            string output = dir.File("out.safetensors");
            repository.Checkout("tuned@production", output);
            Assert.Equal(File.ReadAllBytes(Path.Combine(dir.Path, "originals", "tuned.safetensors")), File.ReadAllBytes(output));
            Assert.True(repository.Fsck().Intact);
        }

        using var reopened = Repository.Open(dir.Path, RepoFixture.Options);
        Assert.Equal("tuned@production", Assert.Single(reopened.Graph().Tags).Ref);
        Assert.Equal(TagMoveKind.Created, Assert.Single(reopened.TagHistory("production")).Kind);
        // What schema 5 held is still there: the registered test and its results.
        Assert.Equal("readable", Assert.Single(reopened.Tests.All()).Name);
        Assert.Equal(3, reopened.Tests.Latest(reopened.Graph()).Count);
    }
}
