namespace MGit.Diff;

/// <summary>
/// Orders a set of models seen all at once (<c>mgit infer</c>) so that parents come first;
/// placement then puts each under the best of those before it:
/// 1. Relations: every pair is compared by fingerprint; only related pairs (shared parameters,
///    or a divergence below 1) can be linked.
/// 2. Links: a minimum spanning forest over the divergences (Kruskal; ties by name), so each
///    model hangs on its nearest relative: derivatives of one model are nearer to it than to
///    each other, because their changes are independent.
/// 3. Direction: each tree is rooted at the model that agrees with the most direction rules
///    (<see cref="Kinship.Direction"/>: higher precision, fewer tensors, denser, shorter name is
///    the parent), then the one with the fewest links to its farthest model (the centre of a
///    star of derivatives), then the fewest links in total, then by name.
/// 4. Order: breadth-first from each root, trees by name.
/// </summary>
internal static class LineageInference
{
    public static IReadOnlyList<int> Order(IReadOnlyList<(string Name, IndexedFingerprint Fingerprint)> models)
    {
        int n = models.Count;
        var links = new List<(int A, int B, double Divergence)>();
        var relations = new Dictionary<(int, int), Relation>();
        for (int i = 0; i < n; i++)
        {
            for (int j = i + 1; j < n; j++)
            {
                var ij = Kinship.Compare(models[i].Fingerprint, models[j].Fingerprint);
                var ji = Kinship.Compare(models[j].Fingerprint, models[i].Fingerprint);
                relations[(i, j)] = ij;
                if (ij.Related || ji.Related)
                {
                    links.Add((i, j, Math.Min(ij.Divergence, ji.Divergence)));
                }
            }
        }

        // Kruskal: nearest links first, skipping those that would close a cycle.
        var group = Enumerable.Range(0, n).ToArray();
        int Find(int x) => group[x] == x ? x : group[x] = Find(group[x]);
        var neighbours = Enumerable.Range(0, n).Select(_ => new List<int>()).ToArray();
        foreach (var (a, b, _) in links.OrderBy(l => l.Divergence).ThenBy(l => models[l.A].Name, StringComparer.Ordinal).ThenBy(l => models[l.B].Name, StringComparer.Ordinal))
        {
            int ra = Find(a), rb = Find(b);
            if (ra != rb)
            {
                group[ra] = rb;
                neighbours[a].Add(b);
                neighbours[b].Add(a);
            }
        }

        var direction = new Dictionary<(int, int), Orientation>();
        foreach (var (a, list) in neighbours.Select((l, i) => (i, l)))
        {
            foreach (int b in list.Where(b => b > a))
            {
                direction[(a, b)] = Kinship.Direction(models[a].Fingerprint, models[a].Name, models[b].Fingerprint, models[b].Name, relations[(a, b)]);
            }
        }

        var order = new List<int>();
        var placed = new bool[n];
        foreach (int start in Enumerable.Range(0, n).OrderBy(i => models[i].Name, StringComparer.Ordinal))
        {
            if (placed[start])
            {
                continue;
            }

            var component = Walk(start, neighbours).Order.Select(x => x.Node).ToList();
            var inComponent = direction.Where(d => component.Contains(d.Key.Item1)).ToDictionary();
            int root = component
                .Select(r => (Root: r, Walk: Walk(r, neighbours)))
                .OrderByDescending(c => Agreement(c.Walk.Parents, inComponent))
                .ThenBy(c => c.Walk.Order.Max(x => x.Hops))
                .ThenBy(c => c.Walk.Order.Sum(x => x.Hops))
                .ThenBy(c => models[c.Root].Name, StringComparer.Ordinal)
                .First().Root;

            foreach (var (node, _) in Walk(root, neighbours).Order)
            {
                placed[node] = true;
                order.Add(node);
            }
        }

        return order;
    }

    /// <summary>Tree links whose rule-given direction (parent first) agrees with a rooting.</summary>
    private static int Agreement(Dictionary<int, int?> parents, Dictionary<(int, int), Orientation> direction) =>
        direction.Count(d => d.Value.Sign != 0 && (d.Value.Sign > 0 ? parents[d.Key.Item2] == d.Key.Item1 : parents[d.Key.Item1] == d.Key.Item2));

    /// <summary>Breadth-first from <paramref name="root"/>: nodes with their hop count, parents first, and each node's parent.</summary>
    private static (List<(int Node, int Hops)> Order, Dictionary<int, int?> Parents) Walk(int root, List<int>[] neighbours)
    {
        var order = new List<(int, int)> { (root, 0) };
        var parents = new Dictionary<int, int?> { [root] = null };
        for (int k = 0; k < order.Count; k++)
        {
            var (node, hops) = order[k];
            foreach (int next in neighbours[node].Order())
            {
                if (parents.TryAdd(next, node))
                {
                    order.Add((next, hops + 1));
                }
            }
        }

        return (order, parents);
    }
}
