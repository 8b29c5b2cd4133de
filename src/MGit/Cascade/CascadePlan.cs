using MGit.Errors;
using MGit.Lineage;

namespace MGit.Cascade;

/// <summary>What the cascade does with one model.</summary>
internal enum CascadeStepKind
{
    /// <summary>Its recipe will be replayed on the new parents.</summary>
    Rederive,
    /// <summary>Derived from the old model, but no recipe says how: listed, not touched.</summary>
    NoRecipe,
    /// <summary>A parent it needs cannot be re-derived (no recipe, or its recipe failed).</summary>
    Blocked,
    /// <summary>Already re-derived by the cascade being resumed.</summary>
    Done,
}

/// <summary>Where a re-derived model's parent comes from.</summary>
/// <param name="Name">The parent model's name (what <c>{parent:NAME}</c> refers to).</param>
/// <param name="Previous">The parent version the model was derived from.</param>
/// <param name="FromStep">The model whose new version this parent will be, when it is re-derived in this cascade.</param>
/// <param name="Fixed">The version to use when it is known before the cascade runs.</param>
internal sealed record CascadeParent(string Name, ModelVersion Previous, string? FromStep, ModelVersion? Fixed);

internal sealed record CascadeStep(string Model, ModelVersion From, CascadeStepKind Kind, string? Recipe, IReadOnlyList<CascadeParent> Parents, string? Detail, string? DoneRef);

/// <summary>
/// The plan of an update cascade from <see cref="Old"/> to <see cref="New"/>: every model whose
/// latest version descends from OLD through adapted edges (directly, or through another such
/// model), parents before children. Each is re-derived from its latest version's recipe, on the new
/// version of each parent that the cascade re-derives, NEW in place of OLD, and the newest version
/// of every other parent.
/// </summary>
internal sealed record CascadePlan(ModelVersion Old, ModelVersion New, IReadOnlyList<CascadeStep> Steps)
{
    /// <summary>
    /// Plans a new cascade, or (with <paramref name="resumed"/>: model -> (from ref, done ref or
    /// null)) continues one, keeping what was done and retrying the rest.
    /// </summary>
    public static CascadePlan Build(LineageGraph graph, ModelVersion old, ModelVersion @new, IReadOnlyDictionary<long, string> recipes, IReadOnlyDictionary<string, (string From, string? Done)>? resumed = null)
    {
        if (old.Id == @new.Id)
        {
            throw new MGitException(ErrorKind.InvalidInput, $"{old.Ref} and {@new.Ref} are the same version");
        }

        var affected = resumed is null
            ? Affected(graph, old, @new)
            : resumed.ToDictionary(r => r.Key, r => graph.Resolve(r.Value.From), StringComparer.Ordinal);
        var order = Order(graph, affected);
        var steps = new Dictionary<string, CascadeStep>(StringComparer.Ordinal);
        foreach (string model in order)
        {
            var from = affected[model];
            string? recipe = recipes.GetValueOrDefault(from.Id);
            var parents = graph.ParentEdges(from, EdgeKind.Adapted).Select(e => graph[e.ParentId]).Select(parent => new CascadeParent(
                parent.Name,
                parent,
                affected.ContainsKey(parent.Name) ? parent.Name : null,
                affected.ContainsKey(parent.Name) ? null : parent.Id == old.Id ? @new : graph.Latest(parent.Name)!)).ToList();

            if (resumed is not null && resumed[model].Done is { } done)
            {
                steps[model] = new CascadeStep(model, from, CascadeStepKind.Done, recipe, parents, null, done);
                continue;
            }

            var stuck = parents.Where(p => p.FromStep is { } s && steps[s].Kind is CascadeStepKind.NoRecipe or CascadeStepKind.Blocked).Select(p => p.Name).ToList();
            steps[model] = recipe is null
                ? new CascadeStep(model, from, CascadeStepKind.NoRecipe, null, parents, "no recipe recorded (mgit recipe set)", null)
                : stuck.Count > 0
                    ? new CascadeStep(model, from, CascadeStepKind.Blocked, recipe, parents, $"waits for {string.Join(", ", stuck)}", null)
                    : new CascadeStep(model, from, CascadeStepKind.Rederive, recipe, parents, null, null);
        }

        return new CascadePlan(old, @new, order.Select(m => steps[m]).ToList());
    }

    /// <summary>Models whose latest version has an adapted parent that is OLD or a version of another affected model.</summary>
    private static Dictionary<string, ModelVersion> Affected(LineageGraph graph, ModelVersion old, ModelVersion @new)
    {
        var latest = graph.LatestVersions();
        var affected = new Dictionary<string, ModelVersion>(StringComparer.Ordinal);
        bool grew = true;
        while (grew)
        {
            grew = false;
            foreach (var version in latest)
            {
                if (version.Name == old.Name || version.Name == @new.Name || affected.ContainsKey(version.Name))
                {
                    continue;
                }

                if (graph.Parents(version, EdgeKind.Adapted).Any(p => p.Id == old.Id || affected.ContainsKey(p.Name)))
                {
                    affected[version.Name] = version;
                    grew = true;
                }
            }
        }

        return affected;
    }

    /// <summary>Affected models, every one after the affected models it derives from (ties by name).</summary>
    private static List<string> Order(LineageGraph graph, Dictionary<string, ModelVersion> affected)
    {
        var waitsFor = affected.ToDictionary(
            a => a.Key,
            a => graph.Parents(a.Value, EdgeKind.Adapted).Select(p => p.Name).Where(affected.ContainsKey).ToHashSet(StringComparer.Ordinal),
            StringComparer.Ordinal);
        var order = new List<string>();
        while (waitsFor.Count > 0)
        {
            var ready = waitsFor.Where(w => w.Value.All(p => !waitsFor.ContainsKey(p))).Select(w => w.Key).Order(StringComparer.Ordinal).ToList();
            if (ready.Count == 0)
            {
                throw new MGitException(ErrorKind.Damaged, $"the models {string.Join(", ", waitsFor.Keys)} derive from each other in a cycle");
            }

            foreach (string model in ready)
            {
                order.Add(model);
                waitsFor.Remove(model);
            }
        }

        return order;
    }
}
