using System.Globalization;
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
        foreach (var (key, (node, _)) in Keyed(graphA.Node))
        {
            if (nodesB.TryGetValue(key, out var other) && node.OpType == other.Node.OpType)
            {
                var inputs = node.Input.Intersect(other.Node.Input, StringComparer.Ordinal).Where(changedSet.Contains).ToList();
                if (inputs.Count > 0)
                {
                    string subject = Describe(other.Node, other.Index);
                    contextual.Add(new GraphChange("weights_changed", subject, null, string.Join(", ", inputs)) { Node = subject });
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
        foreach (var (_, (node, index)) in nodesA.Where(n => !nodesB.ContainsKey(n.Key)))
        {
            string subject = Describe(node, index);
            changes.Add(new GraphChange("operator_removed", subject, Signature(node), null) { Node = subject });
        }

        foreach (var (_, (node, index)) in nodesB.Where(n => !nodesA.ContainsKey(n.Key)))
        {
            string subject = Describe(node, index);
            changes.Add(new GraphChange("operator_added", subject, null, Signature(node)) { Node = subject });
        }

        foreach (var (key, (before, _)) in nodesA)
        {
            if (!nodesB.TryGetValue(key, out var matched))
            {
                continue;
            }

            var after = matched.Node;
            string subject = Describe(after, matched.Index);
            if (before.OpType != after.OpType || before.Domain != after.Domain)
            {
                changes.Add(new GraphChange("operator_changed", subject, Qualified(before), Qualified(after)) { Node = subject });
            }

            // One change per moved edge: which slot, the tensor it read (or wrote) before and after.
            Rewired(changes, subject, "input", before.Input, after.Input);
            Rewired(changes, subject, "output", before.Output, after.Output);

            var attributesA = before.Attribute.ToDictionary(x => x.Name, StringComparer.Ordinal);
            var attributesB = after.Attribute.ToDictionary(x => x.Name, StringComparer.Ordinal);
            foreach (string name in attributesA.Keys.Union(attributesB.Keys).Order(StringComparer.Ordinal))
            {
                var x = attributesA.GetValueOrDefault(name);
                var y = attributesB.GetValueOrDefault(name);
                if (x is null || y is null || !x.Equals(y))
                {
                    string kind = x is null ? "attribute_added" : y is null ? "attribute_removed" : "attribute_changed";
                    changes.Add(new GraphChange(kind, $"{subject}.{name}", x is null ? null : Value(x), y is null ? null : Value(y)) { Node = subject, Attribute = name });
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

    /// <summary>Nodes by their identity (the name when every node has a unique one, else the first output), with their position in the graph.</summary>
    private static Dictionary<string, (NodeProto Node, int Index)> Keyed(IEnumerable<NodeProto> nodes)
    {
        var list = nodes.ToList();
        bool byName = list.All(n => n.Name.Length > 0) && list.Select(n => n.Name).Distinct(StringComparer.Ordinal).Count() == list.Count;
        var keyed = new Dictionary<string, (NodeProto, int)>(StringComparer.Ordinal);
        for (int i = 0; i < list.Count; i++)
        {
            var node = list[i];
            string key = byName ? node.Name : node.Output.Count > 0 && node.Output[0].Length > 0 ? $"->{node.Output[0]}" : $"#{i}";
            keyed.TryAdd(key, (node, i));
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
                changes.Add(new GraphChange(x is null ? $"{what}_added" : $"{what}_removed", name, x is null ? null : TypeText(x.Type), y is null ? null : TypeText(y.Type)));
            }
            else if (!Equals(x.Type, y.Type))
            {
                changes.Add(new GraphChange($"{what}_changed", name, TypeText(x.Type), TypeText(y.Type)));
            }
        }
    }

    private static void Rewired(List<GraphChange> changes, string subject, string what, Google.Protobuf.Collections.RepeatedField<string> before, Google.Protobuf.Collections.RepeatedField<string> after)
    {
        for (int i = 0; i < Math.Max(before.Count, after.Count); i++)
        {
            string? x = i < before.Count ? before[i] : null;
            string? y = i < after.Count ? after[i] : null;
            if (x != y)
            {
                changes.Add(new GraphChange("rewired", $"{subject} {what} {i}", Edge(x), Edge(y)) { Node = subject });
            }
        }
    }

    /// <summary>An edge's tensor; a missing slot and an empty name (an omitted optional input) both read as "(none)".</summary>
    private static string Edge(string? tensor) => string.IsNullOrEmpty(tensor) ? "(none)" : tensor;

    /// <summary>A node as users find it: its name, or its operator type and position in the graph when it has none.</summary>
    private static string Describe(NodeProto node, int index) => node.Name.Length > 0 ? node.Name : $"{node.OpType}#{index}";

    private static string Qualified(NodeProto node) => node.Domain.Length > 0 ? $"{node.Domain}.{node.OpType}" : node.OpType;

    private static string Signature(NodeProto node) => $"{Qualified(node)} (inputs: {string.Join(", ", node.Input.Select(Edge))}; outputs: {string.Join(", ", node.Output.Select(Edge))})";

    /// <summary>A graph input's or output's type as users read it: <c>FLOAT[batch, 3, 224, 224]</c>; other kinds as protobuf JSON.</summary>
    private static string TypeText(TypeProto? type) => type switch
    {
        null => "(no type)",
        { TensorType: { } tensor } => $"{OnnxDataTypes.OnnxName(tensor.ElemType)}{(tensor.Shape is { } shape ? $"[{string.Join(", ", shape.Dim.Select(Dimension))}]" : "")}",
        _ => type.ToString(),
    };

    private static string Dimension(TensorShapeProto.Types.Dimension d) =>
        d.HasDimValue ? d.DimValue.ToString(CultureInfo.InvariantCulture) : d.DimParam.Length > 0 ? d.DimParam : "?";

    private static string TensorType(TensorProto tensor) => $"{OnnxDataTypes.OnnxName(tensor.DataType)}[{string.Join(",", tensor.Dims)}]";

    /// <summary>
    /// An attribute's value as users write it: numbers, strings and lists plainly; a tensor by its
    /// type and shape (its values were left out when read), a graph by its size.
    /// </summary>
    internal static string Value(AttributeProto attribute) => attribute.Type switch
    {
        AttributeProto.Types.AttributeType.Float => Number(attribute.F),
        AttributeProto.Types.AttributeType.Int => attribute.I.ToString(CultureInfo.InvariantCulture),
        AttributeProto.Types.AttributeType.String => attribute.S.ToStringUtf8(),
        AttributeProto.Types.AttributeType.Tensor => Tensor(attribute.T),
        AttributeProto.Types.AttributeType.Graph => Graph(attribute.G),
        AttributeProto.Types.AttributeType.SparseTensor => attribute.SparseTensor is { } sparse ? $"sparse tensor [{string.Join(", ", sparse.Dims)}]" : "sparse tensor",
        AttributeProto.Types.AttributeType.TypeProto => TypeText(attribute.Tp),
        AttributeProto.Types.AttributeType.Floats => List(attribute.Floats.Select(Number)),
        AttributeProto.Types.AttributeType.Ints => List(attribute.Ints.Select(i => i.ToString(CultureInfo.InvariantCulture))),
        AttributeProto.Types.AttributeType.Strings => List(attribute.Strings.Select(x => x.ToStringUtf8())),
        AttributeProto.Types.AttributeType.Tensors => List(attribute.Tensors.Select(Tensor)),
        AttributeProto.Types.AttributeType.Graphs => List(attribute.Graphs.Select(Graph)),
        AttributeProto.Types.AttributeType.SparseTensors => $"{attribute.SparseTensors.Count} sparse tensor(s)",
        AttributeProto.Types.AttributeType.TypeProtos => List(attribute.TypeProtos.Select(TypeText)),
        _ => Untyped(attribute),
    };

    /// <summary>Old exporters leave the type unset: the value is whichever field is set.</summary>
    private static string Untyped(AttributeProto a) =>
        a.HasF ? Number(a.F)
        : a.HasI ? a.I.ToString(CultureInfo.InvariantCulture)
        : a.HasS ? a.S.ToStringUtf8()
        : a.T is not null ? Tensor(a.T)
        : a.G is not null ? Graph(a.G)
        : a.Floats.Count > 0 ? List(a.Floats.Select(Number))
        : a.Ints.Count > 0 ? List(a.Ints.Select(i => i.ToString(CultureInfo.InvariantCulture)))
        : a.Strings.Count > 0 ? List(a.Strings.Select(x => x.ToStringUtf8()))
        : "(empty)";

    private static string Number(float value) => value.ToString("R", CultureInfo.InvariantCulture);

    private static string List(IEnumerable<string> items) => $"[{string.Join(", ", items)}]";

    private static string Tensor(TensorProto? tensor) => tensor is null ? "tensor" : $"tensor {TensorType(tensor)}";

    private static string Graph(GraphProto? graph) => graph is null ? "graph" : $"graph {(graph.Name.Length > 0 ? graph.Name + " " : "")}({graph.Node.Count} nodes)";
}
