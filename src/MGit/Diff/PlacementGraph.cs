using MGit.Errors;
using MGit.Lineage;

namespace MGit.Diff;

/// <summary>
/// The lineage graph as placement reads it, in flat arrays built once per placement: version
/// positions by id, parents and children as adjacency lists, each version's depth (the longest
/// path up to a root, by Kahn's algorithm), and the ancestors of one version (one walk, reused
/// for every adoption check). Arrays and non-generic code only: this runs in every
/// <c>add --auto</c>, and the CLI compiles every generic instantiation over a value type at run time.
/// </summary>
internal sealed class PlacementGraph
{
    private readonly IReadOnlyList<ModelVersion> _versions;
    private readonly HashIndex _position;
    private readonly int[] _parentStart, _parents, _childStart, _children, _depth;
    private readonly long[][] _autoParentIds;
    private readonly bool[] _userParents;
    private bool[]? _ancestors;
    private long _ancestorsOf;

    /// <param name="isPlacementEdge">Whether placement made an edge (so placement may revise it).</param>
    /// <param name="graph">The lineage graph as it stands.</param>
    /// <param name="userSet">Versions whose parents a user set (<c>mgit reparent</c>), with or without edges.</param>
    public PlacementGraph(LineageGraph graph, Func<LineageEdge, bool> isPlacementEdge, IReadOnlySet<long>? userSet = null)
    {
        _versions = graph.Versions;
        int n = _versions.Count;
        _position = new HashIndex(n);
        for (int i = 0; i < n; i++)
        {
            _position.TryAdd((ulong)_versions[i].Id, i);
        }

        var edges = graph.Edges;
        _parentStart = new int[n + 1];
        _childStart = new int[n + 1];
        var autoCount = new int[n];
        _userParents = new bool[n];
        foreach (var edge in edges)
        {
            int child = Position(edge.ChildId);
            _parentStart[child + 1]++;
            _childStart[Position(edge.ParentId) + 1]++;
            if (isPlacementEdge(edge))
            {
                autoCount[child]++;
            }
            else
            {
                _userParents[child] = true;
            }
        }

        for (int i = 0; i < n; i++)
        {
            _parentStart[i + 1] += _parentStart[i];
            _childStart[i + 1] += _childStart[i];
        }

        _parents = new int[edges.Count];
        _children = new int[edges.Count];
        _autoParentIds = new long[n][];
        for (int i = 0; i < n; i++)
        {
            _autoParentIds[i] = autoCount[i] == 0 ? [] : new long[autoCount[i]];
        }

        var parentFill = new int[n];
        var childFill = new int[n];
        var autoFill = new int[n];
        foreach (var edge in edges)
        {
            int parent = Position(edge.ParentId), child = Position(edge.ChildId);
            _parents[_parentStart[child] + parentFill[child]++] = parent;
            _children[_childStart[parent] + childFill[parent]++] = child;
            if (isPlacementEdge(edge))
            {
                _autoParentIds[child][autoFill[child]++] = edge.ParentId;
            }
        }

        if (userSet is not null)
        {
            for (int i = 0; i < n; i++)
            {
                _userParents[i] |= userSet.Contains(_versions[i].Id);
            }
        }

        _depth = Depths(n);
    }

    /// <summary>Longest path from a root: parents before children, each child one deeper than its deepest parent.</summary>
    private int[] Depths(int n)
    {
        var depth = new int[n];
        var waiting = new int[n];
        var ready = new int[n];
        int head = 0, tail = 0;
        for (int i = 0; i < n; i++)
        {
            waiting[i] = _parentStart[i + 1] - _parentStart[i];
            if (waiting[i] == 0)
            {
                ready[tail++] = i;
            }
        }

        while (head < tail)
        {
            int v = ready[head++];
            for (int c = _childStart[v]; c < _childStart[v + 1]; c++)
            {
                int child = _children[c];
                depth[child] = Math.Max(depth[child], depth[v] + 1);
                if (--waiting[child] == 0)
                {
                    ready[tail++] = child;
                }
            }
        }

        if (tail != n)
        {
            throw new MGitException(ErrorKind.Damaged, "the lineage graph has a cycle");
        }

        return depth;
    }

    /// <summary>Version positions in the graph's list, by id.</summary>
    public HashIndex Positions => _position;

    private int Position(long id)
    {
        int position = _position.Find((ulong)id);
        return position >= 0 ? position : throw new MGitException(ErrorKind.Damaged, $"the lineage graph has an edge to a missing version (id {id}); the repository is damaged");
    }

    /// <summary>The version at <paramref name="position"/> of the graph's list, as a placement candidate.</summary>
    public PlacementCandidate Candidate(int position)
    {
        var v = _versions[position];
        return new PlacementCandidate(v.Id, v.Ref, v.Name, position, _depth[position], _autoParentIds[position], _userParents[position]);
    }

    /// <summary>Whether <paramref name="ancestor"/> is an ancestor of <paramref name="of"/> (the ancestors of the last <paramref name="of"/> asked are kept).</summary>
    public bool IsAncestor(long ancestor, long of)
    {
        if (_ancestors is null || _ancestorsOf != of)
        {
            _ancestors = new bool[_versions.Count];
            _ancestorsOf = of;
            var stack = new int[_versions.Count];
            int top = 0;
            stack[top++] = Position(of);
            while (top > 0)
            {
                int v = stack[--top];
                for (int p = _parentStart[v]; p < _parentStart[v + 1]; p++)
                {
                    int parent = _parents[p];
                    if (!_ancestors[parent])
                    {
                        _ancestors[parent] = true;
                        stack[top++] = parent;
                    }
                }
            }
        }

        return _ancestors[Position(ancestor)];
    }
}
