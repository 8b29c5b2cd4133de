using MGit.Diff;
using MGit.Ingest;
using MGit.Lineage;
using MGit.Tests.Quickstart;
using MGit.Tests.TestSupport;

namespace MGit.Tests.Diff;

/// <summary>Lineage recovery: the arborescence, relatedness after heavy training, tie rules, and infer end to end.</summary>
public sealed class LineageRecoveryTests(PenguinFamilyFixture penguins) : IClassFixture<PenguinFamilyFixture>
{
    private static double TotalCost(int[] parents, List<ArcCandidate> arcs) =>
        parents.Where(a => a >= 0).Sum(a => arcs[a].Cost);

    [Fact]
    public void Arborescence_breaks_a_cycle_of_cheapest_arcs_where_entering_it_costs_least()
    {
        // 1 and 2 prefer each other; entering the pair through 2 is cheaper than through 1.
        List<ArcCandidate> arcs = [new(0, 1, 5), new(0, 2, 3), new(1, 2, 1), new(2, 1, 1), new(2, 3, 2), new(1, 3, 2.5)];
        var parents = Arborescence.Solve(4, 0, arcs);
        Assert.Equal(-1, parents[0]);
        Assert.Equal((0, 2), (arcs[parents[2]].From, arcs[parents[2]].To));
        Assert.Equal((2, 1), (arcs[parents[1]].From, arcs[parents[1]].To));
        Assert.Equal((2, 3), (arcs[parents[3]].From, arcs[parents[3]].To));
    }

    [Fact]
    public void Arborescence_is_the_cheapest_of_all_parent_choices_on_random_graphs()
    {
        var random = new Random(5);
        for (int trial = 0; trial < 300; trial++)
        {
            int nodes = random.Next(2, 7);
            var arcs = new List<ArcCandidate>();
            for (int to = 1; to < nodes; to++)
            {
                arcs.Add(new ArcCandidate(0, to, 50 + random.Next(50)));
                for (int from = 1; from < nodes; from++)
                {
                    if (from != to && random.NextDouble() < 0.7)
                    {
                        arcs.Add(new ArcCandidate(from, to, random.Next(1, 30)));
                    }
                }
            }

            var solved = Arborescence.Solve(nodes, 0, arcs);
            Assert.True(IsArborescence(solved, arcs, nodes), $"trial {trial}: not an arborescence");
            Assert.Equal(BruteForce(nodes, arcs), TotalCost(solved, arcs), 6);
        }
    }

    private static bool IsArborescence(int[] parents, List<ArcCandidate> arcs, int nodes)
    {
        for (int v = 1; v < nodes; v++)
        {
            if (parents[v] < 0 || arcs[parents[v]].To != v)
            {
                return false;
            }

            int steps = 0;
            for (int u = v; u != 0; u = arcs[parents[u]].From)
            {
                if (++steps > nodes)
                {
                    return false;
                }
            }
        }

        return true;
    }

    /// <summary>Every way to give each node one of its incoming arcs, the cheapest that has no cycle.</summary>
    private static double BruteForce(int nodes, List<ArcCandidate> arcs)
    {
        var incoming = Enumerable.Range(0, nodes).Select(v => Enumerable.Range(0, arcs.Count).Where(a => arcs[a].To == v).ToArray()).ToArray();
        double best = double.PositiveInfinity;
        var choice = new int[nodes];
        choice[0] = -1;
        void Choose(int v)
        {
            if (v == nodes)
            {
                if (IsArborescence(choice, arcs, nodes))
                {
                    best = Math.Min(best, TotalCost(choice, arcs));
                }

                return;
            }

            foreach (int a in incoming[v])
            {
                choice[v] = a;
                Choose(v + 1);
            }
        }

        Choose(1);
        return best;
    }

    private static List<ModelFamily.Weights> Matrices(Random random, int count, int size, double std) =>
        Enumerable.Range(0, count).Select(i => ModelFamily.Normal(random, $"layers.{i}.weight", [size, size], std)).ToList();

    private static string Write(string folder, string name, IReadOnlyList<ModelFamily.Weights> tensors) =>
        ModelFamily.Write(folder, new ModelFamily.Member(name, null, tensors), $"{name}.safetensors");

    private static string? ParentOf(Repository repository, string name)
    {
        var graph = repository.Graph();
        return graph.Parents(graph.Resolve(name), EdgeKind.Adapted).Select(p => p.Name).SingleOrDefault();
    }

    [Fact]
    public void A_heavily_trained_descendant_is_related_and_an_independent_model_of_the_same_shapes_is_not()
    {
        // Moved by 150% of its own scale per tensor: the divergence is past 1, where unrelated
        // models sit, but the weights still correlate about 0.55 with the origin.
        var random = new Random(11);
        var origin = Matrices(random, 8, 64, 0.1);
        var heavy = origin.Select(t => ModelFamily.Perturb(random, t, 0.15)).ToList();
        var independent = Matrices(random, 8, 64, 0.1);
        using var fixture = new RepoFixture();
        fixture.Repository.Add(Write(fixture.Models, "origin", origin), new AddOptions { Name = "origin" });
        var placed = fixture.Repository.Add(Write(fixture.Models, "continued", heavy), new AddOptions { Name = "continued", Auto = true });
        Assert.Equal("origin", ParentOf(fixture.Repository, "continued"));
        Assert.NotNull(placed.Placement);
        fixture.Repository.Add(Write(fixture.Models, "stranger", independent), new AddOptions { Name = "stranger", Auto = true });
        Assert.Null(ParentOf(fixture.Repository, "stranger"));
    }

    [Fact]
    public void A_full_fine_tune_goes_under_the_model_with_exactly_its_tensors_not_the_headless_base()
    {
        // The head is a tiny fraction of the parameters, so the two candidates line up almost
        // equally and are about equally near; only the tensor sets tell them apart.
        var random = new Random(12);
        var encoder = Matrices(random, 4, 128, 0.1);
        var withHead = encoder.Concat([ModelFamily.Normal(random, "head.weight", [2, 16], 0.1)]).ToList();
        var tuned = withHead.Select(t => ModelFamily.Perturb(random, t, 0.003)).ToList();
        using var fixture = new RepoFixture();
        fixture.Repository.Add(Write(fixture.Models, "encoder", encoder), new AddOptions { Name = "encoder" });
        fixture.Repository.Add(Write(fixture.Models, "classifier", withHead), new AddOptions { Name = "classifier", Parents = ["encoder"] });
        fixture.Repository.Add(Write(fixture.Models, "tuned", tuned), new AddOptions { Name = "tuned", Auto = true });
        Assert.Equal("classifier", ParentOf(fixture.Repository, "tuned"));
    }

    [Fact]
    public void Infer_orients_a_chain_of_versions_by_file_times_and_never_roots_it_in_the_middle()
    {
        // Continued training drifts one way: each version is nearest its neighbours in the chain.
        var random = new Random(13);
        var chain = new List<List<ModelFamily.Weights>> { Matrices(random, 6, 48, 0.1) };
        var drift = Matrices(random, 6, 48, 0.01);
        for (int i = 1; i < 5; i++)
        {
            chain.Add(chain[^1].Select((t, k) => ModelFamily.Perturb(random, t with { Values = t.Values.Select((v, e) => v + drift[k].Values[e]).ToArray() }, 0.004)).ToList());
        }

        // Names that say nothing and sort against the truth; then the same files written newest first.
        string[] names = ["m-q", "m-c", "m-x", "m-a", "m-k"];
        foreach (bool forwards in new[] { true, false })
        {
            using var fixture = new RepoFixture();
            var start = DateTime.UtcNow.AddHours(-1);
            for (int i = 0; i < chain.Count; i++)
            {
                string file = Write(fixture.Models, names[i], chain[i]);
                File.SetLastWriteTimeUtc(file, start.AddMinutes(forwards ? i : chain.Count - i));
            }

            fixture.Repository.Infer(fixture.Models);
            for (int i = 0; i < chain.Count; i++)
            {
                string? expected = forwards ? (i == 0 ? null : names[i - 1]) : (i == chain.Count - 1 ? null : names[i + 1]);
                Assert.True(expected == ParentOf(fixture.Repository, names[i]), $"{(forwards ? "oldest first" : "newest first")}: {names[i]} got {ParentOf(fixture.Repository, names[i]) ?? "(root)"}, expected {expected ?? "(root)"}");
            }
        }
    }

    [Fact]
    public void Infer_recovers_the_trained_penguin_family_under_neutral_names_in_three_orders()
    {
        var random = new Random(3);
        var start = DateTime.UtcNow.AddHours(-2);
        for (int order = 0; order < 3; order++)
        {
            // New neutral names each round: infer reads a folder in name order, so each round it
            // meets the models in another order; file times follow the order they were made in.
            var names = penguins.Members.Select((m, i) => $"model-{random.Next(1000, 9999)}-{i}").OrderBy(_ => random.Next()).ToList();
            using var fixture = new RepoFixture();
            var named = new Dictionary<string, string>();
            for (int i = 0; i < penguins.Members.Count; i++)
            {
                var member = penguins.Members[i];
                string source = member.Path.TrimEnd('/');
                string target = Path.Combine(fixture.Models, names[i] + (Directory.Exists(source) ? "" : ".safetensors"));
                Copy(source, target, start.AddMinutes(i));
                named[$"{member.Name}@{penguins.Members.Take(i + 1).Count(m => m.Name == member.Name)}"] = names[i];
            }

            fixture.Repository.Infer(fixture.Models);
            for (int i = 0; i < penguins.Members.Count; i++)
            {
                var member = penguins.Members[i];
                string? truth = member.Parents.Count > 0 ? member.Parents[0] : member.VersionOf;
                string? expected = truth is null ? null : named[truth.Contains('@') ? truth : truth + "@1"];
                Assert.True(expected == ParentOf(fixture.Repository, names[i]), $"order {order}: {member.Name} ({names[i]}) got {ParentOf(fixture.Repository, names[i]) ?? "(root)"}, truth {expected ?? "(root)"}");
            }
        }
    }

    private static void Copy(string source, string target, DateTime writtenAt)
    {
        if (File.Exists(source))
        {
            File.Copy(source, target);
            File.SetLastWriteTimeUtc(target, writtenAt);
            return;
        }

        foreach (var file in Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories))
        {
            string to = Path.Combine(target, Path.GetRelativePath(source, file));
            Directory.CreateDirectory(Path.GetDirectoryName(to)!);
            File.Copy(file, to);
            File.SetLastWriteTimeUtc(to, writtenAt);
        }
    }

    [Fact]
    public void Infer_dry_run_writes_nothing_and_gives_each_edge_its_evidence_and_confidence()
    {
        var family = new ModelFamily();
        using var fixture = new RepoFixture();
        foreach (var member in family.Members)
        {
            ModelFamily.Write(fixture.Models, member);
        }

        var before = RepositorySnapshot.Take(fixture.RepositoryPath);
        var plan = fixture.Repository.PlanInference(fixture.Models);
        Assert.Equal(before, RepositorySnapshot.Take(fixture.RepositoryPath));
        Assert.Empty(fixture.Repository.Graph().Versions);

        Assert.Equal(family.Members.Count, plan.Count);
        var bf16 = plan.Single(e => e.Name == "base-ft-bf16");
        Assert.Equal(["base-ft@1"], bf16.Parents);
        Assert.Equal("quantize", bf16.How);
        Assert.Contains("a cast to lower precision", bf16.Reason);
        Assert.InRange(bf16.Confidence, 0.9, 1);
        Assert.All(plan, e => Assert.InRange(e.Confidence, 0, 1));

        // Infer then builds what the plan said.
        fixture.Repository.Infer(fixture.Models);
        foreach (var entry in plan)
        {
            var graph = fixture.Repository.Graph();
            Assert.Equal(entry.Parents, graph.Parents(graph.Resolve(entry.Name), EdgeKind.Adapted).Select(p => p.Ref));
        }
    }
    [Fact]
    public void A_model_card_naming_its_base_decides_the_parent_in_infer_and_in_add_auto_and_is_named_in_the_reason()
    {
        // Two bases of one architecture, the fine-tune equally near both by its weights (its
        // weights say nothing); only its card tells which it came from.
        var random = new Random(21);
        var first = Matrices(random, 4, 32, 0.1);
        var second = first.Select(t => ModelFamily.Perturb(random, t, 0.01)).ToList();
        var tuned = first.Select((t, k) => t with { Values = t.Values.Select((v, e) => (v + second[k].Values[e]) / 2).ToArray() }).ToList();
        using var fixture = new RepoFixture();
        Write(fixture.Models, "alpha", first);
        Write(fixture.Models, "beta", second);
        string folder = Directory.CreateDirectory(Path.Combine(fixture.Models, "tuned")).FullName;
        Write(folder, "model", tuned);
        File.WriteAllText(Path.Combine(folder, "README.md"), "---\nlicense: mit\nbase_model: some-org/beta\nbase_model_relation: finetune\n---\n# tuned\n");

        var plan = fixture.Repository.PlanInference(fixture.Models);
        var entry = plan.Single(e => e.Name == "tuned");
        Assert.Equal(["beta@1"], entry.Parents);
        Assert.Contains("README.md", entry.Reason);
        Assert.Equal(1, entry.Confidence);
        fixture.Repository.Infer(fixture.Models);
        Assert.Equal("beta", ParentOf(fixture.Repository, "tuned"));

        // add --auto reads the card too: a second copy goes under beta, whatever the weights say.
        var added = fixture.Repository.Add(folder, new AddOptions { Name = "tuned-again", Auto = true });
        Assert.Equal("beta", ParentOf(fixture.Repository, "tuned-again"));
        Assert.Contains("README.md base_model", added.Placement!.Reason);
        Assert.Contains("names beta@1", added.Placement.Reason);
    }

    [Fact]
    public void A_card_naming_a_base_that_is_not_stored_is_noted_and_the_weights_decide()
    {
        var random = new Random(22);
        var base_ = Matrices(random, 4, 32, 0.1);
        using var fixture = new RepoFixture();
        fixture.Repository.Add(Write(fixture.Models, "base", base_), new AddOptions { Name = "base" });
        string folder = Directory.CreateDirectory(Path.Combine(fixture.Models, "tuned")).FullName;
        Write(folder, "model", base_.Select(t => ModelFamily.Perturb(random, t, 0.01)).ToList());
        File.WriteAllText(Path.Combine(folder, "README.md"), "---\nbase_model: [unclosed\n---\n");
        File.WriteAllText(Path.Combine(folder, "config.json"), "{\"_name_or_path\": \"meta-llama/Llama-3-8B\"}");
        var added = fixture.Repository.Add(folder, new AddOptions { Name = "tuned", Auto = true });
        Assert.Equal("base", ParentOf(fixture.Repository, "tuned"));
        Assert.Contains("Llama-3-8B", added.Placement!.Reason);
        Assert.Contains("not in the repository", added.Placement.Reason);
    }

    [Fact]
    public void Infer_finds_a_merge_of_two_fine_tunes_in_the_weights_and_gives_it_both_parents()
    {
        // A uniform soup of two fine-tunes sits halfway between them; their base does not (their
        // changes are independent), nor does a cast of the soup (nearer the soup than any mix).
        var random = new Random(31);
        var base_ = Matrices(random, 4, 48, 0.1);
        var first = base_.Select(t => ModelFamily.Perturb(random, t, 0.01)).ToList();
        var second = base_.Select(t => ModelFamily.Perturb(random, t, 0.01)).ToList();
        var third = base_.Select(t => ModelFamily.Perturb(random, t, 0.01)).ToList();
        var soup = first.Select((t, k) => t with { Values = t.Values.Select((v, e) => (v + second[k].Values[e]) / 2).ToArray() }).ToList();
        using var fixture = new RepoFixture();
        foreach (var (name, tensors) in new[] { ("m-b", base_), ("m-f", first), ("m-s", second), ("m-t", third), ("m-a", soup) })
        {
            Write(fixture.Models, name, tensors);
        }

        ModelFamily.Write(fixture.Models, new ModelFamily.Member("m-h", null, soup, "BF16"), "m-h.safetensors");
        var plan = fixture.Repository.PlanInference(fixture.Models).ToDictionary(e => e.Name);
        Assert.Equal(["m-f@1", "m-s@1"], plan["m-a"].Parents.Order());
        Assert.Equal("merge", plan["m-a"].How);
        Assert.Contains("element-wise mix", plan["m-a"].Reason);
        Assert.Equal(["m-a@1"], plan["m-h"].Parents);
        Assert.Empty(plan["m-b"].Parents);
        Assert.All(new[] { "m-f", "m-s", "m-t" }, name => Assert.Equal(["m-b@1"], plan[name].Parents));

        fixture.Repository.Infer(fixture.Models);
        var graph = fixture.Repository.Graph();
        Assert.Equal(["m-f", "m-s"], graph.Parents(graph.Resolve("m-a"), EdgeKind.Adapted).Select(p => p.Name).Order());
    }
}
