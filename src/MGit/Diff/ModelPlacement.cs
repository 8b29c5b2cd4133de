using MGit.Diff;
using MGit.Errors;
using MGit.Formats;
using MGit.Lineage;
using MGit.Primitives;
using MGit.Storage;
using MGit.Workspace;

namespace MGit.Diff;

/// <summary>Where automatic placement put a model: its parent (null for a root), why, and how sure.</summary>
public sealed record PlacementResult(string? Parent, string Reason, double Score, IReadOnlyList<string> Adopted)
{
    /// <summary>How many stored versions the model was compared with.</summary>
    public int Compared { get; init; }
    /// <summary>How many stored versions there were: more than <see cref="Compared"/> when the prefilter kept the nearest by sketch.</summary>
    public int Stored { get; init; }
    /// <summary>Time to load the stored fingerprints and rank every candidate (the new model's own fingerprinting excluded).</summary>
    public TimeSpan Elapsed { get; init; }
    /// <summary>Processor time the process spent meanwhile: on a busy machine a truer cost than <see cref="Elapsed"/>.</summary>
    public TimeSpan ProcessorTime { get; init; }
}

/// <summary>Where a new model goes in the graph: fingerprints of every stored version, kept in the placement cache, ranked against it.</summary>
internal sealed class ModelPlacement(RepositoryContext context)
{
    /// <summary>
    /// Every version's fingerprint, packed for placement. They come from the placement cache
    /// (<see cref="PlacementCache"/>); versions the cache lacks are read from the lineage
    /// database and added to it. Versions stored by an mgit without fingerprints (lineage schema
    /// below 4) get one computed from their stored data on first use, which is then kept.
    /// </summary>
    public IReadOnlyDictionary<long, IndexedFingerprint> LoadFingerprints(LineageGraph graph)
    {
        var result = new Dictionary<long, IndexedFingerprint>();
        using var stored = PlacementCache.Scan(context.PlacementCacheDirectory, context.TempDirectory, graph.Versions, FetchFingerprints, (p, fingerprint) => result[graph.Versions[p].Id] = fingerprint, cursor: false);
        return result;
    }

    private string PlacementCacheDirectory => Path.Combine(context.MetadataDirectory, "cache");

    /// <summary>Adds a new version's fingerprint to the placement cache (when there is one), so the next placement need not read it from the database.</summary>
    public void Record(long versionId, ObjectId manifestId, byte[] fingerprint) =>
        PlacementCache.Record(context.PlacementCacheDirectory, () => new IndexedFingerprint(ModelFingerprint.Deserialize(fingerprint, "the new version"), versionId, manifestId));

    /// <summary>The fingerprints of these versions from the lineage database, computing (and keeping) those it lacks.</summary>
    private Dictionary<long, ModelFingerprint> FetchFingerprints(IReadOnlyList<ModelVersion> versions)
    {
        var stored = context.Lineage.ReadFingerprints(versions.Select(v => v.Id).ToList());
        var present = versions.Where(v => stored.ContainsKey(v.Id)).ToArray();
        var decoded = new ModelFingerprint[present.Length];
        void Decode(int i) => decoded[i] = ModelFingerprint.Deserialize(stored[present[i].Id], present[i].Ref);
        // Only a cold cache decodes many (the first placement in a repository): spread it over the cores.
        if (present.Length >= 64)
        {
            Parallel.For(0, present.Length, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, context.Options.Workers) }, Decode);
        }
        else
        {
            for (int i = 0; i < present.Length; i++)
            {
                Decode(i);
            }
        }

        var result = new Dictionary<long, ModelFingerprint>();
        for (int i = 0; i < present.Length; i++)
        {
            result[present[i].Id] = decoded[i];
        }

        var computed = new Dictionary<long, byte[]>();
        foreach (var version in versions.Where(v => !stored.ContainsKey(v.Id)))
        {
            using (RepositoryLock.Shared(context.LockPath, context.Options.LockWait))
            {
                var fingerprint = Fingerprints.FromStored(context.LoadManifest(version), context.Objects);
                result[version.Id] = fingerprint;
                computed[version.Id] = fingerprint.Serialize();
            }
        }

        if (computed.Count > 0)
        {
            context.Lineage.StoreFingerprints(computed);
        }

        return result;
    }

    /// <summary>Where a model with this fingerprint would go in the graph now (nothing is changed).</summary>
    public PlacementDecision Place(ModelFingerprint fingerprint, string name, LineageGraph graph) =>
        Place(new IndexedFingerprint(fingerprint), name, graph);

    /// <summary>
    /// Streams every stored fingerprint past the new model (one pass over the placement cache,
    /// one reused buffer: no per-model allocation), then decides.
    /// </summary>
    public PlacementDecision Place(IndexedFingerprint model, string name, LineageGraph graph)
    {
        var placementGraph = Graph(graph);
        int keep = context.Options.PlacementCandidates;
        if (keep > 0 && graph.Versions.Count > keep)
        {
            if (PlaceAmongNearest(model, name, graph, placementGraph, keep) is { } nearest)
            {
                return nearest;
            }

            var scanned = PlaceByFullScan(model, name, graph, placementGraph);
            PlacementCache.RefreshSketches(context.PlacementCacheDirectory, context.TempDirectory);
            return scanned;
        }

        return PlaceByFullScan(model, name, graph, placementGraph);
    }

    /// <summary>
    /// The prefilter (<see cref="PlacementSketches"/>): ranks only the <paramref name="keep"/>
    /// stored versions nearest by sketch, with every version of their names (a newer version of
    /// the winner may win) and their placed parents (the adoption checks compare with them).
    /// Null when the sketch file does not cover every version, or a record is not where it says
    /// (another process rewrote the cache): then everything is scanned.
    /// </summary>
    private PlacementDecision? PlaceAmongNearest(IndexedFingerprint model, string name, LineageGraph graph, PlacementGraph placementGraph, int keep)
    {
        var versions = graph.Versions;
        using var stored = new StoredFingerprints(Path.Combine(context.PlacementCacheDirectory, PlacementCache.FileName), versions.Count);
        if (stored.Stream is null
            || PlacementSketches.Nearest(context.PlacementCacheDirectory, versions, placementGraph.Positions, stored.Stream.Length, model, keep) is not { } match)
        {
            return null;
        }

        match.Offsets.CopyTo(stored.Offsets, 0);
        match.Lengths.CopyTo(stored.Lengths, 0);
        var chosen = new bool[versions.Count];
        var order = new List<int>();
        void Choose(int position)
        {
            if (position >= 0 && !chosen[position])
            {
                chosen[position] = true;
                order.Add(position);
            }
        }

        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (int p in match.Nearest)
        {
            Choose(p);
            names.Add(versions[p].Name);
        }

        foreach (long id in context.Lineage.ReadVersionIdsOf(names))
        {
            Choose(placementGraph.Positions.Find((ulong)id));
        }

        for (int i = 0, count = order.Count; i < count; i++)
        {
            foreach (long parentId in placementGraph.Candidate(order[i]).AutoParentIds)
            {
                Choose(placementGraph.Positions.Find((ulong)parentId));
            }
        }

        // In graph order, as the full scan hands them over: ties and adoptions come out alike.
        order.Sort();
        var candidates = new List<Ranked>(order.Count);
        IndexedFingerprint? cursor = null;
        foreach (int p in order)
        {
            if (stored.Load(p, ref cursor) is not { } fingerprint || !PlacementCache.IsRecordOf(fingerprint, versions[p]))
            {
                return null;
            }

            candidates.Add(Placement.Rank(model, name, placementGraph.Candidate(p), fingerprint));
        }

        return Decide(candidates, stored, placementGraph) with { Compared = candidates.Count };
    }

    private PlacementDecision PlaceByFullScan(IndexedFingerprint model, string name, LineageGraph graph, PlacementGraph placementGraph)
    {
        var ranked = new Ranked?[graph.Versions.Count];
        using var stored = PlacementCache.Scan(
            context.PlacementCacheDirectory,
            context.TempDirectory,
            graph.Versions,
            FetchFingerprints,
            (p, fingerprint) => ranked[p] = Placement.Rank(model, name, placementGraph.Candidate(p), fingerprint),
            cursor: true);
        var candidates = new List<Ranked>(ranked.Length);
        foreach (var r in ranked)
        {
            if (r is not null)
            {
                candidates.Add(r);
            }
        }

        return Decide(candidates, stored, placementGraph) with { Compared = candidates.Count };
    }

    private static PlacementDecision Decide(List<Ranked> candidates, StoredFingerprints stored, PlacementGraph placementGraph)
    {
        // The few adoption checks read both models again, into two reused cursors; NaN (unreadable) never adopts.
        // Siblings share their former parent, so it is read again only when it changes.
        IndexedFingerprint? childCursor = null, formerCursor = null, formerPrint = null;
        int formerPosition = -1;
        double Divergence(PlacementCandidate child, PlacementCandidate former)
        {
            if (former.Position != formerPosition)
            {
                formerPrint = stored.Load(former.Position, ref formerCursor);
                formerPosition = former.Position;
            }

            return formerPrint is { } f && stored.Load(child.Position, ref childCursor) is { } c ? Kinship.Compare(c, f).Divergence : double.NaN;
        }

        return Placement.Decide(candidates, placementGraph.IsAncestor, Divergence);
    }

    /// <summary>
    /// For <c>infer</c>: every stored version compared with each of several new models in one
    /// pass over the placement cache; for each new model, the related stored versions, nearest
    /// first, at most <paramref name="keep"/> that could be its parent and as many it could adopt.
    /// </summary>
    public IReadOnlyList<Ranked>[] RankStored(IReadOnlyList<(string Name, IndexedFingerprint Fingerprint)> models, LineageGraph graph, int keep)
    {
        var placementGraph = Graph(graph);
        var related = models.Select(_ => new List<Ranked>()).ToArray();
        using (PlacementCache.Scan(
            context.PlacementCacheDirectory,
            context.TempDirectory,
            graph.Versions,
            FetchFingerprints,
            (p, fingerprint) =>
            {
                for (int i = 0; i < models.Count; i++)
                {
                    var ranked = Placement.Rank(models[i].Fingerprint, models[i].Name, placementGraph.Candidate(p), fingerprint);
                    if (ranked.Relation.Related)
                    {
                        related[i].Add(ranked);
                    }
                }
            },
            cursor: true))
        {
        }

        return related.Select(list =>
        {
            var nearest = list.OrderBy(r => r.Relation.Divergence).ThenBy(r => r.Candidate.Id).ToList();
            return (IReadOnlyList<Ranked>)nearest.Where(r => r.Direction.Sign <= 0).Take(keep)
                .Concat(nearest.Where(r => r.Direction.Sign > 0 && r.Candidate.IsRoot).Take(keep)).ToList();
        }).ToArray();
    }

    /// <summary>
    /// The placement graph, where a version whose parents a user set with <c>mgit reparent</c>
    /// (even to none: <c>--root</c>) counts as user-placed: placement never moves or adopts it.
    /// </summary>
    private PlacementGraph Graph(LineageGraph graph)
    {
        var events = context.Lineage.ReadEdgeEvents().Where(e => !e.Conflict).ToList();
        if (events.Count == 0)
        {
            return new PlacementGraph(graph, IsPlacementEdge);
        }

        // The versions whose key a change names and whose ref is still the one it named (found by key: the graph may be placement's, without times).
        var refs = events.Select(e => e.ChildRef).ToHashSet(StringComparer.Ordinal);
        var userRefs = context.Lineage.ReadRefsByKey(events.Select(e => e.ChildKey).ToHashSet(StringComparer.Ordinal)).Values.Where(refs.Contains).ToHashSet(StringComparer.Ordinal);
        var userSet = graph.Versions.Where(v => userRefs.Contains(v.Ref)).Select(v => v.Id).ToHashSet();
        return new PlacementGraph(graph, IsPlacementEdge, userSet);
    }

    /// <summary>Edges placement made carry this prefix in their message; placement may revise them, never a user's.</summary>
    private static bool IsPlacementEdge(LineageEdge edge) =>
        edge.Kind == EdgeKind.Adapted && edge.Message is { } m && (m.StartsWith("auto: ", StringComparison.Ordinal) || m.StartsWith("infer: ", StringComparison.Ordinal));

    /// <summary>A decision as the add result reports it.</summary>
    public static PlacementResult ToResult(PlacementDecision decision) =>
        new(decision.ParentRef, decision.Reason, decision.Score, decision.Adoptions.Select(a => a.ChildRef).ToList());
}
