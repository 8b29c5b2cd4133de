using System.CommandLine;
using System.Text.Json.Nodes;
using MGit.Cli.Rendering;

namespace MGit.Cli.Commands;

public static class ShowCommand
{
    public static Command Build(GlobalOptions globals, CliContext context)
    {
        var reference = new Argument<string>("REF") { Description = "NAME or NAME@VERSION" };
        var json = new Option<bool>("--json") { Description = "Print JSON" };
        var command = new Command("show", "Show a model version: files, tensors, lineage, metadata") { reference, json };
        command.SetAction(parse =>
        {
            using var repository = globals.OpenRepository(parse, context);
            var details = repository.Show(parse.GetValue(reference)!);
            if (parse.GetValue(json))
            {
                Json.Write(context.Out, ToJson(repository, details));
                return 0;
            }

            var v = details.Version;
            var sharing = TensorSharing.Of(details.Manifest);
            var formats = FormatsByFile(details);
            var o = context.Out;
            o.WriteLine($"{v.Ref}  ({details.Manifest.Kind}, {LineageTree.Size(v.LogicalBytes)}, added {v.AddedAt:u})");
            if (v.Type is not null) o.WriteLine($"type:     {v.Type}");
            if (details.Tags is { Count: > 0 } tags) o.WriteLine($"tags:     {string.Join(", ", tags.Select(t => t.Name))}");
            if (v.Lossy) o.WriteLine($"lossy:    every float element within {v.ErrorBound} of the original");
            if (v.Message is not null) o.WriteLine($"message:  {v.Message}");
            // An adapted edge's reason (placement's, or who reparented it) says why the parent is this one.
            foreach (var p in details.Parents) o.WriteLine($"parent:   {p.Ref} ({(p.Kind == Lineage.EdgeKind.Versioned ? "previous version" : (p.How ?? "adapted") + (p.Message is { Length: > 0 } why ? $"; {why}" : ""))})");
            foreach (var c in details.Children) o.WriteLine($"child:    {c.Ref} ({(c.Kind == Lineage.EdgeKind.Versioned ? "next version" : c.How ?? "adapted")})");
            foreach (var (key, value) in v.Metadata) o.WriteLine($"meta:     {key}={value}");
            o.WriteLine("files:");
            foreach (var f in details.Manifest.Files)
            {
                o.WriteLine($"  {f.Path}  {f.Format}  {LineageTree.Size(f.Length)}");
                foreach (var (key, value) in f.Metadata ?? new Dictionary<string, string>())
                {
                    o.WriteLine(key == ModelDetails.UninterpretedGlobalsKey ? $"    not interpreted: {Shorten(OneLine(value))}" : $"    {OneLine(key)}: {Shorten(OneLine(value))}");
                }
            }

            foreach (var link in details.Manifest.Links ?? [])
            {
                o.WriteLine($"  {link.Path} -> {link.Target}  (symbolic link)");
            }

            var tensors = details.Tensors.ToList();
            if (tensors.Count > 0)
            {
                bool gguf = tensors.Any(t => IsGguf(formats, t));
                o.WriteLine($"tensors ({tensors.Count}){(gguf ? "; GGUF shapes in ggml order, ne[0] first" : "")}:");
                o.Write(TensorTable(tensors, sharing, formats));
            }

            return 0;
        });
        return command;
    }

    /// <summary>The document of <c>mgit show REF --json</c> (and of the web API's /api/show).</summary>
    public static JsonObject ToJson(Repository repository, ModelDetails details)
    {
        var v = details.Version;
        var sharing = TensorSharing.Of(details.Manifest);
        var formats = FormatsByFile(details);
        return new JsonObject
        {
            ["ref"] = v.Ref,
            ["name"] = v.Name,
            ["version"] = v.Version,
            ["type"] = v.Type,
            ["message"] = v.Message,
            ["added_at"] = v.AddedAt,
            ["logical_bytes"] = v.LogicalBytes,
            ["lossy"] = v.Lossy,
            ["error_bound"] = v.ErrorBound,
            ["kind"] = details.Manifest.Kind,
            ["files"] = Json.Array(details.Manifest.Files, f => new JsonObject
            {
                ["path"] = f.Path,
                ["format"] = f.Format,
                ["length"] = f.Length,
                ["tensors"] = f.ListedTensors().Count(),
                ["metadata"] = Json.Map(f.Metadata),
            }),
            ["links"] = Json.Array(details.Manifest.Links ?? [], l => new JsonObject { ["path"] = l.Path, ["target"] = l.Target }),
            ["tensors"] = Json.Array(details.Tensors.Zip(repository.TensorStorageOf(v.Ref), sharing), triple =>
            {
                var (t, s, shared) = triple;
                return new JsonObject
                {
                    ["name"] = t.Name,
                    ["dtype"] = t.Dtype,
                    // Outermost dimension first, in every format (as PyTorch and safetensors);
                    // GGUF tensors also carry ggml's order, ne[0] first, as GGUF tools print it.
                    ["shape"] = Json.Array(t.Shape),
                    ["ggml_shape"] = IsGguf(formats, t) ? Json.Array(t.Shape.Reverse()) : null,
                    ["file"] = t.File,
                    ["offset"] = t.Offset,
                    ["length"] = t.Length,
                    ["codec"] = s.Codecs.Count == 1 ? s.Codecs.Keys.Single() : s.Codecs.Count == 0 ? "empty" : "mixed",
                    ["codecs"] = Json.Map(s.Codecs, n => n),
                    ["base"] = s.Base,
                    ["stored_bytes"] = s.StoredBytes,
                    ["chain_depth"] = s.MaxDepth,
                    ["shared"] = shared is null ? null : new JsonObject { ["how"] = shared.How, ["with"] = Json.Array(shared.With), ["with_count"] = shared.Count },
                };
            }),
            ["parents"] = Json.Array(details.Parents, Json.Edge),
            ["children"] = Json.Array(details.Children, Json.Edge),
            ["metadata"] = Json.Map(v.Metadata),
            ["uninterpreted_globals"] = Json.Array(details.UninterpretedGlobals),
            ["tags"] = Json.Array(details.Tags.Select(t => t.Name)),
        };
    }

    private static Dictionary<string, string> FormatsByFile(ModelDetails details) =>
        details.Manifest.Files.ToDictionary(f => f.Path, f => f.Format, StringComparer.Ordinal);

    /// <summary>The tensors as an aligned table: the file column only for several files, the sharing column only when something is shared.</summary>
    private static string TensorTable(IReadOnlyList<StoredTensor> tensors, IReadOnlyList<TensorSharing?> sharing, IReadOnlyDictionary<string, string> formats)
    {
        bool files = tensors.Select(t => t.File).Distinct(StringComparer.Ordinal).Skip(1).Any();
        bool shared = sharing.Any(s => s is not null);
        List<string> header = ["NAME", "DTYPE", "SHAPE", "SIZE", .. files ? ["FILE"] : Array.Empty<string>(), .. shared ? ["SHARED"] : Array.Empty<string>()];
        var rows = tensors.Select((t, i) => (IReadOnlyList<string>)
        [
            t.Name,
            t.Dtype,
            "[" + string.Join(", ", IsGguf(formats, t) ? t.Shape.Reverse() : t.Shape) + "]",
            LineageTree.Size(t.Length),
            .. files ? [t.File] : Array.Empty<string>(),
            .. shared ? [sharing[i]?.Describe() ?? ""] : Array.Empty<string>(),
        ]);
        var table = TextTable.Render(header, rows, alignRight: [3]);
        return string.Concat(table.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line => "  " + line + "\n"));
    }

    /// <summary>GGUF lists dimensions fastest-varying first (ne[0]); the manifest keeps them outermost first, as every other format.</summary>
    private static bool IsGguf(IReadOnlyDictionary<string, string> formats, StoredTensor tensor) => formats.GetValueOrDefault(tensor.File) == "gguf";

    /// <summary>Metadata values may hold line breaks and tabs (chat templates): one line each, escaped.</summary>
    private static string OneLine(string text) =>
        text.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal).Replace("\r", "\\r", StringComparison.Ordinal).Replace("\t", "\\t", StringComparison.Ordinal);

    private const int MaxValueLength = 160;

    private static string Shorten(string value) =>
        value.Length <= MaxValueLength ? value : $"{value[..MaxValueLength]}… ({value.Length} characters; --json has them all)";
}
