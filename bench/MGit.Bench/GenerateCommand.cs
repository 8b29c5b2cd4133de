using System.Globalization;

namespace MGit.Bench;

/// <summary><c>generate</c>: a base model of a given size, or a fine-tune derived from one.</summary>
internal static class GenerateCommand
{
    public const ulong DefaultSeed = 42;

    public static int Run(Arguments options)
    {
        string output = options.RequiredString("out");
        ulong seed = (ulong)options.Long("seed", (long)DefaultSeed, 0, long.MaxValue);
        string? baseFile = options.String("derive-from");
        if (baseFile is not null)
        {
            double fraction = options.Double("change-fraction", 0.3, 0, 1);
            options.RejectUnused();
            var derived = ModelGenerator.Derive(baseFile, output, fraction, seed);
            Console.WriteLine(Describe(output, derived) +
                $"; changed {derived.ChangedTensors} of {derived.Tensors} tensors, {Mb(derived.ChangedBytes)} MB ({100.0 * derived.ChangedBytes / derived.Bytes:0.0}% of the file)");
            return 0;
        }

        long sizeMb = options.Long("size-mb", 0, 1, 1_000_000);
        if (sizeMb == 0)
        {
            throw new UsageException("--size-mb is required (or --derive-from)");
        }

        var dtype = Safetensors.ParseDtype(options.String("dtype") ?? "F32");
        options.RejectUnused();
        var plan = ModelPlan.ForSize(sizeMb * 1_000_000, dtype);
        var summary = ModelGenerator.Generate(output, plan, dtype, seed);
        Console.WriteLine(Describe(output, summary) + $"; {dtype}, {plan.Describe()}");
        return 0;
    }

    private static string Describe(string path, ModelGenerator.Summary summary) =>
        $"wrote {path}: {summary.Bytes} bytes ({Mb(summary.Bytes)} MB) in {summary.Elapsed.TotalSeconds:0.00} s ({summary.Bytes / 1e6 / summary.Elapsed.TotalSeconds:0} MB/s)";

    private static string Mb(long bytes) => (bytes / 1e6).ToString("0.0", CultureInfo.InvariantCulture);
}
