using MGit.Errors;
using MGit.Execution;
using MGit.Lineage;

namespace MGit.Testing;

/// <summary>Which models a test applies to: all, those of a type (including models added later), or one model's versions.</summary>
/// <param name="Kind">Whether the scope is all models, a type or one model.</param>
/// <param name="Value">The type or model name; null for <see cref="TestScopeKind.All"/>.</param>
public sealed record TestScope(TestScopeKind Kind, string? Value)
{
    /// <summary>Every model.</summary>
    public static readonly TestScope All = new(TestScopeKind.All, null);

    /// <summary>Reads a scope as given to <c>--for</c>: <c>all</c>, <c>type:TYPE</c> or <c>model:NAME</c>.</summary>
    /// <exception cref="MGitException">The text is none of those, or the model name is invalid.</exception>
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

    /// <summary>Whether a model with this name and type is in the scope.</summary>
    /// <param name="modelName">The model's name.</param>
    /// <param name="modelType">The model's type; null when it has none.</param>
    public bool AppliesTo(string modelName, string? modelType) => Kind switch
    {
        TestScopeKind.All => true,
        TestScopeKind.Type => modelType == Value,
        _ => modelName == Value,
    };

    /// <summary>The scope in the form <see cref="Parse(string)"/> reads, as stored and shown.</summary>
    public override string ToString() => Kind switch
    {
        TestScopeKind.All => "all",
        TestScopeKind.Type => $"type:{Value}",
        _ => $"model:{Value}",
    };
}

/// <summary>The kinds of <see cref="TestScope"/>.</summary>
public enum TestScopeKind
{
    /// <summary>Every model.</summary>
    All,
    /// <summary>Models of one type, including those added later.</summary>
    Type,
    /// <summary>The versions of one model.</summary>
    Model,
}

/// <summary>
/// A registered test: a command template run on a checked-out model (<c>{model}</c> = its path,
/// <c>{ref}</c> = NAME@VERSION), judged by its exit code or by <see cref="Pass"/> on the metrics it
/// prints as a JSON object on the last line of its standard output.
/// </summary>
/// <param name="Name">The test's unique name.</param>
/// <param name="Command">The command template, with <c>{model}</c> and <c>{ref}</c> placeholders.</param>
/// <param name="Scope">The models the test runs on.</param>
/// <param name="Pass">A <see cref="PassCondition"/> over the reported metrics; null to pass on exit code 0.</param>
/// <param name="TimeoutSeconds">How long one run may take before it is killed and fails.</param>
public sealed record TestDefinition(string Name, string Command, TestScope Scope, string? Pass, double TimeoutSeconds)
{
    /// <summary>The time limit of a test registered without one: ten minutes.</summary>
    public const double DefaultTimeoutSeconds = 600;
    /// <summary>The names a command template may use in braces.</summary>
    public static readonly IReadOnlyList<string> Placeholders = ["model", "ref"];

    /// <summary><see cref="TimeoutSeconds"/> as a time span.</summary>
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
