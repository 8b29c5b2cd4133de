using System.Globalization;
using System.Text;

namespace MGit.Bench;

/// <summary>The <c>scale</c> report: a summary table against the issue's goals, then each N in detail.</summary>
internal static class ScaleReport
{
    private const double PlacementGoalMs = 50;
    private const double LsGoalSeconds = 3;
    private const double LogGoalSeconds = 0.1;
    private const double TransferGoalSeconds = 1;
    private const long LineageGoalBytes = 64 * 1024;

    public static string Render(string[] commandLine, string mgit, string version, string work, List<Measurement> startup, List<ScaleRun> runs, int placements)
    {
        var machine = MachineInfo.Collect(work);
        var md = new StringBuilder();
        void Line(FormattableString text) => md.Append(text.ToString(CultureInfo.InvariantCulture)).Append('\n');

        Line($"# Hub scale: N tiny models (issue 26)");
        Line($"");
        Line($"- **Date:** {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC");
        Line($"- **Command:** `dotnet bench/MGit.Bench/bin/Release/net10.0/MGit.Bench.dll {string.Join(' ', commandLine.Select(Invocation.Quote))}`");
        Line($"- **mgit:** `{mgit}`, `mgit --version` = {version}; start-up floor (`mgit --version`, 5 runs): median {Statistics.Median(startup.Select(s => s.Seconds)) * 1000:0} ms, peak RSS {startup.Max(s => s.PeakRssBytes) / 1e6:0} MB");
        Line($"- **Work folder:** `{work}` on {machine.FileSystem}");
        Line($"");
        foreach (string row in machine.MarkdownTable())
        {
            md.Append(row).Append('\n');
        }

        Line($"");
        Line($"How it measures:");
        Line($"");
        Line($"- **The repository** of N model versions is built in the bench process with the library (`Repository.Add` with explicit parents or `VersionOf`, no placement, no fsync): this is setup, not measured. Families of seeded kinds: *chains* (one name, 5-60 versions, now and then a fine-tune of a version), *deep* (10-80 fine-tunes of fine-tunes), *stars* (20-400: fine-tunes of one base, of its fine-tunes, merges of two members, new versions). Each model is one safetensors file of 2-4 F32 tensors of 16-1,024 elements (a fine-tune changes about half its tensors; the rest are shared); 64 architectures (five naming schemes, random shapes), half the families on the 8 most common. It is then pushed to an empty file:// remote (`mgit push`) and cloned (`mgit clone`), both setup too. All three are kept and copied before each run, so a rerun at the same N and seed starts from the same state.");
        Line($"- **Each measured command** is the CLI above as a child process (default settings: fsync on), timed from start to exit (runtime start-up included: see the floor above), with peak RSS from GNU time (`%M`). One run each, in this order (after an untimed push and pull with nothing new, so both sides hold this mgit's push mark): push of one new model (a fine-tune of a member of the middle family, added untimed with `--parent`) and pull of it into the clone; a push with nothing new; the push of a second new model with the push mark deleted (comparing whole lineages); `add` of a third with its parent given, then `status` (which counts it as one to push), `show --json`, `diff` against its parent, `checkout` and `rm` of it; {placements} `add --auto` of fine-tunes of random members of random families; `ls --json` (stdout read through a pipe); `log` of the middle family's first model; `graph`; `fsck`; `gc`.");
        Line($"- **Placement** is the time `add --auto` prints (`placement: compared with K model(s) in T ms`: reading the stored fingerprints and ranking the candidates); the whole `add --auto` process time is shown too.");
        Line($"- **Bytes on the remote:** the file:// remote's folder is summed before and after the push: all files, and the lineage part (every file outside `objects/`: snapshots, refs). A clone that had pulled before the push reads, to pull it, the ref and the lineage files the push wrote (remote format 2: one segment; format 1 rewrote and read one whole snapshot).");
        Line($"- The machine is shared (2 cores): *other load* is what the rest of the machine used meanwhile, in cores (\"-\" under half a second). Goals are the issue's, at N = 100,000; a goal column at smaller N says whether the figure would meet it.");
        Line($"");

        Line($"## Summary");
        Line($"");
        md.Append("| measure | goal (N = 100,000) |");
        foreach (var run in runs)
        {
            md.Append(CultureInfo.InvariantCulture, $" N = {run.Setup.Models:N0} |");
        }

        md.Append('\n').Append("| --- | --- |").Append(string.Concat(runs.Select(_ => " ---: |"))).Append('\n');
        void Summary(string measure, string goal, Func<ScaleRun, string> cell)
        {
            md.Append(CultureInfo.InvariantCulture, $"| {measure} | {goal} |");
            foreach (var run in runs)
            {
                md.Append(' ').Append(cell(run)).Append(" |");
            }

            md.Append('\n');
        }

        Summary("`add --auto`: placement, median / p95", "<= 50 ms", r => Met(Format($"{Statistics.Median(r.Placements.Select(p => p.PlacementMs)):0.0} / {P95(r.Placements.Select(p => p.PlacementMs)):0.0} ms"), P95(r.Placements.Select(p => p.PlacementMs)) <= PlacementGoalMs));
        Summary("`add --auto`: whole command, median / p95", "", r => Format($"{Statistics.Median(r.Placements.Select(p => p.Seconds)) * 1000:0} / {P95(r.Placements.Select(p => p.Seconds)) * 1000:0} ms"));
        Summary("`ls --json`", "<= 3 s", r => Met(Seconds(Row(r, "ls")), Row(r, "ls").Run.Seconds <= LsGoalSeconds));
        Summary("`log` of one model", "<= 100 ms", r => Met(Seconds(Row(r, "log")), Row(r, "log").Run.Seconds <= LogGoalSeconds));
        Summary("`graph` of one subtree", "", r => Seconds(Row(r, "graph")));
        Summary("`fsck`", "", r => Seconds(Row(r, "fsck")));
        Summary("`gc`", "", r => Seconds(Row(r, "gc")));
        Summary("push of one new model: time", "<= 1 s", r => Met(Seconds(Row(r, "push")), Row(r, "push").Run.Seconds <= TransferGoalSeconds));
        Summary("push of one new model: lineage bytes written", "<= 64 KB", r => Met(Kb(r.Transfer.LineageBytesAdded), r.Transfer.LineageBytesAdded <= LineageGoalBytes));
        Summary("pull of it: time", "<= 1 s", r => Met(Seconds(Row(r, "pull")), Row(r, "pull").Run.Seconds <= TransferGoalSeconds));
        Summary("pull of it: lineage read (ref + new lineage files)", "<= 64 KB", r => Met(Kb(r.Transfer.PullLineageBytes), r.Transfer.PullLineageBytes <= LineageGoalBytes));
        Summary("highest peak memory of these commands", "< 500 MB each", r =>
        {
            var (name, peak) = Peaks(r).MaxBy(p => p.Bytes);
            return Met(Format($"{peak / 1e6:0} MB ({name})"), peak < ScaleCommand.MemoryGoalBytes);
        });
        Line($"");

        foreach (var run in runs)
        {
            RenderRun(md, run);
        }

        return md.ToString();
    }

    private static void RenderRun(StringBuilder md, ScaleRun run)
    {
        void Line(FormattableString text) => md.Append(text.ToString(CultureInfo.InvariantCulture)).Append('\n');
        var s = run.Setup;
        var t = run.Transfer;
        Line($"## N = {s.Models:N0}");
        Line($"");
        Line($"- **Families:** {s.Families:N0} ({s.Chains:N0} chains, {s.Deep:N0} deep, {s.Stars:N0} stars).");
        Line($"- **Setup:** built in-process in {s.GenerationSeconds:0} s ({s.Models / s.GenerationSeconds:0} models/s); `.mgit` holds {s.RepoFiles:N0} files, {s.RepoBytes / 1e6:0.0} MB (lineage.db {s.LineageDbBytes / 1e6:0.0} MB). First push of everything: {s.FullPushSeconds:0.0} s, peak {s.FullPushRssBytes / 1e6:0} MB; clone: {s.CloneSeconds:0.0} s, peak {s.CloneRssBytes / 1e6:0} MB (both with MGIT_FSYNC=0).");
        Line($"- **Push of one new model:** {t.ObjectsSent} objects, {t.BytesSent:N0} bytes of objects (its `--json`); the remote grew by {t.RemoteBytesAdded:N0} bytes, {t.LineageBytesAdded:N0} of them outside `objects/` (lineage); a clone up to date before reads {t.PullLineageBytes:N0} bytes of lineage to pull it (the ref and the files the push wrote). Pull: {t.ObjectsReceived} objects, {t.BytesReceived:N0} bytes of objects received.");
        Line($"");
        Line($"| command | wall | CPU s | peak RSS | other load | goal | met | notes |");
        Line($"| --- | ---: | ---: | ---: | ---: | --- | --- | --- |");
        var p = run.Placements;
        Line($"| `mgit add FILE --auto`: placement (printed), median / p95 / max of {p.Count} | {Statistics.Median(p.Select(x => x.PlacementMs)):0.0} / {P95(p.Select(x => x.PlacementMs)):0.0} / {p.Max(x => x.PlacementMs):0.0} ms | CPU median {Statistics.Median(p.Select(x => x.CpuMs)):0} ms | | | <= 50 ms | {YesNo(P95(p.Select(x => x.PlacementMs)) <= PlacementGoalMs)} | compared with {p.Max(x => x.Compared):N0} models |");
        Line($"| `mgit add FILE --auto`: whole command, median / p95 | {Statistics.Median(p.Select(x => x.Seconds)) * 1000:0} / {P95(p.Select(x => x.Seconds)) * 1000:0} ms | | {p.Max(x => x.PeakRssBytes) / 1e6:0} MB (max) | {Other(p.Select(x => x.OtherCores).Max())} | < 500 MB | {YesNo(p.Max(x => x.PeakRssBytes) < ScaleCommand.MemoryGoalBytes)} | |");
        foreach (var row in run.Rows)
        {
            string goal = row.Key switch
            {
                "ls" => "<= 3 s",
                "log" => "<= 100 ms",
                "push" or "pull" => "<= 1 s",
                _ => "",
            };
            bool timeMet = row.Key switch
            {
                "ls" => row.Run.Seconds <= LsGoalSeconds,
                "log" => row.Run.Seconds <= LogGoalSeconds,
                "push" or "pull" => row.Run.Seconds <= TransferGoalSeconds,
                _ => true,
            };
            bool memoryMet = row.Run.PeakRssBytes < ScaleCommand.MemoryGoalBytes;
            string met = (timeMet, memoryMet) switch
            {
                (true, true) => "yes",
                (false, true) => "**no** (time)",
                (true, false) => "**no** (memory)",
                _ => "**no** (time, memory)",
            };
            Line($"| {row.Command} | {Seconds(row)} | {row.Run.UserSeconds + row.Run.SystemSeconds:0.00} | {row.Run.PeakRssBytes / 1e6:0} MB | {Other(row.Run.OtherCores)} | {(goal.Length > 0 ? goal + ", " : "")}< 500 MB | {met} | {row.Note} |");
        }

        Line($"");
    }

    private static IEnumerable<(string Name, long Bytes)> Peaks(ScaleRun run) =>
        run.Rows.Select(r => (r.Key, r.Run.PeakRssBytes)).Append(("add --auto", run.Placements.Max(p => p.PeakRssBytes)));

    private static ScaleRow Row(ScaleRun run, string key) => run.Rows.Single(r => r.Key == key);

    private static string Seconds(ScaleRow row) => row.Run.Seconds < 10 ? Format($"{row.Run.Seconds * 1000:0} ms") : Format($"{row.Run.Seconds:0.0} s");

    private static string Kb(long bytes) => Format($"{bytes / 1024.0:0.0} KiB");

    private static string Met(string value, bool met) => met ? value : value + " **(over)**";

    private static string YesNo(bool met) => met ? "yes" : "**no**";

    private static string Other(double? cores) => cores is { } c ? Format($"{c:0.00}") : "-";

    private static double P95(IEnumerable<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count == 0 ? 0 : sorted[Math.Max(0, (int)Math.Ceiling(0.95 * sorted.Count) - 1)];
    }

    private static string Format(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
