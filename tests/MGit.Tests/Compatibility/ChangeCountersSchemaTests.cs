using System.Text.Json;
using MGit.Lineage;
using MGit.Tests.Remotes;
using MGit.Tests.TestSupport;

namespace MGit.Tests.Compatibility;

/// <summary>
/// A repository of lineage schema 8 (before the change counters), made by mgit df9de09 with a
/// base, a fine-tune and a tag, kept verbatim under Fixtures/repo-schema8.
/// </summary>
public sealed class ChangeCountersSchemaTests
{
    [Fact]
    public void A_schema_8_repository_reads_unchanged_and_its_first_push_upgrades_it_so_the_next_one_sends_only_adds()
    {
        using var dir = new TempDirectory();
        string repo = dir.File("repo");
        RepositoryFixtures.CopyTo("repo-schema8", repo);
        Assert.Equal(8, RepositoryFixtures.LineageSchema(repo));

        // Read: everything is there, nothing is written.
        Assert.Equal(["base@1", "tuned@1"], Models.Refs(repo));
        Assert.Equal("tuned@1", JsonDocument.Parse(RemoteCli.Ok(repo, "show", "tuned@production", "--json").Out).RootElement.GetProperty("ref").GetString());
        Assert.Equal(8, RepositoryFixtures.LineageSchema(repo));

        // The first push compares whole lineages; it migrates the database, so it can leave a mark.
        string url = new Uri(dir.File("remote")).AbsoluteUri;
        RemoteCli.Ok(repo, "remote", "add", "origin", url);
        Assert.Contains("\"from_adds_only\": false", RemoteCli.Ok(repo, "push", "--json").Out, StringComparison.Ordinal);
        Assert.Equal(LineageStore.SchemaVersion, RepositoryFixtures.LineageSchema(repo));

        RemoteCli.Ok(repo, "add", Path.Combine(repo, "originals", "tuned.safetensors"), "--name", "tuned-again", "--parent", "tuned@1", "-q");
        Assert.Contains("\"from_adds_only\": true", RemoteCli.Ok(repo, "push", "--json").Out, StringComparison.Ordinal);

        RemoteCli.Ok(dir.Path, "clone", url, dir.File("clone"));
        Assert.Equal(["base@1", "tuned-again@1", "tuned@1"], Models.Refs(dir.File("clone")));
        Assert.Equal(RemoteCli.Ok(repo, "tag", "--json").Out, RemoteCli.Ok(dir.File("clone"), "tag", "--json").Out);
        Models.AssertChecksOut(dir.File("clone"), "tuned@production", Path.Combine(repo, "originals", "tuned.safetensors"));
    }
}
