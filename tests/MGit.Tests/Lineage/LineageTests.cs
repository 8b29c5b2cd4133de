using MGit.Errors;
using MGit.Ingest;
using MGit.Lineage;
using MGit.Tests.TestSupport;
using static MGit.Tests.TestSupport.RawSafetensors;

namespace MGit.Tests.Lineage;

public sealed class LineageTests
{
    private static string Model(RepoFixture fx, string file, int seed) =>
        Write(fx.Model(file), [Random("w", "F32", [8, 8], seed), Random("b", "F32", [8], seed + 1000)]);

    [Fact]
    public void Family_edges_versions_and_traversal()
    {
        using var fx = new RepoFixture();
        var r = fx.Repository;
        r.Add(Model(fx, "base.safetensors", 1), new AddOptions { Type = "lm", Metadata = new Dictionary<string, string> { ["license"] = "mit" } });
        r.Add(Model(fx, "chat.safetensors", 2), new AddOptions { Parents = ["base"], How = "finetune", Message = "instruction tuning" });
        r.Add(Model(fx, "code.safetensors", 3), new AddOptions { Parents = ["base@1"], How = "finetune" });
        r.Add(Model(fx, "merged.safetensors", 4), new AddOptions { Parents = ["chat", "code"], How = "merge" });
        r.Add(Model(fx, "base2.safetensors", 5), new AddOptions { VersionOf = "base" });
        r.Add(Model(fx, "chat2.safetensors", 6), new AddOptions { VersionOf = "chat", Parents = ["base@2"] });
        r.Add(Model(fx, "code2.safetensors", 7), new AddOptions { VersionOf = "code@1" });

        var g = r.Graph();
        var base1 = g.Resolve("base@1");
        var base2 = g.Resolve("base");
        Assert.Equal(2, base2.Version);
        Assert.Equal("lm", base2.Type); // inherited from the version before
        Assert.Equal("mit", base1.Metadata["license"]);
        Assert.Equal([base1.Id], g.Parents(base2, EdgeKind.Versioned).Select(v => v.Id));
        Assert.Empty(g.Parents(base2, EdgeKind.Adapted));

        var chat2 = g.Resolve("chat@2");
        Assert.Equal(["base@2"], g.Parents(chat2, EdgeKind.Adapted).Select(v => v.Ref));
        Assert.Equal(["chat@1"], g.Parents(chat2, EdgeKind.Versioned).Select(v => v.Ref));

        // Without --parent, a new version keeps the adapted parents of the one before it.
        var code2 = g.Resolve("code@2");
        Assert.Equal(["base@1"], g.Parents(code2, EdgeKind.Adapted).Select(v => v.Ref));
        Assert.Equal("finetune", g.ParentEdges(code2, EdgeKind.Adapted).Single().How);

        var merged = g.Resolve("merged");
        Assert.Equal(["chat@1", "code@1"], g.Parents(merged, EdgeKind.Adapted).Select(v => v.Ref).Order());
        Assert.Equal(["base@1", "chat@1", "code@1"], g.Ancestors(merged).Select(v => v.Ref).Order());
        Assert.Equal(
            ["base@2", "chat@1", "chat@2", "code@1", "code@2", "merged@1"],
            g.Descendants(base1).Select(v => v.Ref).Order());
        Assert.Equal(new[] { "chat@1", "code@1", "code@2", "merged@1" }, g.Descendants(base1, EdgeKind.Adapted).Select(v => v.Ref).Order());

        var order = g.TopologicalOrder().Select(v => v.Ref).ToList();
        foreach (var edge in g.Edges)
        {
            Assert.True(order.IndexOf(g[edge.ParentId].Ref) < order.IndexOf(g[edge.ChildId].Ref));
        }

        Assert.Equal(["base@1"], g.Roots().Select(v => v.Ref));
        Assert.Equal(2, g.Latest("chat")!.Version);
    }

    [Fact]
    public void An_add_reads_the_models_it_names_with_their_parents_and_nothing_else()
    {
        using var fx = new RepoFixture();
        var r = fx.Repository;
        r.Add(Model(fx, "base.safetensors", 1), new AddOptions());
        r.Add(Model(fx, "chat.safetensors", 2), new AddOptions { Parents = ["base"], How = "finetune" });
        r.Add(Model(fx, "base2.safetensors", 3), new AddOptions { VersionOf = "base" });
        r.Add(Model(fx, "chat2.safetensors", 4), new AddOptions { VersionOf = "chat", Parents = ["base@2"] });
        r.Add(Model(fx, "code.safetensors", 5), new AddOptions { Parents = ["base@1"] });
        r.Add(Model(fx, "other.safetensors", 6), new AddOptions());
        r.Tag("chat@1", "stable");

        var whole = r.Graph();
        LineageGraph around;
        using (var lineage = LineageStore.Open(Path.Combine(fx.RepositoryPath, ".mgit", "lineage.db"), create: false))
        {
            around = lineage.ReadAround(["chat", "nothing-yet"], [whole.Resolve("other").Id]);
        }

        Assert.Equal(["base@1", "base@2", "chat@1", "chat@2", "other@1"], around.Versions.Select(v => v.Ref).Order());
        Assert.Equal("chat@2", around.Latest("chat")!.Ref);
        Assert.Equal("chat@1", around.Resolve("chat@stable").Ref);
        Assert.Equal(["base@2", "chat@1"], around.Parents(around.Resolve("chat@2")).Select(v => v.Ref).Order());
        Assert.Equal(whole.Edges.Where(e => around.Versions.Any(v => v.Id == e.ChildId) && around.Versions.Any(v => v.Id == e.ParentId)).Count(), around.Edges.Count);

        // The adds that plan from it get what the whole graph would give: the tagged parent, the
        // inherited provenance, the latest version's number, the name conflict.
        r.Add(Model(fx, "chat3.safetensors", 7), new AddOptions { VersionOf = "chat@stable" });
        r.Add(Model(fx, "tune.safetensors", 8), new AddOptions { Parents = ["chat@stable"] });
        var after = r.Graph();
        Assert.Equal(["base@1", "chat@1"], after.Parents(after.Resolve("chat@3")).Select(v => v.Ref).Order());
        Assert.Equal(["chat@1"], after.Parents(after.Resolve("tune")).Select(v => v.Ref));
        Assert.Equal("finetune", after.ParentEdges(after.Resolve("chat@3"), EdgeKind.Adapted).Single().How);
        var conflict = Assert.Throws<MGitException>(() => r.Add(Model(fx, "again.safetensors", 9), new AddOptions { Name = "code", Parents = ["base"] }));
        Assert.Contains("model 'code' already exists", conflict.Message, StringComparison.Ordinal);
        Assert.Throws<MGitException>(() => r.Add(Model(fx, "lost.safetensors", 10), new AddOptions { Parents = ["chat@nosuchtag"] }));
    }

    [Fact]
    public void Refs_and_names_are_validated()
    {
        Assert.Equal(new ModelRef("a b;$(x)", 3), ModelRef.Parse("a b;$(x)@3"));
        Assert.Equal(new ModelRef("org/model", null), ModelRef.Parse("org/model"));
        foreach (string bad in new[] { "", "x@", "x@0", "x@-1", "x@1.5", "-x", "a@b@1", " lead" })
        {
            Assert.Throws<MGitException>(() => ModelRef.Parse(bad));
        }
    }

    [Fact]
    public void Adding_refuses_bad_lineage_before_storing_anything()
    {
        using var fx = new RepoFixture();
        var r = fx.Repository;
        r.Add(Model(fx, "base.safetensors", 1), new AddOptions());
        string path = Model(fx, "child.safetensors", 2);
        var before = RepositorySnapshot.Take(fx.RepositoryPath);

        Assert.Contains("no model named", Assert.Throws<MGitException>(() => r.Add(path, new AddOptions { Parents = ["nope"] })).Message);
        Assert.Contains("has no version 7", Assert.Throws<MGitException>(() => r.Add(path, new AddOptions { Parents = ["base@7"] })).Message);
        Assert.Contains("--how must be one of", Assert.Throws<MGitException>(() => r.Add(path, new AddOptions { Parents = ["base"], How = "magic" })).Message);
        Assert.Contains("already exists", Assert.Throws<MGitException>(() => r.Add(path, new AddOptions { Name = "base" })).Message);
        Assert.Contains("--version-of", Assert.Throws<MGitException>(() => r.Add(path, new AddOptions { Name = "other", VersionOf = "base" })).Message);
        Assert.Equal(before, RepositorySnapshot.Take(fx.RepositoryPath));
    }

    [Fact]
    public void Remove_is_refused_while_models_derive_from_it_unless_forced()
    {
        using var fx = new RepoFixture();
        var r = fx.Repository;
        r.Add(Model(fx, "base.safetensors", 1), new AddOptions());
        r.Add(Model(fx, "child.safetensors", 2), new AddOptions { Parents = ["base"] });
        var e = Assert.Throws<MGitException>(() => r.Remove("base"));
        Assert.Contains("child@1", e.Message);
        Assert.Equal(2, r.Graph().Versions.Count);

        Assert.Equal(["base@1"], r.Remove("base", force: true));
        var g = r.Graph();
        Assert.Equal(["child@1"], g.Versions.Select(v => v.Ref));
        Assert.Empty(g.Parents(g.Resolve("child")));
        Assert.True(r.Fsck().Intact);
    }

    [Fact]
    public void Parents_first_puts_every_version_after_its_ancestors_and_leaf_children_before_branches()
    {
        string[] names = ["base", "head", "tuned", "tuned", "bf16", "tuned-bf16", "pruned"];
        var versions = names.Select((name, i) => new ModelVersion(i + 1, name, name == "tuned" && i == 3 ? 2 : 1, null, $"m{i}", 1, DateTimeOffset.UnixEpoch, null, new Dictionary<string, string>())).ToList();
        LineageEdge Adapted(long parent, long child) => new(parent, child, EdgeKind.Adapted, "finetune", null);
        var graph = new LineageGraph(versions,
        [
            Adapted(1, 2), Adapted(1, 3), Adapted(1, 4), new(3, 4, EdgeKind.Versioned, null, null), Adapted(1, 5), Adapted(3, 6), Adapted(1, 7),
        ]);
        string Order(params int[] ids) => string.Join(" ", graph.ParentsFirst(ids.Select(id => versions[id - 1])).Select(v => v.Ref));

        // The base's leaf children follow it; the fine-tune, which has children of its own, comes last.
        Assert.Equal("base@1 head@1 bf16@1 pruned@1 tuned@1 tuned@2 tuned-bf16@1", Order(7, 6, 5, 4, 3, 2, 1, 1));
        // An ancestor outside the subset still orders what descends through it.
        Assert.Equal("base@1 tuned-bf16@1", Order(6, 1));
        Assert.Equal("tuned@1 tuned@2", Order(4, 3));
        Assert.Equal("head@1 pruned@1", Order(7, 2));
    }
}
