using MGit.Diff;
using MGit.Errors;
using MGit.Ingest;
using MGit.Lineage;
using MGit.Tests.Diff;
using MGit.Tests.TestSupport;
using static MGit.Tests.TestSupport.RawSafetensors;

namespace MGit.Tests.Lineage;

/// <summary>Repository.Reparent: a user fixes a wrong edge; the graph stays valid, who and when are kept, placement leaves it alone.</summary>
public sealed class ReparentTests
{
    /// <summary>A clock that says what it is told.</summary>
    private sealed class FixedClock(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }

    private static readonly DateTimeOffset Noon = new(2026, 12, 7, 12, 34, 56, TimeSpan.Zero);

    private static Repository Open(string path, string user = "alice") =>
        Repository.Open(path, RepoFixture.Options with { Environment = name => name == "MGIT_USER" ? user : null, Clock = new FixedClock(Noon) });

    /// <summary>a@1 (root), b@1 (from a), c@1 (from b, the wrong edge), c@2 (next version of c@1, same parents), d@1 (unrelated root).</summary>
    private static RepoFixture Family()
    {
        var fixture = new RepoFixture();
        string Model(string name, int seed) => Write(fixture.Model(name + ".safetensors"), [Random("w", "F32", [8, 8], seed)]);
        var repo = fixture.Repository;
        repo.Add(Model("a", 1), new AddOptions());
        repo.Add(Model("b", 2), new AddOptions { Parents = ["a"], How = "finetune" });
        repo.Add(Model("c", 3), new AddOptions { Parents = ["b"], How = "finetune" });
        repo.Add(Model("c2", 4), new AddOptions { VersionOf = "c" });
        repo.Add(Model("d", 5), new AddOptions());
        return fixture;
    }

    private static List<string> AdaptedParents(Repository repository, string reference)
    {
        var graph = repository.Graph();
        return graph.Parents(graph.Resolve(reference), EdgeKind.Adapted).Select(v => v.Ref).ToList();
    }

    private static MGitException Refused(Repository repository, string reference, ReparentOptions options, ErrorKind kind)
    {
        var before = Snapshot(repository);
        var e = Assert.Throws<MGitException>(() => repository.Reparent(reference, options));
        Assert.Equal(kind, e.Kind);
        Assert.Equal(before, Snapshot(repository)); // nothing changed
        Assert.All(repository.Graph().Versions.Where(v => v.Name != "d"), v => Assert.Empty(repository.ParentHistory(v.Ref)));
        return e;
    }

    private static string Snapshot(Repository repository) =>
        string.Join("; ", repository.Graph().Edges.Select(e => $"{e.ParentId}>{e.ChildId}:{e.Kind}:{e.How}:{e.Message}").Order(StringComparer.Ordinal));

    [Fact]
    public void Parent_replaces_the_adapted_parents_keeps_versioned_edges_and_records_who_and_when()
    {
        using var fixture = Family();
        using var repo = Open(fixture.RepositoryPath);

        var change = repo.Reparent("c@2", new ReparentOptions { Parents = ["a"], How = "distill", Message = "distilled from a, not b" });

        Assert.Equal(("c@2", "distill", "distilled from a, not b", "alice", Noon), (change.Ref, change.How, change.Message, change.ChangedBy, change.ChangedAt));
        Assert.Equal(["a@1"], change.Parents);
        Assert.Equal(["b@1"], change.PreviousParents);
        Assert.Equal(["a@1"], AdaptedParents(repo, "c@2"));
        Assert.Equal(["b@1"], AdaptedParents(repo, "c@1")); // the other version keeps its own parents

        var graph = repo.Graph();
        var c2 = graph.Resolve("c@2");
        var versioned = Assert.Single(graph.ParentEdges(c2, EdgeKind.Versioned));
        Assert.Equal("c@1", graph[versioned.ParentId].Ref);
        var edge = Assert.Single(graph.ParentEdges(c2, EdgeKind.Adapted));
        Assert.Equal("distill", edge.How);
        Assert.Equal("reparent by alice 2026-12-07T12:34Z: distilled from a, not b", edge.Message);
        Assert.False(edge.Message!.StartsWith("auto: ", StringComparison.Ordinal) || edge.Message.StartsWith("infer: ", StringComparison.Ordinal));

        // The history survives reopening: who, when, before and after.
        fixture.Reopen();
        var entry = Assert.Single(fixture.Repository.ParentHistory("c@2"));
        Assert.Equal(("alice", Noon, "a@1", "b@1", "distill"), (entry.ChangedBy, entry.ChangedAt, Assert.Single(entry.Parents), Assert.Single(entry.PreviousParents), entry.How));
        Assert.Empty(fixture.Repository.ParentHistory("c@1"));
        Assert.True(fixture.Repository.Fsck().Intact);
    }

    [Fact]
    public void Several_parents_make_a_merge_root_removes_them_all_and_remove_parent_only_one()
    {
        using var fixture = Family();
        using var repo = Open(fixture.RepositoryPath, "bob");

        var merge = repo.Reparent("c@1", new ReparentOptions { Parents = ["b", "d@1"], How = "merge" });
        Assert.Equal(["b@1", "d@1"], merge.Parents);
        Assert.Equal(["b@1", "d@1"], AdaptedParents(repo, "c@1").Order(StringComparer.Ordinal));
        Assert.All(repo.Graph().ParentEdges(repo.Resolve("c@1"), EdgeKind.Adapted), e => Assert.Equal("merge", e.How));

        var removed = repo.Reparent("c@1", new ReparentOptions { RemoveParents = ["d"] });
        Assert.Equal(["b@1"], removed.Parents);
        Assert.Equal(["b@1", "d@1"], removed.PreviousParents);
        Assert.Equal(["b@1"], AdaptedParents(repo, "c@1"));

        var root = repo.Reparent("c@1", new ReparentOptions { Root = true, Message = "trained from scratch" });
        Assert.Empty(root.Parents);
        Assert.Empty(AdaptedParents(repo, "c@1"));
        Assert.Contains(repo.Graph().Roots(), v => v.Ref == "c@1");
        // c@2 is still the next version of c@1: log and cascades follow the edges as they are.
        Assert.Equal(["c@1"], repo.Graph().Ancestors(repo.Resolve("c@2")).Select(v => v.Ref).Where(r => r.StartsWith('c')));

        Assert.Equal(3, repo.ParentHistory("c@1").Count);
        Assert.All(repo.ParentHistory("c@1"), h => Assert.Equal("bob", h.ChangedBy));
        _ = repo.Graph().TopologicalOrder(); // no cycle
    }

    [Fact]
    public void A_cycle_is_refused_naming_its_path_and_nothing_changes()
    {
        using var fixture = Family();
        using var repo = Open(fixture.RepositoryPath);

        // c@2 derives from b (the provenance it kept from c@1) and from c@1 (its previous version): the shortest loop is named.
        var e = Refused(repo, "a", new ReparentOptions { Parents = ["c@2"] }, ErrorKind.InvalidInput);
        Assert.Contains("c@2 derives from a@1: the edge would make a cycle (a@1 -> b@1 -> c@2 -> a@1)", e.Message, StringComparison.Ordinal);

        // Through a versioned edge: reparenting b's child c@1 under c@2, its own next version, is refused as a version of itself;
        // d under c@2 is fine, then c@1 under d closes c@1 -> c@2 -> d -> c@1.
        repo.Reparent("d", new ReparentOptions { Parents = ["c@2"] });
        e = Refused(repo, "c@1", new ReparentOptions { Parents = ["d"] }, ErrorKind.InvalidInput);
        Assert.Contains("(c@1 -> c@2 -> d@1 -> c@1)", e.Message, StringComparison.Ordinal);
        repo.Reparent("d", new ReparentOptions { Root = true });

        e = Refused(repo, "a", new ReparentOptions { Parents = ["b"] }, ErrorKind.InvalidInput);
        Assert.Contains("(a@1 -> b@1 -> a@1)", e.Message, StringComparison.Ordinal);

        e = Refused(repo, "b", new ReparentOptions { Parents = ["b@1"] }, ErrorKind.InvalidInput);
        Assert.Contains("cannot be its own parent", e.Message, StringComparison.Ordinal);

        e = Refused(repo, "c@2", new ReparentOptions { Parents = ["c@1"] }, ErrorKind.InvalidInput);
        Assert.Contains("is a version of 'c' itself", e.Message, StringComparison.Ordinal);

        Assert.Equal(["a@1", "b@1", "c@1", "c@2", "d@1"], repo.Graph().TopologicalOrder().Select(v => v.Ref));
    }

    [Fact]
    public void Bad_references_and_option_mixes_are_refused_and_nothing_changes()
    {
        using var fixture = Family();
        using var repo = Open(fixture.RepositoryPath);

        Refused(repo, "nope", new ReparentOptions { Parents = ["a"] }, ErrorKind.NotFound);
        Refused(repo, "c", new ReparentOptions { Parents = ["nope"] }, ErrorKind.NotFound);
        Refused(repo, "c", new ReparentOptions { Parents = ["a@7"] }, ErrorKind.NotFound);
        Refused(repo, "c", new ReparentOptions { Parents = ["a@production"] }, ErrorKind.NotFound);
        Refused(repo, "c", new ReparentOptions { Parents = ["a@"] }, ErrorKind.InvalidInput);
        Refused(repo, "c", new ReparentOptions { RemoveParents = ["d"] }, ErrorKind.NotFound);
        Refused(repo, "c", new ReparentOptions(), ErrorKind.InvalidInput);
        Refused(repo, "c", new ReparentOptions { Root = true, Parents = ["a"] }, ErrorKind.InvalidInput);
        Refused(repo, "c", new ReparentOptions { Root = true, RemoveParents = ["b"] }, ErrorKind.InvalidInput);
        Refused(repo, "c", new ReparentOptions { Root = true, How = "finetune" }, ErrorKind.InvalidInput);
        Refused(repo, "c", new ReparentOptions { Parents = ["a"], How = "magic" }, ErrorKind.InvalidInput);
        Refused(repo, "c", new ReparentOptions { Parents = ["a", "a@1"] }, ErrorKind.InvalidInput);
    }

    [Fact]
    public void A_reparented_edge_is_not_moved_by_a_later_add_auto_that_would_adopt_the_model()
    {
        var family = new ModelFamily();

        // Without the reparent: base, added after its pruned copy, adopts it (base-pruned's tensors are base's, half zeroed).
        using (var control = new RepoFixture())
        {
            control.Repository.Add(ModelFamily.Write(control.Models, family["base-pruned"]), new AddOptions { Auto = true });
            var placed = control.Repository.Add(ModelFamily.Write(control.Models, family["base"]), new AddOptions { Auto = true }).Placement!;
            Assert.Equal(["base-pruned@1"], placed.Adopted);
            Assert.Equal(["base@1"], AdaptedParents(control.Repository, "base-pruned"));
        }

        using var fixture = new RepoFixture();
        fixture.Repository.Add(ModelFamily.Write(fixture.Models, family["base-pruned"]), new AddOptions { Auto = true });
        fixture.Repository.Add(ModelFamily.Write(fixture.Models, family["other"]), new AddOptions { Auto = true });
        fixture.Repository.Reparent("base-pruned", new ReparentOptions { Parents = ["other"], How = "prune" });

        var later = fixture.Repository.Add(ModelFamily.Write(fixture.Models, family["base"]), new AddOptions { Auto = true }).Placement!;

        Assert.Empty(later.Adopted);
        Assert.Equal(["other@1"], AdaptedParents(fixture.Repository, "base-pruned"));
        Assert.Equal("prune", Assert.Single(fixture.Repository.Graph().ParentEdges(fixture.Repository.Resolve("base-pruned"), EdgeKind.Adapted)).How);
    }

    [Fact]
    public void A_model_made_a_root_by_hand_is_not_adopted_by_a_later_add_auto()
    {
        // base-pruned was placed under base; the user says it is a root of its own. A later copy
        // of base would adopt a root it contains: not this one, the user decided.
        var family = new ModelFamily();
        using var fixture = new RepoFixture();
        fixture.Repository.Add(ModelFamily.Write(fixture.Models, family["base-pruned"]), new AddOptions { Auto = true });
        fixture.Repository.Reparent("base-pruned", new ReparentOptions { Root = true });
        var later = fixture.Repository.Add(ModelFamily.Write(fixture.Models, family["base"]), new AddOptions { Auto = true }).Placement!;
        Assert.Empty(later.Adopted);
        Assert.Empty(AdaptedParents(fixture.Repository, "base-pruned"));
    }
}
