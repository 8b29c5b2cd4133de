using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace MGit.Bench;

/// <summary>
/// <c>mgit cascade</c> on the local executor and on a real single-node Slurm cluster. A penguin
/// family (samples/PenguinTrainer: a base, --width fine-tunes of it, a pruned child of the first)
/// is stored with its recipes and tests, the base gets a version 2, and the repository is copied
/// once per executor before any cascade. Each copy runs the same <c>mgit cascade</c> under one
/// executor, timed from the outside; then every copy's new versions are checked out and hashed,
/// and their graphs, test results and printed tables compared, so the timings are of the same work.
/// </summary>
internal static partial class CascadeCommand
{
    private const string BaseName = "penguin-base";
    private const string NewBase = BaseName + "@2";

    /// <summary>The fine-tunes the family cycles through; each is about 4 s of training on the 2-core VM.</summary>
    private static readonly (string Task, bool HeadOnly, int Epochs)[] FineTuneKinds =
        [("sex", true, 20000), ("island", false, 600), ("sex", false, 500), ("island", true, 10000)];

    /// <summary>What a rerun in the same --work replaces (the builds stay, for an incremental build).</summary>
    private static readonly string[] RunFolders = ["family", "runs", "checkouts"];

    private static readonly string[] Tests =
    [
        "species-accuracy|species|accuracy >= 0.95",
        "sex-accuracy|sex|accuracy >= 0.75",
        "island-accuracy|island|accuracy >= 0.6",
    ];

    /// <summary>A model below the base: <paramref name="Arguments"/> are the trainer's, with mgit's {parent} and {output}.</summary>
    private sealed record FamilyModel(string Name, string Parent, string Type, string How, IReadOnlyList<string> Arguments, string Note)
    {
        public string Recipe(string trainerCommand) => trainerCommand + " " + string.Join(' ', Arguments.Select(Invocation.Quote));
    }

    private sealed record Executor(string Label, IReadOnlyList<string> Arguments, bool OnSlurm);

    private sealed record Step(string Model, string? To, string Status, string? JobId, string? Detail);

    private sealed record TestResult(string Ref, string Test, bool Passed, string Metrics);

    /// <summary>One Slurm job of a cascade as the controller saw it (whole seconds, as Slurm keeps them).</summary>
    private sealed record JobTimes(string Model, string JobId, IReadOnlyList<string> ParentJobs, DateTime Submitted, DateTime Started, DateTime Ended)
    {
        public double RunSeconds => (Ended - Started).TotalSeconds;
    }

    /// <summary>What one cascade left in its copy of the repository.</summary>
    private sealed record CascadeResult(
        IReadOnlyList<Step> Steps,
        IReadOnlyList<string> Graph,
        IReadOnlyDictionary<string, string> Hashes,
        IReadOnlyList<TestResult> TestsAfter,
        IReadOnlyList<JobTimes> Jobs,
        IReadOnlyDictionary<string, double> RecipeSeconds);

    private sealed record CascadeRun(Executor Executor, int Round, Outcome Outcome, double? BusyBefore, double? BusyDuring, CascadeResult Result)
    {
        public IEnumerable<Step> Rederived => Result.Steps.Where(s => s.Status == "rederived" && s.To is not null);
    }

    public static int Run(Arguments options, string[] commandLine)
    {
        string source = Path.GetFullPath(options.String("source") ?? FindSourceTree());
        string results = Path.GetFullPath(options.String("out") ?? Path.Combine(source, "bench", "results", "cascade-slurm.md"));
        int width = (int)options.Long("width", 4, 1, 16);
        int repeat = (int)options.Long("repeat", 1, 1, 5);
        string? givenWork = options.String("work");
        string? givenMgit = options.String("mgit");
        string? givenTrainer = options.String("trainer");
        string? givenSlurmConf = options.String("slurm-conf");
        string slurmMem = options.String("slurm-mem") ?? "1G";
        double quietWait = options.Double("quiet-wait", 60, 0, 600);
        bool keep = options.Flag("keep");
        options.RejectUnused();
        ChildProcess.RequireTools("dotnet", "cp", "bash", "sbatch", "scontrol");

        var total = System.Diagnostics.Stopwatch.StartNew();
        string work = givenWork is null ? Directory.CreateTempSubdirectory("mgit-bench-cascade-").FullName : Path.GetFullPath(givenWork);
        foreach (string old in RunFolders.Select(d => Path.Combine(work, d)).Where(Directory.Exists))
        {
            Directory.Delete(old, recursive: true);
        }

        try
        {
            string mgit = givenMgit is not null ? Path.GetFullPath(givenMgit) : Build(Path.Combine(source, "src", "MGit.Cli"), Path.Combine(work, "mgit"), "mgit.dll");
            string trainer = givenTrainer is not null ? Path.GetFullPath(givenTrainer) : Build(Path.Combine(source, "samples", "PenguinTrainer"), Path.Combine(work, "trainer"), "PenguinTrainer.dll");
            string version = ChildProcess.Run(Invocation.Mgit(mgit, ["--version"])).Trim();
            // What every cluster job pays before its step starts: one mgit process start.
            double startup = Statistics.Median(Enumerable.Range(0, 5).Select(_ => ChildProcess.Attempt(Invocation.Mgit(mgit, ["--version"])).Seconds));

            var familyWatch = System.Diagnostics.Stopwatch.StartNew();
            string family = Path.Combine(work, "family");
            var models = BuildFamily(mgit, trainer, family, width);
            double familySeconds = familyWatch.Elapsed.TotalSeconds;
            Console.Error.WriteLine($"cascade: family of {models.Count} models stored in {familySeconds:0} s at {family}");

            using var cluster = givenSlurmConf is null ? SlurmCluster.Start(source) : SlurmCluster.Existing(Path.GetFullPath(givenSlurmConf));
            var executors = new List<Executor>
            {
                new("local, --jobs 1", ["--jobs", "1"], false),
                new("local, --jobs 2", ["--jobs", "2"], false),
                new("slurm", ["--executor", "slurm"], true),
            };
            if (!string.Equals(slurmMem, "none", StringComparison.Ordinal))
            {
                executors.Add(new($"slurm, --mem {slurmMem}", ["--executor", "slurm", "--mem", slurmMem], true));
            }

            // Every copy is taken before any cascade runs, so each starts from the same bytes.
            var copies = new List<(Executor Executor, int Round, string Repository)>();
            for (int round = 1; round <= repeat; round++)
            {
                foreach (var executor in executors)
                {
                    string copy = Path.Combine(work, "runs", $"{Slug(executor.Label)}-{round}");
                    Directory.CreateDirectory(Path.GetDirectoryName(copy)!);
                    ChildProcess.Run("cp", "-a", family, copy);
                    copies.Add((executor, round, copy));
                }
            }

            var runs = new List<CascadeRun>();
            foreach (var (executor, round, copy) in copies)
            {
                runs.Add(RunCascade(mgit, executor, round, copy, cluster, Path.Combine(work, "checkouts", Path.GetFileName(copy)), quietWait));
            }

            string report = Report(commandLine, source, version, startup, work, models, familySeconds, cluster, runs, total.Elapsed);
            Console.WriteLine(report);
            Directory.CreateDirectory(Path.GetDirectoryName(results)!);
            File.WriteAllText(results, report);
            Console.Error.WriteLine($"cascade: report written to {results}");
            return runs.All(r => r.Outcome.Succeeded) && Mismatches(runs).Count == 0 ? 0 : 1;
        }
        finally
        {
            if (givenWork is null && !keep)
            {
                Directory.Delete(work, recursive: true);
            }
        }
    }

    /// <summary>The source tree: the folder holding MGit.slnx, at or above the current folder or this program.</summary>
    private static string FindSourceTree()
    {
        foreach (string start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
        {
            for (var folder = new DirectoryInfo(start); folder is not null; folder = folder.Parent)
            {
                if (File.Exists(Path.Combine(folder.FullName, "MGit.slnx")))
                {
                    return folder.FullName;
                }
            }
        }

        throw new UsageException("cannot find the source tree (MGit.slnx) above the current folder; give --source DIR");
    }

    private static string Build(string project, string output, string assembly)
    {
        Console.Error.WriteLine($"cascade: building {Path.GetFileName(project)}");
        ChildProcess.Run("dotnet", "build", project, "-c", "Release", "-o", output, "-v", "quiet", "-nologo");
        return Path.Combine(output, assembly);
    }

    /// <summary>How a recipe or test starts the trainer, as one word for mgit's word splitting.</summary>
    private static string TrainerCommand(string trainer) =>
        trainer.EndsWith(".dll", StringComparison.OrdinalIgnoreCase) ? $"dotnet {Invocation.Quote(trainer)}" : Invocation.Quote(trainer);

    private static Invocation Trainer(string trainer, params string[] arguments) =>
        trainer.EndsWith(".dll", StringComparison.OrdinalIgnoreCase) ? new("dotnet", [trainer, .. arguments]) : new(trainer, arguments);

    /// <summary>
    /// The family as cascade-demo.sh builds it, wider: base v1 (3 epochs), <paramref name="width"/>
    /// fine-tunes of it (sex and island, head-only and full, each with its own seed), a pruned child of
    /// the first; tests per type, run once (the "before" results); then base v2 (30 epochs).
    /// </summary>
    private static List<FamilyModel> BuildFamily(string mgit, string trainer, string repository, int width)
    {
        Directory.CreateDirectory(repository);
        string files = Path.Combine(repository, "files");
        Directory.CreateDirectory(files);
        string command = TrainerCommand(trainer);
        void Mgit(params string[] arguments) => ChildProcess.Run(Invocation.Mgit(mgit, ["-C", repository, .. arguments, "-q"]));

        Mgit("init");
        string baseFile = Path.Combine(files, "base.safetensors");
        ChildProcess.Run(Trainer(trainer, "train", "--epochs", "3", "--out", baseFile));
        Mgit("add", baseFile, "--name", BaseName, "--type", "species", "-m", "species classifier, 3 epochs");
        foreach (string[] test in Tests.Select(t => t.Split('|')))
        {
            Mgit("test", "add", test[0], "--for", $"type:{test[1]}", "--pass", test[2], "--cmd", $"{command} eval --model {{model}} --task {test[1]}");
        }

        var models = new List<FamilyModel>();
        for (int i = 0; i < width; i++)
        {
            var (task, headOnly, epochs) = FineTuneKinds[i % FineTuneKinds.Length];
            int seed = 8 + i;
            string name = $"penguin-{task}-{(headOnly ? "head" : "full")}" + (i < FineTuneKinds.Length ? "" : $"-{(i / FineTuneKinds.Length) + 1}");
            string[] arguments =
            [
                "finetune", "--base", "{parent}", "--task", task, .. headOnly ? new[] { "--freeze-encoder" } : [],
                "--epochs", epochs.ToString(CultureInfo.InvariantCulture), "--seed", seed.ToString(CultureInfo.InvariantCulture), "--out", "{output}",
            ];
            models.Add(new(name, BaseName, task, "finetune", arguments, string.Create(CultureInfo.InvariantCulture, $"{(headOnly ? "head-only" : "full")} fine-tune for {task}, {epochs:N0} epochs, seed {seed}")));
        }

        models.Add(new($"{models[0].Name}-pruned", models[0].Name, models[0].Type, "prune", ["prune", "--in", "{parent}", "--fraction", "0.3", "--out", "{output}"], "30% of the weights zeroed by magnitude"));
        var stored = new Dictionary<string, string>(StringComparer.Ordinal) { [BaseName] = baseFile };
        foreach (var model in models)
        {
            // The first version is made by the recipe itself, so the cascade replays exactly what made it.
            string file = Path.Combine(files, model.Name + ".safetensors");
            ChildProcess.Run(Trainer(trainer, [.. model.Arguments.Select(a => a switch { "{parent}" => stored[model.Parent], "{output}" => file, _ => a })]));
            Mgit("add", file, "--name", model.Name, "--parent", model.Parent, "--how", model.How, "--type", model.Type, "--recipe", model.Recipe(command));
            stored[model.Name] = file;
            Console.Error.WriteLine($"cascade: stored {model.Name}");
        }

        // A failing test exits 1 and is a result, not an error (the pruned model may fail before the update, as in the demo).
        void TestRun(params string[] arguments)
        {
            var outcome = ChildProcess.Attempt(Invocation.Mgit(mgit, ["-C", repository, "test", "run", .. arguments, "-q"]));
            if (outcome.ExitCode is not (0 or 1))
            {
                throw new BenchException($"mgit test run {string.Join(' ', arguments)} exited with {outcome.ExitCode}: {outcome.Message}");
            }
        }

        TestRun("--all", "--jobs", "2");
        string newBase = Path.Combine(files, "base-v2.safetensors");
        ChildProcess.Run(Trainer(trainer, "train", "--epochs", "30", "--out", newBase));
        Mgit("add", newBase, "--version-of", BaseName, "-m", "species classifier, 30 epochs");
        TestRun(NewBase);
        return models;
    }

    /// <summary>A folder name for an executor's label: "local, --jobs 2" is local-jobs-2.</summary>
    private static string Slug(string label) =>
        string.Join('-', new string([.. label.Select(c => char.IsAsciiLetterOrDigit(c) ? c : ' ')]).Split(' ', StringSplitOptions.RemoveEmptyEntries));

    private static CascadeRun RunCascade(string mgit, Executor executor, int round, string repository, SlurmCluster cluster, string checkouts, double quietWait)
    {
        if (quietWait > 0)
        {
            MachineLoad.WaitForQuiet(0.3, TimeSpan.FromSeconds(quietWait), Console.Error, executor.Label);
        }

        var environment = new Dictionary<string, string> { ["SLURM_CONF"] = cluster.Conf };
        double? busyBefore = MachineLoad.CoresBusy(TimeSpan.FromSeconds(1));
        double? busyStart = MachineLoad.BusySeconds();
        var outcome = ChildProcess.Attempt(Invocation.Mgit(mgit, ["-C", repository, "cascade", NewBase, .. executor.Arguments], executor.OnSlurm ? environment : null));
        double? busyEnd = MachineLoad.BusySeconds();
        double? busyDuring = busyStart is { } s && busyEnd is { } e ? (e - s) / outcome.Seconds : null;
        Console.Error.WriteLine($"cascade: {executor.Label} (round {round}): {outcome.Seconds:0.0} s, exit {outcome.ExitCode}");
        var result = Collect(mgit, repository, cluster, checkouts, executor.OnSlurm);
        return new CascadeRun(executor, round, outcome, busyBefore, busyDuring, result);
    }

    private static CascadeResult Collect(string mgit, string repository, SlurmCluster cluster, string checkouts, bool onSlurm)
    {
        string Mgit(params string[] arguments) => ChildProcess.Run(Invocation.Mgit(mgit, ["-C", repository, .. arguments]));

        var steps = new List<Step>();
        long cascadeId;
        using (var status = JsonDocument.Parse(Mgit("cascade", "--status", "--json")))
        {
            cascadeId = status.RootElement.GetProperty("id").GetInt64();
            foreach (var step in status.RootElement.GetProperty("steps").EnumerateArray())
            {
                string? job = step.TryGetProperty("job", out var j) && j.ValueKind == JsonValueKind.Object ? j.GetProperty("id").GetString() : null;
                steps.Add(new(step.GetProperty("model").GetString()!, step.GetProperty("to").GetString(), step.GetProperty("status").GetString()!, job, step.GetProperty("detail").GetString()));
            }
        }

        // The graph, less what differs by design between copies (when each version was added).
        var graph = new List<string>();
        var parentsOf = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        using (var listing = JsonDocument.Parse(Mgit("ls", "--json")))
        {
            foreach (var version in listing.RootElement.EnumerateArray())
            {
                string reference = version.GetProperty("ref").GetString()!;
                var parents = version.GetProperty("parents").EnumerateArray()
                    .Select(p => (Ref: p.GetProperty("ref").GetString()!, Kind: p.GetProperty("kind").GetString(), How: p.GetProperty("how").GetString()))
                    .ToList();
                parentsOf[reference] = [.. parents.Where(p => p.Kind == "adapted").Select(p => p.Ref)];
                string edges = parents.Count == 0 ? "(root)" : string.Join(", ", parents.Select(p => $"{p.Ref} ({p.Kind}{(p.How is null ? "" : "/" + p.How)})"));
                graph.Add($"{reference} [{version.GetProperty("type").GetString()}] <- {edges}: {version.GetProperty("message").GetString()}");
            }
        }

        graph.Sort(StringComparer.Ordinal);
        var made = steps.Where(s => s.Status == "rederived" && s.To is not null).Select(s => s.To!).ToList();
        var hashes = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (string reference in made)
        {
            string output = Path.Combine(checkouts, reference);
            Directory.CreateDirectory(checkouts);
            Mgit("checkout", reference, "-o", output, "-q");
            foreach (var (file, hash) in HashTree(output))
            {
                hashes[file.Length == 0 ? reference : $"{reference}/{file}"] = hash;
            }
        }

        var tests = new List<TestResult>();
        using (var shown = JsonDocument.Parse(Mgit("test", "show", "--json")))
        {
            foreach (var test in shown.RootElement.EnumerateArray().Where(t => made.Contains(t.GetProperty("ref").GetString()!)))
            {
                tests.Add(new(test.GetProperty("ref").GetString()!, test.GetProperty("test").GetString()!, test.GetProperty("passed").GetBoolean(), test.GetProperty("metrics").GetRawText()));
            }
        }

        tests.Sort((a, b) => string.CompareOrdinal(a.Ref + " " + a.Test, b.Ref + " " + b.Test));
        var jobs = onSlurm ? JobTimesOf(steps, parentsOf, cluster) : [];
        return new CascadeResult(steps, graph, hashes, tests, jobs, RecipeSeconds(repository, cascadeId));
    }

    /// <summary>
    /// How long each step's recipe ran, from the log mgit keeps of it (.mgit/logs/cascade/ID/MODEL-HASH-STAMP.log,
    /// closed by "[exit 0 after 4.845 s]"): the training itself, apart from what mgit and the scheduler add around it.
    /// </summary>
    private static Dictionary<string, double> RecipeSeconds(string repository, long cascadeId)
    {
        var seconds = new Dictionary<string, double>(StringComparer.Ordinal);
        string folder = Path.Combine(repository, ".mgit", "logs", "cascade", cascadeId.ToString(CultureInfo.InvariantCulture));
        if (!Directory.Exists(folder))
        {
            return seconds;
        }

        foreach (string log in Directory.EnumerateFiles(folder, "*.log"))
        {
            var name = RecipeLogName().Match(Path.GetFileName(log));
            var exit = File.ReadLines(log).Select(l => RecipeExitLine().Match(l)).LastOrDefault(m => m.Success);
            if (name.Success && exit is not null)
            {
                seconds[name.Groups["model"].Value] = double.Parse(exit.Groups["seconds"].Value, CultureInfo.InvariantCulture);
            }
        }

        return seconds;
    }

    /// <summary>A recipe's log (not the job's own output, MODEL-HASH.slurm-STAMP.log).</summary>
    [GeneratedRegex(@"^(?<model>.+)-[0-9a-f]{8}-\d{8}T[0-9.]+-[0-9a-f]+\.log$")]
    private static partial Regex RecipeLogName();

    [GeneratedRegex(@"^\[exit 0 after (?<seconds>[0-9.]+) s\]$")]
    private static partial Regex RecipeExitLine();

    /// <summary>SHA-256 of a checked-out file, or of every file under a checked-out folder (by relative path).</summary>
    private static IEnumerable<(string File, string Hash)> HashTree(string path)
    {
        if (File.Exists(path))
        {
            return [("", Sha256(path))];
        }

        return Directory.EnumerateFiles(path, "*", SearchOption.AllDirectories)
            .Order(StringComparer.Ordinal)
            .Select(f => (Path.GetRelativePath(path, f), Sha256(f)));
    }

    private static string Sha256(string file)
    {
        using var stream = File.OpenRead(file);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    /// <summary>Each step's job as <c>scontrol show job</c> has it (the cluster keeps ended jobs for MinJobAge, 600 s).</summary>
    private static List<JobTimes> JobTimesOf(List<Step> steps, Dictionary<string, List<string>> parentsOf, SlurmCluster cluster)
    {
        var jobOf = steps.Where(s => s.JobId is not null).ToDictionary(s => s.Model, s => s.JobId!, StringComparer.Ordinal);
        var jobs = new List<JobTimes>();
        foreach (var step in steps.Where(s => s.JobId is not null))
        {
            var fields = cluster.ShowJob(step.JobId!);
            // A step's parents (derivation edges, not the version edge to its own @1) that the cascade
            // re-derived too: their jobs are the ones it waited for (afterok).
            var parentJobs = step.To is not null && parentsOf.TryGetValue(step.To, out var parents)
                ? parents.Select(p => p.Split('@')[0]).Where(jobOf.ContainsKey).Select(p => jobOf[p]).ToList()
                : [];
            if (fields is not null && SlurmTime(fields, "SubmitTime") is { } submitted && SlurmTime(fields, "StartTime") is { } started && SlurmTime(fields, "EndTime") is { } ended)
            {
                jobs.Add(new(step.Model, step.JobId!, parentJobs, submitted, started, ended));
            }
        }

        return jobs;
    }

    private static DateTime? SlurmTime(Dictionary<string, string> fields, string key) =>
        fields.TryGetValue(key, out string? text) && DateTime.TryParseExact(text, "yyyy-MM-dd'T'HH:mm:ss", CultureInfo.InvariantCulture, DateTimeStyles.None, out var time) ? time : null;

    /// <summary>Where a run differs from the first (local, --jobs 1, round 1): empty when every run made the same.</summary>
    private static List<string> Mismatches(List<CascadeRun> runs)
    {
        var reference = runs[0];
        var differences = new List<string>();
        foreach (var run in runs.Skip(1))
        {
            string who = $"{run.Executor.Label} (round {run.Round})";
            if (!run.Result.Steps.Select(s => $"{s.Model} {s.Status} {s.To}").SequenceEqual(reference.Result.Steps.Select(s => $"{s.Model} {s.Status} {s.To}")))
            {
                differences.Add($"{who}: step outcomes differ");
            }

            if (!run.Result.Graph.SequenceEqual(reference.Result.Graph))
            {
                differences.Add($"{who}: `mgit ls --json` differs: {string.Join("; ", run.Result.Graph.Except(reference.Result.Graph))}");
            }

            foreach (var (file, hash) in reference.Result.Hashes)
            {
                if (!run.Result.Hashes.TryGetValue(file, out string? other) || other != hash)
                {
                    differences.Add($"{who}: {file} has SHA-256 {other ?? "(missing)"}, not {hash}");
                }
            }

            if (!run.Result.TestsAfter.SequenceEqual(reference.Result.TestsAfter))
            {
                differences.Add($"{who}: test results differ");
            }

            if (run.Outcome.Output != reference.Outcome.Output)
            {
                differences.Add($"{who}: the printed result table differs");
            }
        }

        return differences;
    }

    private static string Report(string[] commandLine, string source, string version, double startup, string work, List<FamilyModel> models, double familySeconds, SlurmCluster cluster, List<CascadeRun> runs, TimeSpan elapsed)
    {
        var machine = MachineInfo.Collect(work);
        string commit = ChildProcess.TryRun("git", "-C", source, "rev-parse", "--short", "HEAD")?.Trim() ?? "unknown";
        bool dirty = (ChildProcess.TryRun("git", "-C", source, "status", "--porcelain", "--", "src", "samples") ?? "").Trim().Length > 0;
        var text = new StringBuilder();
        void Line(string line = "") => text.Append(line).Append('\n');
        string S(double seconds) => seconds.ToString("0.0", CultureInfo.InvariantCulture) + " s";

        Line("# Cascade on Slurm vs local");
        Line();
        Line(string.Create(CultureInfo.InvariantCulture, $"- **Date:** {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC ({elapsed.TotalMinutes:0.0} min in all, {familySeconds:0} s of it training and storing the family)"));
        Line($"- **Command:** `MGit.Bench {string.Join(' ', commandLine.Select(Invocation.Quote))}`");
        Line(string.Create(CultureInfo.InvariantCulture, $"- **Source:** commit {commit}{(dirty ? " with uncommitted changes under src/ or samples/" : "")}; mgit under test: `{version}` (Release build, JIT; `mgit --version` takes {startup:0.00} s, median of 5: the start-up each cluster job pays)"));
        Line($"- **Cluster:** {cluster.Describe()}");
        Line($"- **Timed:** `mgit cascade {NewBase} ARGS` in its own copy of the repository (`cp -a` of the whole folder, all copies taken before any cascade), wall clock from process start to exit. Before each run the bench waits (up to `--quiet-wait` s) for the machine to use under 0.3 cores; \"machine busy\" is every process's CPU time over the run's wall time (the Slurm jobs are not children of the timed process, so this is the only place their CPU shows).");
        Line();
        foreach (string row in machine.MarkdownTable())
        {
            Line(row);
        }

        Line();
        Line("## The family");
        Line();
        Line($"`{BaseName}@1` (species, 3 epochs) with these models below it, each added with the recipe that made it and tested by type (`species-accuracy` >= 0.95, `sex-accuracy` >= 0.75, `island-accuracy` >= 0.6: the PenguinTrainer's `eval`); then `{NewBase}` (30 epochs). The cascade re-derives every model below the base, in dependency order, and re-runs its tests.");
        Line();
        Line("| model | parent | type | made as | recipe |");
        Line("| --- | --- | --- | --- | --- |");
        foreach (var model in models)
        {
            Line($"| {model.Name} | {model.Parent} | {model.Type} | {model.Note} | `{model.Recipe("PenguinTrainer")}` |");
        }

        Line();
        Line("## Wall time");
        Line();
        Line("| executor | `mgit cascade` arguments | wall time | steps rederived | tests after (pass/fail) | recipes ran (sum) | machine busy | exit |");
        Line("| --- | --- | ---: | ---: | --- | ---: | ---: | ---: |");
        foreach (var group in runs.GroupBy(r => r.Executor))
        {
            var first = group.First();
            var walls = group.Select(r => r.Outcome.Seconds).ToList();
            string wall = walls.Count == 1 ? S(walls[0]) : $"{S(Statistics.Median(walls))} (median of {string.Join(", ", walls.Select(S))})";
            int steps = first.Result.Steps.Count;
            int rederived = first.Rederived.Count();
            int passed = first.Result.TestsAfter.Count(t => t.Passed);
            int failed = first.Result.TestsAfter.Count - passed;
            string failures = failed == 0 ? "" : " (" + string.Join(", ", first.Result.TestsAfter.Where(t => !t.Passed).Select(t => $"{t.Test} on {t.Ref}")) + ")";
            string busy = string.Join(", ", group.Select(r => r.BusyDuring is { } b ? b.ToString("0.00", CultureInfo.InvariantCulture) : "?")) + " cores";
            string exits = string.Join(", ", group.Select(r => r.Outcome.ExitCode.ToString(CultureInfo.InvariantCulture)).Distinct());
            string recipes = string.Join(", ", group.Select(r => S(r.Result.RecipeSeconds.Values.Sum())));
            Line($"| {first.Executor.Label} | `{string.Join(' ', first.Executor.Arguments)}` | {wall} | {rederived}/{steps} | {passed} pass / {failed} fail{failures} | {recipes} | {busy} | {exits} |");
        }

        var disturbed = runs.Where(r => r.BusyBefore is > 0.3).ToList();
        if (disturbed.Count > 0)
        {
            Line();
            Line(string.Create(CultureInfo.InvariantCulture, $"Other work was using the machine when {disturbed.Count} of the {runs.Count} runs started (the bench waited `--quiet-wait` s and measured anyway): {string.Join(", ", disturbed.Select(r => $"{r.Executor.Label} round {r.Round} ({r.BusyBefore:0.0} cores)"))}."));
        }

        Line();
        Line("*Recipes ran*: the training alone, summed over the steps (each recipe's own log, `[exit 0 after N s]`); the rest of a local run's wall time is mgit's (start-up, checking out parents, adding each output, running the tests).");
        Line();
        Meaning(runs, Line);

        var slurmRuns = runs.Where(r => r.Executor.OnSlurm && r.Result.Jobs.Count > 0).GroupBy(r => r.Executor).Select(g => g.First()).ToList();
        if (slurmRuns.Count > 0)
        {
            Line();
            Line("## The Slurm jobs");
            Line();
            Line("From `scontrol show job` (whole seconds, as Slurm records them), first round. *Ready* is when the job could have started: its submission, or the end of the last parent job it waited for (`afterok`); *waited* is start minus ready: queued for resources (a free CPU; without `--mem`, the node's memory) plus the scheduler's own delay. *Of which the recipe* is the training the job ran (its recipe log); the rest of *ran* is the job's mgit: start-up, opening the repository, planning, checking out the parents, adding the output, the tests.");
            foreach (var run in slurmRuns)
            {
                var jobs = run.Result.Jobs;
                var byId = jobs.ToDictionary(j => j.JobId, StringComparer.Ordinal);
                DateTime firstSubmit = jobs.Min(j => j.Submitted);
                Line();
                Line($"**{run.Executor.Label}** (`mgit cascade {NewBase} {string.Join(' ', run.Executor.Arguments)}`, wall {S(run.Outcome.Seconds)}):");
                Line();
                Line("| model | job | after | submitted | ready | started | ended | waited | ran | of which the recipe |");
                Line("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
                var waits = new List<double>();
                foreach (var job in jobs)
                {
                    DateTime ready = job.ParentJobs.Where(byId.ContainsKey).Select(p => byId[p].Ended).Append(job.Submitted).Max();
                    double waited = (job.Started - ready).TotalSeconds;
                    waits.Add(waited);
                    string Offset(DateTime t) => string.Create(CultureInfo.InvariantCulture, $"+{(t - firstSubmit).TotalSeconds:0}");
                    string recipe = run.Result.RecipeSeconds.TryGetValue(job.Model, out double r) ? S(r) : "?";
                    Line(string.Create(CultureInfo.InvariantCulture, $"| {job.Model} | {job.JobId} | {(job.ParentJobs.Count == 0 ? "-" : string.Join(", ", job.ParentJobs))} | {Offset(job.Submitted)} | {Offset(ready)} | {Offset(job.Started)} | {Offset(job.Ended)} | {waited:0} s | {job.RunSeconds:0} s | {recipe} |"));
                }

                double span = (jobs.Max(j => j.Ended) - firstSubmit).TotalSeconds;
                int maxParallel = jobs.Max(j => jobs.Count(o => o.Started <= j.Started && o.Ended > j.Started));
                Line();
                double recipes = jobs.Sum(j => run.Result.RecipeSeconds.GetValueOrDefault(j.Model));
                Line(string.Create(CultureInfo.InvariantCulture, $"First submission to last end: {span:0} s; jobs running at once: at most {maxParallel}; waited in all: {waits.Sum():0} s over {jobs.Count} jobs; the job run times add up to {jobs.Sum(j => j.RunSeconds):0} s, {(jobs.Sum(j => j.RunSeconds) - recipes) / jobs.Count:0.0} s per job more than their recipes. The rest of the wall time ({run.Outcome.Seconds - span:0.0} s, to within Slurm's whole seconds) is the submitting mgit's own: start-up, planning, {jobs.Count} sbatch calls, and noticing the last job's end (it polls every 2 s)."));
            }
        }

        Line();
        Line("## Same work under every executor?");
        Line();
        var reference = runs[0];
        var mismatches = Mismatches(runs);
        Line(mismatches.Count == 0
            ? $"**Yes.** Every run ({runs.Count}: {string.Join(", ", runs.GroupBy(r => r.Executor.Label).Select(g => $"{g.Key} x{g.Count()}"))}) re-derived the same models into the same version numbers, and against the first run:"
            : $"**No: {mismatches.Count} difference(s)** against the first run ({reference.Executor.Label}):");
        Line();
        if (mismatches.Count == 0)
        {
            Line("- `mgit ls --json`: the same versions with the same types, parents (edge kind and how) and messages (only `added_at` left out);");
            Line($"- `mgit checkout MODEL@2` of every re-derived model: byte-identical files (SHA-256 below): the recipes are deterministic (the trainer seeds its initialisation and batch order; each recipe names its `--seed`), so the executors made the same bytes;");
            Line("- `mgit test show --json` on the new versions: the same tests with the same pass/fail and metrics;");
            Line("- the result table `mgit cascade` prints: the same text, character for character.");
        }
        else
        {
            foreach (string mismatch in mismatches)
            {
                Line($"- {mismatch}");
            }
        }

        Line();
        Line("| re-derived file | SHA-256 | same in all runs |");
        Line("| --- | --- | --- |");
        foreach (var (file, hash) in reference.Result.Hashes)
        {
            bool same = runs.All(r => r.Result.Hashes.GetValueOrDefault(file) == hash);
            Line($"| {file} | `{hash}` | {(same ? "yes" : "**no**")} |");
        }

        Line();
        Line($"The table the first run printed ({reference.Executor.Label}):");
        Line();
        Line("```");
        text.Append(reference.Outcome.Output.TrimEnd()).Append('\n');
        Line("```");
        var failedRuns = runs.Where(r => !r.Outcome.Succeeded).ToList();
        if (failedRuns.Count > 0)
        {
            Line();
            Line("`mgit cascade` exits 1 when a step failed or was blocked, and also when a re-derived model fails a test. Runs that did not exit 0:");
            Line();
            foreach (var failed in failedRuns)
            {
                var notMade = failed.Result.Steps.Where(s => s.Status != "rederived").Select(s => $"{s.Model} {s.Status}{(s.Detail is null ? "" : $" ({s.Detail})")}").ToList();
                string why = notMade.Count > 0 ? "steps not re-derived: " + string.Join("; ", notMade) : $"{failed.Result.TestsAfter.Count(t => !t.Passed)} failing test(s) after";
                Line($"- {failed.Executor.Label} (round {failed.Round}): exit {failed.Outcome.ExitCode}; {why}");
            }
        }

        return text.ToString();
    }

    /// <summary>The findings in words, from the medians: speed-up of --jobs 2, and what Slurm adds per job over the local run it matches.</summary>
    private static void Meaning(List<CascadeRun> runs, Action<string> line)
    {
        double Wall(CascadeRun run) => Statistics.Median(runs.Where(r => r.Executor == run.Executor).Select(r => r.Outcome.Seconds));
        int MostAtOnce(CascadeRun run) => run.Result.Jobs.Count == 0 ? 0 : run.Result.Jobs.Max(j => run.Result.Jobs.Count(o => o.Started <= j.Started && o.Ended > j.Started));
        var firsts = runs.GroupBy(r => r.Executor).Select(g => g.First()).ToList();
        var serial = firsts.FirstOrDefault(r => !r.Executor.OnSlurm && r.Executor.Arguments.SequenceEqual(["--jobs", "1"]));
        var parallel = firsts.FirstOrDefault(r => !r.Executor.OnSlurm && r.Executor.Arguments.SequenceEqual(["--jobs", "2"]));
        if (serial is null || parallel is null)
        {
            return;
        }

        int jobs = serial.Rederived.Count();
        line("What the numbers say (medians):");
        line("");
        line(string.Create(CultureInfo.InvariantCulture, $"- Local: `--jobs 2` took {Wall(parallel):0.0} s against {Wall(serial):0.0} s with `--jobs 1` ({Wall(serial) / Wall(parallel):0.00}x): the fine-tunes are independent branches and the machine has 2 cores."));
        foreach (var slurm in firsts.Where(r => r.Executor.OnSlurm))
        {
            int atOnce = MostAtOnce(slurm);
            var match = atOnce <= 1 ? serial : parallel;
            double extra = Wall(slurm) - Wall(match);
            string why = atOnce <= 1 && jobs > 1
                ? " The jobs ran one at a time although the graph allowed more: each asked for no memory, so Slurm gave each the node's whole memory (see *Cluster* above)."
                : "";
            line(string.Create(CultureInfo.InvariantCulture,
                $"- {slurm.Executor.Label}: {Wall(slurm):0.0} s, at most {atOnce} job(s) at once; {extra:0.0} s more than local {string.Join(' ', match.Executor.Arguments)} for {jobs} jobs, about {extra / Math.Max(1, jobs):0.0} s per job.{why}"));
        }

        line("- A single-node cluster measures the scheduler's overhead, not a multi-node speed-up: per job, an sbatch call, Slurm starting the job (here a scheduling pass at least every second, `sched_interval=1`), a fresh mgit process that opens the repository, re-plans the cascade and checks out the parents, and mgit noticing the end (it polls every 2 s); against that, on a real cluster each branch could run on its own node at once.");
    }

    /// <summary>
    /// The Slurm cluster the cascades run on: one started for the run with tests/slurm/cluster.sh (and
    /// stopped when disposed), or one already running that --slurm-conf names (left running).
    /// </summary>
    private sealed class SlurmCluster : IDisposable
    {
        private readonly string? _script;
        private readonly string? _directory;

        private SlurmCluster(string conf, string? script, string? directory)
        {
            Conf = conf;
            _script = script;
            _directory = directory;
        }

        public string Conf { get; }

        public static SlurmCluster Start(string source)
        {
            string script = Path.Combine(source, "tests", "slurm", "cluster.sh");
            string directory = Directory.CreateTempSubdirectory("mgit-bench-slurm-").FullName;
            Console.Error.WriteLine($"cascade: starting a single-node Slurm cluster in {directory}");
            string printed = ChildProcess.Run("bash", script, "start", directory);
            string conf = printed.Split('\n').Select(l => l.Trim()).LastOrDefault(l => l.StartsWith("SLURM_CONF=", StringComparison.Ordinal))?["SLURM_CONF=".Length..]
                ?? throw new BenchException($"cluster.sh printed no SLURM_CONF line: {printed.Trim()}");
            return new SlurmCluster(conf, script, directory);
        }

        public static SlurmCluster Existing(string conf) =>
            File.Exists(conf) ? new SlurmCluster(conf, null, null) : throw new UsageException($"--slurm-conf: no file {conf}");

        /// <summary><c>scontrol -o show job ID</c> as KEY=VALUE fields, or null when the controller no longer knows the job.</summary>
        public Dictionary<string, string>? ShowJob(string jobId)
        {
            string? line = ChildProcess.TryRun(new Invocation("scontrol", ["--oneliner", "show", "job", jobId], Environment()));
            if (line is null)
            {
                return null;
            }

            var fields = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (string pair in line.Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries))
            {
                int equals = pair.IndexOf('=', StringComparison.Ordinal);
                if (equals > 0)
                {
                    fields.TryAdd(pair[..equals], pair[(equals + 1)..]);
                }
            }

            return fields;
        }

        /// <summary>The facts of slurm.conf that the timings depend on, and the Slurm version.</summary>
        public string Describe()
        {
            string slurmVersion = ChildProcess.TryRun(new Invocation("sinfo", ["--version"], Environment()))?.Trim() ?? "slurm (version unknown)";
            string[] wanted = ["NodeName", "SelectType", "SelectTypeParameters", "SchedulerType", "SchedulerParameters", "DefMemPerCPU", "DefMemPerNode"];
            var settings = File.ReadLines(Conf)
                .Select(l => l.Trim())
                .Where(l => wanted.Any(w => l.StartsWith(w + "=", StringComparison.Ordinal)))
                .Select(l => l.StartsWith("NodeName=", StringComparison.Ordinal) ? string.Join(' ', l.Split(' ').Where(f => !f.StartsWith("NodeName=", StringComparison.Ordinal) && !f.StartsWith("State=", StringComparison.Ordinal))) : l);
            string origin = _script is null ? $"already running (`--slurm-conf {Conf}`)" : "started for this run by `tests/slurm/cluster.sh`";
            var shown = settings.ToList();
            // With memory a consumable resource and no default per job, Slurm gives a job that asks for no memory all of the node's.
            bool wholeNodeMemory = shown.Any(l => l.Contains("Memory", StringComparison.Ordinal) && l.StartsWith("SelectTypeParameters=", StringComparison.Ordinal))
                && !shown.Any(l => l.StartsWith("DefMem", StringComparison.Ordinal));
            return $"{slurmVersion}, one node (this machine), {origin}; `{string.Join("`, `", shown)}`"
                + (wholeNodeMemory ? "; memory is a consumable resource and there is no DefMemPerCPU/DefMemPerNode, so a job that asks for no memory (`--mem`) is given the node's whole RealMemory and runs alone on the node" : "");
        }

        private Dictionary<string, string> Environment() => new() { ["SLURM_CONF"] = Conf };

        public void Dispose()
        {
            if (_script is not null && _directory is not null)
            {
                Console.Error.WriteLine($"cascade: stopping the Slurm cluster in {_directory}");
                if (ChildProcess.TryRun("bash", _script, "stop", _directory) is not null)
                {
                    // Only once its daemons are gone: the folder holds their state and sockets.
                    Directory.Delete(_directory, recursive: true);
                }
            }
        }
    }
}
