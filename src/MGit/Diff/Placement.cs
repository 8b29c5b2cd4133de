using System.Globalization;

namespace MGit.Diff;

/// <summary>A model already placed: its id, ref, name, fingerprint and depth (ancestors on its longest path up).</summary>
public sealed record PlacementCandidate(long Id, string Ref, string Name, IndexedFingerprint Fingerprint, int Depth, bool IsRoot);

/// <summary>
/// Where a model belongs. <paramref name="ParentId"/> null: a new root. <paramref name="AdoptedIds"/>:
/// roots that turn out to derive from the new model (added before it) and get it as their parent.
/// </summary>
public sealed record PlacementDecision(long? ParentId, string? ParentRef, string Reason, double Score, string? How, IReadOnlyList<long> AdoptedIds, string? AdoptReason);

/// <summary>
/// Automatic placement: ranks every placed model against the new one by fingerprints.
/// 1. Shared tensors first: the candidates sharing the most parameters (within 1 point).
/// 2. Then the nearest by parameter divergence (same structure, dtype casts included, or a
///    partial match): candidates within 25% of the nearest count as equally near.
/// 3. Among equally near candidates, the one closest to a root (a common ancestor is a better
///    parent than a sibling), then the nearest, then the earliest added.
/// Nothing related (no shared parameters, no divergence below 1): a new root. When the direction
/// rules say the chosen model derives from the new one and it is a root, the new model becomes
/// its parent instead.
/// </summary>
public static class Placement
{
    private const double SharedTolerance = 0.01;
    private const double NearTolerance = 1.25;

    public static PlacementDecision Place(IndexedFingerprint model, string name, IReadOnlyList<PlacementCandidate> candidates)
    {
        if (candidates.Count == 0)
        {
            return new PlacementDecision(null, null, "the first model: a new root", 0, null, [], null);
        }

        var relations = candidates.Select(c => (Candidate: c, Relation: Kinship.Compare(model, c.Fingerprint))).ToList();
        var related = relations.Where(r => r.Relation.Related).ToList();
        if (related.Count == 0)
        {
            var nearest = relations.MinBy(r => r.Relation.Divergence);
            return new PlacementDecision(null, null, string.Create(CultureInfo.InvariantCulture, $"no related model (nearest: {nearest.Candidate.Ref}, divergence {nearest.Relation.Divergence:0.###}, shares no tensors): a new root"), 0, null, [], null);
        }

        double maxShared = related.Max(r => r.Relation.SharedFraction);
        var pool = related.Where(r => r.Relation.SharedFraction >= maxShared - SharedTolerance).ToList();
        double nearestDivergence = pool.Min(r => r.Relation.Divergence);
        pool = pool.Where(r => r.Relation.Divergence <= (nearestDivergence * NearTolerance) + 1e-9).ToList();
        var best = pool
            .OrderBy(r => r.Candidate.Depth)
            .ThenBy(r => r.Relation.Divergence)
            .ThenBy(r => r.Candidate.Id)
            .First();

        var (sign, how, why) = Kinship.Direction(model, name, best.Candidate.Fingerprint, best.Candidate.Name);
        string reason = Describe(best.Relation, best.Candidate.Ref);
        if (sign > 0 && best.Candidate.IsRoot)
        {
            return new PlacementDecision(null, null, $"a new root, parent of {best.Candidate.Ref} ({reason}; {best.Candidate.Ref} is {why})", best.Relation.Similarity, null, [best.Candidate.Id], $"derived from it: {why}");
        }

        return new PlacementDecision(best.Candidate.Id, best.Candidate.Ref, sign < 0 ? $"{reason}; {why}" : reason, best.Relation.Similarity, sign < 0 ? how : null, [], null);
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
