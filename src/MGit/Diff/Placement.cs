using System.Globalization;

namespace MGit.Diff;

/// <summary>
/// A model already placed: id, ref, name, fingerprint, depth (longest path up to a root), and
/// its adapted parents split into those placement made (which it may revise) and those a user gave.
/// </summary>
public sealed record PlacementCandidate(long Id, string Ref, string Name, IndexedFingerprint Fingerprint, int Depth, IReadOnlyList<long> AutoParentIds, bool HasUserParents)
{
    public bool IsRoot => AutoParentIds.Count == 0 && !HasUserParents;
}

/// <summary>An existing model that turns out to derive from the new one: it gets the new model as parent, in place of <paramref name="FormerParentId"/> when set.</summary>
public sealed record Adoption(long ChildId, string ChildRef, long? FormerParentId, string? How, string Reason);

/// <summary>Where a model belongs. <paramref name="ParentId"/> null: a new root.</summary>
public sealed record PlacementDecision(long? ParentId, string? ParentRef, string Reason, double Score, string? How, IReadOnlyList<Adoption> Adoptions);

/// <summary>
/// Automatic placement: ranks every placed model against the new one by fingerprints.
/// 1. Shared tensors first: the candidates sharing the most parameters (within 1 point).
/// 2. Then the same structure: the candidates whose tensors line up best with the new model's
///    (names and shapes; a dtype cast counts as lined up).
/// 3. Then the nearest by parameter divergence; candidates within 2% of the nearest count as
///    equally near (models trained on related data move in related directions, so a sibling
///    can look as near as the common parent), and of those the one closest to a root wins,
///    then the earliest added.
/// Nothing related (no shared parameters, no divergence below 1): a new root. Models the
/// direction rules (<see cref="Kinship.Direction"/>) name as derived from the new one are never
/// its parent; instead the new model adopts them when they are roots, or when it is nearer to
/// them than the parent placement gave them earlier. So the graph comes out the same whatever
/// order the models arrive in, as far as the rules can orient each edge.
/// </summary>
public static class Placement
{
    private const double SharedTolerance = 0.01;
    private const double StructureTolerance = 0.001;
    private const double NearTolerance = 1.02;

    /// <param name="isAncestor">Whether the first id is an ancestor of the second in the graph as it stands.</param>
    public static PlacementDecision Place(IndexedFingerprint model, string name, IReadOnlyList<PlacementCandidate> candidates, Func<long, long, bool> isAncestor)
    {
        if (candidates.Count == 0)
        {
            return new PlacementDecision(null, null, "the first model: a new root", 0, null, []);
        }

        var relations = candidates.Select(c => (Candidate: c, Relation: Kinship.Compare(model, c.Fingerprint))).ToList();
        var related = relations.Where(r => r.Relation.Related)
            .Select(r => (r.Candidate, r.Relation, Direction: Kinship.Direction(model, name, r.Candidate.Fingerprint, r.Candidate.Name, r.Relation)))
            .ToList();
        var parents = related.Where(r => r.Direction.Sign <= 0).ToList();

        PlacementDecision decision;
        if (parents.Count == 0)
        {
            var nearest = relations.MinBy(r => r.Relation.Divergence);
            string reason = related.Count > 0
                ? "a new root: every related model derives from it"
                : string.Create(CultureInfo.InvariantCulture, $"a new root: no related model (nearest {nearest.Candidate.Ref}, divergence {nearest.Relation.Divergence:0.###}, no shared tensors)");
            decision = new PlacementDecision(null, null, reason, 0, null, []);
        }
        else
        {
            double maxShared = parents.Max(r => r.Relation.SharedFraction);
            var pool = parents.Where(r => r.Relation.SharedFraction >= maxShared - SharedTolerance).ToList();
            double maxStructure = pool.Max(r => r.Relation.Structure);
            pool = pool.Where(r => r.Relation.Structure >= maxStructure - StructureTolerance).ToList();
            double nearestDivergence = pool.Min(r => r.Relation.Divergence);
            var best = pool
                .Where(r => r.Relation.Divergence <= (nearestDivergence * NearTolerance) + 1e-9)
                .OrderBy(r => r.Candidate.Depth)
                .ThenBy(r => r.Relation.Divergence)
                .ThenBy(r => r.Candidate.Id)
                .First();
            string reason = Describe(best.Relation, best.Candidate.Ref);
            var (sign, how, why) = best.Direction;
            decision = new PlacementDecision(best.Candidate.Id, best.Candidate.Ref, sign < 0 ? $"{reason}; {why}" : reason, best.Relation.Similarity, sign < 0 ? how : null, []);
        }

        var byId = candidates.ToDictionary(c => c.Id);
        var adoptions = new List<Adoption>();
        foreach (var (candidate, relation, (_, how, why)) in related.Where(r => r.Direction.Sign > 0))
        {
            // Never adopt an ancestor of the chosen parent: that would close a cycle.
            if (decision.ParentId is long parentId && (parentId == candidate.Id || isAncestor(candidate.Id, parentId)))
            {
                continue;
            }

            string because = $"derived from it: {why}";
            if (candidate.IsRoot)
            {
                adoptions.Add(new Adoption(candidate.Id, candidate.Ref, null, how, because));
            }
            else if (!candidate.HasUserParents && candidate.AutoParentIds.Count == 1 && byId.TryGetValue(candidate.AutoParentIds[0], out var former)
                && relation.Divergence < Kinship.Compare(candidate.Fingerprint, former.Fingerprint).Divergence)
            {
                adoptions.Add(new Adoption(candidate.Id, candidate.Ref, former.Id, how, $"{because}, and nearer than {former.Ref}"));
            }
        }

        if (adoptions.Count == 0)
        {
            return decision;
        }

        string adopted = string.Join(", ", adoptions.Select(a => a.ChildRef));
        return decision with { Reason = $"{decision.Reason}; parent of {adopted}", Adoptions = adoptions };
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
