using System.Text;
using MGit.Lineage;

namespace MGit.Cli.Rendering;

/// <summary>
/// Draws the lineage graph as a tree, as <c>tree</c> and <c>git log --graph</c> do: each version
/// under its parents (adapted and versioned). A version with several parents is drawn in full
/// once, under the first of them reached, and referred to after that ("see above").
/// </summary>
public static class LineageTree
{
    /// <summary>The mark after the version <c>log REF</c> was asked about.</summary>
    public const char FocusMark = '◀';

    /// <summary>The whole graph, or with a <paramref name="focus"/> its ancestors and descendants (<see cref="Around"/>), the focus marked.</summary>
    public static string Render(LineageGraph graph, ModelVersion? focus = null)
    {
        if (focus is not null)
        {
            graph = Around(graph, focus);
        }

        var text = new StringBuilder();
        var drawn = new HashSet<long>();
        foreach (var root in graph.Roots())
        {
            text.Append(Label(graph, root, null, focus)).AppendLine();
            drawn.Add(root.Id);
            DrawChildren(graph, root, "", drawn, focus, text);
        }

        return text.ToString();
    }

    /// <summary>The part of the graph one version belongs to: its ancestors, itself and its descendants, the edges among them and their tags.</summary>
    public static LineageGraph Around(LineageGraph graph, ModelVersion focus)
    {
        var ids = graph.Ancestors(focus).Concat(graph.Descendants(focus)).Select(v => v.Id).Append(focus.Id).ToHashSet();
        return new LineageGraph(
            graph.Versions.Where(v => ids.Contains(v.Id)).ToList(),
            graph.Edges.Where(e => ids.Contains(e.ParentId) && ids.Contains(e.ChildId)).ToList(),
            graph.Tags.Where(t => ids.Contains(t.VersionId)).ToList());
    }

    private static void DrawChildren(LineageGraph graph, ModelVersion node, string indent, HashSet<long> drawn, ModelVersion? focus, StringBuilder text)
    {
        // One line per child, by the strongest link when a child is both adapted from and a version of this node.
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
            text.Append(indent).Append(last ? "└── " : "├── ");
            if (first)
            {
                text.Append(Label(graph, child, edges[i], focus)).AppendLine();
                DrawChildren(graph, child, indent + (last ? "    " : "│   "), drawn, focus, text);
            }
            else
            {
                // Drawn in full under another parent: name it and the link, nothing more.
                text.Append(child.Ref).Append(Via(edges[i])).Append("  (see above)").AppendLine();
            }
        }
    }

    private static string Via(LineageEdge edge) => edge.Kind == EdgeKind.Versioned ? "  (next version)" : $"  ({edge.How ?? "adapted"})";

    /// <summary>The version's tags as git decorates refs, <c>  (tag: production, tag: v1.0)</c>; empty when it has none.</summary>
    public static string Tags(LineageGraph graph, ModelVersion version) =>
        graph.TagsOf(version) is { Count: > 0 } tags ? $"  ({string.Join(", ", tags.Select(t => "tag: " + t.Name))})" : "";

    private static string Label(LineageGraph graph, ModelVersion version, LineageEdge? via, ModelVersion? focus)
    {
        var label = new StringBuilder(version.Ref).Append(Tags(graph, version));
        if (via is not null)
        {
            label.Append(Via(via));
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

        if (version.Id == focus?.Id)
        {
            label.Append("  ").Append(FocusMark);
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
