using System.Globalization;

namespace MGit.Cli.Rendering;

/// <summary>
/// Every percentage the CLI prints. A share that is not zero never reads "0%", and one that is not
/// the whole never reads "100%": rounding would say nothing changed when something did.
/// </summary>
public static class Percent
{
    /// <summary><paramref name="part"/> of <paramref name="whole"/> (no decimals when exact); "0%" when the whole is empty.</summary>
    public static string Of(long part, long whole, int decimals = 1) =>
        whole == 0 || part == 0 ? "0%"
        : part == whole ? "100%"
        : Format((double)part / whole, decimals);

    /// <summary>A fraction (0.25) as a percentage ("25%"), with at most <paramref name="decimals"/> decimals.</summary>
    public static string Format(double fraction, int decimals = 1)
    {
        if (double.IsNaN(fraction))
        {
            return "-";
        }

        double percent = fraction * 100;
        double smallest = Math.Pow(10, -decimals);
        double rounded = Math.Round(percent, decimals, MidpointRounding.AwayFromZero);
        if (percent > 0 && rounded < smallest)
        {
            return "<" + Number(smallest, decimals) + "%";
        }

        if (percent < 100 && rounded >= 100)
        {
            return ">" + Number(100 - smallest, decimals) + "%";
        }

        if (percent < 0 && rounded > -smallest)
        {
            return ">-" + Number(smallest, decimals) + "%";
        }

        return Number(rounded, decimals) + "%";
    }

    private static string Number(double value, int decimals) =>
        value.ToString(decimals <= 0 ? "0" : "0." + new string('#', decimals), CultureInfo.InvariantCulture);
}
