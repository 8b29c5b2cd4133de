using MGit.Lineage;
using MGit.Tests.TestSupport;

namespace MGit.Tests.Compatibility;

/// <summary>A repository of lineage schema 6 (before reparent's history), kept verbatim under Fixtures/repo-schema6.</summary>
public sealed class ReparentSchemaTests
{
    [Fact]
    public void A_schema_6_repository_opens_unchanged_and_is_upgraded_to_7_by_its_first_reparent()
    {
        using var dir = new TempDirectory();
        RepositoryFixtures.CopyTo("repo-schema6", dir.Path);
        Assert.Equal(6, RepositoryFixtures.LineageSchema(dir.Path));
        using (var repository = Repository.Open(dir.Path, RepoFixture.Options))
        {
            var graph = repository.Graph();
            Assert.Equal(["base@1", "other@1", "tuned@1"], graph.Versions.Select(v => v.Ref));
            Assert.Equal(["other@1"], graph.Parents(graph.Resolve("tuned"), EdgeKind.Adapted).Select(v => v.Ref));
            Assert.Empty(repository.ParentHistory("tuned")); // read as having none
            Assert.Equal(6, RepositoryFixtures.LineageSchema(dir.Path)); // reading changes nothing

            var change = repository.Reparent("tuned@production", new ReparentOptions { Parents = ["base"], How = "finetune", Message = "it shares base's encoder" });
            Assert.Equal(["other@1"], change.PreviousParents);
            Assert.Equal(LineageStore.SchemaVersion, RepositoryFixtures.LineageSchema(dir.Path));
            Assert.True(repository.Fsck().Intact);
        }

        using var reopened = Repository.Open(dir.Path, RepoFixture.Options);
        var after = reopened.Graph();
        Assert.Equal(["base@1"], after.Parents(after.Resolve("tuned"), EdgeKind.Adapted).Select(v => v.Ref));
        Assert.Equal("it shares base's encoder", Assert.Single(reopened.ParentHistory("tuned@1")).Message);
        // What schema 6 held is still there: the tag and its history.
        Assert.Equal("tuned@1", reopened.Resolve("tuned@production").Ref);
        Assert.Equal(TagMoveKind.Created, Assert.Single(reopened.TagHistory("production")).Kind);
        string output = dir.File("out.safetensors");
        reopened.Checkout("tuned", output);
        Assert.Equal(File.ReadAllBytes(Path.Combine(dir.Path, "originals", "tuned.safetensors")), File.ReadAllBytes(output));
    }
}
