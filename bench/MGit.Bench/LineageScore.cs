using System.Text.Json;

namespace MGit.Bench;

/// <summary>
/// One recovered lineage graph scored against the truth. An edge slot is a (model, true parent) pair,
/// or one slot for a root; it is right when the recovered parents include that true parent (for a
/// root: when it has no recovered parent). Direction counts the recovered edges that join a true
/// parent-child pair, and how many of them point from the parent to the child.
/// </summary>
internal sealed record LineageScore(int Right, int Total, int DirectionRight, int DirectionTotal, int WrongEdges, int FalseRelations, int Achievable, List<string> Mistakes)
{
    /// <summary>The recovered parents of each model, by the model's key, read from <c>mgit graph --format json</c>.</summary>
    public static Dictionary<string, HashSet<string>> ReadGraph(string graphJson, IReadOnlyDictionary<string, string> keyByName)
    {
        using var document = JsonDocument.Parse(graphJson);
        var keyByRef = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var node in document.RootElement.GetProperty("nodes").EnumerateArray())
        {
            string reference = node.GetProperty("ref").GetString()!;
            string name = node.GetProperty("name").GetString()!;
            keyByRef[reference] = keyByName.TryGetValue(name, out string? key) ? key : throw new BenchException($"the graph has a model '{name}' the bench did not add");
        }

        var parents = keyByName.Values.ToDictionary(k => k, _ => new HashSet<string>(StringComparer.Ordinal), StringComparer.Ordinal);
        foreach (var edge in document.RootElement.GetProperty("edges").EnumerateArray())
        {
            string parent = keyByRef[edge.GetProperty("parent").GetString()!];
            string child = keyByRef[edge.GetProperty("child").GetString()!];
            parents[child].Add(parent);
        }

        return parents;
    }

    /// <summary>
    /// Scores <paramref name="recovered"/>; <paramref name="insertion"/> (keys in the order they were added,
    /// for add --auto) counts the slots a placement could get right without moving earlier models.
    /// </summary>
    public static LineageScore Score(LineageFamily family, Dictionary<string, HashSet<string>> recovered, IReadOnlyList<string>? insertion = null)
    {
        var truth = family.Models.ToDictionary(m => m.Key, m => m.Parents, StringComparer.Ordinal);
        var component = Components(family);
        var position = insertion?.Select((k, i) => (k, i)).ToDictionary(p => p.k, p => p.i, StringComparer.Ordinal);
        int right = 0, total = 0, directionRight = 0, directionTotal = 0, wrong = 0, falseRelations = 0, achievable = 0;
        var mistakes = new List<string>();
        foreach (var model in family.Models)
        {
            var got = recovered[model.Key];
            if (model.Parents.Count == 0)
            {
                total++;
                right += got.Count == 0 ? 1 : 0;
                achievable++;
            }
            else
            {
                total += model.Parents.Count;
                right += model.Parents.Count(got.Contains);
                achievable += position is null ? model.Parents.Count : model.Parents.Count(p => position[p] < position[model.Key]);
            }

            foreach (string parent in got)
            {
                bool trueEdge = model.Parents.Contains(parent);
                bool reversed = truth[parent].Contains(model.Key);
                if (trueEdge || reversed)
                {
                    directionTotal++;
                    directionRight += trueEdge ? 1 : 0;
                }

                wrong += trueEdge ? 0 : 1;
                falseRelations += component[parent] != component[model.Key] ? 1 : 0;
            }

            if (!got.SetEquals(model.Parents))
            {
                string expected = model.Parents.Count == 0 ? "a root" : string.Join(" + ", model.Parents);
                string actual = got.Count == 0 ? "a root" : string.Join(" + ", got.Order(StringComparer.Ordinal));
                mistakes.Add($"{model.Key} ({model.How}): under {actual}, truth {expected}");
            }
        }

        return new LineageScore(right, total, directionRight, directionTotal, wrong, falseRelations, achievable, mistakes);
    }

    // Models joined by true edges share a component; an edge across components relates unrelated models.
    private static Dictionary<string, int> Components(LineageFamily family)
    {
        var component = family.Models.Select((m, i) => (m.Key, i)).ToDictionary(p => p.Key, p => p.i, StringComparer.Ordinal);
        bool changed = true;
        while (changed)
        {
            changed = false;
            foreach (var model in family.Models)
            {
                foreach (string parent in model.Parents)
                {
                    int low = Math.Min(component[parent], component[model.Key]);
                    if (component[parent] != low || component[model.Key] != low)
                    {
                        component[parent] = component[model.Key] = low;
                        changed = true;
                    }
                }
            }
        }

        return component;
    }
}
