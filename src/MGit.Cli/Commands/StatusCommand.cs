using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using MGit.Cascade;
using MGit.Cli.Rendering;
using MGit.Remotes;

namespace MGit.Cli.Commands;

/// <summary><c>mgit status</c>: the repository at a glance: models, what was added last, the remotes and the latest cascade.</summary>
public static class StatusCommand
{
    private const int LatestShown = 5;

    public static Command Build(GlobalOptions globals, CliContext context)
    {
        var json = new Option<bool>("--json") { Description = "Print the status as JSON" };
        var offline = new Option<bool>("--offline") { Description = "Do not read the remotes (no ahead/behind counts)" };
        var command = new Command("status", "Show the repository at a glance: models, latest additions, remotes ahead/behind, the latest cascade") { json, offline };
        command.SetAction(parse =>
        {
            using var repository = globals.OpenRepository(parse, context);
            var stats = repository.Stats();
            var latest = repository.LatestAdded(LatestShown);
            var remotes = parse.GetValue(offline)
                ? repository.Remotes().Select(r => new RemoteComparison(r.Name, r.Url, 0, 0, "not read (--offline)")).ToList()
                : repository.CompareWithRemotesAsync(context.Cancellation).GetAwaiter().GetResult();
            var cascade = repository.LatestCascade();
            // As last recorded: status does not ask the scheduler (cascade --status does).
            var openJobs = cascade is null ? [] : repository.CascadeJobs(cascade.Id).Where(j => !j.Ended).ToList();
            if (parse.GetValue(json))
            {
                Json.Write(context.Out, new JsonObject
                {
                    ["root"] = repository.Root,
                    ["format_version"] = repository.Format.FormatVersion,
                    ["models"] = stats.Models,
                    ["versions"] = stats.Versions,
                    ["logical_bytes"] = stats.LogicalBytes,
                    ["stored_bytes"] = stats.StoredBytes,
                    ["latest"] = Json.Array(latest, l => new JsonObject { ["ref"] = l.Version.Ref, ["added_at"] = l.Version.AddedAt.ToString("O", CultureInfo.InvariantCulture) }),
                    ["remotes"] = Json.Array(remotes, r => new JsonObject
                    {
                        ["name"] = r.Remote,
                        ["url"] = r.Url,
                        ["ahead"] = r.Problem is null ? r.Ahead : null,
                        ["behind"] = r.Problem is null ? r.Behind : null,
                        ["problem"] = r.Problem,
                    }),
                    ["cascade"] = cascade is null ? null : new JsonObject
                    {
                        ["id"] = cascade.Id,
                        ["old"] = cascade.OldRef,
                        ["new"] = cascade.NewRef,
                        ["started_at"] = cascade.StartedAt.ToString("O", CultureInfo.InvariantCulture),
                        ["steps"] = Json.Map(cascade.Steps.GroupBy(s => s.Status).OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => KeyValuePair.Create(g.Key, g.Count())), n => n),
                        ["unfinished"] = Json.Array(Unfinished(cascade).Select(s => s.Model)),
                        ["open_jobs"] = openJobs.Count,
                    },
                });
                return 0;
            }

            var output = context.Out;
            output.WriteLine($"repository {repository.Root} (format {repository.Format.FormatVersion})");
            output.WriteLine(stats.Versions == 0
                ? "no models yet: 'mgit add FILE' stores one"
                : string.Create(CultureInfo.InvariantCulture, $"{stats.Models} model(s), {stats.Versions} version(s): {LineageTree.Size(stats.LogicalBytes)} stored in {LineageTree.Size(stats.StoredBytes)} ({stats.Ratio:0.00}x)"));
            if (latest.Count > 0)
            {
                output.WriteLine();
                output.WriteLine("latest additions:");
                output.Write(TextTable.Render(
                    ["REF", "ADDED", "PARENTS"],
                    latest.Select(l => (IReadOnlyList<string>)[l.Version.Ref, l.Version.AddedAt.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture), string.Join(", ", l.Parents.Select(p => p.Ref)) is { Length: > 0 } p ? p : "-"])));
            }

            output.WriteLine();
            if (remotes.Count == 0)
            {
                output.WriteLine("no remotes: 'mgit remote add origin URL' adds one");
            }
            else
            {
                output.WriteLine("remotes:");
                output.Write(TextTable.Render(["NAME", "URL", "STATE"], remotes.Select(r => (IReadOnlyList<string>)[r.Remote, r.Url, RemoteState(r)])));
            }

            if (cascade is not null)
            {
                output.WriteLine();
                var unfinished = Unfinished(cascade);
                string counts = string.Join(", ", cascade.Steps.GroupBy(s => s.Status).OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => $"{g.Count()} {g.Key}"));
                output.WriteLine($"latest cascade #{cascade.Id}: {cascade.OldRef} -> {cascade.NewRef}, started {cascade.StartedAt.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture)}: {counts}");
                if (openJobs.Count > 0)
                {
                    output.WriteLine($"  {openJobs.Count} job(s) on {string.Join(", ", openJobs.Select(j => j.Scheduler).Distinct(StringComparer.Ordinal))} queued or running when last seen: 'mgit cascade --status' follows them, 'mgit cascade --cancel' stops them");
                }
                else if (unfinished.Count > 0)
                {
                    output.WriteLine($"  not finished: {string.Join(", ", unfinished.Select(s => $"{s.Model} ({s.Status})"))}; 'mgit cascade --resume' goes on");
                }
            }

            return 0;
        });
        return command;
    }

    private static List<CascadeRecordStep> Unfinished(CascadeRecord cascade) =>
        cascade.Steps.Where(s => s.Status is CascadeStatus.Pending or CascadeStatus.Failed or CascadeStatus.Blocked).ToList();

    private static string RemoteState(RemoteComparison r) => r switch
    {
        { Problem: { } problem } => $"unknown: {problem}",
        { Ahead: 0, Behind: 0 } => "up to date",
        _ => string.Join(", ", new[] { r.Ahead > 0 ? $"{r.Ahead} version(s) to push" : null, r.Behind > 0 ? $"{r.Behind} version(s) to pull" : null }.OfType<string>()),
    };
}
