using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using MGit.Cli.Rendering;
using MGit.Diff;
using MGit.Errors;
using MGit.Formats.Catalog;

namespace MGit.Cli.Commands;

public static class DiffCommand
{
    public static Command Build(GlobalOptions globals, CliContext context)
    {
        var a = new Argument<string>("A") { Description = "A model ref (NAME or NAME@VERSION), or a model file or folder on disk" };
        var b = new Argument<string>("B") { Description = "The model to compare with A, the same way" };
        var top = new Option<int>("--top") { Description = "How many of the most-changed tensors to list (terminal output)", DefaultValueFactory = _ => 10 };
        var json = new Option<bool>("--json") { Description = "Print the whole diff as JSON" };
        var command = new Command("diff", "Compare two models: every tensor's status and change statistics, and their other files") { a, b, top, json };
        command.SetAction(parse =>
        {
            string left = parse.GetValue(a)!, right = parse.GetValue(b)!;
            var result = Compare(parse, globals, context, left, right);
            if (parse.GetValue(json))
            {
                Json.Write(context.Out, ToJson(result));
            }
            else
            {
                Render(context.Out, result, Math.Max(0, parse.GetValue(top)));
            }

            return 0;
        });
        return command;
    }

    /// <summary>The document of <c>mgit diff A B --json</c> (and of the web API's /api/diff).</summary>
    public static JsonObject ToJson(ModelDiffResult result) => new()
    {
        ["a"] = result.A,
        ["b"] = result.B,
        ["tensors"] = Json.Array(result.Tensors, TensorJson),
        ["files"] = Json.Array(result.Files, FileJson),
        ["summary"] = SummaryJson(result.Summary),
    };

    /// <summary>Inside a repository refs and paths both work; outside one, two paths on disk still compare.</summary>
    private static ModelDiffResult Compare(ParseResult parse, GlobalOptions globals, CliContext context, string left, string right)
    {
        string leftPath = context.ResolvePath(left), rightPath = context.ResolvePath(right);
        bool bothOnDisk = Exists(leftPath) && Exists(rightPath);
        Repository repository;
        try
        {
            repository = globals.OpenRepository(parse, context);
        }
        catch (MGitException) when (bothOnDisk && parse.GetValue(globals.Repo) is null)
        {
            return Repository.DiffPaths(leftPath, rightPath) with { A = left, B = right };
        }
        catch (MGitException) when (parse.GetValue(globals.Repo) is null && (MissingPath(left, leftPath) ?? MissingPath(right, rightPath)) is { } missing)
        {
            // Outside a repository an argument can only be a file: name the one that is not there.
            throw new MGitException(ErrorKind.NotFound, $"no such file or model: {missing}");
        }

        using (repository)
        {
            return repository.Diff(left, right, context.WorkingDirectory);
        }
    }

    private static bool Exists(string path) => File.Exists(path) || Directory.Exists(path);

    /// <summary>The argument when it was meant as a path (a separator or a model file's extension) and nothing is there.</summary>
    private static string? MissingPath(string argument, string path) =>
        !Exists(path) && ModelFormats.LooksLikeModelPath(argument) ? argument : null;

    private static JsonObject TensorJson(TensorDiff d)
    {
        var shown = d.B ?? d.A!;
        var row = new JsonObject
        {
            ["name"] = d.Name,
            ["status"] = d.Status,
            ["dtype"] = shown.Dtype,
            ["shape"] = Json.Array(shown.Shape),
        };
        if (d.Status == TensorStatus.Renamed)
        {
            row["from"] = d.From;
        }

        if (d.Status is TensorStatus.DtypeChanged or TensorStatus.ShapeChanged)
        {
            row["dtype_a"] = d.A!.Dtype;
            row["dtype_b"] = d.B!.Dtype;
            row["shape_a"] = Json.Array(d.A.Shape);
            row["shape_b"] = Json.Array(d.B.Shape);
        }

        if (d.Statistics is { } s)
        {
            row["l2_delta"] = s.L2Delta;
            row["relative_change"] = s.RelativeChange;
            row["cosine"] = s.Cosine;
            row["max_abs_delta"] = s.MaxAbsDelta;
            row["fraction_changed"] = s.FractionChanged;
            row["changed_elements"] = s.ChangedElements;
            row["non_finite"] = s.NonFinite;
            if (d.Dequantized)
            {
                row["dequantized"] = true;
            }
        }

        if (d.ChangedBytes is long changedBytes)
        {
            row["changed_bytes"] = changedBytes;
        }

        if (d.StatisticsUnavailable)
        {
            row["note"] = $"changed bytes, statistics unavailable for type {d.B!.Dtype}";
        }

        return row;
    }

    private static JsonObject FileJson(FileDiff f) => new()
    {
        ["path"] = f.Path,
        ["status"] = f.Status,
        ["format"] = f.Format,
        ["length_a"] = f.LengthA,
        ["length_b"] = f.LengthB,
        ["json"] = f.Json is { } json ? Json.Array(json, c => new JsonObject { ["path"] = c.Path, ["op"] = c.Op, ["before"] = c.Before, ["after"] = c.After }) : null,
        ["lines"] = f.Lines is { } lines ? Json.Array(lines, l => new JsonObject { ["op"] = l.Op, ["line"] = l.Line, ["text"] = l.Text }) : null,
        ["metadata"] = f.Metadata is { } metadata ? Json.Array(metadata, c => new JsonObject { ["key"] = c.Path, ["op"] = c.Op, ["before"] = c.Before, ["after"] = c.After }) : null,
        ["graph"] = f.Graph is { } g ? new JsonObject { ["structural"] = Json.Array(g.Structural, GraphJson), ["contextual"] = Json.Array(g.Contextual, GraphJson) } : null,
        ["note"] = f.Note,
    };

    private static JsonObject GraphJson(GraphChange c)
    {
        var row = new JsonObject { ["kind"] = c.Kind, ["subject"] = c.Subject, ["before"] = c.Before, ["after"] = c.After };
        if (c.Node is not null)
        {
            row["node"] = c.Node;
        }

        if (c.Attribute is not null)
        {
            row["attribute"] = c.Attribute;
        }

        return row;
    }

    /// <summary>
    /// A graph change on one line. Value changes read <c>old -> new</c>; a moved edge reads
    /// <c>old => new</c> (ASCII, so it survives any terminal), so the two never look alike.
    /// </summary>
    private static string GraphLine(GraphChange g)
    {
        string kind = g.Kind.Replace('_', ' ');
        return g switch
        {
            { Kind: "rewired" } => $"{kind} {g.Subject}: {g.Before} => {g.After}",
            { Before: null, After: null } => $"{kind} {g.Subject}",
            { Before: null } => $"{kind} {g.Subject}: {g.After}",
            { After: null } => $"{kind} {g.Subject}: {g.Before}",
            _ => $"{kind} {g.Subject}: {g.Before} -> {g.After}",
        };
    }

    private static JsonObject SummaryJson(DiffSummary s)
    {
        var summary = new JsonObject
        {
            ["tensors_a"] = s.TensorsA,
            ["tensors_b"] = s.TensorsB,
            ["parameters_a"] = s.ParametersA,
            ["parameters_b"] = s.ParametersB,
            ["parameters_changed"] = s.ParametersChanged,
        };
        foreach (var (status, count) in s.Counts)
        {
            summary[status] = count;
        }

        summary["files_changed"] = s.FilesChanged;
        summary["changed_without_statistics"] = s.ChangedWithoutStatistics;
        return summary;
    }

    private static void Render(TextWriter o, ModelDiffResult r, int top)
    {
        var s = r.Summary;
        o.WriteLine($"a: {r.A}");
        o.WriteLine($"b: {r.B}");
        o.WriteLine($"tensors: {s.TensorsA} in a, {s.TensorsB} in b; " + string.Join(", ", s.Counts.Where(c => c.Value > 0).Select(c => $"{c.Value} {c.Key.Replace('_', ' ')}")));
        if (s.ParametersB > 0)
        {
            string unread = s.ChangedWithoutStatistics > 0 ? $"; {s.ChangedWithoutStatistics} changed tensor(s) compared by bytes only" : "";
            o.WriteLine(Invariant($"parameters: {s.ParametersChanged:N0} of {s.ParametersB:N0} changed value ({Percent(s.ParametersChanged, s.ParametersB)}){unread}"));
        }

        var changed = r.Tensors.Where(t => t.Statistics is not null).OrderByDescending(t => t.Statistics!.RelativeChange ?? double.PositiveInfinity).ToList();
        if (changed.Count > 0 && top > 0)
        {
            o.WriteLine(changed.Count > top ? $"most changed ({top} of {changed.Count}):" : "changed:");
            int width = changed.Take(top).Max(t => t.Name.Length);
            foreach (var t in changed.Take(top))
            {
                var st = t.Statistics!;
                string cast = t.Status == TensorStatus.DtypeChanged ? $"  {t.A!.Dtype} -> {t.B!.Dtype}" : "";
                string dequantised = t.Status != TensorStatus.DtypeChanged && t.Dequantized ? $"  ({t.B!.Dtype}, dequantised)" : "";
                string bytesOnly = st.ChangedElements == 0 && t.ChangedBytes > 0 ? Invariant($"  ({t.ChangedBytes:N0} byte(s) differ, values equal)") : "";
                o.WriteLine(Invariant($"  {t.Name.PadRight(width)}  relative {Number(st.RelativeChange)}  cosine {Number(st.Cosine)}  max |d| {st.MaxAbsDelta:G4}  changed {st.ChangedElements:N0} of {t.B!.Elements:N0} ({Percent(st.ChangedElements, t.B.Elements)}){cast}{dequantised}{bytesOnly}"));
            }
        }

        // Tensors whose values cannot be read are all named: their change would otherwise show nowhere.
        var bytesCompared = r.Tensors.Where(t => t.StatisticsUnavailable).ToList();
        if (bytesCompared.Count > 0)
        {
            o.WriteLine("changed, statistics unavailable (bytes compared):");
            int width = bytesCompared.Max(t => t.Name.Length);
            foreach (var t in bytesCompared)
            {
                long length = t.B!.ByteLength;
                o.WriteLine(Invariant($"  {t.Name.PadRight(width)}  {t.B.Dtype}  {t.ChangedBytes ?? 0:N0} of {length:N0} bytes differ ({Percent(t.ChangedBytes ?? 0, length)}); statistics unavailable for type {t.B.Dtype}"));
            }
        }

        var frozen = r.Tensors.Where(t => t.Status == TensorStatus.Identical).ToList();
        if (frozen.Count > 0)
        {
            long parameters = frozen.Sum(t => t.A!.Elements);
            o.WriteLine(Invariant($"frozen (identical): {frozen.Count} tensor(s), {parameters:N0} parameters: {Names(frozen.Select(t => t.Name))}"));
        }

        foreach (var t in r.Tensors.Where(t => t.Status == TensorStatus.DtypeChanged && t.Statistics is null))
        {
            o.WriteLine($"dtype changed: {t.Name} {t.A!.Dtype} -> {t.B!.Dtype}");
        }

        foreach (var t in r.Tensors.Where(t => t.Status == TensorStatus.ShapeChanged))
        {
            o.WriteLine($"shape changed: {t.Name} [{string.Join(", ", t.A!.Shape)}] -> [{string.Join(", ", t.B!.Shape)}]");
        }

        foreach (var t in r.Tensors.Where(t => t.Status == TensorStatus.Renamed))
        {
            o.WriteLine($"renamed: {t.From} -> {t.Name}");
        }

        PrintNames(o, "added", r.Tensors.Where(t => t.Status == TensorStatus.Added));
        PrintNames(o, "removed", r.Tensors.Where(t => t.Status == TensorStatus.Removed));

        var files = r.Files.Where(f => f.Status != TensorStatus.Identical).ToList();
        if (files.Count > 0)
        {
            o.WriteLine("files:");
        }

        foreach (var f in files)
        {
            o.WriteLine($"  {f.Path}  {f.Status}{(f.Note is null ? "" : $" ({f.Note})")}");
            foreach (var c in (f.Json ?? []).Concat(f.Metadata ?? []).Take(50))
            {
                o.WriteLine($"    {c.Path}: {c.Before ?? "(absent)"} -> {c.After ?? "(absent)"}");
            }

            foreach (var l in (f.Lines ?? []).Take(50))
            {
                o.WriteLine($"    {(l.Op == "added" ? '+' : '-')}{l.Line,5}: {l.Text}");
            }

            foreach (var g in f.Graph?.Structural ?? [])
            {
                o.WriteLine($"    {GraphLine(g)}");
            }
        }
    }

    private static void PrintNames(TextWriter o, string label, IEnumerable<TensorDiff> tensors)
    {
        var list = tensors.ToList();
        if (list.Count > 0)
        {
            o.WriteLine($"{label}: {Names(list.Select(t => $"{t.Name} [{string.Join(", ", (t.B ?? t.A)!.Shape)}]"))}");
        }
    }

    private static string Names(IEnumerable<string> names)
    {
        var list = names.ToList();
        return list.Count <= 8 ? string.Join(", ", list) : $"{string.Join(", ", list.Take(8))}, ... ({list.Count - 8} more)";
    }

    private static string Number(double? value) => value is double v ? v.ToString("G4", CultureInfo.InvariantCulture) : "n/a";

    private static string Percent(long part, long whole) => Rendering.Percent.Of(part, whole, decimals: 2);

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
