using MGit.Formats.Onnx;
using MGit.Formats.Onnx.Proto;

namespace MGit.Diff;

/// <summary>
/// The MGit paper's computation-graph diff for ONNX models, over the top-level graph. Nodes are
/// matched by name when every node has a unique one, otherwise by their first output (tensor names
/// are unique in an ONNX graph). <c>structural</c> ignores weights: operators added or removed, an
/// operator's type changed, attributes added, removed or changed, inputs rewired, graph inputs and
/// outputs added, removed or retyped, initializers added, removed or reshaped. <c>contextual</c>
/// adds what weights change: every initializer (or Constant value) whose content differs, and every
/// matched operator that consumes one. Only the skeleton of each file is read (weights are compared
/// by their chunk ids).
/// </summary>
internal sealed class OnnxGraphDiff : IStructuralDiff
{
    public string Format => "onnx";

    public StructuralDiffResult Diff(DiffFile a, DiffFile b, IReadOnlyList<DiffTensor> tensorsA, IReadOnlyList<DiffTensor> tensorsB)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        GraphProto graphA = Read(a).Model.Graph ?? new GraphProto();
        GraphProto graphB = Read(b).Model.Graph ?? new GraphProto();
        var structural = Structural(graphA, graphB);

        var contentA = tensorsA.GroupBy(t => t.Name, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);
        var contentB = tensorsB.GroupBy(t => t.Name, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);
        var changedValues = contentA
            .Where(p => contentB.TryGetValue(p.Key, out var other) && p.Value.Dtype == other.Dtype && p.Value.Shape.SequenceEqual(other.Shape) && !p.Value.SameContent(other))
            .Select(p => p.Key)
            .Order(StringComparer.Ordinal)
            .ToList();
        var contextual = new List<GraphChange>(structural);
        contextual.AddRange(changedValues.Select(name => new GraphChange("values_changed", name, null, null)));
        var changedSet = changedValues.ToHashSet(StringComparer.Ordinal);
        var nodesB = Keyed(graphB.Node);
        foreach (var (key, node) in Keyed(graphA.Node))
        {
            if (nodesB.TryGetValue(key, out var other) && node.OpType == other.OpType)
            {
                var inputs = node.Input.Intersect(other.Input, StringComparer.Ordinal).Where(changedSet.Contains).ToList();
                if (inputs.Count > 0)
                {
                    contextual.Add(new GraphChange("weights_changed", Describe(key, node), null, string.Join(", ", inputs)));
                }
            }
        }

        return new StructuralDiffResult(structural, contextual);
    }

    /// <summary>The graph changes that ignore weight values.</summary>
    public static IReadOnlyList<GraphChange> Structural(GraphProto a, GraphProto b)
    {
        var changes = new List<GraphChange>();
        var nodesA = Keyed(a.Node);
        var nodesB = Keyed(b.Node);
        foreach (var (key, node) in nodesA.Where(n => !nodesB.ContainsKey(n.Key)))
        {
            changes.Add(new GraphChange("operator_removed", Describe(key, node), Signature(node), null));
        }

        foreach (var (key, node) in nodesB.Where(n => !nodesA.ContainsKey(n.Key)))
        {
            changes.Add(new GraphChange("operator_added", Describe(key, node), null, Signature(node)));
        }

        foreach (var (key, before) in nodesA)
        {
            if (!nodesB.TryGetValue(key, out var after))
            {
                continue;
            }

            string subject = Describe(key, after);
            if (before.OpType != after.OpType || before.Domain != after.Domain)
            {
                changes.Add(new GraphChange("operator_changed", subject, Qualified(before), Qualified(after)));
            }

            if (!before.Input.SequenceEqual(after.Input) || !before.Output.SequenceEqual(after.Output))
            {
                changes.Add(new GraphChange("rewired", subject, Wiring(before), Wiring(after)));
            }

            var attributesA = before.Attribute.ToDictionary(x => x.Name, StringComparer.Ordinal);
            var attributesB = after.Attribute.ToDictionary(x => x.Name, StringComparer.Ordinal);
            foreach (string name in attributesA.Keys.Union(attributesB.Keys).Order(StringComparer.Ordinal))
            {
                var x = attributesA.GetValueOrDefault(name);
                var y = attributesB.GetValueOrDefault(name);
                if (x is null || y is null || !x.Equals(y))
                {
                    string kind = x is null ? "attribute_added" : y is null ? "attribute_removed" : "attribute_changed";
                    changes.Add(new GraphChange(kind, $"{subject}.{name}", x is null ? null : Value(x), y is null ? null : Value(y)));
                }
            }
        }

        Compare(changes, "input", a.Input, b.Input);
        Compare(changes, "output", a.Output, b.Output);
        var initializersA = a.Initializer.GroupBy(t => t.Name, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);
        var initializersB = b.Initializer.GroupBy(t => t.Name, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);
        foreach (string name in initializersA.Keys.Union(initializersB.Keys).Order(StringComparer.Ordinal))
        {
            var x = initializersA.GetValueOrDefault(name);
            var y = initializersB.GetValueOrDefault(name);
            if (x is null || y is null)
            {
                changes.Add(new GraphChange(x is null ? "initializer_added" : "initializer_removed", name, x is null ? null : TensorType(x), y is null ? null : TensorType(y)));
            }
            else if (TensorType(x) != TensorType(y))
            {
                changes.Add(new GraphChange("initializer_reshaped", name, TensorType(x), TensorType(y)));
            }
        }

        return changes;
    }

    private static OnnxModel Read(DiffFile file)
    {
        using var stream = file.Open();
        return OnnxModel.ReadStructure(stream, file.Path);
    }

    /// <summary>Nodes by their identity: the name when every node has a unique one, else the first output.</summary>
    private static Dictionary<string, NodeProto> Keyed(IEnumerable<NodeProto> nodes)
    {
        var list = nodes.ToList();
        bool byName = list.All(n => n.Name.Length > 0) && list.Select(n => n.Name).Distinct(StringComparer.Ordinal).Count() == list.Count;
        var keyed = new Dictionary<string, NodeProto>(StringComparer.Ordinal);
        for (int i = 0; i < list.Count; i++)
        {
            var node = list[i];
            string key = byName ? node.Name : node.Output.Count > 0 && node.Output[0].Length > 0 ? $"->{node.Output[0]}" : $"#{i}";
            keyed.TryAdd(key, node);
        }

        return keyed;
    }

    private static void Compare(List<GraphChange> changes, string what, IEnumerable<ValueInfoProto> a, IEnumerable<ValueInfoProto> b)
    {
        var byNameA = a.GroupBy(v => v.Name, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);
        var byNameB = b.GroupBy(v => v.Name, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);
        foreach (string name in byNameA.Keys.Union(byNameB.Keys).Order(StringComparer.Ordinal))
        {
            var x = byNameA.GetValueOrDefault(name);
            var y = byNameB.GetValueOrDefault(name);
            if (x is null || y is null)
            {
                changes.Add(new GraphChange(x is null ? $"{what}_added" : $"{what}_removed", name, x?.Type?.ToString(), y?.Type?.ToString()));
            }
            else if (!Equals(x.Type, y.Type))
            {
                changes.Add(new GraphChange($"{what}_changed", name, x.Type?.ToString(), y.Type?.ToString()));
            }
        }
    }

    private static string Describe(string key, NodeProto node) => key.StartsWith("->", StringComparison.Ordinal) || key.StartsWith('#') ? $"{node.OpType}{key}" : key;

    private static string Qualified(NodeProto node) => node.Domain.Length > 0 ? $"{node.Domain}.{node.OpType}" : node.OpType;

    private static string Signature(NodeProto node) => $"{Qualified(node)} {Wiring(node)}";

    private static string Wiring(NodeProto node) => $"({string.Join(", ", node.Input)}) -> ({string.Join(", ", node.Output)})";

    private static string TensorType(TensorProto tensor) => $"{OnnxDataTypes.OnnxName(tensor.DataType)}[{string.Join(",", tensor.Dims)}]";

    /// <summary>An attribute's value as protobuf JSON (a tensor attribute without its values: they were left out when read).</summary>
    private static string Value(AttributeProto attribute)
    {
        var copy = attribute.Clone();
        copy.Name = "";
        copy.DocString = "";
        return copy.ToString();
    }
}
