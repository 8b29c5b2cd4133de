using System.Globalization;
using System.Text;

namespace MGit.Bench;

/// <summary>The <c>faults</c> run as Markdown: what was done, on what, and every failure seen.</summary>
internal static class FaultReport
{
    /// <summary>How many problems the report spells out per command; the count covers them all.</summary>
    private const int ProblemsShown = 5;

    public sealed record Inputs(
        DateTime Started,
        DateTime Finished,
        string CommandLine,
        string Mgit,
        string MgitVersion,
        string Work,
        MachineInfo Machine,
        FaultFamily Family,
        ulong Seed,
        double StartupSeconds,
        IReadOnlyList<KillTally> Tallies,
        IReadOnlyList<FullDiskResult> Disks);

    public static string Render(Inputs run)
    {
        var md = new StringBuilder();
        void Line(FormattableString text) => md.Append(text.ToString(CultureInfo.InvariantCulture)).Append('\n');

        int runs = run.Tallies.Sum(t => t.Runs);
        int inconsistent = run.Tallies.Sum(t => t.InconsistentRuns);
        var judged = run.Disks.SelectMany(d => d.Checks).Where(c => c.Passed is not null).ToList();
        Line($"# MGit fault injection");
        Line($"");
        Line($"- **Date:** {run.Started:yyyy-MM-dd HH:mm}-{run.Finished:HH:mm} UTC");
        Line($"- **Command:** `{run.CommandLine}`");
        Line($"- **mgit:** `{run.Mgit}`, `mgit --version` = {run.MgitVersion}; start-up (`mgit --version`, median of 3) {run.StartupSeconds:0.000} s");
        Line($"- **Work folder:** `$WORK` = `{run.Work}` on {run.Machine.FileSystem}; `$FAULTS` = `$WORK/faults`");
        Line($"- **Family:** {Describe(run.Family)}");
        Line($"- **Result:** {inconsistent} inconsistent run(s) of {runs} ({run.Tallies.Sum(t => t.Kills)} killed); full-disk checks: {judged.Count(c => c.Passed == true)} of {judged.Count} held{(run.Disks.Any(d => d.SkippedBecause is not null) ? " (some file systems skipped, see below)" : "")}.");
        Line($"");
        foreach (string row in run.Machine.MarkdownTable())
        {
            md.Append(row).Append('\n');
        }

        Line($"");
        RenderKills(md, run);
        foreach (var disk in run.Disks)
        {
            RenderDisk(md, disk);
        }

        return md.ToString();
    }

    private static string Describe(FaultFamily family)
    {
        static string Mb(string path) => (new FileInfo(path).Length / 1e6).ToString("0.0", CultureInfo.InvariantCulture);
        return $"synthetic F32 safetensors models (seeded): base@1 ({Mb(family.Base)} MB), its fine-tunes ft-a@1 and ft-b@1 (30% of the tensor bytes changed) "
            + $"and next version base@2 (20%); extra@1, a fine-tune of base@2 (50%), is what the killed add adds; other@1, an unrelated {Mb(family.Unrelated)} MB model, "
            + $"is what gc collects (removed together with ft-b@1). {Report.Mb(family.LogicalBytes)} MB in all.";
    }

    private static void RenderKills(StringBuilder md, Inputs run)
    {
        void Line(FormattableString text) => md.Append(text.ToString(CultureInfo.InvariantCulture)).Append('\n');
        int perCommand = run.Tallies.Count > 0 ? run.Tallies[0].Runs : 0;
        Line($"## Killed commands");
        Line($"");
        Line($"Each command ran {perCommand} times, each time from fresh copies of template repositories (and, for push and pull, of a template file:// remote), and was sent SIGKILL after a delay drawn uniformly (seed {run.Seed}) from 0 to its typical run time: the mean of two uninterrupted runs, measured first. A run that finished before its kill counts as a run without a kill; \"killed after start-up\" counts the kills later than the start-up time above. After the kill, and again after rerunning the command to completion, it checks:");
        Line($"");
        Line($"- `mgit fsck` exits 0 in the repository; after push, also in a fresh `mgit clone` of the remote (which must succeed);");
        Line($"- `mgit ls --json` (refs, sizes, parents) lists the state before or the state after the command, never a mix (after the rerun: the state after);");
        Line($"- every listed version checks out (one `mgit checkout A B ... -o DIR`) byte-identical to the file it was added from;");
        Line($"- checkout: what the target holds under a final name is byte-identical to the original; a `NAME.mgit-partial-PID` file is allowed right after a kill (the killed process cannot delete it; the next checkout of that path does); after the rerun (with `--force`, as a user would, since the target is then taken) the target holds exactly the checked-out files;");
        Line($"- the rerun succeeds (a rerun of add may instead be refused with \"already exists\", when the killed add had committed).");
        Line($"");
        Line($"A run with any failed check is inconsistent. Temporary files are counted, not judged: right after the kill, files in the repository's `.mgit/tmp`, in the remote's `tmp/` and (checkout) `NAME.mgit-partial-PID` files in the target; after the next command of the same kind (the rerun), what is still in `.mgit/tmp` and the remote's `tmp/` (a partial file still in the target then is a stray file, an inconsistency).");
        Line($"");
        Line($"| command | typical run s | runs | killed | killed after start-up | finished before the kill | inconsistent runs | temp files right after the kill | leftover temp files after the next command of the same kind |");
        Line($"| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |");
        foreach (var t in run.Tallies)
        {
            string leftovers = t.RunsWithLeftovers == 0
                ? "0"
                : Format($"{t.LeftoverFiles.Values.Sum()} file(s) in {t.RunsWithLeftovers} run(s): {string.Join(", ", t.LeftoverFiles.Select(l => Format($"{l.Value} in {l.Key}")))}");
            string temp = t.RunsWithTempAfterKill == 0 ? "0" : Format($"{t.TempFilesAfterKill} file(s) in {t.RunsWithTempAfterKill} run(s)");
            Line($"| {t.Name} | {t.TypicalSeconds:0.00} | {t.Runs} | {t.Kills} | {t.KillsAfterStartup} | {t.Runs - t.Kills} | {(t.InconsistentRuns > 0 ? $"**{t.InconsistentRuns}**" : "0")} | {temp} | {leftovers} |");
        }

        Line($"");
        foreach (var t in run.Tallies.Where(t => t.Problems.Count > 0))
        {
            Line($"Inconsistencies of {t.Name} ({t.Problems.Count} failed check(s) in {t.InconsistentRuns} run(s){(t.Problems.Count > ProblemsShown ? $", the first {ProblemsShown}" : "")}):");
            Line($"");
            foreach (string problem in t.Problems.Take(ProblemsShown))
            {
                Line($"- {problem}");
            }

            Line($"");
        }

        Line($"Commands (`$FAULTS/live/repo` is the fresh copy each run works on, `$FAULTS/live/remote` the remote's):");
        Line($"");
        foreach (var t in run.Tallies)
        {
            Line($"- {t.Name}: `{t.Command}`");
        }

        Line($"");
    }

    private static void RenderDisk(StringBuilder md, FullDiskResult disk)
    {
        void Line(FormattableString text) => md.Append(text.ToString(CultureInfo.InvariantCulture)).Append('\n');
        Line($"## Full disk: {disk.FileSystem}");
        Line($"");
        if (disk.SkippedBecause is { } reason)
        {
            Line($"Skipped: {reason}.");
            Line($"");
            return;
        }

        var judged = disk.Checks.Where(c => c.Passed is not null).ToList();
        Line($"{disk.Setup}. {judged.Count(c => c.Passed == true)} of {judged.Count} checks held.");
        Line($"");
        Line($"| check | result | what happened |");
        Line($"| --- | --- | --- |");
        foreach (var check in disk.Checks)
        {
            string result = check.Passed switch { true => "passed", false => "**failed**", null => "(count)" };
            Line($"| {check.What} | {result} | {check.Details.Replace("|", "\\|", StringComparison.Ordinal)} |");
        }

        Line($"");
    }

    private static string Format(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
