using System.Globalization;

namespace MGit.Bench;

/// <summary>
/// GNU-style "--name value" and "--flag" options; nothing positional. Every option must be
/// consumed by the command, so a typo fails loudly instead of silently changing the benchmark.
/// </summary>
internal sealed class Arguments
{
    private readonly Dictionary<string, string?> _values;
    private readonly HashSet<string> _used = new(StringComparer.Ordinal);

    private Arguments(Dictionary<string, string?> values) => _values = values;

    public static Arguments Parse(ReadOnlySpan<string> args)
    {
        var values = new Dictionary<string, string?>(StringComparer.Ordinal);
        for (int i = 0; i < args.Length; i++)
        {
            string arg = args[i];
            if (!arg.StartsWith("--", StringComparison.Ordinal) || arg.Length < 3)
            {
                throw new UsageException($"unexpected argument '{arg}'");
            }

            string name = arg[2..];
            string? value = null;
            int equals = name.IndexOf('=', StringComparison.Ordinal);
            if (equals >= 0)
            {
                value = name[(equals + 1)..];
                name = name[..equals];
            }
            else if (i + 1 < args.Length && !args[i + 1].StartsWith("--", StringComparison.Ordinal))
            {
                value = args[++i];
            }

            if (!values.TryAdd(name, value))
            {
                throw new UsageException($"--{name} is given twice");
            }
        }

        return new Arguments(values);
    }

    public bool Has(string name)
    {
        _used.Add(name);
        return _values.ContainsKey(name);
    }

    public bool Flag(string name)
    {
        _used.Add(name);
        if (!_values.TryGetValue(name, out string? value))
        {
            return false;
        }

        return value is null ? true : throw new UsageException($"--{name} takes no value");
    }

    public string? String(string name)
    {
        _used.Add(name);
        if (!_values.TryGetValue(name, out string? value))
        {
            return null;
        }

        return value ?? throw new UsageException($"--{name} needs a value");
    }

    public string RequiredString(string name) => String(name) ?? throw new UsageException($"--{name} is required");

    public long Long(string name, long fallback, long min, long max)
    {
        string? text = String(name);
        if (text is null)
        {
            return fallback;
        }

        if (!long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out long value) || value < min || value > max)
        {
            throw new UsageException($"--{name} must be an integer from {min} to {max}, not '{text}'");
        }

        return value;
    }

    public double Double(string name, double fallback, double min, double max)
    {
        string? text = String(name);
        if (text is null)
        {
            return fallback;
        }

        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) || !(value >= min && value <= max))
        {
            throw new UsageException($"--{name} must be a number from {min} to {max}, not '{text}'");
        }

        return value;
    }

    /// <summary>Fails on any option the command did not ask for.</summary>
    public void RejectUnused()
    {
        foreach (string name in _values.Keys)
        {
            if (!_used.Contains(name))
            {
                throw new UsageException($"unknown option --{name}");
            }
        }
    }
}
