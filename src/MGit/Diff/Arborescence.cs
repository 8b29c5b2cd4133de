namespace MGit.Diff;

/// <summary>One possible edge of an arborescence: <paramref name="From"/> would be the parent of <paramref name="To"/> at <paramref name="Cost"/>.</summary>
internal readonly record struct ArcCandidate(int From, int To, double Cost);

/// <summary>
/// Minimum spanning arborescence (Chu-Liu/Edmonds): of all ways to give every node but the root
/// exactly one parent without a cycle, the one of least total cost. Each node takes its
/// cheapest incoming arc; a cycle among those is contracted into one node, arcs into it cost
/// what they save over the cycle's own arc, and the smaller problem is solved the same way and
/// expanded. O(nodes x arcs), for the few hundred models of one <c>mgit infer</c>. Ties go to the
/// arc listed first, so the answer is deterministic.
/// </summary>
internal static class Arborescence
{
    /// <summary>The index in <paramref name="arcs"/> of each node's parent arc (-1 for the root).</summary>
    /// <exception cref="InvalidOperationException">Some node has no incoming arc: no arborescence exists (callers give every node an arc from the root).</exception>
    public static int[] Solve(int nodes, int root, IReadOnlyList<ArcCandidate> arcs)
    {
        var incoming = new int[nodes];
        Array.Fill(incoming, -1);
        for (int a = 0; a < arcs.Count; a++)
        {
            var arc = arcs[a];
            if (arc.To != root && arc.From != arc.To && (incoming[arc.To] < 0 || arc.Cost < arcs[incoming[arc.To]].Cost))
            {
                incoming[arc.To] = a;
            }
        }

        for (int v = 0; v < nodes; v++)
        {
            if (v != root && incoming[v] < 0)
            {
                throw new InvalidOperationException($"node {v} cannot be reached");
            }
        }

        // Cycles among the chosen arcs: walk up from each node until the root or a node seen before.
        var cycleOf = new int[nodes];
        Array.Fill(cycleOf, -1);
        var seenFrom = new int[nodes];
        Array.Fill(seenFrom, -1);
        int cycles = 0;
        for (int start = 0; start < nodes; start++)
        {
            int v = start;
            while (v != root && seenFrom[v] < 0 && cycleOf[v] < 0)
            {
                seenFrom[v] = start;
                v = arcs[incoming[v]].From;
            }

            if (v != root && seenFrom[v] == start && cycleOf[v] < 0)
            {
                // v is on a cycle found from this start: mark it.
                int u = v;
                do
                {
                    cycleOf[u] = cycles;
                    u = arcs[incoming[u]].From;
                }
                while (u != v);
                cycles++;
            }
        }

        if (cycles == 0)
        {
            incoming[root] = -1;
            return incoming;
        }

        // Contract: each cycle becomes one node; every other node keeps a node of its own.
        var component = new int[nodes];
        int next = cycles;
        for (int v = 0; v < nodes; v++)
        {
            component[v] = cycleOf[v] >= 0 ? cycleOf[v] : next++;
        }

        var contracted = new List<ArcCandidate>();
        var original = new List<int>();
        for (int a = 0; a < arcs.Count; a++)
        {
            var arc = arcs[a];
            int from = component[arc.From], to = component[arc.To];
            if (from == to)
            {
                continue;
            }

            double cost = cycleOf[arc.To] >= 0 ? arc.Cost - arcs[incoming[arc.To]].Cost : arc.Cost;
            contracted.Add(new ArcCandidate(from, to, cost));
            original.Add(a);
        }

        var chosen = Solve(next, component[root], contracted);
        var result = new int[nodes];
        Array.Fill(result, -1);
        // Cycle nodes keep their cycle arc, except the one the arc entering the cycle replaces.
        for (int v = 0; v < nodes; v++)
        {
            if (cycleOf[v] >= 0)
            {
                result[v] = incoming[v];
            }
        }

        for (int c = 0; c < next; c++)
        {
            if (chosen[c] >= 0)
            {
                int a = original[chosen[c]];
                result[arcs[a].To] = a;
            }
        }

        result[root] = -1;
        return result;
    }
}
