using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using MGit.Ingest;
using MGit.Testing;
using MGit.Tests.TestSupport;

namespace MGit.Tests.Scheduling;

/// <summary>
/// A family of text models made by real (shell) recipes, in a folder whose path holds spaces,
/// quotes and <c>$( )</c>, as the cluster tests cascade it:
/// <code>
/// base ── a ── a2
///    ├─── b ──┐
///    │    a ──┴── m 'q' $(touch pwned)   (merges a and b)
/// </code>
/// Recipe a's tag holds quotes, <c>$( )</c>, backquotes and a line break, so that a job script
/// that quoted anything wrongly makes a different version than a local run. A recipe fails while
/// its FLAG file exists, and sleeps while its SLOW file exists.
/// </summary>
internal sealed class SlurmFamily : IDisposable
{
    public const string Merged = "m 'q' $(touch pwned)";
    public const string TrickyTag = "A \"q\" $(touch pwned) `touch pwned` it's\nline two";

    private readonly TempDirectory _dir = new();

    public SlurmFamily()
    {
        Folder = Directory.CreateDirectory(Path.Combine(_dir.Path, "my work 'q' $(x)")).FullName;
        Root = Path.Combine(Folder, "repo");
        string models = Directory.CreateDirectory(Path.Combine(Folder, "models")).FullName;
        FailFlag = Path.Combine(Folder, "fail b");
        SlowFlag = Path.Combine(Folder, "slow a");
        string fineTune = Scripts.Write(Path.Combine(Folder, "ft.sh"), """
            # ft.sh PARENT OUTPUT TAG [FLAG [SLOW]]: the parent's lines plus one
            if [ "$#" -ge 4 ] && [ -e "$4" ]; then echo "cannot fine-tune: flag $4 is set" >&2; exit 3; fi
            if [ "$#" -ge 5 ] && [ -e "$5" ]; then sleep 600; fi
            { cat "$1"; printf 'ft:%s\n' "$3"; } > "$2"
            """);
        string merge = Scripts.Write(Path.Combine(Folder, "merge.sh"), """
            # merge.sh OUTPUT FIRST SECOND
            out="$1"; shift
            { echo "merge"; cat "$1"; echo "--"; cat "$2"; } > "$out"
            """);
        string Recipe(string tag, string? flag = null, string? slow = null) =>
            $"{Scripts.Command(fineTune)} {{parent}} {{output}} {Scripts.Quote(tag)}" + (flag is null ? "" : $" {Scripts.Quote(flag)}") + (slow is null ? "" : $" {Scripts.Quote(slow)}");

        using (var repository = Repository.Init(Root, RepoFixture.Options))
        {
            void Add(string name, string content, AddOptions options)
            {
                string path = Path.Combine(models, name + ".txt");
                File.WriteAllText(path, content);
                repository.Add(path, options);
            }

            void Derived(string name, string[] parents, string content, string recipe) =>
                Add(name, content, new AddOptions { Name = name, Parents = parents, How = "finetune", Type = "text", Recipe = recipe });

            Add("base", "base v1\n", new AddOptions { Name = "base", Type = "text" });
            Derived("a", ["base"], $"base v1\nft:{TrickyTag}\n", Recipe(TrickyTag, Path.Combine(Folder, "never"), SlowFlag));
            Derived("b", ["base"], "base v1\nft:B\n", Recipe("B", FailFlag));
            Derived("a2", ["a"], $"base v1\nft:{TrickyTag}\nft:A2\n", Recipe("A2"));
            Derived(Merged, ["a", "b"], "merge\n...\n", $"{Scripts.Command(merge)} {{output}} {{parent:a}} {{parent:b}}");
            repository.RegisterTest(new TestDefinition("has-v2", "grep -q 'base v2' {model}", TestScope.Parse("type:text"), null, 60));
            string lines = Scripts.Write(Path.Combine(Folder, "lines.sh"), """
                n=$(wc -l < "$1"); printf '{"lines": %s}\n' "$n"
                """);
            repository.RegisterTest(new TestDefinition("lines", $"{Scripts.Command(lines)} {{model}}", TestScope.All, "lines >= 2", 60));
            Add("base-v2", "base v2\n", new AddOptions { VersionOf = "base" });
        }
    }

    public string Folder { get; }

    public string Root { get; }

    public string FailFlag { get; }

    public string SlowFlag { get; }

    public static readonly string[] Derived = ["a", "b", "a2", Merged];

    public CliResult Mgit(params string[] args) => CliRunner.Run(Root, args);

    public CliResult MgitOk(params string[] args) => CliRunner.Ok(Root, args);

    /// <summary>The SHA-256 of a version's checked-out bytes.</summary>
    public string Hash(string reference)
    {
        string output = Path.Combine(_dir.Path, $"out-{Guid.NewGuid():N}");
        MgitOk("checkout", reference, "-o", output);
        return Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(Directory.Exists(output) ? Directory.EnumerateFiles(output).Single() : output)));
    }

    public string Content(string reference)
    {
        string output = Path.Combine(_dir.Path, $"out-{Guid.NewGuid():N}");
        MgitOk("checkout", reference, "-o", output);
        return File.ReadAllText(output);
    }

    /// <summary>
    /// The graph as <c>ls --json</c> has it, by ref, without what differs from run to run: the
    /// times, and the order of the versions (jobs on a cluster add theirs in whatever order they end).
    /// </summary>
    public string Graph()
    {
        var list = JsonNode.Parse(MgitOk("ls", "--json").Out)!.AsArray();
        foreach (var version in list)
        {
            version!.AsObject().Remove("added_at");
        }

        return string.Join('\n', list.Select(v => v!.ToJsonString()).Order(StringComparer.Ordinal));
    }

    /// <summary>The latest cascade's steps as <c>cascade --status --json</c> shows them, by model.</summary>
    public Dictionary<string, JsonObject> Status() =>
        JsonNode.Parse(MgitOk("cascade", "--status", "--json").Out)!["steps"]!.AsArray().ToDictionary(s => (string)s!["model"]!, s => s!.AsObject());

    public static JsonElement Json(string text) => JsonDocument.Parse(text).RootElement;

    public void Dispose() => _dir.Dispose();
}
