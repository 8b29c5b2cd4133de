using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace MGit.Bench;

/// <summary>
/// Accuracy of lineage recovery on families whose truth is known: really trained TinyMlp families
/// (and ResNet-18's published weights with arithmetic derivatives) are given neutral random file
/// names and recovered by the mgit under test, with <c>mgit infer</c> (names re-drawn, modification
/// times in creation order and shuffled) and with <c>mgit add --auto</c> one model at a time (random
/// insertion orders, and creation order). Every recovered graph is read back with
/// <c>mgit graph --format json</c> and scored edge by edge.
/// </summary>
internal static class LineageCommand
{
    private static readonly DateTime Epoch = new(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc);

    private sealed record ModeResult(string Family, string Mode, List<LineageScore> Runs);

    public static int Run(Arguments options, string[] commandLine)
    {
        string mgit = Path.GetFullPath(options.RequiredString("mgit"));
        string work = Path.GetFullPath(options.RequiredString("work"));
        int seed = (int)options.Long("seed", 1, 0, 1_000_000);
        int orders = (int)options.Long("orders", 3, 1, 20);
        string resnet = options.String("resnet") ?? ResNetFamily.DefaultPath;
        string? only = options.String("families");
        bool keep = options.Flag("keep");
        bool cards = options.Flag("model-cards");
        string? results = options.String("results");
        options.RejectUnused();

        var stopwatch = Stopwatch.StartNew();
        string modelsRoot = Path.Combine(work, "lineage-models");
        string runsRoot = Path.Combine(work, "lineage-runs");
        if (Directory.Exists(runsRoot))
        {
            Directory.Delete(runsRoot, recursive: true);
        }

        Directory.CreateDirectory(runsRoot);
        string version = ChildProcess.Run(Invocation.Mgit(mgit, ["--version"])).Trim();
        bool withResNet = !string.Equals(resnet, "none", StringComparison.Ordinal);
        string[] known = [.. LineageFamilies.Names, "resnet18"];
        var wanted = (only?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) ?? known).ToHashSet(StringComparer.Ordinal);
        var unknown = wanted.Except(known).ToList();
        if (unknown.Count > 0)
        {
            throw new UsageException($"unknown famil{(unknown.Count == 1 ? "y" : "ies")} {string.Join(", ", unknown)} (known: {string.Join(", ", known)})");
        }

        Console.Error.WriteLine($"lineage: training the families under {modelsRoot}");
        var families = LineageFamilies.BuildTrained(modelsRoot, seed, wanted);
        if (withResNet && wanted.Contains("resnet18"))
        {
            families.Add(ResNetFamily.Build(modelsRoot, resnet, seed));
        }

        double trainingSeconds = stopwatch.Elapsed.TotalSeconds;
        var measured = new List<ModeResult>();
        foreach (var family in families)
        {
            var familyWatch = Stopwatch.StartNew();
            measured.AddRange(Measure(family, mgit, runsRoot, seed, orders, keep, cards));
            Console.Error.WriteLine($"lineage: {family.Name} done in {familyWatch.Elapsed.TotalSeconds:0} s");
        }

        string report = Report(families, measured, commandLine, version, work, trainingSeconds, stopwatch.Elapsed, runsRoot);
        Console.WriteLine(report);
        if (results is not null)
        {
            File.WriteAllText(results, report);
        }

        return 0;
    }

    private static List<ModeResult> Measure(LineageFamily family, string mgit, string runsRoot, int seed, int orders, bool keep, bool cards)
    {
        string familyRuns = Path.Combine(runsRoot, family.Name);
        Directory.CreateDirectory(familyRuns);
        var random = new Random(HashCode.Combine(seed, StableHash(family.Name)));
        var inferTrue = new List<LineageScore>();
        var inferShuffled = new List<LineageScore>();
        var autoRandom = new List<LineageScore>();
        var inferCards = new List<LineageScore>();
        var autoCards = new List<LineageScore>();
        for (int draw = 1; draw <= orders; draw++)
        {
            // One draw of names for both mtime modes, so only the modification times differ between them.
            var names = NeutralNames(family, random);
            var creationTimes = family.Models.Select((_, i) => Epoch.AddMinutes(i)).ToArray();
            var shuffledTimes = creationTimes.OrderBy(_ => random.Next()).ToArray();
            inferTrue.Add(Infer(family, mgit, Path.Combine(familyRuns, $"infer-{draw}-mtime-creation"), names, creationTimes, keep, cards: false));
            inferShuffled.Add(Infer(family, mgit, Path.Combine(familyRuns, $"infer-{draw}-mtime-shuffled"), names, shuffledTimes, keep, cards: false));
            if (cards)
            {
                inferCards.Add(Infer(family, mgit, Path.Combine(familyRuns, $"infer-{draw}-model-cards"), names, shuffledTimes, keep, cards: true));
            }
        }

        for (int order = 1; order <= orders; order++)
        {
            var names = NeutralNames(family, random);
            var insertion = family.Models.Select(m => m.Key).OrderBy(_ => random.Next()).ToList();
            autoRandom.Add(AddAuto(family, mgit, Path.Combine(familyRuns, $"auto-{order}-random-order"), names, insertion, keep, cards: false));
            if (cards)
            {
                autoCards.Add(AddAuto(family, mgit, Path.Combine(familyRuns, $"auto-{order}-model-cards"), names, insertion, keep, cards: true));
            }
        }

        var creation = AddAuto(family, mgit, Path.Combine(familyRuns, "auto-creation-order"), NeutralNames(family, random), [.. family.Models.Select(m => m.Key)], keep, cards: false);
        List<ModeResult> modes =
        [
            new(family.Name, "infer, mtimes in creation order", inferTrue),
            new(family.Name, "infer, mtimes shuffled", inferShuffled),
            new(family.Name, "add --auto, random orders", autoRandom),
            new(family.Name, "add --auto, creation order", [creation]),
        ];
        if (cards)
        {
            modes.Add(new(family.Name, "infer, model cards (mtimes shuffled)", inferCards));
            modes.Add(new(family.Name, "add --auto, model cards (random orders)", autoCards));
        }

        return modes;
    }

    private static LineageScore Infer(LineageFamily family, string mgit, string runFolder, Dictionary<string, string> names, DateTime[] times, bool keep, bool cards)
    {
        string folder = Path.Combine(runFolder, "models");
        string repo = Path.Combine(runFolder, "repo");
        Directory.CreateDirectory(folder);
        for (int i = 0; i < family.Models.Count; i++)
        {
            Place(family.Models[i], folder, names, cards, times[i]);
        }

        ChildProcess.Run(Invocation.Mgit(mgit, ["init", repo, "-q"]));
        string placements = ChildProcess.Run(Invocation.Mgit(mgit, ["-C", repo, "infer", folder, "--json"], Quiet));
        string graph = ChildProcess.Run(Invocation.Mgit(mgit, ["-C", repo, "-q", "graph", "--format", "json"]));
        return Finish(family, runFolder, names, graph, placements, null, keep, folder, repo);
    }

    private static LineageScore AddAuto(LineageFamily family, string mgit, string runFolder, Dictionary<string, string> names, List<string> insertion, bool keep, bool cards)
    {
        string folder = Path.Combine(runFolder, "models");
        string repo = Path.Combine(runFolder, "repo");
        Directory.CreateDirectory(folder);
        ChildProcess.Run(Invocation.Mgit(mgit, ["init", repo, "-q"]));
        var placements = new StringBuilder();
        var byKey = family.Models.ToDictionary(m => m.Key, StringComparer.Ordinal);
        foreach (string key in insertion)
        {
            string path = Place(byKey[key], folder, names, cards, DateTime.UtcNow);
            placements.AppendLine(ChildProcess.Run(Invocation.Mgit(mgit, ["-C", repo, "add", path, "--auto", "--json"], Quiet)).Trim());
        }

        string graph = ChildProcess.Run(Invocation.Mgit(mgit, ["-C", repo, "-q", "graph", "--format", "json"]));
        return Finish(family, runFolder, names, graph, placements.ToString(), insertion, keep, folder, repo);
    }

    private static readonly Dictionary<string, string> Quiet = new(StringComparer.Ordinal) { ["MGIT_FSYNC"] = "0" };

    /// <summary>Scores the run and leaves a log beside it (truth, placements with their reasons, mistakes) for whoever tunes the algorithm.</summary>
    private static LineageScore Finish(LineageFamily family, string runFolder, Dictionary<string, string> names, string graph, string placements, List<string>? insertion, bool keep, string folder, string repo)
    {
        var keyByName = names.ToDictionary(p => p.Value, p => p.Key, StringComparer.Ordinal);
        var score = LineageScore.Score(family, LineageScore.ReadGraph(graph, keyByName), insertion);
        var log = new StringBuilder();
        log.AppendLine(CultureInfo.InvariantCulture, $"family {family.Name}: {score.Right}/{score.Total} edges right, direction {score.DirectionRight}/{score.DirectionTotal}, wrong edges {score.WrongEdges}, false relations {score.FalseRelations}");
        if (insertion is not null)
        {
            log.AppendLine(CultureInfo.InvariantCulture, $"insertion order: {string.Join(", ", insertion)}");
        }

        log.AppendLine("names and truth:");
        foreach (var m in family.Models)
        {
            log.AppendLine(CultureInfo.InvariantCulture, $"  {names[m.Key]} = {m.Key} ({m.How}{(m.Parents.Count > 0 ? " of " + string.Join(" + ", m.Parents) : "")}): {m.Note}");
        }

        log.AppendLine("mistakes:");
        foreach (string mistake in score.Mistakes)
        {
            log.AppendLine("  " + mistake);
        }

        log.AppendLine("placements (mgit's JSON):");
        log.AppendLine(placements.Trim());
        log.AppendLine("graph:");
        log.AppendLine(graph.Trim());
        File.WriteAllText(Path.Combine(runFolder, "log.txt"), log.ToString());
        if (!keep)
        {
            Directory.Delete(folder, recursive: true);
            Directory.Delete(repo, recursive: true);
        }

        return score;
    }

    /// <summary>
    /// Puts a model in <paramref name="folder"/> under its neutral name: a safetensors file, or with
    /// <paramref name="cards"/> a Hugging Face style folder whose README.md front matter names the true
    /// parents (<c>base_model</c>, <c>base_model_relation</c>) by their neutral names.
    /// </summary>
    private static string Place(FamilyModel model, string folder, Dictionary<string, string> names, bool cards, DateTime time)
    {
        if (!cards)
        {
            string file = Path.Combine(folder, names[model.Key] + ".safetensors");
            Link(model.File, file);
            File.SetLastWriteTimeUtc(file, time);
            return file;
        }

        string directory = Path.Combine(folder, names[model.Key]);
        Directory.CreateDirectory(directory);
        string weights = Path.Combine(directory, "model.safetensors");
        Link(model.File, weights);
        var card = new StringBuilder("---\nlibrary_name: mgit-bench\n");
        if (model.Parents.Count == 1)
        {
            card.Append(CultureInfo.InvariantCulture, $"base_model: {names[model.Parents[0]]}\n");
        }
        else if (model.Parents.Count > 1)
        {
            card.Append("base_model:\n");
            foreach (string parent in model.Parents)
            {
                card.Append(CultureInfo.InvariantCulture, $"- {names[parent]}\n");
            }
        }

        // Hugging Face's relations; a prune has none of its own.
        string? relation = model.How switch { "finetune" => "finetune", "quantize" => "quantized", "merge" => "merge", _ => null };
        if (relation is not null)
        {
            card.Append(CultureInfo.InvariantCulture, $"base_model_relation: {relation}\n");
        }

        card.Append("---\n\n# A model of the lineage benchmark\n");
        string readme = Path.Combine(directory, "README.md");
        File.WriteAllText(readme, card.ToString());
        foreach (string path in new[] { weights, readme, directory })
        {
            File.SetLastWriteTimeUtc(path, time);
        }

        return directory;
    }

    /// <summary>Hard links share the model's bytes across runs; each run sets its own modification times before mgit reads them.</summary>
    private static void Link(string source, string destination) => ChildProcess.Run("ln", source, destination);

    /// <summary>"m-3f9a"-style names, unique within the family, that say nothing about the model.</summary>
    private static Dictionary<string, string> NeutralNames(LineageFamily family, Random random)
    {
        var used = new HashSet<string>(StringComparer.Ordinal);
        var names = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var model in family.Models)
        {
            string name;
            do
            {
                name = "m-" + random.Next(0x10000).ToString("x4", CultureInfo.InvariantCulture);
            }
            while (!used.Add(name));
            names[model.Key] = name;
        }

        return names;
    }

    private static int StableHash(string text)
    {
        int hash = 17;
        foreach (char c in text)
        {
            hash = unchecked((hash * 31) + c);
        }

        return hash;
    }

    private static string Report(List<LineageFamily> families, List<ModeResult> results, string[] commandLine, string version, string work, double trainingSeconds, TimeSpan elapsed, string runsRoot)
    {
        var machine = MachineInfo.Collect(work);
        var text = new StringBuilder();
        text.AppendLine("# Lineage recovery on families whose truth is known");
        text.AppendLine();
        text.AppendLine(CultureInfo.InvariantCulture, $"- **Date:** {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC; machine: {machine.Cpu}, {machine.Cores} cores, {machine.Memory}; {machine.Runtime}");
        text.AppendLine(CultureInfo.InvariantCulture, $"- **Command:** `MGit.Bench {string.Join(' ', commandLine.Select(Invocation.Quote))}` ({elapsed.TotalSeconds:0} s in all, {trainingSeconds:0} s of it training and writing the families)");
        text.AppendLine(CultureInfo.InvariantCulture, $"- **mgit under test:** {version}");
        text.AppendLine("- **Modes:** `mgit infer DIR --json` on a fresh repository, once per draw of neutral file names (\"m-3f9a\"; infer reads a folder in name order, so each draw is another order), with modification times in creation order and shuffled (same names); `mgit add FILE --auto --json` one model at a time in random insertion orders, and in creation order. With `--model-cards`, two more modes give each model as a folder whose README.md front matter names its true parents by their neutral names (`base_model`, `base_model_relation`), as Hugging Face model cards do. The recovered graph is `mgit graph --format json`.");
        text.AppendLine("- **Scores:** an edge slot is a (model, true parent) pair, or one slot per root; it is right when the model's recovered parents include that true parent (a root: when it has none). Direction: of the recovered edges that join a true parent-child pair, how many point from parent to child. Wrong edges: recovered edges that are not true edges (reversed ones included). False relations: recovered edges between models with no common ancestry (for the controls: every edge). With add --auto in a random order a child can come before its parent; \"reachable\" counts the slots whose parents came first (what placement can get without moving earlier models).");
        text.AppendLine(CultureInfo.InvariantCulture, $"- **Logs:** each run leaves `{runsRoot}/FAMILY/MODE/log.txt` (names, truth, mgit's placements with their reasons, the graph).");
        text.AppendLine();
        text.AppendLine("| family | models | mode | runs | edges right | direction right | wrong edges | false relations | reachable (add --auto) |");
        text.AppendLine("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach (var r in results)
        {
            var family = families.First(f => f.Name == r.Family);
            int right = r.Runs.Sum(s => s.Right), total = r.Runs.Sum(s => s.Total);
            int directionRight = r.Runs.Sum(s => s.DirectionRight), directionTotal = r.Runs.Sum(s => s.DirectionTotal);
            string perRun = r.Runs.Count > 1 ? $" ({string.Join(", ", r.Runs.Select(s => $"{s.Right}/{s.Total}"))})" : "";
            string reachable = r.Mode.StartsWith("add", StringComparison.Ordinal) ? $"{r.Runs.Sum(s => s.Achievable)}/{total}" : "";
            text.AppendLine(CultureInfo.InvariantCulture,
                $"| {r.Family} | {family.Models.Count} | {r.Mode} | {r.Runs.Count} | {right}/{total} = {Percent(right, total)}{perRun} | {directionRight}/{directionTotal}{(directionTotal > 0 ? " = " + Percent(directionRight, directionTotal) : "")} | {r.Runs.Sum(s => s.WrongEdges)} | {r.Runs.Sum(s => s.FalseRelations)} | {reachable} |");
        }

        int allRight = results.Sum(r => r.Runs.Sum(s => s.Right)), allTotal = results.Sum(r => r.Runs.Sum(s => s.Total));
        text.AppendLine();
        text.AppendLine(CultureInfo.InvariantCulture, $"All families and modes: {allRight}/{allTotal} edge slots right ({Percent(allRight, allTotal)}); false relations on the controls: {results.Where(r => families.First(f => f.Name == r.Family).IsControl).Sum(r => r.Runs.Sum(s => s.FalseRelations))}.");
        text.AppendLine();
        text.AppendLine("## The families");
        foreach (var family in families)
        {
            text.AppendLine();
            text.AppendLine(CultureInfo.InvariantCulture, $"### {family.Name}");
            text.AppendLine();
            text.AppendLine(family.Description);
            text.AppendLine();
            text.AppendLine("| model | true parent(s) | how | made as | MB |");
            text.AppendLine("| --- | --- | --- | --- | ---: |");
            foreach (var m in family.Models)
            {
                text.AppendLine(CultureInfo.InvariantCulture, $"| {m.Key} | {(m.Parents.Count == 0 ? "(root)" : string.Join(" + ", m.Parents))} | {m.How} | {m.Note} | {new FileInfo(m.File).Length / 1e6:0.00} |");
            }

            foreach (string note in family.Notes)
            {
                text.AppendLine();
                text.AppendLine("- " + note);
            }

            var mistakes = results.Where(r => r.Family == family.Name)
                .SelectMany(r => r.Runs.SelectMany(s => s.Mistakes).Select(m => (r.Mode, Mistake: m)))
                .GroupBy(p => p)
                .Select(g => $"{g.Key.Mode}: {g.Key.Mistake} (×{g.Count()})")
                .ToList();
            if (mistakes.Count > 0)
            {
                text.AppendLine();
                text.AppendLine(CultureInfo.InvariantCulture, $"Mistakes ({mistakes.Count} distinct{(mistakes.Count > 16 ? ", the first 16" : "")}):");
                text.AppendLine();
                foreach (string line in mistakes.Take(16))
                {
                    text.AppendLine("- " + line);
                }
            }
        }

        return text.ToString();
    }

    private static string Percent(int part, int whole) =>
        whole == 0 ? "–" : string.Create(CultureInfo.InvariantCulture, $"{100.0 * part / whole:0.0}%");
}
