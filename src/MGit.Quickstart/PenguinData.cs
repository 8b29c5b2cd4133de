using System.Globalization;

namespace MGit.Quickstart;

/// <summary>What a quickstart model predicts from the four body measurements.</summary>
public enum PenguinTask
{
    /// <summary>Adelie, Chinstrap or Gentoo.</summary>
    Species,

    /// <summary>FEMALE or MALE.</summary>
    Sex,

    /// <summary>Biscoe, Dream or Torgersen.</summary>
    Island,
}

/// <summary>Names and label sets of <see cref="PenguinTask"/>.</summary>
public static class PenguinTasks
{
    private static readonly string[] SpeciesLabels = ["Adelie", "Chinstrap", "Gentoo"];
    private static readonly string[] SexLabels = ["FEMALE", "MALE"];
    private static readonly string[] IslandLabels = ["Biscoe", "Dream", "Torgersen"];

    /// <summary>Lower-case task name: species, sex or island.</summary>
    public static string Name(PenguinTask task) => task switch
    {
        PenguinTask.Species => "species",
        PenguinTask.Sex => "sex",
        PenguinTask.Island => "island",
        _ => throw new ArgumentOutOfRangeException(nameof(task), task, null),
    };

    /// <summary>Class names in label-index order.</summary>
    public static IReadOnlyList<string> Labels(PenguinTask task) => task switch
    {
        PenguinTask.Species => SpeciesLabels,
        PenguinTask.Sex => SexLabels,
        PenguinTask.Island => IslandLabels,
        _ => throw new ArgumentOutOfRangeException(nameof(task), task, null),
    };
}

/// <summary>One row of penguins.csv; null where the source has no value.</summary>
public sealed record PenguinRecord(
    string Species,
    string Island,
    double? BeakLengthMm,
    double? BeakDepthMm,
    double? FlipperLengthMm,
    double? BodyMassG,
    string? Sex);

/// <summary>Per-feature standardization: x' = (x - mean) / std.</summary>
public sealed record FeatureScaler(IReadOnlyList<float> Means, IReadOnlyList<float> Stds);

/// <summary>Standardized features (row-major, <see cref="PenguinData.FeatureCount"/> per row) and label indices.</summary>
public sealed class PenguinSplit
{
    internal PenguinSplit(float[] features, int[] labels)
    {
        FeatureArray = features;
        LabelArray = labels;
    }

    /// <summary>Number of rows.</summary>
    public int Count => LabelArray.Length;

    /// <summary>Standardized features, row-major.</summary>
    public ReadOnlyMemory<float> Features => FeatureArray;

    /// <summary>Label index of each row.</summary>
    public ReadOnlyMemory<int> Labels => LabelArray;

    internal float[] FeatureArray { get; }

    internal int[] LabelArray { get; }
}

/// <summary>
/// The Palmer Penguins data prepared for one task: rows missing a value the task needs are dropped,
/// the four measurements are standardized, and rows are split into train and test sets.
/// </summary>
public sealed class PenguinData
{
    /// <summary>Manifest name of the embedded penguins.csv.</summary>
    public const string ResourceName = "MGit.Quickstart.penguins.csv";

    /// <summary>Inputs per row.</summary>
    public const int FeatureCount = 4;

    /// <summary>Default share of penguins held out for testing.</summary>
    public const double DefaultTestFraction = 0.25;

    private const string Header = "species,island,beak_length_mm,beak_depth_mm,flipper_length_mm,body_mass_g,sex";

    private static readonly string[] Features = ["beak_length_mm", "beak_depth_mm", "flipper_length_mm", "body_mass_g"];

    private PenguinData(PenguinTask task, FeatureScaler scaler, PenguinSplit train, PenguinSplit test)
    {
        Task = task;
        Scaler = scaler;
        Train = train;
        Test = test;
    }

    /// <summary>Input feature names, in column order.</summary>
    public static IReadOnlyList<string> FeatureNames => Features;

    /// <summary>The task the labels belong to.</summary>
    public PenguinTask Task { get; }

    /// <summary>Class names in label-index order.</summary>
    public IReadOnlyList<string> Labels => PenguinTasks.Labels(Task);

    /// <summary>The standardization applied to both splits.</summary>
    public FeatureScaler Scaler { get; }

    /// <summary>Training rows.</summary>
    public PenguinSplit Train { get; }

    /// <summary>Held-out rows.</summary>
    public PenguinSplit Test { get; }

    /// <summary>Reads the penguins.csv embedded in this assembly.</summary>
    public static IReadOnlyList<PenguinRecord> ReadRecords()
    {
        using var stream = typeof(PenguinData).Assembly.GetManifestResourceStream(ResourceName)
            ?? throw new InvalidOperationException($"Embedded resource '{ResourceName}' is missing from {typeof(PenguinData).Assembly.GetName().Name}.");
        return ReadRecords(stream);
    }

    /// <summary>Reads penguins.csv from <paramref name="csv"/> (UTF-8, header line first).</summary>
    /// <exception cref="InvalidDataException">The CSV does not have the expected shape.</exception>
    public static IReadOnlyList<PenguinRecord> ReadRecords(Stream csv)
    {
        ArgumentNullException.ThrowIfNull(csv);
        using var reader = new StreamReader(csv, leaveOpen: true);
        var header = reader.ReadLine();
        if (header?.TrimEnd('\r') != Header)
        {
            throw new InvalidDataException($"penguins.csv: expected header '{Header}'.");
        }

        var records = new List<PenguinRecord>(344);
        var lineNumber = 1;
        while (reader.ReadLine() is { } line)
        {
            lineNumber++;
            if (line.Length == 0)
            {
                continue;
            }

            var fields = line.TrimEnd('\r').Split(',');
            if (fields.Length != 7)
            {
                throw new InvalidDataException($"penguins.csv line {lineNumber}: expected 7 fields, found {fields.Length}.");
            }

            records.Add(new PenguinRecord(
                Species: Required(fields[0], PenguinTask.Species, lineNumber),
                Island: Required(fields[1], PenguinTask.Island, lineNumber),
                BeakLengthMm: Number(fields[2], lineNumber),
                BeakDepthMm: Number(fields[3], lineNumber),
                FlipperLengthMm: Number(fields[4], lineNumber),
                BodyMassG: Number(fields[5], lineNumber),
                Sex: fields[6].Length == 0 ? null : Label(fields[6], PenguinTask.Sex, lineNumber)));
        }

        return records;
    }

    /// <summary>Loads the embedded data for <paramref name="task"/>; see <see cref="FromRecords"/>.</summary>
    public static PenguinData Load(PenguinTask task, int seed, FeatureScaler? scaler = null) =>
        FromRecords(ReadRecords(), task, seed, scaler);

    /// <summary>
    /// Prepares <paramref name="records"/> for <paramref name="task"/>. The split is drawn over all records
    /// before any are dropped, so with the same seed a penguin is on the same side for every task, and a
    /// fine-tuned model is never tested on a penguin its parent trained on. Without
    /// <paramref name="scaler"/>, means and (population) standard deviations come from the training rows;
    /// a fine-tune passes its parent's scaler so the inherited weights see the inputs they were trained on.
    /// </summary>
    public static PenguinData FromRecords(
        IReadOnlyList<PenguinRecord> records,
        PenguinTask task,
        int seed,
        FeatureScaler? scaler = null,
        double testFraction = DefaultTestFraction)
    {
        ArgumentNullException.ThrowIfNull(records);
        if (!(testFraction > 0 && testFraction < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(testFraction), testFraction, "Must be between 0 and 1.");
        }

        var isTest = DrawTestSet(records.Count, seed, testFraction);
        var train = new List<(double[] X, int Y)>();
        var test = new List<(double[] X, int Y)>();
        for (var i = 0; i < records.Count; i++)
        {
            var r = records[i];
            if (r.BeakLengthMm is not { } a || r.BeakDepthMm is not { } b || r.FlipperLengthMm is not { } c || r.BodyMassG is not { } d)
            {
                continue;
            }

            var labelText = task switch
            {
                PenguinTask.Species => r.Species,
                PenguinTask.Island => r.Island,
                _ => r.Sex,
            };
            if (labelText is null)
            {
                continue;
            }

            var row = (new[] { a, b, c, d }, LabelIndex(labelText, task));
            (isTest[i] ? test : train).Add(row);
        }

        if (train.Count == 0 || test.Count == 0)
        {
            throw new InvalidDataException($"Too few usable rows for task '{PenguinTasks.Name(task)}'.");
        }

        scaler ??= FitScaler(train);
        if (scaler.Means.Count != FeatureCount || scaler.Stds.Count != FeatureCount
            || scaler.Means.Any(m => !float.IsFinite(m)) || scaler.Stds.Any(s => !(s > 0) || !float.IsFinite(s)))
        {
            throw new ArgumentException($"Scaler must have {FeatureCount} finite means and positive, finite stds.", nameof(scaler));
        }

        return new PenguinData(task, scaler, ToSplit(train, scaler), ToSplit(test, scaler));
    }

    private static bool[] DrawTestSet(int count, int seed, double testFraction)
    {
        var order = new int[count];
        for (var i = 0; i < count; i++)
        {
            order[i] = i;
        }

        // Fisher-Yates with the seeded legacy Random, whose sequence is the same on every platform.
        var random = new Random(seed);
        for (var i = count - 1; i > 0; i--)
        {
            var j = random.Next(i + 1);
            (order[i], order[j]) = (order[j], order[i]);
        }

        var testCount = (int)Math.Round(count * testFraction, MidpointRounding.AwayFromZero);
        var isTest = new bool[count];
        for (var i = 0; i < testCount; i++)
        {
            isTest[order[i]] = true;
        }

        return isTest;
    }

    private static FeatureScaler FitScaler(List<(double[] X, int Y)> rows)
    {
        var means = new float[FeatureCount];
        var stds = new float[FeatureCount];
        for (var f = 0; f < FeatureCount; f++)
        {
            double sum = 0;
            foreach (var (x, _) in rows)
            {
                sum += x[f];
            }

            var mean = sum / rows.Count;
            double squares = 0;
            foreach (var (x, _) in rows)
            {
                squares += (x[f] - mean) * (x[f] - mean);
            }

            var std = Math.Sqrt(squares / rows.Count);
            means[f] = (float)mean;
            stds[f] = std > 0 ? (float)std : 1f;
        }

        return new FeatureScaler(means, stds);
    }

    private static PenguinSplit ToSplit(List<(double[] X, int Y)> rows, FeatureScaler scaler)
    {
        var features = new float[checked(rows.Count * FeatureCount)];
        var labels = new int[rows.Count];
        for (var i = 0; i < rows.Count; i++)
        {
            for (var f = 0; f < FeatureCount; f++)
            {
                features[(i * FeatureCount) + f] = (float)((rows[i].X[f] - scaler.Means[f]) / scaler.Stds[f]);
            }

            labels[i] = rows[i].Y;
        }

        return new PenguinSplit(features, labels);
    }

    private static int LabelIndex(string text, PenguinTask task)
    {
        var labels = PenguinTasks.Labels(task);
        for (var i = 0; i < labels.Count; i++)
        {
            if (labels[i] == text)
            {
                return i;
            }
        }

        throw new InvalidDataException($"Unknown {PenguinTasks.Name(task)} '{text}'.");
    }

    private static string Label(string text, PenguinTask task, int lineNumber)
    {
        try
        {
            return PenguinTasks.Labels(task)[LabelIndex(text, task)];
        }
        catch (InvalidDataException ex)
        {
            throw new InvalidDataException($"penguins.csv line {lineNumber}: {ex.Message}", ex);
        }
    }

    private static string Required(string text, PenguinTask task, int lineNumber) =>
        text.Length == 0
            ? throw new InvalidDataException($"penguins.csv line {lineNumber}: {PenguinTasks.Name(task)} is missing.")
            : Label(text, task, lineNumber);

    private static double? Number(string text, int lineNumber)
    {
        if (text.Length == 0)
        {
            return null;
        }

        return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && double.IsFinite(value)
            ? value
            : throw new InvalidDataException($"penguins.csv line {lineNumber}: '{text}' is not a number.");
    }
}
