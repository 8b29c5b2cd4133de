using System.CommandLine;
using System.Text.Json.Nodes;
using MGit.Cli.Rendering;
using MGit.Diff;
using MGit.Errors;
using MGit.Ingest;

namespace MGit.Cli.Commands;

public static class AddCommand
{
    public static Command Build(GlobalOptions globals, CliContext context)
    {
        var path = new Argument<string>("PATH") { Description = "Model file or model folder (e.g. a Hugging Face folder)" };
        var name = new Option<string?>("--name") { Description = "Model name [default: the file stem or folder name]" };
        var parents = new Option<string[]>("--parent") { Description = "A model this one was derived from (repeatable)", AllowMultipleArgumentsPerToken = false };
        var how = new Option<string?>("--how") { Description = "How it was derived: finetune, prune, quantize, distill, merge, other" };
        var versionOf = new Option<string?>("--version-of") { Description = "Make this the next version of REF's model" };
        var type = new Option<string?>("--type") { Description = "Model type tag (routes tests)" };
        var meta = new Option<string[]>("--meta") { Description = "Metadata KEY=VALUE (repeatable)" };
        var message = new Option<string?>("--message", "-m") { Description = "Why this model exists" };
        var lossy = new Option<bool>("--lossy") { Description = "Store float tensors as quantized deltas against the parent, each element within --error-bound (opt-in; default lossless)" };
        var errorBound = new Option<double?>("--error-bound") { Description = "Absolute per-element error bound for --lossy [default: 1e-4, as in the MGit paper]" };
        var recipe = new Option<string?>("--recipe") { Description = "How it was derived, as a command the cascade can replay: {parent}, {parent:NAME}, {parents}, {output}" };
        var auto = new Option<bool>("--auto") { Description = "Choose the parent automatically: shared tensors, then same structure, then nearest parameters; a new root when nothing is related" };
        var json = new Option<bool>("--json") { Description = "Print the result as JSON" };
        var followSymlinks = new Option<bool>("--follow-symlinks") { Description = "Keep symbolic links in a folder that point inside it, as links (by default a link refuses the add)" };
        var command = new Command("add", "Add a model file or folder as a new model version") { path, name, parents, how, versionOf, type, meta, message, lossy, errorBound, recipe, auto, followSymlinks, json };
        command.SetAction(parse =>
        {
            if (parse.GetValue(errorBound) is not null && !parse.GetValue(lossy))
            {
                throw new MGitException(ErrorKind.InvalidInput, "--error-bound applies to --lossy; add --lossy to store this model lossily");
            }

            using var repository = globals.OpenRepository(parse, context);
            var result = repository.Add(context.ResolvePath(parse.GetValue(path)!), new AddOptions
            {
                Name = parse.GetValue(name),
                Parents = parse.GetValue(parents) ?? [],
                How = parse.GetValue(how),
                VersionOf = parse.GetValue(versionOf),
                Type = parse.GetValue(type),
                Metadata = ParseMetadata(parse.GetValue(meta) ?? []),
                Message = parse.GetValue(message),
                LossyErrorBound = parse.GetValue(lossy) ? parse.GetValue(errorBound) ?? DefaultErrorBound : null,
                Recipe = parse.GetValue(recipe),
                Auto = parse.GetValue(auto),
                FollowSymlinks = parse.GetValue(followSymlinks),
            }, context.Cancellation);
            var (within, before) = result.Placement is null ? Reuse(repository, result) : default;
            if (result.Placement is { } placement)
            {
                if (parse.GetValue(json))
                {
                    Json.Write(context.Out, PlacementJson(result.Version.Ref, placement));
                }
                else
                {
                    context.Out.WriteLine(result.Version.Ref);
                    context.Out.WriteLine(PlacementLine(result.Version.Ref, placement));
                    GlobalOptions.Say(parse, globals, context, string.Create(System.Globalization.CultureInfo.InvariantCulture, $"placement: compared with {placement.Compared} model(s) in {placement.Elapsed.TotalMilliseconds:0.0} ms ({placement.ProcessorTime.TotalMilliseconds:0} ms CPU){(placement.Compared < placement.Stored ? $", the nearest of {placement.Stored} by sketch" : "")}"));
                }
            }
            else if (parse.GetValue(json))
            {
                Json.Write(context.Out, new JsonObject
                {
                    ["ref"] = result.Version.Ref,
                    ["name"] = result.Version.Name,
                    ["version"] = result.Version.Version,
                    ["files"] = result.Files,
                    ["tensors"] = result.Tensors,
                    ["logical_bytes"] = result.LogicalBytes,
                    ["new_bytes"] = result.NewBytes,
                    ["stored_bytes"] = result.StoredBytes,
                    ["chunks_new"] = result.ChunksNew,
                    ["chunks_reused"] = result.ChunksReused,
                    ["chunks_repeated"] = within,
                    ["chunks_already_stored"] = before,
                    ["lossy"] = result.Version.Lossy,
                    ["error_bound"] = result.Version.ErrorBound,
                    ["lossy_check"] = result.Lossy is { } check ? new JsonObject
                    {
                        ["accepted"] = check.Accepted,
                        ["error_bound"] = check.ErrorBound,
                        ["tests"] = Json.Array(check.Results, TestCommands.ResultJson),
                    } : null,
                });
            }
            else
            {
                context.Out.WriteLine(result.Version.Ref);
                if (result.Lossy is { } check)
                {
                    context.Error.WriteLine(LossyReport(check));
                }

                GlobalOptions.Say(parse, globals, context,
                    $"added {result.Files} file(s), {result.Tensors} tensor(s), {LineageTree.Size(result.LogicalBytes)}; {LineageTree.Size(result.NewBytes)} new, stored in {LineageTree.Size(result.StoredBytes)}; {ReuseText(within, before, result.Files)}");
            }

            return 0;
        });
        return command;
    }

    /// <summary>
    /// The reused chunks, told apart: repeats of a chunk earlier in the same model (deduplicated
    /// within it) and chunks the store held before this add. The manifest lists every chunk in
    /// order; each distinct one was either new or already stored.
    /// </summary>
    public static (long Within, long Before) Reuse(Repository repository, AddResult result)
    {
        var chunks = repository.Show(result.Version.Ref).Manifest.ChunkIds.ToList();
        long distinct = chunks.Distinct().LongCount();
        return (chunks.Count - distinct, Math.Max(0, distinct - result.ChunksNew));
    }

    public static string ReuseText(long within, long before, int files)
    {
        string where = files == 1 ? "the file" : "the model";
        return (within, before) switch
        {
            (0, 0) => "every chunk new",
            (_, 0) => $"{within} chunk(s) deduplicated within {where}",
            (0, _) => $"{before} chunk(s) already stored",
            _ => $"{within} chunk(s) deduplicated within {where}, {before} already stored",
        };
    }

    private static string LossyReport(LossyCheck check)
    {
        string tests = string.Join(", ", check.Results.Select(r => $"{r.Test} {(r.Passed ? "passed" : "failed")} ({r.Reason})"));
        return check.Results.Count == 0
            ? $"lossy (error bound {check.ErrorBound:G3}): kept; no registered test applies to this model, so nothing was checked"
            : check.Accepted
                ? $"lossy (error bound {check.ErrorBound:G3}): kept; on the reconstruction {tests}"
                : $"lossy (error bound {check.ErrorBound:G3}): rejected, stored losslessly instead; on the reconstruction {tests}";
    }

    /// <summary>The contract of <c>add --auto --json</c>: ref, parent (or null), reason, score.</summary>
    public static JsonObject PlacementJson(string reference, PlacementResult placement) => new()
    {
        ["ref"] = reference,
        ["parent"] = placement.Parent,
        ["reason"] = placement.Reason,
        ["score"] = Math.Round(placement.Score, 6),
    };

    public static string PlacementLine(string reference, PlacementResult placement) =>
        placement.Parent is { } parent ? $"{reference}: parent {parent} ({placement.Reason})" : $"{reference}: {placement.Reason}";

    /// <summary>The MGit paper's bound: 1e-4 absolute per element.</summary>
    public const double DefaultErrorBound = 1e-4;

    public static Dictionary<string, string> ParseMetadata(IEnumerable<string> pairs)
    {
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in ParseMetadataPairs(pairs))
        {
            metadata[key] = value;
        }

        return metadata;
    }

    /// <summary>Each <c>KEY=VALUE</c> as written (the first '=' separates; the value may hold more), in order.</summary>
    public static List<KeyValuePair<string, string>> ParseMetadataPairs(IEnumerable<string> pairs)
    {
        var parsed = new List<KeyValuePair<string, string>>();
        foreach (string pair in pairs)
        {
            int equals = pair.IndexOf('=');
            if (equals <= 0)
            {
                throw new MGitException(ErrorKind.InvalidInput, $"--meta expects KEY=VALUE, got '{pair}'");
            }

            parsed.Add(KeyValuePair.Create(pair[..equals], pair[(equals + 1)..]));
        }

        return parsed;
    }
}
