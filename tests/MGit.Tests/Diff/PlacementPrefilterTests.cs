using MGit.Diff;
using MGit.Ingest;
using MGit.Lineage;
using MGit.Tests.TestSupport;

namespace MGit.Tests.Diff;

/// <summary>
/// The placement prefilter (<see cref="PlacementSketches"/>) ranks only the stored models nearest
/// by sketch: it must give the full scan's answers, and its file is a cache like the placement
/// cache (deleted, damaged or stale, placement scans everything and rebuilds it).
/// </summary>
public sealed class PlacementPrefilterTests
{
    /// <summary>Few enough that the family's parents must be found among dozens of models by sketch.</summary>
    private const int Candidates = 3;

    private static string SketchPath(string repository) => Path.Combine(repository, ".mgit", "cache", PlacementSketches.FileName);

    /// <summary>
    /// Unrelated models of the family's own architecture (same tensor names and shapes, other
    /// weights), each with a fine-tune of its own: what a hub holds around any one family.
    /// </summary>
    private static List<ModelFamily.Member> Distractors(ModelFamily family, int count)
    {
        var random = new Random(11);
        var shapes = family["base"].Tensors;
        var members = new List<ModelFamily.Member>();
        for (int i = 0; i < count; i++)
        {
            var weights = shapes.Select(t => ModelFamily.Normal(random, t.Name, t.Shape, 0.1)).ToList();
            members.Add(new ModelFamily.Member($"other{i:00}", null, weights));
            members.Add(new ModelFamily.Member($"other{i:00}-ft", $"other{i:00}", weights.Select(t => ModelFamily.Perturb(random, t, 0.02)).ToList()));
        }

        return members;
    }

    /// <summary>Adds the models with --auto in this order; each one's placement line.</summary>
    private static List<string> AddAll(Repository repository, string models, IEnumerable<ModelFamily.Member> order, List<PlacementResult>? placements = null)
    {
        var log = new List<string>();
        foreach (var member in order)
        {
            var placement = repository.Add(ModelFamily.Write(models, member), new AddOptions { Auto = true }).Placement!;
            placements?.Add(placement);
            // A new root with no relative names the nearest unrelated model as a hint; the prefilter's is the nearest it ranked.
            string reason = placement.Reason.StartsWith("a new root: no related model", StringComparison.Ordinal) ? "a new root: no related model" : placement.Reason;
            log.Add($"{member.Name}: {placement.Parent ?? "(root)"} | {reason} | {placement.Score:R} | {string.Join(",", placement.Adopted)}");
        }

        return log;
    }

    private static Dictionary<string, string?> ParentsOf(Repository repository)
    {
        var graph = repository.Graph();
        return graph.Versions.ToDictionary(v => v.Name, v => graph.Parents(v, EdgeKind.Adapted).Select(p => p.Name).SingleOrDefault());
    }

    [Fact]
    public void Among_many_models_of_one_architecture_the_prefilter_places_as_the_full_scan_does_in_any_order()
    {
        var family = new ModelFamily();
        var distractors = Distractors(family, 20);
        using var fixture = new RepoFixture();
        var random = new Random(5);
        for (int o = 0; o < 3; o++)
        {
            // The family arrives among the others, in a different order each time.
            var order = distractors.Concat(family.Members).OrderBy(_ => random.Next()).ToList();
            using var prefiltered = Repository.Init(fixture.Scratch($"prefiltered-{o}"), RepoFixture.Options with { PlacementCandidates = Candidates }, chunkSize: 4096);
            using var scanned = Repository.Init(fixture.Scratch($"scanned-{o}"), RepoFixture.Options with { PlacementCandidates = 0 }, chunkSize: 4096);
            var placements = new List<PlacementResult>();
            var withPrefilter = AddAll(prefiltered, fixture.Models, order, placements);
            var withFullScan = AddAll(scanned, fixture.Models, order);

            for (int i = 0; i < order.Count; i++)
            {
                Assert.True(withFullScan[i] == withPrefilter[i], $"order {o}, model {i}:\nfull scan: {withFullScan[i]}\nprefilter: {withPrefilter[i]}");
            }

            var parents = ParentsOf(prefiltered);
            foreach (var member in family.Members.Concat(distractors))
            {
                Assert.True(member.Parent == parents[member.Name], $"order {o}: {member.Name} got parent {parents[member.Name] ?? "(none)"}, truth {member.Parent ?? "(none)"}");
            }

            // It did filter: once the repository outgrew the candidates, few were ranked.
            var late = placements.Skip(20).ToList();
            Assert.All(late, p => Assert.True(p.Compared < p.Stored, $"compared with {p.Compared} of {p.Stored}"));
            Assert.True(late.Average(p => p.Compared) < 10, $"ranked {late.Average(p => p.Compared):0.#} on average");
        }
    }

    [Fact]
    public void A_missing_stale_or_damaged_sketch_file_means_a_full_scan_and_is_rebuilt()
    {
        var family = new ModelFamily();
        var distractors = Distractors(family, 4);
        using var fixture = new RepoFixture();
        using var repository = Repository.Init(fixture.Scratch("prefiltered"), RepoFixture.Options with { PlacementCandidates = Candidates }, chunkSize: 4096);
        AddAll(repository, fixture.Models, distractors);
        string sketches = SketchPath(fixture.Scratch("prefiltered"));
        Assert.True(File.Exists(sketches));

        PlacementResult Place(ModelFamily.Member member) =>
            repository.Add(ModelFamily.Write(fixture.Models, member), new AddOptions { Auto = true }).Placement!;

        // In step: the prefilter ranks a few.
        var first = Place(family["base"]);
        Assert.True(first.Compared < first.Stored);

        // Deleted: everything is compared, and the file comes back whole.
        File.Delete(sketches);
        var second = Place(family["base-ft"]);
        Assert.Equal(second.Stored, second.Compared);
        Assert.Equal("base@1", second.Parent);
        Assert.True(File.Exists(sketches));
        var third = Place(family["base-v2"]);
        Assert.True(third.Compared < third.Stored);
        Assert.Equal("base@1", third.Parent);

        // Damaged (a torn record at the end): a full scan, then rebuilt.
        File.AppendAllBytes(sketches, [1, 2, 3]);
        var fourth = Place(family["base-pruned"]);
        Assert.Equal(fourth.Stored, fourth.Compared);
        Assert.Equal("base@1", fourth.Parent);
        var fifth = Place(family["base-headswap"]);
        Assert.True(fifth.Compared < fifth.Stored);
        Assert.Equal("base@1", fifth.Parent);

        // Garbage in the middle: a record names a wrong place in the placement cache; the loaded
        // record is checked against the version, so placement falls back to the full scan.
        var bytes = File.ReadAllBytes(sketches);
        for (int at = 16 + 16; at < bytes.Length; at += 40 + (PlacementSketches.Dimensions * 4))
        {
            bytes[at] ^= 0x40; // the offsets
        }

        File.WriteAllBytes(sketches, bytes);
        var sixth = Place(family["base-ft-bf16"]);
        Assert.Equal("base-ft@1", sixth.Parent);

        // The placement cache rewritten whole (here: deleted): the sketches name the old file and are not used.
        File.Delete(Path.Combine(fixture.Scratch("prefiltered"), ".mgit", "cache", PlacementCache.FileName));
        var seventh = Place(family["other"]);
        Assert.Equal(seventh.Stored, seventh.Compared);
        Assert.Null(seventh.Parent);
    }

    [Fact]
    public void Sketch_distances_estimate_the_divergence_placement_ranks_by()
    {
        var family = new ModelFamily();
        var distractors = Distractors(family, 3);
        var members = family.Members.Concat(distractors).ToList();
        using var fixture = new RepoFixture();
        foreach (var member in members)
        {
            fixture.Repository.Add(ModelFamily.Write(fixture.Models, member), new AddOptions());
        }

        var prints = fixture.Repository.LoadFingerprints(fixture.Repository.Graph()).Values.ToList();
        int pairs = 0;
        for (int a = 0; a < prints.Count; a++)
        {
            for (int b = 0; b < prints.Count; b++)
            {
                if (a == b)
                {
                    continue;
                }

                double truth = Kinship.Compare(prints[a], prints[b]).Divergence;
                var sa = PlacementSketches.Sketch(prints[a]);
                var sb = PlacementSketches.Sketch(prints[b]);
                double distance = sa.Zip(sb, (x, y) => (double)(x - y) * (x - y)).Sum();
                double estimate = Math.Sqrt(distance / ((prints[a].SquaredNorm + prints[b].SquaredNorm) / 2));
                // 64 random directions: about ±18% on the squared distance; related pairs stay far below unrelated ones.
                Assert.InRange(estimate, truth * 0.7, (truth * 1.3) + 1e-6);
                pairs++;
            }
        }

        Assert.True(pairs > 100);
    }
}
