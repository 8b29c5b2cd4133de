using MGit.Diff;
using MGit.Ingest;
using MGit.Lineage;
using MGit.Tests.TestSupport;
using Microsoft.Data.Sqlite;

namespace MGit.Tests.Diff;

public sealed class PlacementTests
{
    /// <summary>Each model's adapted parents, by name.</summary>
    private static Dictionary<string, string?> ParentsOf(Repository repository)
    {
        var graph = repository.Graph();
        return graph.Versions.ToDictionary(
            v => v.Name,
            v => graph.Parents(v, EdgeKind.Adapted).Select(p => p.Name).SingleOrDefault());
    }

    private static void AssertTruth(ModelFamily family, Repository repository, string order)
    {
        var parents = ParentsOf(repository);
        foreach (var member in family.Members)
        {
            Assert.True(member.Parent == parents[member.Name], $"order {order}: {member.Name} got parent {parents[member.Name] ?? "(none)"}, truth {member.Parent ?? "(none)"}");
        }
    }

    [Fact]
    public void Add_auto_places_a_known_family_correctly_in_any_insertion_order()
    {
        var family = new ModelFamily();
        using var fixture = new RepoFixture();
        foreach (var member in family.Members)
        {
            ModelFamily.Write(fixture.Models, member);
        }

        // Parents first, children first, and shuffles: every edge of this family can be oriented
        // by the rules (casts, pruning, names), so the graph must come out the same each time.
        var orders = new List<string[]> { family.Members.Select(m => m.Name).ToArray(), family.Members.Select(m => m.Name).Reverse().ToArray() };
        var random = new Random(7);
        for (int i = 0; i < 4; i++)
        {
            orders.Add(family.Members.Select(m => m.Name).OrderBy(_ => random.Next()).ToArray());
        }

        for (int o = 0; o < orders.Count; o++)
        {
            using var repository = Repository.Init(fixture.Scratch($"repo-{o}"), RepoFixture.Options, chunkSize: 4096);
            var log = new List<string>();
            foreach (string name in orders[o])
            {
                var added = repository.Add(fixture.Model($"{name}.safetensors"), new AddOptions { Auto = true });
                log.Add($"{name}: {added.Placement!.Reason}");
            }

            AssertTruth(family, repository, string.Join(" | ", log));
        }
    }

    [Fact]
    public void Each_kind_of_derivation_is_recognised_with_a_reason_and_the_unrelated_model_is_a_new_root()
    {
        var family = new ModelFamily();
        using var fixture = new RepoFixture();
        var results = family.Members.ToDictionary(m => m.Name, m => fixture.Repository.Add(ModelFamily.Write(fixture.Models, m), new AddOptions { Auto = true }).Placement!);

        Assert.Null(results["base"].Parent);
        Assert.Contains("shares 5 tensor(s)", results["base-headswap"].Reason, StringComparison.Ordinal);
        Assert.Contains("same structure as base@1", results["base-ft"].Reason, StringComparison.Ordinal);
        Assert.Contains("dtype cast (F32 to BF16)", results["base-ft-bf16"].Reason, StringComparison.Ordinal);
        Assert.Equal("base-ft@1", results["base-ft-bf16"].Parent);
        Assert.Contains("pruned", results["base-pruned"].Reason, StringComparison.Ordinal);
        Assert.Null(results["other"].Parent);
        Assert.Equal(0, results["other"].Score);
        Assert.Contains("no related model", results["other"].Reason, StringComparison.Ordinal);

        // Scores: a cast is nearly the same model, a fine-tune close, pruning half the weights further.
        Assert.True(results["base-ft-bf16"].Score > results["base-ft"].Score);
        Assert.True(results["base-ft"].Score > results["base-pruned"].Score);

        // The derivations the rules recognise are recorded as such on the edges.
        var graph = fixture.Repository.Graph();
        Assert.Equal("quantize", graph.ParentEdges(graph.Resolve("base-ft-bf16")).Single().How);
        Assert.Equal("prune", graph.ParentEdges(graph.Resolve("base-pruned")).Single().How);
        Assert.StartsWith("auto: ", graph.ParentEdges(graph.Resolve("base-ft")).Single().Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Placement_reads_the_versions_and_edges_of_the_whole_graph_in_its_order_and_which_edges_it_made()
    {
        var family = new ModelFamily();
        using var fixture = new RepoFixture();
        foreach (var member in family.Members)
        {
            fixture.Repository.Add(ModelFamily.Write(fixture.Models, member), new AddOptions { Auto = true });
        }

        var members = family.Members.ToList();
        fixture.Repository.Add(ModelFamily.Write(fixture.Models, members[1], "by-hand.safetensors"), new AddOptions { Name = "by-hand", Parents = [members[0].Name], Message = "by hand" });
        fixture.Repository.Add(ModelFamily.Write(fixture.Models, members[2], "again.safetensors"), new AddOptions { VersionOf = members[2].Name });

        var whole = fixture.Repository.Graph();
        LineageGraph placement;
        using (var lineage = LineageStore.Open(Path.Combine(fixture.RepositoryPath, ".mgit", "lineage.db"), create: false))
        {
            placement = lineage.ReadPlacementGraph();
        }

        Assert.Equal(whole.Versions.Select(v => (v.Id, v.Ref, v.ManifestId)), placement.Versions.Select(v => (v.Id, v.Ref, v.ManifestId)));
        static bool ByPlacement(LineageEdge e) => e.Message is { } m && (m.StartsWith("auto: ", StringComparison.Ordinal) || m.StartsWith("infer: ", StringComparison.Ordinal));
        Assert.Equal(whole.Edges.Select(e => (e.ParentId, e.ChildId, e.Kind, ByPlacement(e))), placement.Edges.Select(e => (e.ParentId, e.ChildId, e.Kind, ByPlacement(e))));
        Assert.Contains(placement.Edges, ByPlacement);
        Assert.Contains(placement.Edges, e => !ByPlacement(e));
    }

    [Fact]
    public void Without_name_hints_a_family_added_parents_first_is_placed_by_content_alone()
    {
        // Names that say nothing: only shared tensors, structure, casts, sparsity and distances count.
        var family = new ModelFamily();
        var anonymous = family.Members.Select((m, i) => (Member: m, Name: $"m{(i * 5) % 7}")).ToList();
        using var fixture = new RepoFixture();
        foreach (var (member, name) in anonymous)
        {
            fixture.Repository.Add(ModelFamily.Write(fixture.Models, member, $"{name}.safetensors"), new AddOptions { Auto = true });
        }

        var parents = ParentsOf(fixture.Repository);
        foreach (var (member, name) in anonymous)
        {
            string? expected = member.Parent is null ? null : anonymous.Single(a => a.Member.Name == member.Parent).Name;
            Assert.True(expected == parents[name], $"{member.Name} ({name}) got {parents[name] ?? "(none)"}, truth {expected ?? "(none)"}");
        }
    }

    [Fact]
    public void Infer_builds_the_family_graph_whatever_the_file_names_sort_order()
    {
        var family = new ModelFamily();
        using var fixture = new RepoFixture();
        // Names sort against the truth (children before parents) and say nothing of lineage.
        var names = family.Members.ToDictionary(m => m.Name, m => m.Name switch
        {
            "base" => "zz-root",
            "base-ft" => "mid-tuned",
            "base-ft-bf16" => "aa-half",
            _ => m.Name.Replace("base-", "x-", StringComparison.Ordinal),
        });
        foreach (var member in family.Members)
        {
            ModelFamily.Write(fixture.Models, member, $"{names[member.Name]}.safetensors");
        }

        File.WriteAllText(Path.Combine(fixture.Models, "notes.txt"), "not a model");
        var inferred = fixture.Repository.Infer(fixture.Models);
        Assert.Equal(family.Members.Count, inferred.Count);

        var parents = ParentsOf(fixture.Repository);
        foreach (var member in family.Members)
        {
            string? expected = member.Parent is null ? null : names[member.Parent];
            Assert.True(expected == parents[names[member.Name]], $"{member.Name}: got {parents[names[member.Name]] ?? "(none)"}, truth {expected ?? "(none)"}");
        }
    }

    [Fact]
    public void A_repository_without_fingerprints_still_places_models_and_backfills_them()
    {
        using var dir = new TempDirectory();
        foreach (string directory in Directory.EnumerateDirectories(Path.Combine(AppContext.BaseDirectory, "Fixtures", "repo-v1"), "*", SearchOption.AllDirectories))
        {
            Directory.CreateDirectory(Path.Combine(dir.Path, Path.GetRelativePath(Path.Combine(AppContext.BaseDirectory, "Fixtures", "repo-v1"), directory)));
        }

        foreach (string file in Directory.EnumerateFiles(Path.Combine(AppContext.BaseDirectory, "Fixtures", "repo-v1"), "*", SearchOption.AllDirectories))
        {
            File.Copy(file, Path.Combine(dir.Path, Path.GetRelativePath(Path.Combine(AppContext.BaseDirectory, "Fixtures", "repo-v1"), file)));
        }

        using (var repository = Repository.Open(dir.Path, RepoFixture.Options))
        {
            var added = repository.Add(Path.Combine(dir.Path, "originals", "base.safetensors"), new AddOptions { Name = "again", Auto = true });
            Assert.Equal("base@1", added.Placement!.Parent);
            Assert.True(repository.Fsck().Intact);
        }

        using var connection = new SqliteConnection($"Data Source={Path.Combine(dir.Path, ".mgit", "lineage.db")};Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT (SELECT COUNT(*) FROM fingerprints), (SELECT COUNT(*) FROM versions)";
        using var reader = command.ExecuteReader();
        Assert.True(reader.Read());
        Assert.Equal(5, reader.GetInt64(0));
        Assert.Equal(reader.GetInt64(1), reader.GetInt64(0));
    }

    [Fact]
    public void Fingerprints_round_trip_and_damaged_ones_are_refused()
    {
        var fingerprint = new ModelFingerprint(
        [
            new TensorFingerprint("w", "F32", [4, 8], MGit.Primitives.ObjectId.Compute([1, 2, 3]), [1.5f, -2f, 0f]),
            new TensorFingerprint("ü-name", "BF16", [], MGit.Primitives.ObjectId.Compute([4]), []),
        ]);
        byte[] data = fingerprint.Serialize();
        var back = ModelFingerprint.Deserialize(data, "test");
        Assert.Equal(fingerprint.Tensors.Select(t => (t.Name, t.Dtype, string.Join(',', t.Shape), t.ContentHash, string.Join(',', t.Samples))),
            back.Tensors.Select(t => (t.Name, t.Dtype, string.Join(',', t.Shape), t.ContentHash, string.Join(',', t.Samples))));

        Assert.Throws<MGit.Errors.MGitException>(() => ModelFingerprint.Deserialize(data.AsSpan(0, data.Length - 3), "test"));
        var huge = (byte[])data.Clone();
        huge[8] = 0xFF;
        huge[9] = 0xFF;
        huge[10] = 0xFF;
        Assert.Throws<MGit.Errors.MGitException>(() => ModelFingerprint.Deserialize(huge, "test"));
        var magic = (byte[])data.Clone();
        magic[0] = (byte)'X';
        Assert.Throws<MGit.Errors.MGitException>(() => ModelFingerprint.Deserialize(magic, "test"));
    }

    [Fact]
    public void Sample_positions_depend_only_on_the_element_count_and_cover_the_tensor()
    {
        Assert.Equal(TensorSketch.Positions(1000), TensorSketch.Positions(1000));
        Assert.Equal([0, 1, 2], TensorSketch.Positions(3));
        var positions = TensorSketch.Positions(1_000_000_007);
        Assert.Equal(ModelFingerprint.SamplesPerTensor, positions.Length);
        Assert.True(positions.Zip(positions.Skip(1)).All(p => p.First < p.Second));
        Assert.True(positions[^1] > 900_000_000 && positions[0] < 40_000_000);
    }
}
