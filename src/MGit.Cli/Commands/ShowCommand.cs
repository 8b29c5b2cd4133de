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
            var v = details.Version;
            if (parse.GetValue(json))
            {
                Json.Write(context.Out, new JsonObject
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
                    ["tensors"] = Json.Array(details.Tensors.Zip(repository.TensorStorageOf(v.Ref)), pair =>
                    {
                        var (t, s) = pair;
                        return new JsonObject
                        {
                            ["name"] = t.Name,
                            ["dtype"] = t.Dtype,
                            ["shape"] = Json.Array(t.Shape),
                            ["file"] = t.File,
                            ["offset"] = t.Offset,
                            ["length"] = t.Length,
                            ["codec"] = s.Codecs.Count == 1 ? s.Codecs.Keys.Single() : s.Codecs.Count == 0 ? "empty" : "mixed",
                            ["codecs"] = Json.Map(s.Codecs, n => n),
                            ["base"] = s.Base,
                            ["stored_bytes"] = s.StoredBytes,
                            ["chain_depth"] = s.MaxDepth,
                        };
                    }),
                    ["parents"] = Json.Array(details.Parents, Json.Edge),
                    ["children"] = Json.Array(details.Children, Json.Edge),
                    ["metadata"] = Json.Map(v.Metadata),
                    ["tags"] = Json.Array(repository.Graph().TagsOf(v).Select(t => t.Name)),
                });
                return 0;
            }

            var o = context.Out;
            o.WriteLine($"{v.Ref}  ({details.Manifest.Kind}, {LineageTree.Size(v.LogicalBytes)}, added {v.AddedAt:u})");
            if (v.Type is not null) o.WriteLine($"type:     {v.Type}");
            if (repository.Graph().TagsOf(v) is { Count: > 0 } tags) o.WriteLine($"tags:     {string.Join(", ", tags.Select(t => t.Name))}");
            if (v.Lossy) o.WriteLine($"lossy:    every float element within {v.ErrorBound} of the original");
            if (v.Message is not null) o.WriteLine($"message:  {v.Message}");
            foreach (var p in details.Parents) o.WriteLine($"parent:   {p.Ref} ({(p.Kind == Lineage.EdgeKind.Versioned ? "previous version" : p.How ?? "adapted")})");
            foreach (var c in details.Children) o.WriteLine($"child:    {c.Ref} ({(c.Kind == Lineage.EdgeKind.Versioned ? "next version" : c.How ?? "adapted")})");
            foreach (var (key, value) in v.Metadata) o.WriteLine($"meta:     {key}={value}");
            o.WriteLine("files:");
            foreach (var f in details.Manifest.Files)
            {
                o.WriteLine($"  {f.Path}  {f.Format}  {LineageTree.Size(f.Length)}");
                if (f.Metadata?.GetValueOrDefault("note") is { } note) o.WriteLine($"    note: {note}");
            }

            foreach (var link in details.Manifest.Links ?? [])
            {
                o.WriteLine($"  {link.Path} -> {link.Target}  (symbolic link)");
            }

            var tensors = details.Tensors.ToList();
            if (tensors.Count > 0)
            {
                o.WriteLine($"tensors ({tensors.Count}):");
                foreach (var t in tensors)
                {
                    o.WriteLine($"  {t.Name}  {t.Dtype}  [{string.Join(", ", t.Shape)}]");
                }
            }

            return 0;
        });
        return command;
    }
}
