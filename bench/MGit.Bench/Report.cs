using System.Globalization;
using System.Text;

namespace MGit.Bench;

/// <summary>Everything one <c>run</c> measured, rendered as Markdown.</summary>
internal sealed class Report
{
    public const double AddTargetMbPerSecond = 400;
    public const double CheckoutTargetMbPerSecond = 800;
    public const double MemoryTargetMb = 300;

    public DateTime Date { get; init; }
    public required string CommandLine { get; init; }
    public required string Executable { get; init; }
    public required MachineInfo Machine { get; init; }
    public required string MgitPath { get; init; }
    public required string MgitVersion { get; init; }
    public required string Work { get; init; }
    public int Repeat { get; init; }
    public TimeSpan QuietWait { get; init; }
    public double QuietBelow { get; init; }
    public List<string> GeneratedModels { get; } = [];

    public string SingleModel { get; set; } = "";
    public long SingleBytes { get; set; }
    public ModelGenerator.Summary? SingleGeneration { get; set; }
    public List<Row> SingleRows { get; } = [];
    public long Zstd1Bytes { get; set; }
    public long Zstd3Bytes { get; set; }
    public RepoStats? StoredStats { get; set; }
    public double StartupSeconds { get; set; }
    public long StartupRssBytes { get; set; }

    public string FamilyModel { get; set; } = "";
    public long FamilyBytes { get; set; }
    public ModelGenerator.Summary? FamilyGeneration { get; set; }
    public List<Row> FamilyRows { get; } = [];
    public RepoStats? FamilyBaseStats { get; set; }
    public RepoStats? FamilyStats { get; set; }
    public long FamilyZstdAloneBytes { get; set; }
    public long FamilyPatchBytes { get; set; }

    public static string Mb(long bytes) => Format($"{bytes / 1e6:0.0}");

    private static string Format(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);

    public string Render()
    {
        var md = new StringBuilder();
        void Line(FormattableString text) => md.Append(text.ToString(CultureInfo.InvariantCulture)).Append('\n');

        Line($"# MGit benchmark results");
        Line($"");
        Line($"- **Date:** {Date:yyyy-MM-dd HH:mm} UTC");
        Line($"- **Command:** `{CommandLine}` (binary: `{Executable}`)");
        Line($"- **mgit:** `$MGIT` = `{MgitPath}`, `mgit --version` = {MgitVersion}");
        Line($"- **Work folder:** `$WORK` = `{Work}` on {Machine.FileSystem}");
        Line($"");
        foreach (string row in Machine.MarkdownTable())
        {
            md.Append(row).Append('\n');
        }

        Line($"");
        Line($"How it measures:");
        Line($"");
        Line($"- The page cache cannot be dropped without privileges, so every input is **warm in the page cache**: before each run the bench runs `sync` (so dirty pages of earlier steps are not flushed on this step's clock) and then `cat`s every file the step reads (the model, the `.zst`, or the repository's objects) to `/dev/null`.");
        Line($"- **MB = 10^6 bytes.** MB/s = size of the uncompressed model file / wall seconds, for every row (for checkout and decompression that is the bytes produced).");
        Line($"- Wall seconds are timed around the child process, start-up included (for mgit that is the .NET runtime start, about {StartupSeconds:0.00} s, see the last row). CPU = (user + system seconds) / wall, from GNU time: 2.00 means both cores busy all the time. Peak RSS is GNU time's `%M` (maximum resident set of the child: the `dotnet` host with the runtime for mgit), in MB.");
        Line($"- {(Repeat == 1 ? "Each step ran once." : $"Each step ran {Repeat} times; the table shows the median run, the min-max spread of wall seconds, and the highest peak RSS of all runs.")} Outputs go to the same disk as the input.");
        Line($"- The machine is shared: {(QuietWait > TimeSpan.Zero ? $"before each run the bench waits (up to {QuietWait.TotalSeconds:0} s) until less than {QuietBelow:0.##} cores are busy for a second, and" : "")} the *Other load* column is what the rest of the machine used during the run (whole-machine busy CPU from `/proc/stat` minus the child's own CPU), in cores (\"-\" for runs under half a second, too short for 10 ms CPU ticks). A run during which other work used {QuietBelow:0.##} cores or more is set aside and redone (the Notes say how many); rows with other load well above 0 are pessimistic.");
        Line($"- `zstd -T2` compresses with 2 worker threads; zstd decompresses on one thread whatever `-T` says.");
        Line($"");

        Line($"## One model: {SingleModel}");
        Line($"");
        RenderRows(md, SingleRows);
        Line($"");
        Line($"| Stored as | MB | % of the file |");
        Line($"| --- | ---: | ---: |");
        Line($"| safetensors file | {Mb(SingleBytes)} | 100.0 |");
        Line($"| `zstd -1` | {Mb(Zstd1Bytes)} | {Percent(Zstd1Bytes, SingleBytes)} |");
        Line($"| `zstd -3` | {Mb(Zstd3Bytes)} | {Percent(Zstd3Bytes, SingleBytes)} |");
        if (StoredStats is { } stored)
        {
            Line($"| mgit objects (`stats --json` stored_bytes, {stored.Objects} objects) | {Mb(stored.StoredBytes)} | {Percent(stored.StoredBytes, SingleBytes)} |");
        }

        Line($"");
        RenderTargets(md);
        RenderBreakdown(md);

        if (FamilyRows.Count > 0)
        {
            Line($"## Family: a fine-tune next to its base");
            Line($"");
            Line($"{FamilyModel}. MB/s is on the fine-tune's size ({Mb(FamilyBytes)} MB), except for the base add.");
            Line($"");
            RenderRows(md, FamilyRows);
            Line($"");
            Line($"| Storage of base + fine-tune | Logical MB | Stored MB | Ratio | Fine-tune's own cost, MB |");
            Line($"| --- | ---: | ---: | ---: | ---: |");
            if (FamilyBaseStats is { } b && FamilyStats is { } f)
            {
                Line($"| mgit, base only | {Mb(b.LogicalBytes)} | {Mb(b.StoredBytes)} | {b.Ratio:0.000} | |");
                Line($"| mgit, base + fine-tune (`stats --json`) | {Mb(f.LogicalBytes)} | {Mb(f.StoredBytes)} | {f.Ratio:0.000} | {Mb(f.StoredBytes - b.StoredBytes)} |");
            }

            Line($"| `zstd -3` of the fine-tune alone | | | {(double)FamilyBytes / FamilyZstdAloneBytes:0.000} (that file) | {Mb(FamilyZstdAloneBytes)} |");
            Line($"| `zstd --patch-from=base` | | | {(double)FamilyBytes / FamilyPatchBytes:0.000} (that file) | {Mb(FamilyPatchBytes)} |");
            Line($"");
        }

        Line($"Commands (`$MGIT` and `$WORK` as above; `mgit init` and the base add before a fine-tune add are done untimed):");
        Line($"");
        foreach (var row in SingleRows.Concat(FamilyRows))
        {
            Line($"- {row.Operation}: `{row.Command}`");
        }

        if (SingleGeneration is { } g)
        {
            Line($"");
            Line($"Generating the {Mb(g.Bytes)} MB model took {g.Elapsed.TotalSeconds:0.0} s (not part of any measurement).");
        }

        return md.ToString();
    }

    private void RenderRows(StringBuilder md, List<Row> rows)
    {
        bool spread = Repeat > 1;
        md.Append("| Operation | Wall s | ").Append(spread ? "min-max s | " : "").Append("MB/s | CPU cores | user + sys s | Other load | Peak RSS MB | Output MB | Notes |\n");
        md.Append("| --- | ---: | ").Append(spread ? "---: | " : "").Append("---: | ---: | ---: | ---: | ---: | ---: | --- |\n");
        foreach (var row in rows)
        {
            md.Append(Format($"| {row.Operation} | {row.Median.Seconds:0.00} | "));
            if (spread)
            {
                md.Append(Format($"{row.MinSeconds:0.00}-{row.MaxSeconds:0.00} | "));
            }

            md.Append(row.InputBytes > 0 ? Format($"{row.MegabytesPerSecond:0}") : "-");
            md.Append(Format($" | {row.Median.CpuUse:0.00} | {row.Median.UserSeconds:0.00} + {row.Median.SystemSeconds:0.00} | {(row.Median.OtherCores is { } other ? other.ToString("0.00", CultureInfo.InvariantCulture) : "-")} | {row.MaxRssBytes / 1e6:0} | {(row.OutputBytes is { } o ? Mb(o) : "")} | {row.Note}{(row.SetAside > 0 ? $"{(row.Note.Length > 0 ? "; " : "")}{row.SetAside} disturbed run(s) redone" : "")} |\n"));
        }
    }

    private void RenderTargets(StringBuilder md)
    {
        var add = SingleRows.Find(r => r.Operation.StartsWith("mgit add (fsync on", StringComparison.Ordinal));
        var addNoFsync = SingleRows.Find(r => r.Operation.StartsWith("mgit add (MGIT_FSYNC=0", StringComparison.Ordinal));
        var checkout = SingleRows.Find(r => r.Operation == "mgit checkout");
        if (add is null || addNoFsync is null || checkout is null)
        {
            return;
        }

        void Line(FormattableString text) => md.Append(text.ToString(CultureInfo.InvariantCulture)).Append('\n');
        static string Verdict(bool met) => met ? "met" : "**missed**";
        Line($"Targets (set for the 2 GB model; this file is {Mb(SingleBytes)} MB):");
        Line($"");
        Line($"| Target | Goal | Measured | |");
        Line($"| --- | --- | ---: | --- |");
        Line($"| mgit add, fsync on (default) | >= {AddTargetMbPerSecond} MB/s | {add.MegabytesPerSecond:0} MB/s | {Verdict(add.MegabytesPerSecond >= AddTargetMbPerSecond)} |");
        Line($"| mgit add, MGIT_FSYNC=0 | >= {AddTargetMbPerSecond} MB/s | {addNoFsync.MegabytesPerSecond:0} MB/s | {Verdict(addNoFsync.MegabytesPerSecond >= AddTargetMbPerSecond)} |");
        Line($"| mgit checkout | >= {CheckoutTargetMbPerSecond} MB/s | {checkout.MegabytesPerSecond:0} MB/s | {Verdict(checkout.MegabytesPerSecond >= CheckoutTargetMbPerSecond)} |");
        foreach (var row in new[] { add, addNoFsync, checkout })
        {
            Line($"| peak RSS, {row.Operation} | <= {MemoryTargetMb} MB | {row.MaxRssBytes / 1e6:0.0} MB | {Verdict(row.MaxRssBytes <= MemoryTargetMb * 1e6)} |");
        }

        Line($"");
    }

    private void RenderBreakdown(StringBuilder md)
    {
        Row? Find(string prefix) => SingleRows.Find(r => r.Operation.StartsWith(prefix, StringComparison.Ordinal));
        var add = Find("mgit add (fsync on");
        var addNoFsync = Find("mgit add (MGIT_FSYNC=0");
        var again = Find("mgit add again");
        var checkout = Find("mgit checkout");
        var fsck = Find("mgit fsck");
        var cp = Find("cp ");
        var dd = Find("dd ");
        if (add is null || addNoFsync is null || again is null || checkout is null || fsck is null || cp is null || dd is null)
        {
            return;
        }

        void Line(FormattableString text) => md.Append(text.ToString(CultureInfo.InvariantCulture)).Append('\n');
        double fsync = add.Median.Seconds - addNoFsync.Median.Seconds;
        Line($"Differences between rows (medians; each includes its own process start-up of about {StartupSeconds:0.00} s, {StartupRssBytes / 1e6:0} MB):");
        Line($"");
        Line($"- fsync per object: add with fsync - add without = {fsync:0.00} s ({100 * fsync / add.Median.Seconds:0}% of the default add).");
        Line($"- Read + hash with nothing to store (add again): {again.Median.Seconds:0.00} s = {again.MegabytesPerSecond:0} MB/s at {again.Median.CpuUse:0.00} cores.");
        Line($"- Encode + write of new objects, no fsync: add without fsync - add again = {addNoFsync.Median.Seconds - again.Median.Seconds:0.00} s.");
        Line($"- Checkout writing the file vs fsck reading and verifying the same objects: {checkout.Median.Seconds:0.00} s vs {fsck.Median.Seconds:0.00} s.");
        Line($"- For scale: `cp` (an in-kernel copy) {cp.Median.Seconds:0.00} s = {cp.MegabytesPerSecond:0} MB/s (runs {cp.MinSeconds:0.00}-{cp.MaxSeconds:0.00} s); `dd bs=4M` (read + write through a user buffer, the floor for any tool that writes a new file) {dd.Median.Seconds:0.00} s = {dd.MegabytesPerSecond:0} MB/s (runs {dd.MinSeconds:0.00}-{dd.MaxSeconds:0.00} s).");
        Line($"");
    }

    private static string Percent(long part, long whole) => Format($"{100.0 * part / whole:0.0}");
}
