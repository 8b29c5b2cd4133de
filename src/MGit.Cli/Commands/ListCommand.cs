using System.CommandLine;
using System.Text.Json.Nodes;
using MGit.Cli.Rendering;
using MGit.Lineage;

namespace MGit.Cli.Commands;

public static class ListCommand
{
    public static Command Build(GlobalOptions globals, CliContext context)
    {
        var json = new Option<bool>("--json") { Description = "Print a JSON array" };
        var type = new Option<string?>("--type") { Description = "Only versions of this model type" };
        var name = new Option<string?>("--name") { Description = "Only models whose name matches this glob (* any text, ? one character, [abc] one of them; case-sensitive)" };
        var meta = new Option<string[]>("--meta") { Description = "Only versions with this metadata KEY=VALUE (repeatable: all must hold)", AllowMultipleArgumentsPerToken = false };
        var descendantsOf = new Option<string?>("--descendants-of") { Description = "Only versions derived from REF, directly or not (REF itself not included)" };
        var roots = new Option<bool>("--roots") { Description = "Only versions without parents" };
        var limit = new Option<int?>("--limit") { Description = "At most N versions (the oldest first)" };
        var command = new Command("ls", "List model versions, oldest first; the filters combine (all must hold)") { json, type, name, meta, descendantsOf, roots, limit };
        command.SetAction(parse =>
        {
            var filter = new VersionFilter
            {
                Type = parse.GetValue(type),
                NamePattern = parse.GetValue(name),
                Metadata = AddCommand.ParseMetadataPairs(parse.GetValue(meta) ?? []),
                DescendantsOf = parse.GetValue(descendantsOf),
                RootsOnly = parse.GetValue(roots),
                Limit = parse.GetValue(limit),
            };
            using var repository = globals.OpenRepository(parse, context);
            // Rows are read as they are written: the listing is never held whole (hub scale: 100,000 versions).
            var versions = repository.ListVersions(filter);
            if (parse.GetValue(json))
            {
                Json.WriteArray(context.Out, versions, Json.Version);
                return 0;
            }

            string table = Table(versions, out int rows);
            if (rows == 0)
            {
                GlobalOptions.Say(parse, globals, context, filter.IsEmpty ? "no models yet (mgit add PATH)" : "no version matches");
                return 0;
            }

            context.Out.Write(table);
            return 0;
        });
        return command;
    }

    /// <summary>The document of <c>mgit ls --json</c> (and of the web API's /api/ls).</summary>
    public static JsonArray ToJson(IEnumerable<VersionListing> versions) => Json.Array(versions, Json.Version);

    /// <summary>
    /// One row per version under a header. A column is one entry here (its header, whether it is
    /// aligned right, its cell), so another one (tags) is one more line. Only the cells are kept
    /// (each column is as wide as its widest cell), never the versions.
    /// </summary>
    public static string Table(IEnumerable<VersionListing> versions, out int rows)
    {
        (string Header, bool Right, Func<VersionListing, string> Cell)[] columns =
        [
            ("REF", false, v => v.Version.Ref),
            ("TYPE", false, v => v.Version.Type ?? "-"),
            ("SIZE", true, v => LineageTree.Size(v.Version.LogicalBytes)),
            ("ADDED", false, v => v.Version.AddedAt.ToString("yyyy-MM-dd HH:mm", System.Globalization.CultureInfo.InvariantCulture)),
            ("PARENTS", false, Parents),
            ("TAGS", false, v => v.Tags.Count > 0 ? string.Join(", ", v.Tags) : "-"),
        ];
        var cells = versions.Select(v => (IReadOnlyList<string>)Array.ConvertAll(columns, c => c.Cell(v))).ToList();
        rows = cells.Count;
        return TextTable.Render(
            columns.Select(c => c.Header).ToList(),
            cells,
            Enumerable.Range(0, columns.Length).Where(i => columns[i].Right).ToList());
    }

    private static string Parents(VersionListing version) =>
        version.Parents.Count == 0
            ? "-"
            : string.Join(", ", version.Parents.Select(e => $"{e.Ref} ({(e.Kind == EdgeKind.Versioned ? "version" : e.How ?? "adapted")})"));
}
