using System.Globalization;

namespace MGit.Diff;

/// <summary>A base a model's own files name (model card, config, adapter config, file metadata), resolved to a model of this run (<paramref name="Model"/>) or of the repository (<paramref name="Stored"/>).</summary>
/// <param name="Model">The model of the run it names, or null.</param>
/// <param name="Stored">The stored version it names, or null.</param>
/// <param name="How">The derivation it states (finetune, quantize, merge), or null.</param>
/// <param name="Source">Where it was read (<c>README.md base_model</c>).</param>
/// <param name="Evidence">The evidence in words when it is not a file naming the base (a merge found in the weights).</param>
internal sealed record DeclaredParent(int? Model, PlacementCandidate? Stored, string? How, string Source, string? Evidence = null);

/// <summary>One model <c>mgit infer</c> saw: its name, fingerprint, when its files were written, and the bases its files declare.</summary>
/// <param name="Name">The model's name.</param>
/// <param name="Fingerprint">Its fingerprint.</param>
/// <param name="WrittenAt">When its files were last written (the newest of them).</param>
/// <param name="Declared">The bases its files name that are in the run or the repository.</param>
/// <param name="Kurtosis">The excess kurtosis of each weight matrix, by tensor name (<see cref="WeightMoments"/>).</param>
internal sealed record InferenceInput(string Name, IndexedFingerprint Fingerprint, DateTime WrittenAt, IReadOnlyList<DeclaredParent> Declared, IReadOnlyDictionary<string, double> Kurtosis);

/// <summary>A parent inference chose: another model of the run (<paramref name="Model"/>) or a stored version (<paramref name="Stored"/>).</summary>
internal sealed record InferredParent(int? Model, PlacementCandidate? Stored, string? How, string Evidence);

/// <summary>
/// Where one model of the run goes: its parents (none: a root), the evidence for the edge and
/// its direction, a confidence between 0 and 1, and stored roots it turns out to be the parent of.
/// </summary>
internal sealed record InferredPlacement(int Model, IReadOnlyList<InferredParent> Parents, string Reason, double Confidence, IReadOnlyList<Adoption> Adoptions);

/// <summary>
/// The lineage of a set of models seen all at once (<c>mgit infer</c>), as a minimum spanning
/// arborescence (Chu-Liu/Edmonds) over the possible parent edges:
/// 1. Declared bases first: a model whose files name a base (Hugging Face model card
///    <c>base_model</c>, <c>config.json</c> <c>_name_or_path</c>, PEFT adapter config, file
///    metadata) that is in the run or the repository takes it, at no cost.
/// 2. Otherwise every related pair (shared tensors, divergence below 1, or weights correlated
///    beyond chance) is a possible edge each way, costing the divergence, a little more without
///    exactly the same tensor set. The direction rules of <see cref="Kinship.Direction"/>
///    (precision, added tensors, pruning, names) forbid the wrong way outright; where they say
///    nothing, weak evidence makes the backward way dearer: weight kurtosis (training makes
///    weights heavier-tailed; up to 25%) and file times (a model written earlier is the
///    likelier ancestor; 15%).
/// 3. Stored versions related to a model may be its parent (the nearest few), and stored roots
///    the rules name as derived from it are adopted, as <c>add --auto</c> does.
/// 4. Every model may also be a root, at a cost above any edge: so each related group has one
///    root, and of the arborescences with the fewest roots the cheapest is chosen.
/// Models come back parents first.
/// </summary>
internal static class LineageInference
{
    /// <summary>How much dearer an edge gets when file times say it points backwards (the child's files were written first).</summary>
    private const double TimeWeight = 0.15;
    /// <summary>
    /// How much dearer an edge gets when every weight matrix's kurtosis says it points backwards
    /// (half that for a two-thirds majority). Above the file times: measured, a unanimous vote is
    /// right far more often than the 82-92% of a single matrix, and file times are often reset by copies.
    /// </summary>
    private const double KurtosisWeight = 0.25;
    /// <summary>Cost of an edge between models without exactly the same tensor set.</summary>
    private const double OtherTensorSetFactor = 1.02;
    /// <summary>Cost of a root: above any sum of edge costs (divergences are at most 2 sqrt 2).</summary>
    private const double RootCost = 1e6;
    /// <summary>Two file times closer than this (copies, one checkout) say nothing about order.</summary>
    private static readonly TimeSpan TimeMargin = TimeSpan.FromSeconds(2);

    /// <param name="models">The models of the run.</param>
    /// <param name="stored">For each model, the related stored versions (<see cref="ModelPlacement.RankStored"/>).</param>
    public static IReadOnlyList<InferredPlacement> Plan(IReadOnlyList<InferenceInput> models, IReadOnlyList<IReadOnlyList<Ranked>> stored)
    {
        int n = models.Count;

        // Nodes: 0 the virtual root, 1..n the models, then the stored versions that take part.
        var storedNodes = new Dictionary<long, int>();
        var storedCandidates = new List<PlacementCandidate>();
        int StoredNode(PlacementCandidate c)
        {
            if (!storedNodes.TryGetValue(c.Id, out int node))
            {
                node = 1 + n + storedCandidates.Count;
                storedNodes[c.Id] = node;
                storedCandidates.Add(c);
            }

            return node;
        }

        var arcs = new List<ArcCandidate>();
        var why = new List<(string Evidence, string Direction, double DirectionConfidence, string? How)>();
        void Arc(int from, int to, double cost, string evidence, string direction, double directionConfidence, string? how)
        {
            arcs.Add(new ArcCandidate(from, to, cost));
            why.Add((evidence, direction, directionConfidence, how));
        }

        var relations = new Relation?[n, n];
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < n; j++)
            {
                if (i != j)
                {
                    relations[i, j] = Kinship.Compare(models[i].Fingerprint, models[j].Fingerprint);
                }
            }
        }

        // A model that is an element-wise mix of two others of the run is their merge: both are
        // its parents, and it is neither's.
        var fixedParents = models.Select(m => m.Declared).ToArray();
        var mergeOf = new (int A, int B)?[n];
        for (int child = 0; child < n; child++)
        {
            if (fixedParents[child].Count == 0 && FindMerge(child, models, relations) is { } merge)
            {
                mergeOf[child] = (merge.A, merge.B);
                string evidence = string.Create(CultureInfo.InvariantCulture, $"an element-wise mix of {models[merge.A].Name} and {models[merge.B].Name} ({merge.Alpha:0.##} : {1 - merge.Alpha:0.##}, residual {merge.Residual:0.###} of their distance)");
                fixedParents[child] = [new DeclaredParent(merge.A, null, "merge", "weights", evidence), new DeclaredParent(merge.B, null, "merge", "weights", evidence)];
            }
        }

        for (int child = 0; child < n; child++)
        {
            var model = models[child];
            Arc(0, child + 1, RootCost, "no related model", "", 1, null);
            if (fixedParents[child].Count > 0)
            {
                foreach (var declared in fixedParents[child])
                {
                    int from = declared.Model is int m ? m + 1 : StoredNode(declared.Stored!);
                    Arc(from, child + 1, 0, Evidence(declared), "declared", 1, declared.How);
                }

                continue;
            }

            for (int parent = 0; parent < n; parent++)
            {
                if (parent == child || mergeOf[parent] is { } m && (m.A == child || m.B == child))
                {
                    continue;
                }

                var relation = relations[child, parent]!;
                var reverse = relations[parent, child]!;
                if (!relation.Related && !reverse.Related)
                {
                    continue;
                }

                // Direction(a = parent, b = child): positive when the parent really is the parent.
                var orientation = Kinship.Direction(models[parent].Fingerprint, models[parent].Name, model.Fingerprint, model.Name, reverse);
                if (orientation.Sign < 0)
                {
                    continue;
                }

                double cost = Math.Min(relation.Divergence, reverse.Divergence) * (relation.SameTensorSet ? 1 : OtherTensorSetFactor);
                string direction;
                double directionConfidence;
                if (orientation.Sign > 0)
                {
                    (direction, directionConfidence) = (orientation.Why!, 0.95);
                }
                else
                {
                    // Weak evidence, each making the edge dearer when it says the edge points backwards.
                    var said = new List<string>();
                    double against = 0, forward = 0;
                    int time = WrittenAfter(model, models[parent]) ? 1 : WrittenAfter(models[parent], model) ? -1 : 0;
                    if (time != 0)
                    {
                        said.Add(time > 0 ? "written after it" : "written before it");
                        (time > 0 ? ref forward : ref against) += TimeWeight;
                    }

                    var (vote, unanimous) = KurtosisVote(models[parent].Kurtosis, model.Kurtosis);
                    if (vote != 0)
                    {
                        said.Add(vote > 0 ? "heavier-tailed weights (kurtosis up, as training does)" : "lighter-tailed weights than it (kurtosis down)");
                        (vote > 0 ? ref forward : ref against) += unanimous ? KurtosisWeight : KurtosisWeight / 2;
                    }

                    cost *= 1 + against;
                    directionConfidence = said.Count == 0 ? 0.5 : Math.Clamp(0.5 + forward - against, 0.2, 0.8);
                    direction = said.Count == 0 ? "undecided" : string.Join(", ", said);
                }

                Arc(parent + 1, child + 1, cost, Placement.Describe(relation, models[parent].Name), direction, directionConfidence, orientation.Sign > 0 ? orientation.How : null);
            }

            foreach (var r in stored[child])
            {
                if (r.Direction.Sign > 0)
                {
                    continue;
                }

                Arc(StoredNode(r.Candidate), child + 1, r.Relation.Divergence * (r.Relation.SameTensorSet ? 1 : OtherTensorSetFactor), Placement.Describe(r.Relation, r.Candidate.Ref),
                    r.Direction.Sign < 0 ? r.Direction.Why! : "stored before", r.Direction.Sign < 0 ? 0.95 : 0.7, r.Direction.Sign < 0 ? r.Direction.How : null);
            }
        }

        // Stored versions are placed already: reached from the virtual root for free. Stored roots
        // the rules name as derived from a model of the run may be adopted by it instead.
        for (int child = 0; child < n; child++)
        {
            foreach (var r in stored[child].Where(r => r.Direction.Sign > 0 && r.Candidate.IsRoot))
            {
                Arc(child + 1, StoredNode(r.Candidate), r.Relation.Divergence, $"derived from it: {r.Direction.Why}", r.Direction.Why!, 0.95, r.Direction.How);
            }
        }

        foreach (var candidate in storedCandidates)
        {
            Arc(0, storedNodes[candidate.Id], candidate.IsRoot ? RootCost : 0, "stored", "", 1, null);
        }

        // A model with several fixed parents (a merge) takes one through the arborescence; the
        // others must not descend from it. Where one does, the arc that leaves the merge on the
        // way down to it is dropped and the arborescence solved again.
        int[] chosen;
        for (int round = 0; ; round++)
        {
            chosen = Arborescence.Solve(1 + n + storedCandidates.Count, 0, arcs);
            var cheapest = CheapestArcs(arcs);
            Reroot(chosen, arcs, cheapest, n, models);
            MoveUpToNearAncestors(chosen, arcs, cheapest, n);
            int? drop = round < arcs.Count ? ArcToAFixedParent(chosen, arcs, fixedParents, storedNodes) : null;
            if (drop is not int a)
            {
                break;
            }

            arcs[a] = arcs[a] with { Cost = double.PositiveInfinity };
        }

        var placements = new InferredPlacement[n];
        for (int child = 0; child < n; child++)
        {
            int arc = chosen[child + 1];
            var (evidence, direction, directionConfidence, how) = why[arc];
            if (arcs[arc].From == 0)
            {
                string reason = stored[child].Count > 0 || Enumerable.Range(0, n).Any(o => o != child && (relations[child, o]!.Related || relations[o, child]!.Related))
                    ? "a new root: every related model derives from it"
                    : "a new root: no related model";
                placements[child] = new InferredPlacement(child, [], reason, 1, []);
                continue;
            }

            var parents = new List<InferredParent> { Parent(arcs[arc].From, how, evidence) };

            // A declared merge names several bases: the arborescence gave one, the others join it
            // unless one of them descends from this model (that would close a cycle).
            if (direction == "declared")
            {
                foreach (var declared in fixedParents[child])
                {
                    int node = declared.Model is int m ? m + 1 : storedNodes[declared.Stored!.Id];
                    if (node != arcs[arc].From && !Descends(node, child + 1, chosen, arcs))
                    {
                        parents.Add(Parent(node, declared.How, Evidence(declared)));
                    }
                }
            }

            // A declared base is as sure as the files that name it; a mix found in the weights nearly so.
            double confidence = direction == "declared"
                ? (fixedParents[child].All(d => d.Evidence is null) ? 1 : 0.9)
                : Math.Min(directionConfidence, ParentConfidence(arcs, chosen[child + 1], child + 1));
            string says = direction is "declared" or "" ? evidence : $"{evidence}; direction: {direction}";
            placements[child] = new InferredPlacement(child, parents, says, Math.Round(confidence, 2), []);
        }

        // Adoptions: stored roots whose chosen parent is a model of the run.
        var adoptions = Enumerable.Range(0, n).Select(_ => new List<Adoption>()).ToArray();
        foreach (var candidate in storedCandidates)
        {
            int arc = chosen[storedNodes[candidate.Id]];
            if (arcs[arc].From is int from and > 0 && from <= n)
            {
                adoptions[from - 1].Add(new Adoption(candidate.Id, candidate.Ref, null, why[arc].How, why[arc].Evidence));
            }
        }

        for (int i = 0; i < n; i++)
        {
            if (adoptions[i].Count > 0)
            {
                placements[i] = placements[i] with
                {
                    Reason = $"{placements[i].Reason}; parent of {string.Join(", ", adoptions[i].Select(a => a.ChildRef))}",
                    Adoptions = adoptions[i],
                };
            }
        }

        return ParentsFirst(placements, models);

        string Evidence(DeclaredParent declared) =>
            declared.Evidence ?? $"its {declared.Source} names {(declared.Model is int m ? models[m].Name : declared.Stored!.Ref)}";

        InferredParent Parent(int node, string? how, string evidence) =>
            node <= n ? new InferredParent(node - 1, null, how, evidence) : new InferredParent(null, storedCandidates[node - n - 1], how, evidence);
    }

    /// <summary>The cheapest arc of each (parent, child) pair, by index.</summary>
    private static Dictionary<(int, int), int> CheapestArcs(List<ArcCandidate> arcs)
    {
        var cheapest = new Dictionary<(int, int), int>();
        for (int a = 0; a < arcs.Count; a++)
        {
            var key = (arcs[a].From, arcs[a].To);
            if (!cheapest.TryGetValue(key, out int known) || arcs[a].Cost < arcs[known].Cost)
            {
                cheapest[key] = a;
            }
        }

        return cheapest;
    }

    /// <summary>
    /// Where no evidence orients the edges, reversing a path of the tree costs nothing, so the
    /// arborescence's root is an accident of the search. Among the roots that cost no more, take
    /// the centre of the tree (the least divergence to its farthest model along the tree, then
    /// the least in all, then by name): the base of a star of fine-tunes is nearer each of them
    /// than they are to each other, and sits in the middle.
    /// </summary>
    private static void Reroot(int[] chosen, List<ArcCandidate> arcs, Dictionary<(int, int), int> cost, int n, IReadOnlyList<InferenceInput> models)
    {
        for (int top = 1; top <= n; top++)
        {
            if (arcs[chosen[top]].From != 0)
            {
                continue;
            }

            // The tree under this root: undirected links between models of the run only.
            var members = new List<int> { top };
            var links = new Dictionary<int, List<int>> { [top] = [] };
            for (int k = 0; k < members.Count; k++)
            {
                for (int v = 1; v <= n; v++)
                {
                    if (chosen[v] >= 0 && arcs[chosen[v]].From == members[k])
                    {
                        members.Add(v);
                        links[v] = [members[k]];
                        links[members[k]].Add(v);
                    }
                }
            }

            if (members.Count < 3)
            {
                // Two models with no direction evidence: nothing tells which is the centre.
                continue;
            }

            var best = (Root: top, Cost: 0.0, Far: double.MaxValue, Total: double.MaxValue, Arcs: (Dictionary<int, int>?)null);
            foreach (int root in members)
            {
                // Rooted at `root`, each model's parent is its neighbour towards `root`.
                var parentArc = new Dictionary<int, int>();
                var hops = new Dictionary<int, double> { [root] = 0 };
                var queue = new Queue<int>([root]);
                double total = 0;
                bool feasible = true;
                while (queue.Count > 0 && feasible)
                {
                    int v = queue.Dequeue();
                    foreach (int w in links[v].Where(w => !hops.ContainsKey(w)))
                    {
                        if (!cost.TryGetValue((v, w), out int arc))
                        {
                            feasible = false;
                            break;
                        }

                        parentArc[w] = arc;
                        total += arcs[arc].Cost;
                        hops[w] = hops[v] + arcs[arc].Cost;
                        queue.Enqueue(w);
                    }
                }

                if (!feasible)
                {
                    continue;
                }

                double far = hops.Values.Max(), sum = hops.Values.Sum();
                const double Epsilon = 1e-9;
                bool cheaper = best.Arcs is null || total < best.Cost - Epsilon;
                bool tie = best.Arcs is not null && Math.Abs(total - best.Cost) <= Epsilon;
                if (cheaper || (tie && (far < best.Far - Epsilon || (Math.Abs(far - best.Far) <= Epsilon && (sum < best.Total - Epsilon
                    || (Math.Abs(sum - best.Total) <= Epsilon && string.CompareOrdinal(models[root - 1].Name, models[best.Root - 1].Name) < 0))))))
                {
                    best = (root, total, far, sum, parentArc);
                }
            }

            if (best.Arcs is null || best.Root == top)
            {
                continue;
            }

            foreach (var (v, arc) in best.Arcs)
            {
                chosen[v] = arc;
            }

            chosen[best.Root] = cost[(0, best.Root)];
        }
    }

    /// <summary>
    /// Models trained on related data move in related directions, so a sibling, or a parent's
    /// later version, can look as near as the real parent. An ancestor of the chosen parent
    /// within 2% of its cost is the likelier parent (nearer the root), as in <c>add --auto</c>.
    /// </summary>
    private static void MoveUpToNearAncestors(int[] chosen, List<ArcCandidate> arcs, Dictionary<(int, int), int> byPair, int n)
    {
        for (int v = 1; v <= n; v++)
        {
            double limit = (arcs[chosen[v]].Cost * Placement.NearTolerance) + 1e-12;
            for (int up = arcs[chosen[v]].From; up != 0 && chosen[up] >= 0;)
            {
                up = arcs[chosen[up]].From;
                if (up != 0 && byPair.TryGetValue((up, v), out int arc) && arcs[arc].Cost <= limit)
                {
                    chosen[v] = arc;
                }
            }
        }
    }

    /// <summary>
    /// Whether <paramref name="child"/> is an element-wise mix a·A + (1 − a)·B of two related
    /// models of the run (a model soup, a linear merge): the least-squares a over the paired
    /// samples of their lined-up tensors must lie in [0.1, 0.9] and leave a residual under 5%
    /// of |A − B|. A common parent of A and B never fits so: their independent changes leave it
    /// about half their distance off the segment between them. Only the 6 nearest relatives are
    /// tried as A and B, and neither may have been written after the model.
    /// </summary>
    private static (int A, int B, double Alpha, double Residual)? FindMerge(int child, IReadOnlyList<InferenceInput> models, Relation?[,] relations)
    {
        var near = Enumerable.Range(0, models.Count)
            .Where(o => o != child && relations[child, o]!.Related && relations[child, o]!.SameTensorSet)
            .OrderBy(o => relations[child, o]!.Divergence)
            .Take(6)
            .ToList();

        // A cast, a prune or an extension of its nearest relative is that, not a merge.
        if (near.Count < 2 || Kinship.Direction(models[near[0]].Fingerprint, models[near[0]].Name, models[child].Fingerprint, models[child].Name, relations[near[0], child]!).Sign > 0)
        {
            return null;
        }

        (int A, int B, double Alpha, double Residual)? best = null;
        for (int i = 0; i < near.Count; i++)
        {
            for (int j = i + 1; j < near.Count; j++)
            {
                // The mix must also explain the model better than its nearest relative does: a
                // cast of a merge is nearer the merge than to any mix of the merge's parents.
                if (MixFit(models[child].Fingerprint, models[near[i]].Fingerprint, models[near[j]].Fingerprint) is { } fit
                    && fit.Alpha is >= 0.1 and <= 0.9 && fit.Residual < MaxMixResidual
                    && fit.Residual * relations[near[i], near[j]]!.Divergence < relations[child, near[0]]!.Divergence / 2
                    && !WrittenAfter(models[near[i]], models[child]) && !WrittenAfter(models[near[j]], models[child])
                    && (best is null || fit.Residual < best.Value.Residual))
                {
                    best = (near[i], near[j], fit.Alpha, fit.Residual);
                }
            }
        }

        return best;
    }

    /// <summary>
    /// A linear merge saved in its parents' dtype leaves only rounding off the segment between
    /// them; a checkpoint in the middle of a steady training run sits near the segment between its
    /// neighbours too, but with its own noise, well above this.
    /// </summary>
    private const double MaxMixResidual = 0.05;

    /// <summary>Whether <paramref name="a"/>'s files were written clearly (more than <see cref="TimeMargin"/>) after <paramref name="b"/>'s.</summary>
    private static bool WrittenAfter(InferenceInput a, InferenceInput b) => b.WrittenAt + TimeMargin < a.WrittenAt;

    /// <summary>Least squares of m − b = a·(x − b) over the samples of tensors all three line up by name and size: a, and the residual relative to |x − b|.</summary>
    private static (double Alpha, double Residual)? MixFit(IndexedFingerprint m, IndexedFingerprint x, IndexedFingerprint y)
    {
        double xy = 0, mxy = 0, mm = 0;
        const int Stride = ModelFingerprint.SamplesPerTensor;
        for (int t = 0; t < m.Count; t++)
        {
            int i = x.IndexOfName(m.NameHashes[t]), j = y.IndexOfName(m.NameHashes[t]);
            if (i < 0 || j < 0 || x.TensorElements[i] != m.TensorElements[t] || y.TensorElements[j] != m.TensorElements[t] || !m.IsFloat(t))
            {
                continue;
            }

            int count = Math.Min(m.SampleCount(t), Math.Min(x.SampleCount(i), y.SampleCount(j)));
            for (int k = 0; k < count; k++)
            {
                double mv = m.SampleSlots[(t * Stride) + k], xv = x.SampleSlots[(i * Stride) + k], yv = y.SampleSlots[(j * Stride) + k];
                double d = xv - yv, e = mv - yv;
                if (double.IsFinite(d) && double.IsFinite(e))
                {
                    xy += d * d;
                    mxy += e * d;
                    mm += e * e;
                }
            }
        }

        if (xy <= 0)
        {
            return null;
        }

        double alpha = mxy / xy;
        return (alpha, Math.Sqrt(Math.Max(0, mm - (alpha * mxy)) / xy));
    }

    /// <summary>
    /// Whether the child's weight matrices are heavier-tailed than the parent's: +1 when at least
    /// two thirds of the matrices both have say so, -1 when two thirds say the opposite, else 0;
    /// unanimous when they all agree.
    /// </summary>
    private static (int Vote, bool Unanimous) KurtosisVote(IReadOnlyDictionary<string, double> parent, IReadOnlyDictionary<string, double> child)
    {
        int up = 0, down = 0;
        foreach (var (name, k) in child)
        {
            if (parent.TryGetValue(name, out double p) && Math.Abs(k - p) > 1e-6 * Math.Max(1, Math.Abs(p)))
            {
                (k > p ? ref up : ref down)++;
            }
        }

        int total = up + down;
        if (total == 0)
        {
            return (0, false);
        }

        return up * 3 >= total * 2 && up > down ? (1, down == 0)
            : down * 3 >= total * 2 && down > up ? (-1, up == 0)
            : (0, false);
    }

    /// <summary>
    /// The arc leaving a model with several fixed parents towards one of those parents, when the
    /// arborescence made that parent its descendant; null when there is none.
    /// </summary>
    private static int? ArcToAFixedParent(int[] chosen, List<ArcCandidate> arcs, IReadOnlyList<DeclaredParent>[] fixedParents, Dictionary<long, int> storedNodes)
    {
        for (int child = 0; child < fixedParents.Length; child++)
        {
            if (fixedParents[child].Count < 2)
            {
                continue;
            }

            foreach (var parent in fixedParents[child])
            {
                int node = parent.Model is int m ? m + 1 : storedNodes[parent.Stored!.Id];
                // Walk up from the parent; the arc just below the child on that path leaves the child.
                int below = -1;
                for (int v = node, steps = 0; chosen[v] >= 0 && steps < chosen.Length; steps++)
                {
                    int up = arcs[chosen[v]].From;
                    if (up == child + 1)
                    {
                        below = chosen[v];
                        break;
                    }

                    v = up;
                }

                if (below >= 0 && !double.IsPositiveInfinity(arcs[below].Cost))
                {
                    return below;
                }
            }
        }

        return null;
    }

    /// <summary>How clearly the chosen parent beats the next possible one: 1 alone, 0.5 for a tie.</summary>
    private static double ParentConfidence(List<ArcCandidate> arcs, int chosenArc, int node)
    {
        double best = arcs[chosenArc].Cost, second = double.PositiveInfinity;
        for (int a = 0; a < arcs.Count; a++)
        {
            if (a != chosenArc && arcs[a].To == node && arcs[a].From != 0 && arcs[a].From != arcs[chosenArc].From)
            {
                second = Math.Min(second, arcs[a].Cost);
            }
        }

        return double.IsPositiveInfinity(second) || second <= 0 ? (second <= 0 && best <= 0 ? 0.5 : 1) : 0.5 + (0.5 * Math.Clamp((second - best) / second, 0, 1));
    }

    /// <summary>Whether <paramref name="node"/> descends from <paramref name="ancestor"/> in the chosen arborescence.</summary>
    private static bool Descends(int node, int ancestor, int[] chosen, List<ArcCandidate> arcs)
    {
        for (int v = node, steps = 0; chosen[v] >= 0 && steps < chosen.Length; steps++)
        {
            v = arcs[chosen[v]].From;
            if (v == ancestor)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Parents before children (breadth-first from the roots); roots and siblings by name.</summary>
    private static List<InferredPlacement> ParentsFirst(InferredPlacement[] placements, IReadOnlyList<InferenceInput> models)
    {
        var order = new List<InferredPlacement>();
        var done = new bool[placements.Length];
        while (order.Count < placements.Length)
        {
            var ready = placements
                .Where(p => !done[p.Model] && p.Parents.All(q => q.Model is not int m || done[m]))
                .OrderBy(p => models[p.Model].Name, StringComparer.Ordinal)
                .ToList();
            if (ready.Count == 0)
            {
                throw new InvalidOperationException("inferred parents form a cycle");
            }

            foreach (var p in ready)
            {
                done[p.Model] = true;
                order.Add(p);
            }
        }

        return order;
    }

    /// <summary>A confidence as printed: two decimals, invariant.</summary>
    public static string Format(double confidence) => confidence.ToString("0.00", CultureInfo.InvariantCulture);
}
