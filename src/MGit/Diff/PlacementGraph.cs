using MGit.Errors;
using MGit.Lineage;

namespace MGit.Diff;

/// <summary>
/// The lineage graph as placement reads it: version positions by id, and for the versions it
/// asks about, their depth (the longest path up to a root), the parents placement gave them and
/// whether a user gave any, and the ancestors of one version (one walk, reused for every adoption
/// check). All of it is worked out on demand from the graph's edge index and kept: the prefilter
/// asks about a few hundred versions of 100,000, the full scan about all of them (each depth then
/// computed once, as by a topological pass).
/// </summary>
internal sealed class PlacementGraph
{
    private const int Unknown = -1, InProgress = -2;
    private readonly LineageGraph _graph;
    private readonly IReadOnlyList<ModelVersion> _versions;
    private readonly HashIndex _position;
    private readonly Func<LineageEdge, bool> _isPlacementEdge;
    private readonly IReadOnlySet<long>? _userSet;
    private readonly int[] _depth;
    private readonly PlacementCandidate?[] _candidates;
    private bool[]? _ancestors;
    private long _ancestorsOf;

    /// <param name="isPlacementEdge">Whether placement made an edge (so placement may revise it).</param>
    /// <param name="graph">The lineage graph as it stands.</param>
    /// <param name="userSet">Versions whose parents a user set (<c>mgit reparent</c>), with or without edges.</param>
    public PlacementGraph(LineageGraph graph, Func<LineageEdge, bool> isPlacementEdge, IReadOnlySet<long>? userSet = null)
    {
        _graph = graph;
        _versions = graph.Versions;
        _isPlacementEdge = isPlacementEdge;
        _userSet = userSet;
        int n = _versions.Count;
        _position = new HashIndex(n);
        for (int i = 0; i < n; i++)
        {
            _position.TryAdd((ulong)_versions[i].Id, i);
        }

        _depth = new int[n];
        Array.Fill(_depth, Unknown);
        _candidates = new PlacementCandidate?[n];
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
        if (_candidates[position] is { } known)
        {
            return known;
        }

        var v = _versions[position];
        var edges = _graph.ParentEdges(v);
        int auto = 0;
        bool userParents = _userSet?.Contains(v.Id) == true;
        foreach (var edge in edges)
        {
            Position(edge.ParentId);
            if (_isPlacementEdge(edge))
            {
                auto++;
            }
            else
            {
                userParents = true;
            }
        }

        var autoParentIds = auto == 0 ? [] : new long[auto];
        int fill = 0;
        foreach (var edge in edges)
        {
            if (_isPlacementEdge(edge))
            {
                autoParentIds[fill++] = edge.ParentId;
            }
        }

        return _candidates[position] = new PlacementCandidate(v.Id, v.Ref, v.Name, position, Depth(position), autoParentIds, userParents);
    }

    /// <summary>Longest path up to a root (memoised, walked with an explicit stack: chains can be long); a cycle is damage.</summary>
    private int Depth(int start)
    {
        if (_depth[start] >= 0)
        {
            return _depth[start];
        }

        var stack = new Stack<int>();
        stack.Push(start);
        while (stack.Count > 0)
        {
            int v = stack.Peek();
            if (_depth[v] == Unknown)
            {
                _depth[v] = InProgress;
            }

            bool waiting = false;
            int depth = 0;
            foreach (var edge in _graph.ParentEdges(_versions[v]))
            {
                int parent = Position(edge.ParentId);
                if (_depth[parent] == InProgress)
                {
                    throw new MGitException(ErrorKind.Damaged, "the lineage graph has a cycle");
                }

                if (_depth[parent] == Unknown)
                {
                    stack.Push(parent);
                    waiting = true;
                }
                else
                {
                    depth = Math.Max(depth, _depth[parent] + 1);
                }
            }

            if (!waiting)
            {
                _depth[v] = depth;
                stack.Pop();
            }
        }

        return _depth[start];
    }

    /// <summary>Whether <paramref name="ancestor"/> is an ancestor of <paramref name="of"/> (the ancestors of the last <paramref name="of"/> asked are kept).</summary>
    public bool IsAncestor(long ancestor, long of)
    {
        if (_ancestors is null || _ancestorsOf != of)
        {
            _ancestors = new bool[_versions.Count];
            _ancestorsOf = of;
            var stack = new Stack<int>();
            stack.Push(Position(of));
            while (stack.Count > 0)
            {
                foreach (var edge in _graph.ParentEdges(_versions[stack.Pop()]))
                {
                    int parent = Position(edge.ParentId);
                    if (!_ancestors[parent])
                    {
                        _ancestors[parent] = true;
                        stack.Push(parent);
                    }
                }
            }
        }

        return _ancestors[Position(ancestor)];
    }
}
