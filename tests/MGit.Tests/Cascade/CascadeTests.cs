using System.Text.Json;
using MGit.Cascade;
using MGit.Errors;
using MGit.Ingest;
using MGit.Lineage;
using MGit.Testing;
using MGit.Tests.TestSupport;

namespace MGit.Tests.Cascade;

/// <summary>
/// The update cascade on a family of text models made by real (shell) recipes:
/// <code>
/// base ── a ── a2           (fine-tunes: parent + "ft:TAG")
///    ├─── b ──┐
///    │    a ──┴── m ── m2   (m merges a and b)
///    └─── c (no recipe) ── c2
/// other ── x                (unrelated)
/// </code>
/// </summary>
public sealed class CascadeTests
{
    private sealed class Family : IDisposable
    {
        public Family()
        {
            Fixture = new RepoFixture();
            FailFlag = Fixture.Scratch("fail-b");
            FineTune = Scripts.Write(Fixture.Scratch("ft.sh"), """
                # ft.sh PARENT OUTPUT TAG [FLAG]: the parent's lines plus one, failing while FLAG exists
                if [ "$#" -ge 4 ] && [ -e "$4" ]; then echo "cannot fine-tune: flag $4 is set" >&2; exit 3; fi
                { cat "$1"; echo "ft:$3"; } > "$2"
                """);
            Merge = Scripts.Write(Fixture.Scratch("merge.sh"), """
                # merge.sh OUTPUT FIRST SECOND
                out="$1"; shift
                { echo "merge"; cat "$1"; echo "--"; cat "$2"; } > "$out"
                """);
            Add("base.txt", "base v1\n", new AddOptions { Name = "base", Type = "text" });
            AddDerived("a", ["base"], "base v1\nft:A\n", Recipe("A"));
            AddDerived("b", ["base"], "base v1\nft:B\n", Recipe("B", FailFlag));
            AddDerived("a2", ["a"], "base v1\nft:A\nft:A2\n", Recipe("A2"));
            AddDerived("m", ["a", "b"], "merge\nbase v1\nft:A\n--\nbase v1\nft:B\n", $"{Scripts.Command(Merge)} {{output}} {{parent:a}} {{parent:b}}");
            AddDerived("m2", ["m"], "merge\nbase v1\nft:A\n--\nbase v1\nft:B\nft:M2\n", Recipe("M2"));
            AddDerived("c", ["base"], "base v1\nhand-made\n", null);
            AddDerived("c2", ["c"], "base v1\nhand-made\nft:C2\n", Recipe("C2"));
            Add("other.txt", "other\n", new AddOptions { Name = "other" });
            AddDerived("x", ["other"], "other\nft:X\n", Recipe("X"));
            Fixture.Repository.RegisterTest(new TestDefinition("has-v2", "grep -q 'base v2' {model}", TestScope.Parse("type:text"), null, 60));
            Add("base-v2.txt", "base v2\n", new AddOptions { VersionOf = "base" });
        }

        public RepoFixture Fixture { get; }

        public Repository Repository => Fixture.Repository;

        public string FailFlag { get; }

        private string FineTune { get; }

        private string Merge { get; }

        public string Recipe(string tag, string? flag = null) =>
            $"{Scripts.Command(FineTune)} {{parent}} {{output}} {tag}" + (flag is null ? "" : $" {Scripts.Quote(flag)}");

        private void Add(string file, string content, AddOptions options)
        {
            string path = Fixture.Model(file);
            File.WriteAllText(path, content);
            Fixture.Repository.Add(path, options);
        }

        private void AddDerived(string name, string[] parents, string content, string? recipe) =>
            Add($"{name}.txt", content, new AddOptions { Name = name, Parents = parents, How = "finetune", Type = "text", Recipe = recipe });

        public string Content(string reference)
        {
            string output = Fixture.Scratch($"out-{Guid.NewGuid():N}");
            return File.ReadAllText(Repository.Checkout(reference, output));
        }

        public void Dispose() => Fixture.Dispose();
    }

    [Fact]
    public void The_cascade_rederives_every_downstream_model_on_the_new_parents_in_topological_order()
    {
        using var family = new Family();

        var result = family.Repository.UpdateCascade(null, "base@2", new CascadeOptions { Jobs = 2 });

        Assert.Equal("base@1", result.Old);
        var status = result.Steps.ToDictionary(s => s.Model, s => s.Status);
        Assert.Equal(CascadeStatus.Rederived, status["a"]);
        Assert.Equal(CascadeStatus.Rederived, status["b"]);
        Assert.Equal(CascadeStatus.Rederived, status["a2"]);
        Assert.Equal(CascadeStatus.Rederived, status["m"]);
        Assert.Equal(CascadeStatus.Rederived, status["m2"]);
        Assert.Equal(CascadeStatus.NoRecipe, status["c"]);
        Assert.Equal(CascadeStatus.Blocked, status["c2"]);
        Assert.False(status.ContainsKey("x"));
        var order = result.Steps.Select(s => s.Model).ToList();
        Assert.True(order.IndexOf("m") > order.IndexOf("a") && order.IndexOf("m") > order.IndexOf("b") && order.IndexOf("m2") > order.IndexOf("m"));

        // Every new version holds exactly what its recipe makes from the new parents.
        Assert.Equal("base v2\nft:A\n", family.Content("a@2"));
        Assert.Equal("base v2\nft:B\n", family.Content("b@2"));
        Assert.Equal("base v2\nft:A\nft:A2\n", family.Content("a2@2"));
        Assert.Equal("merge\nbase v2\nft:A\n--\nbase v2\nft:B\n", family.Content("m@2"));
        Assert.Equal("merge\nbase v2\nft:A\n--\nbase v2\nft:B\nft:M2\n", family.Content("m2@2"));

        var graph = family.Repository.Graph();
        Assert.Equal(["a@2", "b@2"], graph.Parents(graph.Resolve("m@2"), EdgeKind.Adapted).Select(p => p.Ref).Order());
        Assert.Equal(["m@1"], graph.Parents(graph.Resolve("m@2"), EdgeKind.Versioned).Select(p => p.Ref));
        Assert.Equal(["base@2"], graph.Parents(graph.Resolve("a@2"), EdgeKind.Adapted).Select(p => p.Ref));
        Assert.Equal("text", graph.Resolve("m@2").Type);
        Assert.Null(graph.Latest("x")!.Version == 1 ? null : "x was touched");
        Assert.Equal(1, graph.Latest("c")!.Version);
        Assert.Equal(family.Repository.RecipeOf("m@1").Recipe, family.Repository.RecipeOf("m@2").Recipe);

        // Tests ran before (on the old versions) and after (on the new ones).
        var m = result.Steps.Single(s => s.Model == "m");
        Assert.False(Assert.Single(m.TestsBefore).Passed);
        Assert.True(Assert.Single(m.TestsAfter).Passed);
        Assert.Equal("m@2", m.TestsAfter[0].Ref);
        Assert.False(result.Succeeded); // c2 could not follow: c has no recipe

        // Nothing is left to do for the models done, so a second cascade of the same update finds only c's branch.
        var again = family.Repository.UpdateCascade("base@1", "base@2", new CascadeOptions());
        Assert.Equal(["c", "c2"], again.Steps.Select(s => s.Model));
    }

    [Fact]
    public void A_failing_recipe_stops_only_its_branch_and_resume_finishes_after_the_fix()
    {
        using var family = new Family();
        File.WriteAllText(family.FailFlag, "broken");

        var first = family.Repository.UpdateCascade("base@1", "base@2", new CascadeOptions());

        var status = first.Steps.ToDictionary(s => s.Model, s => s);
        Assert.Equal(CascadeStatus.Failed, status["b"].Status);
        Assert.True(status["b"].Detail!.Contains("exit 3", StringComparison.Ordinal), status["b"].Detail);
        Assert.Equal(CascadeStatus.Blocked, status["m"].Status);
        Assert.Equal(CascadeStatus.Blocked, status["m2"].Status);
        Assert.Equal(CascadeStatus.Rederived, status["a"].Status);
        Assert.Equal(CascadeStatus.Rederived, status["a2"].Status);
        Assert.Equal("base v2\nft:A\nft:A2\n", family.Content("a2@2"));
        Assert.Equal(1, family.Repository.Graph().Latest("b")!.Version);
        string log = Directory.EnumerateFiles(Path.Combine(family.Fixture.RepositoryPath, ".mgit", "logs", "cascade"), "b-*.log", SearchOption.AllDirectories).Single();
        Assert.Contains("cannot fine-tune", File.ReadAllText(log), StringComparison.Ordinal);

        File.Delete(family.FailFlag);
        var resumed = family.Repository.ResumeCascade(new CascadeOptions());

        var after = resumed.Steps.ToDictionary(s => s.Model, s => s);
        Assert.Equal(CascadeStatus.Rederived, after["b"].Status);
        Assert.Equal(CascadeStatus.Rederived, after["m"].Status);
        Assert.Equal(CascadeStatus.Rederived, after["m2"].Status);
        Assert.Equal("a@2", after["a"].To); // kept from the first run, not made again
        var graph = family.Repository.Graph();
        Assert.Equal(2, graph.Latest("a")!.Version);
        Assert.Equal("merge\nbase v2\nft:A\n--\nbase v2\nft:B\n", family.Content("m@2"));
        Assert.Equal(["a@2", "b@2"], graph.Parents(graph.Resolve("m@2"), EdgeKind.Adapted).Select(p => p.Ref).Order());
    }

    [Fact]
    public void A_recipe_set_after_the_fact_lets_resume_rederive_a_model_that_had_none()
    {
        using var family = new Family();
        family.Repository.UpdateCascade(null, "base@2", new CascadeOptions());

        family.Repository.SetRecipe("c", family.Recipe("C"));
        var resumed = family.Repository.ResumeCascade(new CascadeOptions());

        Assert.True(resumed.Succeeded);
        Assert.Equal("base v2\nft:C\n", family.Content("c@2"));
        Assert.Equal("base v2\nft:C\nft:C2\n", family.Content("c2@2"));
        Assert.Contains("complete", Assert.Throws<MGitException>(() => family.Repository.ResumeCascade(new CascadeOptions())).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_dry_run_prints_the_plan_and_changes_nothing()
    {
        using var family = new Family();
        var before = RepositorySnapshot.Take(family.Fixture.RepositoryPath);

        var result = CliRunner.Run(family.Fixture.RepositoryPath, "cascade", "base@1", "base@2", "--dry-run", "--json");

        Assert.Equal(0, result.ExitCode);
        Assert.Equal(before, RepositorySnapshot.Take(family.Fixture.RepositoryPath));
        using var document = JsonDocument.Parse(result.Out);
        Assert.True(document.RootElement.GetProperty("dry_run").GetBoolean());
        var steps = document.RootElement.GetProperty("steps").EnumerateArray().ToDictionary(s => s.GetProperty("model").GetString()!, s => s.GetProperty("status").GetString());
        Assert.Equal("planned", steps["m"]);
        Assert.Equal("no-recipe", steps["c"]);
        Assert.Equal("blocked", steps["c2"]);

        var text = CliRunner.Run(family.Fixture.RepositoryPath, "cascade", "base@2", "--dry-run");
        Assert.Contains("dry run, nothing changed", text.Out, StringComparison.Ordinal);
        Assert.Contains("c2", text.Out, StringComparison.Ordinal);
        Assert.Equal(before, RepositorySnapshot.Take(family.Fixture.RepositoryPath));
    }

    [Fact]
    public void The_cli_cascade_prints_the_summary_table_and_fails_when_a_branch_did_not_follow()
    {
        using var family = new Family();
        var result = CliRunner.Run(family.Fixture.RepositoryPath, "cascade", "base@2");
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("m@1 -> m@2", result.Out, StringComparison.Ordinal);
        Assert.Contains("0/1 pass", result.Out, StringComparison.Ordinal);
        Assert.Contains("1/1 pass", result.Out, StringComparison.Ordinal);
        Assert.Contains("not re-derived: c, c2", result.Out, StringComparison.Ordinal);

        Assert.Equal(2, CliRunner.Run(family.Fixture.RepositoryPath, "cascade").ExitCode is 1 or 2 ? 2 : 0);
        Assert.StartsWith("mgit: ", CliRunner.Run(family.Fixture.RepositoryPath, "cascade", "other").Error, StringComparison.Ordinal);
    }

    [Fact]
    public void Recipes_are_checked_against_the_parents_when_added()
    {
        using var fixture = new RepoFixture();
        string file = fixture.Model("p.txt");
        File.WriteAllText(file, "p\n");
        fixture.Repository.Add(file, new AddOptions { Name = "p" });
        fixture.Repository.Add(file, new AddOptions { Name = "q" });
        var snapshot = RepositorySnapshot.Take(fixture.RepositoryPath);

        MGitException Refused(string recipe, params string[] parents) =>
            Assert.Throws<MGitException>(() => fixture.Repository.Add(file, new AddOptions { Name = "child", Parents = parents, Recipe = recipe }));

        Assert.Contains("{output}", Refused("cp {parent} /tmp/x", "p").Message, StringComparison.Ordinal);
        Assert.Contains("ambiguous", Refused("cp {parent} {output}", "p", "q").Message, StringComparison.Ordinal);
        Assert.Contains("names no parent", Refused("cp {parent:zzz} {output}", "p").Message, StringComparison.Ordinal);
        Assert.Contains("unknown placeholder", Refused("cp {model} {output}", "p").Message, StringComparison.Ordinal);
        Assert.Contains("needs a parent", Refused("cp a {output}").Message, StringComparison.Ordinal);
        Assert.Equal(snapshot, RepositorySnapshot.Take(fixture.RepositoryPath));

        var added = CliRunner.Run(fixture.RepositoryPath, "add", file, "--name", "child", "--parent", "p", "--parent", "q", "--recipe", "merge {parents} -o {output}");
        Assert.Equal(0, added.ExitCode);
        var shown = CliRunner.Run(fixture.RepositoryPath, "recipe", "show", "child", "--json");
        using var document = JsonDocument.Parse(shown.Out);
        Assert.Equal("merge {parents} -o {output}", document.RootElement.GetProperty("recipe").GetString());
        Assert.Equal(["p@1", "q@1"], document.RootElement.GetProperty("parents").EnumerateArray().Select(p => p.GetString()));
    }
}
