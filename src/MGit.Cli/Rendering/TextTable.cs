using System.Text;

namespace MGit.Cli.Rendering;

/// <summary>A plain table with padded columns, readable in a terminal and in a CI log alike.</summary>
public static class TextTable
{
    /// <summary>
    /// The header row and the rows, each column as wide as its widest cell, two spaces apart;
    /// columns listed in <paramref name="alignRight"/> (numbers, sizes) are aligned right.
    /// </summary>
    public static string Render(IReadOnlyList<string> header, IEnumerable<IReadOnlyList<string>> rows, IReadOnlyCollection<int>? alignRight = null)
    {
        var all = new List<IReadOnlyList<string>> { header };
        all.AddRange(rows);
        var widths = Enumerable.Range(0, header.Count).Select(c => all.Max(r => c < r.Count ? r[c].Length : 0)).ToArray();
        var text = new StringBuilder();
        foreach (var row in all)
        {
            var cells = Enumerable.Range(0, header.Count).Select(c =>
            {
                string cell = c < row.Count ? row[c] : "";
                return alignRight?.Contains(c) == true ? cell.PadLeft(widths[c]) : cell.PadRight(widths[c]);
            });
            text.Append(string.Join("  ", cells).TrimEnd()).Append('\n');
        }

        return text.ToString();
    }
}
