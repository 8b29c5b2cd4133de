using System.Globalization;

namespace MGit.Bench;

/// <summary>
/// Whole-machine CPU use from /proc/stat, to see (and wait out) other work on the machine: on a
/// small box a concurrent build or test run skews every number in the table.
/// </summary>
internal static class MachineLoad
{
    /// <summary>Kernel clock ticks per second for /proc/stat (USER_HZ, 100 on Linux).</summary>
    private const double TicksPerSecond = 100;

    /// <summary>Busy CPU seconds of the whole machine since boot (all but idle and iowait), or null without /proc.</summary>
    public static double? BusySeconds()
    {
        if (!File.Exists("/proc/stat"))
        {
            return null;
        }

        string? line = File.ReadLines("/proc/stat").FirstOrDefault(l => l.StartsWith("cpu ", StringComparison.Ordinal));
        if (line is null)
        {
            return null;
        }

        long[] fields = line[4..].Split(' ', StringSplitOptions.RemoveEmptyEntries).Take(8)
            .Select(f => long.Parse(f, CultureInfo.InvariantCulture)).ToArray();
        // user nice system idle iowait irq softirq steal
        long busy = fields.Sum() - fields[3] - fields[4];
        return busy / TicksPerSecond;
    }

    /// <summary>Average cores busy over the next <paramref name="window"/>.</summary>
    public static double? CoresBusy(TimeSpan window)
    {
        double? before = BusySeconds();
        Thread.Sleep(window);
        double? after = BusySeconds();
        return before is { } b && after is { } a ? (a - b) / window.TotalSeconds : null;
    }

    /// <summary>
    /// Waits until the machine has been nearly idle for one second, at most <paramref name="maxWait"/>.
    /// Returns the load seen last, and whether it was quiet.
    /// </summary>
    public static (double Cores, bool Quiet) WaitForQuiet(double threshold, TimeSpan maxWait, TextWriter log, string what)
    {
        var deadline = DateTime.UtcNow + maxWait;
        bool told = false;
        while (true)
        {
            double cores = CoresBusy(TimeSpan.FromSeconds(1)) ?? 0;
            if (cores < threshold)
            {
                return (cores, true);
            }

            if (DateTime.UtcNow >= deadline)
            {
                log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"[{what}] machine still busy ({cores:0.00} cores) after {maxWait.TotalSeconds:0} s; measuring anyway"));
                return (cores, false);
            }

            if (!told)
            {
                log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"[{what}] waiting for other work to finish ({cores:0.00} cores busy)"));
                told = true;
            }
        }
    }
}
