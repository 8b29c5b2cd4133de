using System.Text.Json;
using MGit.Errors;
using MGit.Ingest;
using MGit.Testing;
using MGit.Tests.TestSupport;

namespace MGit.Tests.Testing;

public sealed class BisectTests
{
    /// <summary>A chain m0 -> m1 -> ... -> m(n-1) of text models; from <paramref name="firstBad"/> on each carries a "bug" line.</summary>
    private static void BuildChain(RepoFixture fixture, int length, int firstBad)
    {
        string content = "";
        for (int i = 0; i < length; i++)
        {
            content += i == firstBad ? $"step {i}\nbug\n" : $"step {i}\n";
            string path = fixture.Model($"m{i}.txt");
            File.WriteAllText(path, content);
            fixture.Repository.Add(path, new AddOptions { Name = $"m{i}", Parents = i == 0 ? [] : [$"m{i - 1}"], How = i == 0 ? null : "finetune" });
        }

        fixture.Repository.RegisterTest(new TestDefinition("no-bug", "sh -c '! grep -q bug \"$1\"' sh {model}", TestScope.All, null, 60));
    }

    [Theory]
    [InlineData(16, 1)]
    [InlineData(16, 9)]
    [InlineData(16, 15)]
    [InlineData(33, 20)]
    [InlineData(2, 1)]
    public void Bisect_finds_the_first_failing_model_in_logarithmic_runs(int length, int firstBad)
    {
        using var fixture = new RepoFixture();
        BuildChain(fixture, length, firstBad);

        var result = fixture.Repository.Bisect("no-bug", $"m{length - 1}", null);

        Assert.Equal($"m{firstBad}@1", result.FirstFailing);
        Assert.Equal($"m{firstBad - 1}@1", result.LastPassing);
        Assert.Equal(length, result.Chain.Count);
        // Both ends, then one run per halving of the n-2 models between them.
        int bound = 2 + (int)Math.Ceiling(Math.Log2(Math.Max(1, length - 1)));
        Assert.InRange(result.Runs.Count, 2, bound);
        Assert.Equal(result.Runs.Count, result.Runs.Select(r => r.Ref).Distinct().Count());
        Assert.All(result.Runs, r => Assert.Equal(int.Parse(r.Ref[1..r.Ref.IndexOf('@', StringComparison.Ordinal)], System.Globalization.CultureInfo.InvariantCulture) < firstBad, r.Passed));
    }

    [Fact]
    public void Bisect_from_a_named_ancestor_and_through_the_cli_json()
    {
        using var fixture = new RepoFixture();
        BuildChain(fixture, 12, 7);

        var result = CliRunner.Run(fixture.RepositoryPath, "bisect", "no-bug", "--from", "m11", "--to", "m4", "--json");

        Assert.Equal(0, result.ExitCode);
        using var document = JsonDocument.Parse(result.Out);
        Assert.Equal("m7@1", document.RootElement.GetProperty("first_failing").GetString());
        var runs = document.RootElement.GetProperty("runs").EnumerateArray().ToList();
        Assert.Equal("m11@1", runs[0].GetProperty("ref").GetString());
        Assert.False(runs[0].GetProperty("passed").GetBoolean());
        Assert.Equal("m4@1", runs[1].GetProperty("ref").GetString());
        Assert.True(runs[1].GetProperty("passed").GetBoolean());
        Assert.InRange(runs.Count, 3, 5);
    }

    [Fact]
    public void Bisect_refuses_when_there_is_nothing_to_find()
    {
        using var fixture = new RepoFixture();
        BuildChain(fixture, 6, 3);

        Assert.Contains("passes", Assert.Throws<MGitException>(() => fixture.Repository.Bisect("no-bug", "m2", null)).Message, StringComparison.Ordinal);
        Assert.Contains("fails no-bug too", Assert.Throws<MGitException>(() => fixture.Repository.Bisect("no-bug", "m5", "m4")).Message, StringComparison.Ordinal);
        Assert.Contains("not an ancestor", Assert.Throws<MGitException>(() => fixture.Repository.Bisect("no-bug", "m2", "m5")).Message, StringComparison.Ordinal);
        Assert.Contains("no parent", Assert.Throws<MGitException>(() => fixture.Repository.Bisect("no-bug", "m0", null)).Message, StringComparison.Ordinal);
        Assert.Contains("no test named", Assert.Throws<MGitException>(() => fixture.Repository.Bisect("nope", "m5", null)).Message, StringComparison.Ordinal);
    }
}
