using System.Text;
using System.Text.Json;

namespace MGit.Diff;

/// <summary>One difference between two JSON documents, at a JSONPath-like location ("$.layers[2].size").</summary>
public sealed record JsonChange(string Path, string Op, string? Before, string? After);

/// <summary>A line only in the first (<c>removed</c>) or only in the second (<c>added</c>) text; line numbers from 1.</summary>
public sealed record LineChange(string Op, int Line, string Text);

/// <summary>Structured diff of JSON documents (config.json, tokenizer settings): keys added, removed, changed.</summary>
internal static class JsonDiff
{
    public const int MaxChanges = 1000;

    /// <summary>Null when either side is not JSON.</summary>
    public static List<JsonChange>? Compare(byte[] a, byte[] b)
    {
        try
        {
            using var da = JsonDocument.Parse(a);
            using var db = JsonDocument.Parse(b);
            var changes = new List<JsonChange>();
            Walk("$", da.RootElement, db.RootElement, changes);
            return changes;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static void Walk(string path, JsonElement a, JsonElement b, List<JsonChange> changes)
    {
        if (changes.Count >= MaxChanges)
        {
            return;
        }

        if (a.ValueKind == JsonValueKind.Object && b.ValueKind == JsonValueKind.Object)
        {
            var right = b.EnumerateObject().GroupBy(p => p.Name, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Last().Value, StringComparer.Ordinal);
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var property in a.EnumerateObject())
            {
                if (!seen.Add(property.Name))
                {
                    continue;
                }

                string child = Member(path, property.Name);
                if (right.TryGetValue(property.Name, out var other))
                {
                    Walk(child, property.Value, other, changes);
                }
                else
                {
                    changes.Add(new JsonChange(child, "removed", property.Value.GetRawText(), null));
                }
            }

            foreach (var (name, value) in right.Where(p => !seen.Contains(p.Key)))
            {
                changes.Add(new JsonChange(Member(path, name), "added", null, value.GetRawText()));
            }

            return;
        }

        if (a.ValueKind == JsonValueKind.Array && b.ValueKind == JsonValueKind.Array)
        {
            int la = a.GetArrayLength(), lb = b.GetArrayLength();
            for (int i = 0; i < Math.Max(la, lb); i++)
            {
                string child = $"{path}[{i}]";
                if (i >= lb)
                {
                    changes.Add(new JsonChange(child, "removed", a[i].GetRawText(), null));
                }
                else if (i >= la)
                {
                    changes.Add(new JsonChange(child, "added", null, b[i].GetRawText()));
                }
                else
                {
                    Walk(child, a[i], b[i], changes);
                }
            }

            return;
        }

        if (!JsonElement.DeepEquals(a, b))
        {
            changes.Add(new JsonChange(path, "changed", a.GetRawText(), b.GetRawText()));
        }
    }

    private static string Member(string path, string name) =>
        name.All(c => char.IsLetterOrDigit(c) || c == '_') && name.Length > 0 ? $"{path}.{name}" : $"{path}[{JsonSerializer.Serialize(name, DiffJson.Default.String)}]";
}

/// <summary>Line diff (Myers' O(ND) shortest edit script) for text files: READMEs, vocabularies, merges.</summary>
internal static class LineDiff
{
    /// <summary>Beyond this many differing lines the edit script is not computed (memory grows with its square).</summary>
    public const int MaxEdits = 2000;

    /// <summary>Null when either side is not UTF-8 text (a NUL byte or invalid UTF-8); an empty list for equal texts.</summary>
    public static string[]? Lines(byte[] bytes)
    {
        if (bytes.AsSpan().Contains((byte)0))
        {
            return null;
        }

        try
        {
            string text = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes);
            return text.ReplaceLineEndings("\n").Split('\n');
        }
        catch (DecoderFallbackException)
        {
            return null;
        }
    }

    /// <summary>The lines removed from <paramref name="a"/> and added in <paramref name="b"/>, in order; null when there are more than <see cref="MaxEdits"/>.</summary>
    public static List<LineChange>? Compare(string[] a, string[] b)
    {
        int n = a.Length, m = b.Length, max = n + m;
        var v = new int[(2 * max) + 3];
        int offset = max + 1;
        var trace = new List<int[]>();
        for (int d = 0; d <= Math.Min(max, MaxEdits); d++)
        {
            // Snapshot of diagonals -d-1..d+1 as they stood before step d (the backtrack reads them).
            trace.Add(v.AsSpan(offset - d - 1, (2 * d) + 3).ToArray());
            for (int k = -d; k <= d; k += 2)
            {
                int x = k == -d || (k != d && v[offset + k - 1] < v[offset + k + 1]) ? v[offset + k + 1] : v[offset + k - 1] + 1;
                int y = x - k;
                while (x < n && y < m && a[x] == b[y])
                {
                    x++;
                    y++;
                }

                v[offset + k] = x;
                if (x >= n && y >= m)
                {
                    return Backtrack(a, b, trace);
                }
            }
        }

        return null;
    }

    private static List<LineChange> Backtrack(string[] a, string[] b, List<int[]> trace)
    {
        var changes = new List<LineChange>();
        int x = a.Length, y = b.Length;
        for (int d = trace.Count - 1; d > 0; d--)
        {
            int[] v = trace[d];
            int k = x - y;
            int At(int diagonal) => v[diagonal + d + 1];
            int previousK = k == -d || (k != d && At(k - 1) < At(k + 1)) ? k + 1 : k - 1;
            int previousX = At(previousK);
            int previousY = previousX - previousK;
            while (x > previousX && y > previousY)
            {
                x--;
                y--;
            }

            if (x == previousX)
            {
                changes.Add(new LineChange("added", previousY + 1, b[previousY]));
            }
            else
            {
                changes.Add(new LineChange("removed", previousX + 1, a[previousX]));
            }

            (x, y) = (previousX, previousY);
        }

        changes.Reverse();
        return changes;
    }
}

/// <summary>A change in a model's computation graph: an operator added or removed, an attribute changed, an edge rewired.</summary>
public sealed record GraphChange(string Kind, string Subject, string? Before, string? After)
{
    /// <summary>The node the change is about (its name, or its operator type and index in the graph when it has none); null for graph inputs, outputs and initializers.</summary>
    public string? Node { get; init; }

    /// <summary>The attribute's name, for attribute changes.</summary>
    public string? Attribute { get; init; }
}

/// <summary>
/// A format's structural diff (the MGit paper's computation-graph diff): <c>structural</c>
/// ignores weights, <c>contextual</c> includes them. Formats register one in
/// <see cref="StructuralDiffs.All"/>; files of other formats get the tensor and skeleton diff only.
/// </summary>
internal interface IStructuralDiff
{
    /// <summary>The format name it handles, as in manifests ("onnx").</summary>
    string Format { get; }

    /// <summary>Compares the graphs of two files of <see cref="Format"/>; reads what it needs through the files' streams.</summary>
    StructuralDiffResult Diff(DiffFile a, DiffFile b, IReadOnlyList<DiffTensor> tensorsA, IReadOnlyList<DiffTensor> tensorsB);
}

/// <summary>What a structural diff found between the graphs of two files.</summary>
/// <param name="Structural">Changes to the graph that ignore weight values: operators added, removed or retyped, attributes, rewired inputs, graph inputs and outputs, initializers added, removed or reshaped.</param>
/// <param name="Contextual">The structural changes plus what weights change: every initializer whose values differ, and every operator that consumes one.</param>
public sealed record StructuralDiffResult(IReadOnlyList<GraphChange> Structural, IReadOnlyList<GraphChange> Contextual);

/// <summary>The structural diffs this build knows; a format adds its own by adding one class here.</summary>
internal static class StructuralDiffs
{
    public static IReadOnlyList<IStructuralDiff> All { get; } = [new OnnxGraphDiff()];

    public static IStructuralDiff? For(string format) => All.FirstOrDefault(d => d.Format == format);
}
