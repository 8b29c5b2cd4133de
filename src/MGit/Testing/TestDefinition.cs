using MGit.Errors;
using MGit.Execution;
using MGit.Lineage;

namespace MGit.Testing;

/// <summary>Which models a test applies to: all, those of a type (including models added later), or one model's versions.</summary>
public sealed record TestScope(TestScopeKind Kind, string? Value)
{
    public static readonly TestScope All = new(TestScopeKind.All, null);

    public static TestScope Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text == "all")
        {
            return All;
        }

        int colon = text.IndexOf(':', StringComparison.Ordinal);
        string kind = colon < 0 ? text : text[..colon];
        string value = colon < 0 ? "" : text[(colon + 1)..];
        if (value.Length == 0 || (kind != "type" && kind != "model"))
        {
            throw new MGitException(ErrorKind.InvalidInput, $"--for must be 'all', 'type:TYPE' or 'model:NAME', not '{text}'");
        }

        if (kind == "model")
        {
            ModelRef.ValidateName(value);
        }

        return new TestScope(kind == "type" ? TestScopeKind.Type : TestScopeKind.Model, value);
    }

    public bool AppliesTo(string modelName, string? modelType) => Kind switch
    {
        TestScopeKind.All => true,
        TestScopeKind.Type => modelType == Value,
        _ => modelName == Value,
    };

    public override string ToString() => Kind switch
    {
        TestScopeKind.All => "all",
        TestScopeKind.Type => $"type:{Value}",
        _ => $"model:{Value}",
    };
}

public enum TestScopeKind
{
    All,
    Type,
    Model,
}

/// <summary>
/// A registered test: a command template run on a checked-out model (<c>{model}</c> = its path,
/// <c>{ref}</c> = NAME@VERSION), judged by its exit code or by <see cref="Pass"/> on the metrics it
/// prints as a JSON object on the last line of its standard output.
/// </summary>
public sealed record TestDefinition(string Name, string Command, TestScope Scope, string? Pass, double TimeoutSeconds)
{
    public const double DefaultTimeoutSeconds = 600;
    public static readonly IReadOnlyList<string> Placeholders = ["model", "ref"];

    public TimeSpan Timeout => TimeSpan.FromSeconds(TimeoutSeconds);

    /// <summary>Checks every part before the test is stored, so a bad one is refused at registration, not at its first run.</summary>
    public TestDefinition Validated()
    {
        ValidateName(Name);
        ParseCommand(Command);
        if (Pass is not null)
        {
            PassCondition.Parse(Pass);
        }

        if (!(TimeoutSeconds > 0 && TimeoutSeconds <= 7 * 24 * 3600))
        {
            throw new MGitException(ErrorKind.InvalidInput, $"--timeout must be a positive number of seconds up to a week, not {TimeoutSeconds}");
        }

        return this;
    }

    internal static CommandTemplate ParseCommand(string command) =>
        CommandTemplate.Parse(command, "--cmd", name => Placeholders.Contains(name) ? null : $"unknown placeholder {{{name}}}; a test command can use {{model}} and {{ref}}");

    /// <summary>Test names appear in tables and log file names: letters, digits and <c>-_.</c> only.</summary>
    public static void ValidateName(string name)
    {
        if (string.IsNullOrEmpty(name) || name.Length > 100 || name[0] is '-' or '.' || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
        {
            throw new MGitException(ErrorKind.InvalidInput, $"test name '{name}' must be 1-100 letters, digits, '-', '_' or '.', not starting with '-' or '.'");
        }
    }
}

/// <summary>One run of one test on one model version, as recorded.</summary>
public sealed record TestResult(
    string Ref,
    string Test,
    bool Passed,
    int? ExitCode,
    IReadOnlyDictionary<string, System.Text.Json.JsonElement> Metrics,
    double DurationSeconds,
    string Reason,
    string LogTail,
    string? LogPath,
    DateTimeOffset RanAt);
