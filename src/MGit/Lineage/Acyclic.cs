namespace MGit.Lineage;

/// <summary>
/// Which edges of a would-be lineage graph close a cycle (a self-edge is the shortest). One check
/// for every place edges arrive from (the database before a commit, a remote's snapshot, the
/// union of two graphs), so they all agree on what a broken graph is.
/// </summary>
internal static class Acyclic
{
    /// <summary>
    /// The indexes of the edges that close a cycle when the edges are added in the order given
    /// (each refused one left out); empty when the edges form a DAG, which is checked first in
    /// linear time. Only a graph with a cycle pays for the edge-by-edge walk.
    /// </summary>
    public static IReadOnlyList<int> CycleClosingEdges<T>(IReadOnlyList<(T Parent, T Child)> edges)
        where T : notnull
    {
        if (IsAcyclic(edges))
        {
            return [];
        }

        var children = new Dictionary<T, List<T>>();
        var closing = new List<int>();
        for (int i = 0; i < edges.Count; i++)
        {
            var (parent, child) = edges[i];
            if (EqualityComparer<T>.Default.Equals(parent, child) || Reaches(children, child, parent))
            {
                closing.Add(i);
                continue;
            }

            if (!children.TryGetValue(parent, out var list))
            {
                children[parent] = list = [];
            }

            list.Add(child);
        }

        return closing;
    }

    /// <summary>Kahn's algorithm: every node can be taken once all its parents are.</summary>
    private static bool IsAcyclic<T>(IReadOnlyList<(T Parent, T Child)> edges)
        where T : notnull
    {
        var indegree = new Dictionary<T, int>();
        var children = new Dictionary<T, List<T>>();
        foreach (var (parent, child) in edges)
        {
            indegree.TryAdd(parent, 0);
            indegree[child] = indegree.GetValueOrDefault(child) + 1;
            if (!children.TryGetValue(parent, out var list))
            {
                children[parent] = list = [];
            }

            list.Add(child);
        }

        var ready = new Stack<T>(indegree.Where(p => p.Value == 0).Select(p => p.Key));
        int taken = 0;
        while (ready.TryPop(out var node))
        {
            taken++;
            foreach (var child in children.GetValueOrDefault(node) ?? [])
            {
                if (--indegree[child] == 0)
                {
                    ready.Push(child);
                }
            }
        }

        return taken == indegree.Count;
    }

    private static bool Reaches<T>(Dictionary<T, List<T>> children, T from, T to)
        where T : notnull
    {
        var seen = new HashSet<T> { from };
        var pending = new Stack<T>();
        pending.Push(from);
        while (pending.TryPop(out var node))
        {
            if (EqualityComparer<T>.Default.Equals(node, to))
            {
                return true;
            }

            foreach (var child in children.GetValueOrDefault(node) ?? [])
            {
                if (seen.Add(child))
                {
                    pending.Push(child);
                }
            }
        }

        return false;
    }
}
