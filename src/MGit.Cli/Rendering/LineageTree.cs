using System.Text;
using MGit.Lineage;

namespace MGit.Cli.Rendering;

/// <summary>
/// Draws the lineage graph as a tree: each version under its parents (adapted and versioned),
/// a version with several parents drawn in full once and referred to after that.
/// </summary>
public static class LineageTree
{
    public static string Render(LineageGraph graph, ModelVersion? focus = null)
    {
        var text = new StringBuilder();
        var drawn = new HashSet<long>();
        IEnumerable<ModelVersion> roots;
        if (focus is null)
        {
            roots = graph.Roots();
        }
        else
        {
            // The chain of ancestors above the focus, then the focus's subtree.
            var chain = graph.Ancestors(focus).Reverse().ToList();
            foreach (var ancestor in chain)
            {
                text.Append(Label(graph, ancestor, null)).AppendLine();
            }

            if (chain.Count > 0)
            {
                text.AppendLine("  ...");
            }

            roots = [focus];
        }

        foreach (var root in roots)
        {
            text.Append(Label(graph, root, null)).AppendLine();
            drawn.Add(root.Id);
            DrawChildren(graph, root, "", drawn, text);
        }

        return text.ToString();
    }

    private static void DrawChildren(LineageGraph graph, ModelVersion node, string indent, HashSet<long> drawn, StringBuilder text)
    {
        var edges = graph.ChildEdges(node)
            .GroupBy(e => e.ChildId)
            .Select(g => g.OrderBy(e => e.Kind).First())
            .OrderBy(e => e.ChildId)
            .ToList();
        for (int i = 0; i < edges.Count; i++)
        {
            bool last = i == edges.Count - 1;
            var child = graph[edges[i].ChildId];
            bool first = drawn.Add(child.Id);
            text.Append(indent).Append(last ? "└── " : "├── ").Append(Label(graph, child, edges[i]));
            if (!first)
            {
                text.Append("  (shown above)");
            }

            text.AppendLine();
            if (first)
            {
                DrawChildren(graph, child, indent + (last ? "    " : "│   "), drawn, text);
            }
        }
    }

    /// <summary>The version's tags as git decorates refs, <c>  (tag: production, tag: v1.0)</c>; empty when it has none.</summary>
    public static string Tags(LineageGraph graph, ModelVersion version) =>
        graph.TagsOf(version) is { Count: > 0 } tags ? $"  ({string.Join(", ", tags.Select(t => "tag: " + t.Name))})" : "";

    private static string Label(LineageGraph graph, ModelVersion version, LineageEdge? via)
    {
        var label = new StringBuilder(version.Ref).Append(Tags(graph, version));
        if (via is not null)
        {
            label.Append(via.Kind == EdgeKind.Versioned ? "  (next version)" : $"  ({via.How ?? "adapted"})");
        }

        if (version.Type is not null)
        {
            label.Append("  [").Append(version.Type).Append(']');
        }

        var parents = graph.Parents(version);
        if (parents.Count > 1)
        {
            label.Append("  parents: ").Append(string.Join(", ", parents.Select(p => p.Ref)));
        }

        label.Append("  ").Append(Size(version.LogicalBytes));
        if (!string.IsNullOrEmpty(version.Message))
        {
            label.Append("  \"").Append(version.Message.Length > 60 ? version.Message[..60] + "…" : version.Message).Append('"');
        }

        return label.ToString();
    }

    public static string Size(long bytes) => bytes switch
    {
        >= 1L << 30 => $"{bytes / (double)(1L << 30):0.00} GiB",
        >= 1L << 20 => $"{bytes / (double)(1L << 20):0.0} MiB",
        >= 1L << 10 => $"{bytes / (double)(1L << 10):0.0} KiB",
        _ => $"{bytes} B",
    };
}
