using System.Globalization;
using System.Runtime.InteropServices;

namespace MGit.Bench;

/// <summary>Facts about the machine that the numbers depend on.</summary>
internal sealed record MachineInfo(string Cpu, string Cores, string Memory, string Kernel, string Virtualization, string FileSystem, string Runtime, string Zstd)
{
    public static MachineInfo Collect(string workDirectory)
    {
        string cpu = ChildProcess.TryRun("lscpu")?.Split('\n')
            .FirstOrDefault(l => l.StartsWith("Model name:", StringComparison.Ordinal))?["Model name:".Length..].Trim() ?? "unknown";
        string cores = ChildProcess.TryRun("nproc")?.Trim() ?? Environment.ProcessorCount.ToString(CultureInfo.InvariantCulture);
        string memory = "unknown";
        string? memTotal = File.Exists("/proc/meminfo")
            ? File.ReadLines("/proc/meminfo").FirstOrDefault(l => l.StartsWith("MemTotal:", StringComparison.Ordinal))
            : null;
        if (memTotal is not null && long.TryParse(memTotal["MemTotal:".Length..].Replace("kB", "", StringComparison.Ordinal).Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out long kib))
        {
            memory = string.Create(CultureInfo.InvariantCulture, $"{kib * 1024 / 1e9:0.0} GB ({kib} kB MemTotal)");
        }

        string kernel = ChildProcess.TryRun("uname", "-sr")?.Trim() ?? RuntimeInformation.OSDescription;
        string fileSystem = ChildProcess.TryRun("findmnt", "-n", "-o", "SOURCE,FSTYPE", "-T", workDirectory)?.Trim() ?? "unknown";
        string zstd = ChildProcess.TryRun("zstd", "--version")?.Trim() ?? "not found";
        return new MachineInfo(cpu, cores, memory, kernel, DescribeVirtualization(), fileSystem, RuntimeInformation.FrameworkDescription, zstd);
    }

    /// <summary>The facts as a two-column Markdown table, one line each.</summary>
    public IEnumerable<string> MarkdownTable() =>
    [
        "| Machine | |",
        "| --- | --- |",
        $"| CPU (`lscpu` model name) | {Cpu} |",
        $"| Cores (`nproc`) | {Cores} |",
        $"| Memory (`/proc/meminfo`) | {Memory} |",
        $"| Kernel | {Kernel} |",
        $"| Virtualization | {Virtualization} |",
        $"| .NET runtime | {Runtime} |",
        $"| zstd | {Zstd.Replace("*", "", StringComparison.Ordinal).Trim()} |",
    ];

    /// <summary>
    /// Whether this is a guest, and whether freed memory is handed back to the host (free page
    /// reporting): there, touching memory that was freed a few seconds ago (new page-cache pages for
    /// a new file, a grown heap) faults back into the host, and writes of new files get slow and noisy.
    /// </summary>
    private static string DescribeVirtualization()
    {
        bool guest = File.Exists("/proc/cpuinfo") && File.ReadLines("/proc/cpuinfo")
            .Any(l => l.StartsWith("flags", StringComparison.Ordinal) && l.Split(' ').Contains("hypervisor"));
        if (!guest)
        {
            return "none seen (no hypervisor CPU flag)";
        }

        return Directory.Exists("/sys/module/page_reporting")
            ? "virtual machine (hypervisor CPU flag) with free page reporting: freed guest memory returns to the host and is faulted back on first touch"
            : "virtual machine (hypervisor CPU flag)";
    }
}
