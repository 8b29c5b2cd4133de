using System.Text;
using System.Text.Json;
using MGit.Errors;
using MGit.Scheduling;

namespace MGit.Workspace;

/// <summary>
/// The repository's local settings, <c>.mgit/config.json</c>: a flat map of keys to strings, as
/// <c>mgit config</c> shows and sets them. Local like git's .git/config (never pushed): they say
/// how this machine or cluster runs the work (which executor, which partition), not what the
/// models are. Known keys:
/// <list type="bullet">
/// <item><c>executor</c>: <c>local</c> or <c>slurm</c>, the default for <c>test run</c> and <c>cascade</c>;</item>
/// <item><c>slurm.partition</c>, <c>slurm.gres</c>, <c>slurm.time</c>, <c>slurm.cpus</c>, <c>slurm.mem</c>, <c>slurm.account</c>, <c>slurm.sbatch-args</c>: every job's settings;</item>
/// <item><c>test.NAME.slurm.*</c> and <c>recipe.MODEL.slurm.*</c>: one test's or one model's recipe's settings, over the repository's;</item>
/// <item><c>slurm.mgit</c>: how a job starts mgit (default: the mgit running now).</item>
/// </list>
/// </summary>
public sealed class RepositoryConfig
{
    /// <summary>The file's name in <c>.mgit</c>.</summary>
    public const string FileName = "config.json";

    private readonly string _path;
    private readonly SortedDictionary<string, string> _values;

    private RepositoryConfig(string path, SortedDictionary<string, string> values)
    {
        _path = path;
        _values = values;
    }

    /// <summary>Every setting, by key.</summary>
    public IReadOnlyDictionary<string, string> Values => _values;

    /// <summary>Reads the settings of the repository whose metadata folder is <paramref name="metadataDirectory"/> (none when the file is absent).</summary>
    public static RepositoryConfig Load(string metadataDirectory)
    {
        string path = Path.Combine(metadataDirectory, FileName);
        var values = new SortedDictionary<string, string>(StringComparer.Ordinal);
        if (!File.Exists(path))
        {
            return new RepositoryConfig(path, values);
        }

        try
        {
            using var document = JsonDocument.Parse(File.ReadAllBytes(path));
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw new MGitException(ErrorKind.Damaged, $"{path} is not a JSON object; fix or remove it");
            }

            foreach (var property in document.RootElement.EnumerateObject())
            {
                values[property.Name] = property.Value.ValueKind == JsonValueKind.String
                    ? property.Value.GetString()!
                    : throw new MGitException(ErrorKind.Damaged, $"{path}: the value of '{property.Name}' is not a string; fix or remove it");
            }
        }
        catch (JsonException e)
        {
            throw new MGitException(ErrorKind.Damaged, $"{path} is not valid JSON ({e.Message}); fix or remove it", e);
        }

        return new RepositoryConfig(path, values);
    }

    /// <summary>The value of <paramref name="key"/>, or null.</summary>
    public string? Get(string key) => _values.GetValueOrDefault(key);

    /// <summary>Checks and sets a value, and saves the file (atomically).</summary>
    public void Set(string key, string value)
    {
        Validate(key, value);
        _values[key] = value;
        Save();
    }

    /// <summary>Removes a key; false when it was not set.</summary>
    public bool Unset(string key)
    {
        if (!_values.Remove(key))
        {
            return false;
        }

        Save();
        return true;
    }

    /// <summary>The default executor: <c>executor</c>, or local.</summary>
    public string Executor => Get("executor") ?? JobSchedulers.Local;

    /// <summary>The repository's scheduler settings for every job of <paramref name="scheduler"/>.</summary>
    public SchedulerOptions SchedulerDefaults(string scheduler) => SchedulerOptions.FromSettings(_values, scheduler + ".");

    /// <summary>One test's own scheduler settings (<c>test.NAME.SCHEDULER.*</c>).</summary>
    public SchedulerOptions ForTest(string test, string scheduler) => SchedulerOptions.FromSettings(_values, $"test.{test}.{scheduler}.");

    /// <summary>One model's recipe's own scheduler settings (<c>recipe.MODEL.SCHEDULER.*</c>).</summary>
    public SchedulerOptions ForRecipe(string model, string scheduler) => SchedulerOptions.FromSettings(_values, $"recipe.{model}.{scheduler}.");

    /// <summary>Refuses an unknown key or a bad value, in one line, before anything is stored.</summary>
    public static void Validate(string key, string value)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(value);
        if (value.Contains('\0', StringComparison.Ordinal))
        {
            throw new MGitException(ErrorKind.InvalidInput, $"the value of {key} holds a NUL character");
        }

        if (key == "executor")
        {
            JobSchedulers.Create(value);
            return;
        }

        string[] parts = key.Split('.');
        if (parts.Length == 2 && parts[0] == "slurm" && parts[1] == "mgit")
        {
            SchedulerOptions.SplitArguments(value, key);
            return;
        }

        // slurm.SETTING, test.NAME.slurm.SETTING, recipe.MODEL.slurm.SETTING (a model name may hold dots).
        if (parts.Length == 2 && parts[0] == "slurm")
        {
            SchedulerOptions.ValidateSetting(parts[1], value, key);
            return;
        }

        if (parts.Length >= 4 && parts[0] is "test" or "recipe" && parts[^2] == "slurm")
        {
            SchedulerOptions.ValidateSetting(parts[^1], value, key);
            return;
        }

        throw new MGitException(ErrorKind.InvalidInput, $"unknown setting '{key}'; known: executor, slurm.mgit, slurm.SETTING, test.NAME.slurm.SETTING, recipe.MODEL.slurm.SETTING (SETTING: {string.Join(", ", SchedulerOptions.SettingNames)})");
    }

    private void Save()
    {
        var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            writer.WriteStartObject();
            foreach (var (key, value) in _values)
            {
                writer.WriteString(key, value);
            }

            writer.WriteEndObject();
        }

        buffer.WriteByte((byte)'\n');
        string temporary = _path + ".tmp-" + Guid.NewGuid().ToString("N");
        File.WriteAllBytes(temporary, buffer.ToArray());
        File.Move(temporary, _path, overwrite: true);
    }

    /// <summary>The settings as text, one <c>key=value</c> per line (as <c>mgit config</c> lists them).</summary>
    public override string ToString()
    {
        var text = new StringBuilder();
        foreach (var (key, value) in _values)
        {
            text.Append(key).Append('=').Append(value).Append('\n');
        }

        return text.ToString();
    }
}
