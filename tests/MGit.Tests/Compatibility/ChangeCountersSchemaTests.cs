using System.Text.Json;
using MGit.Lineage;
using MGit.Tests.Remotes;
using MGit.Tests.TestSupport;

namespace MGit.Tests.Compatibility;

/// <summary>
/// A repository of lineage schema 8 (before the change counters), made by mgit df9de09 with a
/// base, a fine-tune and a tag, kept verbatim under Fixtures/repo-schema8; and one of schema 9
/// (counters, no version keys), made from it by mgit 2f25d2c with a push and one more model,
/// under Fixtures/repo-schema9.
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

    [Fact]
    public void A_schema_9_repository_gets_its_version_keys_with_its_first_write_and_then_pulls_adds_by_key()
    {
        using var dir = new TempDirectory();
        string repo = dir.File("repo");
        RepositoryFixtures.CopyTo("repo-schema9", repo);
        Assert.Equal(9, RepositoryFixtures.LineageSchema(repo));
        Assert.Equal(["base@1", "newm@1", "tuned@1"], Models.Refs(repo));
        Assert.Equal(9, RepositoryFixtures.LineageSchema(repo));

        // Its first write adds the keys of the versions it holds (the migration before this fix made schema 9 without them).
        string url = new Uri(dir.File("remote")).AbsoluteUri;
        RemoteCli.Ok(repo, "remote", "add", "origin", url);
        RemoteCli.Ok(repo, "push");
        Assert.Equal(LineageStore.SchemaVersion, RepositoryFixtures.LineageSchema(repo));
        Assert.Equal(0, NullKeys(repo));
        RemoteCli.Ok(dir.Path, "clone", url, dir.File("clone"));

        // An add (the key set by the insert) pushed and pulled by the shortcut: the pull finds its parent by key.
        RemoteCli.Ok(repo, "add", Path.Combine(repo, "originals", "newm.safetensors"), "--name", "newm-tune", "--parent", "newm@1", "-q");
        Assert.Equal(0, NullKeys(repo));
        Assert.Contains("\"from_adds_only\": true", RemoteCli.Ok(repo, "push", "--json").Out, StringComparison.Ordinal);
        Assert.Contains("\"from_adds_only\": true", RemoteCli.Ok(dir.File("clone"), "pull", "--json").Out, StringComparison.Ordinal);
        Assert.Equal(Models.Refs(repo), Models.Refs(dir.File("clone")));
        Models.AssertIntact(repo);
        Models.AssertChecksOut(dir.File("clone"), "newm-tune", Path.Combine(repo, "originals", "newm.safetensors"));
    }

    [Fact]
    public void A_schema_9_repository_made_with_version_keys_keeps_them_and_upgrades()
    {
        // mgit 21eb9e1 to 6a70fb4 added versions.key in schema 9; the fixture is repo-schema8 pushed and given one model by 21eb9e1.
        using var dir = new TempDirectory();
        string repo = dir.File("repo");
        RepositoryFixtures.CopyTo("repo-schema9-keyed", repo);
        Assert.Equal(9, RepositoryFixtures.LineageSchema(repo));
        Assert.Equal(0, NullKeys(repo));
        Assert.Equal(["base@1", "newm@1", "tuned@1"], Models.Refs(repo));

        // Its first write migrates it (the column is there already) instead of failing on a duplicate column.
        RemoteCli.Ok(repo, "add", Path.Combine(repo, "originals", "tuned.safetensors"), "--name", "tuned-again", "--parent", "tuned@1", "-q");
        Assert.Equal(LineageStore.SchemaVersion, RepositoryFixtures.LineageSchema(repo));
        Assert.Equal(0, NullKeys(repo));

        string url = new Uri(dir.File("remote")).AbsoluteUri;
        RemoteCli.Ok(repo, "remote", "add", "origin", url);
        RemoteCli.Ok(repo, "push");
        RemoteCli.Ok(dir.Path, "clone", url, dir.File("clone"));
        RemoteCli.Ok(repo, "add", Path.Combine(repo, "originals", "newm.safetensors"), "--name", "newm-tune", "--parent", "newm@1", "-q");
        Assert.Contains("\"from_adds_only\": true", RemoteCli.Ok(repo, "push", "--json").Out, StringComparison.Ordinal);
        Assert.Contains("\"from_adds_only\": true", RemoteCli.Ok(dir.File("clone"), "pull", "--json").Out, StringComparison.Ordinal);
        Assert.Equal(Models.Refs(repo), Models.Refs(dir.File("clone")));
        Models.AssertIntact(repo);
        Models.AssertChecksOut(dir.File("clone"), "tuned@production", Path.Combine(repo, "originals", "tuned.safetensors"));
    }

    /// <summary>Versions of a repository's database without a key.</summary>
    private static long NullKeys(string repositoryRoot)
    {
        using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(repositoryRoot, ".mgit", "lineage.db")};Mode=ReadOnly;Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT COUNT(*) FROM versions WHERE key IS NULL";
        return (long)command.ExecuteScalar()!;
    }
}
