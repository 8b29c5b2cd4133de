using System.Globalization;

namespace MGit.Diff;

/// <summary>
/// A model already placed: id, ref, name, position among the graph's versions, depth (longest
/// path up to a root), and its adapted parents split into those placement made (which it may
/// revise) and those a user gave.
/// </summary>
internal sealed record PlacementCandidate(long Id, string Ref, string Name, int Position, int Depth, long[] AutoParentIds, bool HasUserParents)
{
    public bool IsRoot => AutoParentIds.Length == 0 && !HasUserParents;
}

/// <summary>A placed model with its relation to the new model and the direction rules' verdict.</summary>
internal sealed record Ranked(PlacementCandidate Candidate, Relation Relation, Orientation Direction);

/// <summary>An existing model that turns out to derive from the new one: it gets the new model as parent, in place of <paramref name="FormerParentId"/> when set.</summary>
internal sealed record Adoption(long ChildId, string ChildRef, long? FormerParentId, string? How, string Reason);

/// <summary>Where a model belongs. <paramref name="ParentId"/> null: a new root.</summary>
internal sealed record PlacementDecision(long? ParentId, string? ParentRef, string Reason, double Score, string? How, IReadOnlyList<Adoption> Adoptions)
{
    /// <summary>How many stored versions were ranked (all of them, or those the prefilter kept).</summary>
    public int Compared { get; init; }
}

/// <summary>
/// Automatic placement: ranks every placed model against the new one by fingerprints.
/// 1. Shared tensors first: the candidates sharing the most parameters (within 1 point).
/// 2. Then the same structure: the candidates whose tensors line up best with the new model's
///    (names and shapes; a dtype cast counts as lined up).
/// 3. Then those with exactly the new model's tensor set.
/// 4. Then the nearest by parameter divergence (of the equally near, an uncast one first); candidates within 2% of the nearest count as
///    equally near (models trained on related data move in related directions, so a sibling
///    can look as near as the common parent), and of those the one closest to a root wins,
///    then the earliest added; but a newer version of the winner that shares at least as much
///    and is as near wins over it.
/// Nothing related (no shared parameters, no divergence below 1): a new root. Models the
/// direction rules (<see cref="Kinship.Direction"/>) name as derived from the new one are never
/// its parent; instead the new model adopts them when they are roots, or when it is nearer to
/// them than the parent placement gave them earlier. So the graph comes out the same whatever
/// order the models arrive in, as far as the rules can orient each edge.
/// </summary>
internal static class Placement
{
    private const double SharedTolerance = 0.01;
    private const double StructureTolerance = 0.001;
    /// <summary>Candidates within 2% of the nearest count as equally near (infer moves up to such ancestors too).</summary>
    internal const double NearTolerance = 1.02;

    /// <summary>Compares the new model with one placed model (while its fingerprint is at hand: placement streams them).</summary>
    public static Ranked Rank(IndexedFingerprint model, string name, PlacementCandidate candidate, IndexedFingerprint fingerprint)
    {
        var relation = Kinship.Compare(model, fingerprint);
        return new Ranked(candidate, relation, relation.Related ? Kinship.Direction(model, name, fingerprint, candidate.Name, relation) : Orientation.Undecided);
    }

    /// <summary>Chooses the parent among the ranked candidates, and the models the new one adopts.</summary>
    /// <param name="isAncestor">Whether the first id is an ancestor of the second in the graph as it stands.</param>
    /// <param name="divergence">The divergence of the first candidate from the second (for the adoption checks; the fingerprints are read again).</param>
    /// <param name="ranked">Every placed model compared with the new one (see <see cref="Rank"/>).</param>
    public static PlacementDecision Decide(IReadOnlyList<Ranked> ranked, Func<long, long, bool> isAncestor, Func<PlacementCandidate, PlacementCandidate, double> divergence)
    {
        if (ranked.Count == 0)
        {
            return new PlacementDecision(null, null, "the first model: a new root", 0, null, []);
        }

        // Plain loops over reference types (no LINQ over tuples): each generic instantiation over
        // a value type would be compiled at run time in every mgit process.
        var related = new List<Ranked>();
        Ranked? nearest = null;
        foreach (var r in ranked)
        {
            if (nearest is null || r.Relation.Divergence < nearest.Relation.Divergence)
            {
                nearest = r;
            }

            if (r.Relation.Related)
            {
                related.Add(r);
            }
        }

        var parents = related.FindAll(r => r.Direction.Sign <= 0);
        PlacementDecision decision;
        if (parents.Count == 0)
        {
            string reason = related.Count > 0
                ? "a new root: every related model derives from it"
                : string.Create(CultureInfo.InvariantCulture, $"a new root: no related model (nearest {nearest!.Candidate.Ref}, divergence {nearest.Relation.Divergence:0.###}, no shared tensors)");
            decision = new PlacementDecision(null, null, reason, 0, null, []);
        }
        else
        {
            var best = Best(parents);
            string reason = Describe(best.Relation, best.Candidate.Ref);
            var (sign, how, why) = best.Direction;
            decision = new PlacementDecision(best.Candidate.Id, best.Candidate.Ref, sign < 0 ? $"{reason}; {why}" : reason, best.Relation.Similarity, sign < 0 ? how : null, []);
        }

        var adoptions = new List<Adoption>();
        foreach (var (candidate, relation, (sign, how, why)) in related)
        {
            // Never adopt an ancestor of the chosen parent: that would close a cycle.
            if (sign <= 0 || (decision.ParentId is long parentId && (parentId == candidate.Id || isAncestor(candidate.Id, parentId))))
            {
                continue;
            }

            string because = $"derived from it: {why}";
            if (candidate.IsRoot)
            {
                adoptions.Add(new Adoption(candidate.Id, candidate.Ref, null, how, because));
            }
            else if (!candidate.HasUserParents && candidate.AutoParentIds.Length == 1 && Find(ranked, candidate.AutoParentIds[0]) is { } former
                && relation.Divergence < divergence(candidate, former))
            {
                adoptions.Add(new Adoption(candidate.Id, candidate.Ref, former.Id, how, $"{because}, and nearer than {former.Ref}"));
            }
        }

        if (adoptions.Count == 0)
        {
            return decision;
        }

        var adopted = new List<string>();
        foreach (var adoption in adoptions)
        {
            adopted.Add(adoption.ChildRef);
        }

        return decision with { Reason = $"{decision.Reason}; parent of {string.Join(", ", adopted)}", Adoptions = adoptions };
    }


    /// <summary>Shared parameters first, then structure, then the nearest (ties: closest to a root, then nearest, then earliest added).</summary>
    private static Ranked Best(List<Ranked> parents)
    {
        double maxShared = double.MinValue;
        foreach (var r in parents)
        {
            maxShared = Math.Max(maxShared, r.Relation.SharedFraction);
        }

        var pool = parents.FindAll(r => r.Relation.SharedFraction >= maxShared - SharedTolerance);
        double maxStructure = double.MinValue;
        foreach (var r in pool)
        {
            maxStructure = Math.Max(maxStructure, r.Relation.Structure);
        }

        pool = pool.FindAll(r => r.Relation.Structure >= maxStructure - StructureTolerance);

        // Exactly the same tensor set beats a model with a small head more or less, which the
        // structure tolerance lets through: a full fine-tune of a model that got a new head
        // belongs under that model, not under the headless base.
        if (pool.Exists(r => r.Relation.SameTensorSet))
        {
            pool = pool.FindAll(r => r.Relation.SameTensorSet);
        }

        double nearestDivergence = double.MaxValue;
        foreach (var r in pool)
        {
            nearestDivergence = Math.Min(nearestDivergence, r.Relation.Divergence);
        }

        // Of the equally near, the same dtypes beat a cast.
        bool uncastNear = pool.Exists(r => r.Relation.CastFrom is null && r.Relation.Divergence <= (nearestDivergence * NearTolerance) + 1e-9);
        Ranked? best = null;
        foreach (var r in pool)
        {
            if (r.Relation.Divergence <= (nearestDivergence * NearTolerance) + 1e-9
                && (r.Relation.CastFrom is null || !uncastNear)
                && (best is null
                    || r.Candidate.Depth < best.Candidate.Depth
                    || (r.Candidate.Depth == best.Candidate.Depth && (r.Relation.Divergence < best.Relation.Divergence
                        || (r.Relation.Divergence == best.Relation.Divergence && r.Candidate.Id < best.Candidate.Id)))))
            {
                best = r;
            }
        }

        // A newer version of the same model that is at least as close wins: a model pruned from
        // ft@2 belongs under ft@2, not under ft@1 for being nearer a root.
        bool moved = true;
        while (moved)
        {
            moved = false;
            foreach (var r in pool)
            {
                if (r.Candidate.Name == best!.Candidate.Name && r.Candidate.Id > best.Candidate.Id
                    && r.Relation.SharedFraction >= best.Relation.SharedFraction
                    && r.Relation.Divergence <= (best.Relation.Divergence * NearTolerance) + 1e-9)
                {
                    best = r;
                    moved = true;
                }
            }
        }

        return best!;
    }

    private static PlacementCandidate? Find(IReadOnlyList<Ranked> ranked, long id)
    {
        foreach (var r in ranked)
        {
            if (r.Candidate.Id == id)
            {
                return r.Candidate;
            }
        }

        return null;
    }

    /// <summary>The tier that made a relation: shared tensors, same structure, or nearest by divergence.</summary>
    public static string Describe(Relation r, string other) => r switch
    {
        { SharedFraction: >= Relation.MinShared } => string.Create(CultureInfo.InvariantCulture, $"shares {r.SharedTensors} tensor(s) ({r.SharedFraction * 100:0.#}% of parameters) with {other}; divergence {r.Divergence:0.####}"),
        { Structure: >= 0.999, CastFrom: not null } => string.Create(CultureInfo.InvariantCulture, $"same structure as {other}, a dtype cast ({r.CastFrom} to {r.CastTo}); divergence {r.Divergence:0.####}"),
        { Structure: >= 0.999 } => string.Create(CultureInfo.InvariantCulture, $"same structure as {other}; divergence {r.Divergence:0.####}"),
        _ => string.Create(CultureInfo.InvariantCulture, $"nearest by parameter divergence: {r.Divergence:0.####} to {other} ({r.MatchedTensors} matching tensors)"),
    };
}
