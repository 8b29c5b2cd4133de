using System.CommandLine;
using System.Text.Json.Nodes;
using MGit.Cli.Rendering;
using MGit.Maintenance;

namespace MGit.Cli.Commands;

public static class StatsCommand
{
    public static Command Build(GlobalOptions globals, CliContext context)
    {
        var json = new Option<bool>("--json") { Description = "Print JSON" };
        var command = new Command("stats", "Logical size of all models against bytes stored") { json };
        command.SetAction(parse =>
        {
            using var repository = globals.OpenRepository(parse, context);
            var stats = repository.Stats();
            if (parse.GetValue(json))
            {
                Json.Write(context.Out, ToJson(repository, stats));
            }
            else
            {
                context.Out.WriteLine($"models:   {stats.Models} ({stats.Versions} versions)");
                context.Out.WriteLine($"logical:  {LineageTree.Size(stats.LogicalBytes)} ({stats.LogicalBytes} bytes)");
                context.Out.WriteLine($"stored:   {LineageTree.Size(stats.StoredBytes)} ({stats.StoredBytes} bytes in {stats.Objects} objects plus the lineage database)");
                context.Out.WriteLine($"ratio:    {stats.Ratio:0.00}x");
            }

            return 0;
        });
        return command;
    }

    /// <summary>The document of <c>mgit stats --json</c> (and of the web API's /api/stats).</summary>
    public static JsonObject ToJson(Repository repository, RepositoryStats stats)
    {
        var perVersion = repository.StorageByVersion();
        var codecs = perVersion.SelectMany(v => v.CodecBytes)
            .GroupBy(c => c.Key, StringComparer.Ordinal)
            .OrderBy(g => g.Key, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.Sum(c => c.Value));
        return new JsonObject
        {
            ["models"] = stats.Models,
            ["versions"] = stats.Versions,
            ["logical_bytes"] = stats.LogicalBytes,
            ["stored_bytes"] = stats.StoredBytes,
            ["ratio"] = Math.Round(stats.Ratio, 4),
            ["objects"] = stats.Objects,
            ["codecs"] = Json.Map(codecs, n => n),
            ["per_model"] = Json.Array(perVersion, v => new JsonObject
            {
                ["ref"] = v.Ref,
                ["logical_bytes"] = v.LogicalBytes,
                ["stored_bytes"] = v.StoredBytes,
                ["ratio"] = v.StoredBytes == 0 ? 0 : Math.Round((double)v.LogicalBytes / v.StoredBytes, 4),
                ["codecs"] = Json.Map(v.CodecBytes, n => n),
            }),
        };
    }
}

public static class RemoveCommand
{
    public static Command Build(GlobalOptions globals, CliContext context)
    {
        var reference = new Argument<string>("REF") { Description = "NAME@VERSION (one version) or NAME (every version)" };
        var force = new Option<bool>("--force", "-f") { Description = "Remove even though other models derive from it (their edges to it are dropped) or it is tagged (its tags are deleted)" };
        var command = new Command("rm", "Remove a model version or a model; 'mgit gc' then frees its space") { reference, force };
        command.SetAction(parse =>
        {
            using var repository = globals.OpenRepository(parse, context);
            foreach (string removed in repository.Remove(parse.GetValue(reference)!, parse.GetValue(force)))
            {
                context.Out.WriteLine($"removed {removed}");
            }

            return 0;
        });
        return command;
    }
}

public static class GcCommand
{
    public static Command Build(GlobalOptions globals, CliContext context)
    {
        var json = new Option<bool>("--json") { Description = "Print JSON" };
        var command = new Command("gc", "Delete objects no model version needs") { json };
        command.SetAction(parse =>
        {
            using var repository = globals.OpenRepository(parse, context);
            var result = repository.Gc(context.Cancellation);
            if (parse.GetValue(json))
            {
                Json.Write(context.Out, new JsonObject { ["objects_removed"] = result.ObjectsRemoved, ["bytes_freed"] = result.BytesFreed, ["temp_files_removed"] = result.TempFilesRemoved });
            }
            else
            {
                context.Out.WriteLine($"removed {result.ObjectsRemoved} object(s), freed {LineageTree.Size(result.BytesFreed)}");
            }

            return 0;
        });
        return command;
    }
}

public static class FsckCommand
{
    public static Command Build(GlobalOptions globals, CliContext context)
    {
        var json = new Option<bool>("--json") { Description = "Print JSON" };
        var command = new Command("fsck", "Verify every object and manifest; exit 0 only when all is intact") { json };
        command.SetAction(parse =>
        {
            using var repository = globals.OpenRepository(parse, context);
            var report = repository.Fsck(context.Cancellation);
            if (parse.GetValue(json))
            {
                Json.Write(context.Out, new JsonObject
                {
                    ["intact"] = report.Intact,
                    ["objects_checked"] = report.ObjectsChecked,
                    ["versions_checked"] = report.VersionsChecked,
                    ["unreferenced"] = report.Unreferenced,
                    ["problems"] = Json.Array(report.Problems),
                });
            }
            else
            {
                foreach (string problem in report.Problems)
                {
                    context.Out.WriteLine(problem);
                }

                context.Out.WriteLine(report.Intact
                    ? $"ok: {report.VersionsChecked} version(s), {report.ObjectsChecked} object(s) verified{(report.Unreferenced > 0 ? $", {report.Unreferenced} unreferenced (mgit gc frees them)" : "")}"
                    : $"damaged: {report.Problems.Count} problem(s) in {report.VersionsChecked} version(s), {report.ObjectsChecked} object(s)");
            }

            if (!report.Intact)
            {
                context.Error.WriteLine($"mgit: fsck found {report.Problems.Count} problem(s)");
            }

            return report.Intact ? 0 : MGitCli.ExitFailure;
        });
        return command;
    }
}
