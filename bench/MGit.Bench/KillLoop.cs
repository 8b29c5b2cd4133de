using System.Diagnostics;
using System.Globalization;

namespace MGit.Bench;

/// <summary>What the kill runs of one command found.</summary>
internal sealed class KillTally
{
    public required string Name { get; init; }
    public required string Command { get; init; }
    public double TypicalSeconds { get; set; }
    public int Runs { get; set; }
    public int Kills { get; set; }
    public int KillsAfterStartup { get; set; }
    public int InconsistentRuns { get; set; }
    public List<string> Problems { get; } = [];
    public int RunsWithTempAfterKill { get; set; }
    public int TempFilesAfterKill { get; set; }
    public int RunsWithLeftovers { get; set; }
    public SortedDictionary<string, int> LeftoverFiles { get; } = new(StringComparer.Ordinal);
}

/// <summary>
/// Kills mgit commands at seeded random moments and checks what they leave. Every run starts from
/// fresh copies of template repositories (and remotes), so one run's damage never shows up in
/// the next; every command works on the same paths, since repositories record their remotes'.
/// </summary>
internal sealed class KillLoop
{
    private const string TempFolderOfRepository = ".mgit/tmp";
    private const string TempFolderOfRemote = "remote tmp/";

    private readonly string _mgit;
    private readonly string _root;
    private readonly FaultFamily _family;
    private readonly RepositoryProbe _probe;
    private readonly string _templates;
    private readonly string _repo;
    private readonly string _remote;
    private readonly string _remoteUrl;
    private readonly string _target;
    private readonly string _remoteClone;

    public KillLoop(string mgit, string root, FaultFamily family)
    {
        _mgit = mgit;
        _root = root;
        _family = family;
        _templates = Path.Combine(root, "templates");
        string live = Path.Combine(root, "live");
        _repo = Path.Combine(live, "repo");
        _remote = Path.Combine(live, "remote");
        _remoteUrl = new Uri(_remote).AbsoluteUri;
        _target = Path.Combine(live, "target");
        _remoteClone = Path.Combine(live, "remote-clone");
        _probe = new RepositoryProbe(mgit, family, Path.Combine(live, "verify"));
    }

    /// <summary>One command to kill: how to set up before it, what to run, and what must hold after.</summary>
    private sealed record Scenario(
        string Name,
        Action Prepare,
        string[] Arguments,
        string[] RerunArguments,
        IReadOnlyList<string> Subjects,
        IReadOnlyDictionary<string, string>? CheckoutFiles = null,
        Func<Outcome, bool>? RerunMayFail = null);

    private const string Local = "the repository";
    private const string Remote = "a fresh clone of the remote";

    /// <summary>
    /// The templates, built once with the mgit under test: a remote with base@1 and ft-a@1 and a
    /// clone of it; the repository that pushed it, grown by ft-b@1 and base@2; the remote after
    /// that repository's push; and a copy with other@1 and ft-b@1 removed, for gc to collect.
    /// </summary>
    public void BuildTemplates()
    {
        RepositoryProbe.Reset(_templates);
        RepositoryProbe.Reset(Path.GetDirectoryName(_repo)!);
        Directory.CreateDirectory(_templates);
        Must("init", _repo, "-q");
        Must("-C", _repo, "add", _family.Base, "--name", "base", "-q");
        Must("-C", _repo, "add", _family.FinetuneA, "--parent", "base@1", "--name", "ft-a", "-q");
        Must("-C", _repo, "remote", "add", "origin", _remoteUrl);
        Must("-C", _repo, "push", "-q");
        Copy(_remote, Template("remote-old"));
        string clone = Path.Combine(_root, "live", "clone");
        Must("clone", _remoteUrl, clone, "-q");
        Copy(clone, Template("clone-old"));
        RepositoryProbe.Reset(clone);

        Must("-C", _repo, "add", _family.FinetuneB, "--parent", "base@1", "--name", "ft-b", "-q");
        Must("-C", _repo, "add", _family.BaseV2, "--version-of", "base", "-q");
        Copy(_repo, Template("repo"));
        Must("-C", _repo, "push", "-q");
        Copy(_remote, Template("remote-new"));

        Must("-C", _repo, "add", _family.Unrelated, "--name", "other", "-q");
        Must("-C", _repo, "rm", "other", "-q");
        Must("-C", _repo, "rm", "ft-b", "-q");
        Copy(_repo, Template("repo-gc"));
        RepositoryProbe.Reset(_repo);
        RepositoryProbe.Reset(_remote);
    }

    /// <summary>Kills each command <paramref name="runs"/> times; the kill delays come from <paramref name="seed"/>.</summary>
    public List<KillTally> RunAll(int runs, ulong seed, double startupSeconds)
    {
        var checkoutOne = new Dictionary<string, string>(StringComparer.Ordinal) { ["ft-b.safetensors"] = _family.FinetuneB };
        var checkoutThree = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            [Path.Combine("family", "base@1", "base.safetensors")] = _family.Base,
            [Path.Combine("family", "ft-a@1", "ft-a.safetensors")] = _family.FinetuneA,
            [Path.Combine("family", "ft-b@1", "ft-b.safetensors")] = _family.FinetuneB,
        };
        string[] checkoutOneArguments = ["-C", _repo, "checkout", "ft-b@1", "-o", Path.Combine(_target, "ft-b.safetensors"), "-q"];
        string[] checkoutThreeArguments = ["-C", _repo, "checkout", "base@1", "ft-a@1", "ft-b@1", "-o", Path.Combine(_target, "family"), "-q"];
        string[] add = ["-C", _repo, "add", _family.Extra, "--parent", "base@2", "--name", "extra", "-q"];
        Scenario[] scenarios =
        [
            // A rerun of an add that had already committed is refused by name: that is the right answer.
            new("add", () => Fresh("repo"), add, add, [Local], RerunMayFail: o => o.ExitCode == 1 && o.Error.Contains("already exists", StringComparison.Ordinal)),
            new("gc", () => Fresh("repo-gc"), ["-C", _repo, "gc", "-q"], ["-C", _repo, "gc", "-q"], [Local]),
            new("push", () => Fresh("repo", "remote-old"), ["-C", _repo, "push", "-q"], ["-C", _repo, "push", "-q"], [Local, Remote]),
            new("pull", () => Fresh("clone-old", "remote-new"), ["-C", _repo, "pull", "-q"], ["-C", _repo, "pull", "-q"], [Local]),
            new("checkout", () => Fresh("repo"), checkoutOneArguments, [.. checkoutOneArguments, "--force"], [Local], checkoutOne),
            new("checkout of 3 models", () => Fresh("repo"), checkoutThreeArguments, [.. checkoutThreeArguments, "--force"], [Local], checkoutThree),
        ];
        return scenarios.Select((scenario, stream) => Run(scenario, runs, seed, stream, startupSeconds)).ToList();
    }

    /// <summary>The command as the report shows it: mgit and the work folder's paths shortened.</summary>
    private string Display(IEnumerable<string> arguments) =>
        "mgit " + string.Join(' ', arguments.Select(Invocation.Quote)).Replace(_root, "$FAULTS", StringComparison.Ordinal);

    private KillTally Run(Scenario scenario, int runs, ulong seed, int stream, double startupSeconds)
    {
        var tally = new KillTally { Name = scenario.Name, Command = Display(scenario.Arguments) };
        var invocation = Invocation.Mgit(_mgit, scenario.Arguments);

        // Two uninterrupted runs: the states the command goes between, and how long it takes.
        var before = new Dictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal);
        var after = new Dictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal);
        var seconds = new List<double>();
        for (int reference = 0; reference < 2; reference++)
        {
            scenario.Prepare();
            if (reference == 0)
            {
                foreach (string subject in scenario.Subjects)
                {
                    before[subject] = ListingOf(subject);
                }
            }

            var outcome = ChildProcess.Attempt(invocation);
            if (!outcome.Succeeded)
            {
                throw new BenchException($"`{tally.Command}` fails without any fault (exit {outcome.ExitCode}): {outcome.Message}");
            }

            seconds.Add(outcome.Seconds);
            if (reference == 0)
            {
                foreach (string subject in scenario.Subjects)
                {
                    after[subject] = ListingOf(subject);
                }
            }
        }

        tally.TypicalSeconds = seconds.Average();
        var clock = Stopwatch.StartNew();
        var random = new Xoshiro256(seed, 0xFA_0000 + (ulong)stream, 0);
        for (int run = 1; run <= runs; run++)
        {
            scenario.Prepare();
            double delay = random.NextDouble() * tally.TypicalSeconds;
            var outcome = ChildProcess.Attempt(invocation, TimeSpan.FromSeconds(delay));
            tally.Runs++;
            var problems = new List<string>();
            string how;
            if (outcome.Killed)
            {
                tally.Kills++;
                tally.KillsAfterStartup += delay > startupSeconds ? 1 : 0;
                how = Format($"killed at {delay:0.000} s");
            }
            else
            {
                how = Format($"finished in {outcome.Seconds:0.000} s, before the kill at {delay:0.000} s");
                if (outcome.ExitCode != 0)
                {
                    problems.Add($"it failed on its own (exit {outcome.ExitCode}): {outcome.Message}");
                }
            }

            // Temporary files are counted before the checks, whose own mgit commands might clean them.
            int tempAfterKill = TempFiles().Values.Sum();
            CheckState(scenario, state => [before[state], after[state]], problems, "after the kill", afterRerun: false, out int partials);
            tempAfterKill += partials;
            tally.TempFilesAfterKill += tempAfterKill;
            tally.RunsWithTempAfterKill += tempAfterKill > 0 ? 1 : 0;

            var rerun = ChildProcess.Attempt(Invocation.Mgit(_mgit, scenario.RerunArguments));
            if (!rerun.Succeeded && scenario.RerunMayFail?.Invoke(rerun) != true)
            {
                problems.Add($"the rerun `{Display(scenario.RerunArguments)}` exited with {rerun.ExitCode}: {rerun.Message}");
            }

            var leftovers = TempFiles();
            CheckState(scenario, state => [after[state]], problems, "after the rerun", afterRerun: true, out _);
            foreach (var (place, count) in leftovers.Where(l => l.Value > 0))
            {
                tally.LeftoverFiles[place] = tally.LeftoverFiles.GetValueOrDefault(place) + count;
            }

            tally.RunsWithLeftovers += leftovers.Values.Sum() > 0 ? 1 : 0;
            if (problems.Count > 0)
            {
                tally.InconsistentRuns++;
                tally.Problems.AddRange(problems.Select(p => $"run {run} ({how}): {p}"));
            }

            if (run % 5 == 0 || run == runs)
            {
                Console.Error.WriteLine(Format($"{scenario.Name}: {run}/{runs} runs, {tally.Kills} killed, {tally.InconsistentRuns} inconsistent ({clock.Elapsed.TotalSeconds:0} s)"));
            }
        }

        return tally;
    }

    /// <summary>Checks every subject (the repository, the remote through a fresh clone) and, for a checkout, its target folder.</summary>
    private void CheckState(Scenario scenario, Func<string, IReadOnlyList<string>[]> allowed, List<string> problems, string label, bool afterRerun, out int partials)
    {
        foreach (string subject in scenario.Subjects)
        {
            var states = allowed(subject).DistinctBy(s => string.Join('\n', s)).ToList();
            string? repository = Open(subject, problems, label);
            if (repository is not null)
            {
                _probe.Check(repository, states, problems, subject == Local ? label : $"{label}, {subject}");
            }
        }

        partials = scenario.CheckoutFiles is { } files ? CheckTarget(files, problems, label, afterRerun) : 0;
    }

    /// <summary>
    /// What a checkout left in its target: files under their final names must be whole and
    /// byte-identical. A killed checkout cannot delete its PATH.mgit-partial-PID files (counted,
    /// and allowed until the next checkout of that path); after the rerun, anything but the
    /// expected files is a stray file.
    /// </summary>
    private int CheckTarget(IReadOnlyDictionary<string, string> expected, List<string> problems, string label, bool afterRerun)
    {
        int partials = 0;
        var files = Directory.Exists(_target)
            ? Directory.EnumerateFiles(_target, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(_target, f)).Order(StringComparer.Ordinal).ToList()
            : [];
        foreach (string file in files)
        {
            if (expected.TryGetValue(file, out string? original))
            {
                if (!RepositoryProbe.SameBytes(original, Path.Combine(_target, file)))
                {
                    problems.Add($"{label}: {file} is in the checkout target but not byte-identical to its original");
                }
            }
            else if (!afterRerun && file.Contains(".mgit-partial-", StringComparison.Ordinal))
            {
                partials++;
            }
            else
            {
                problems.Add($"{label}: stray file {file} in the checkout target");
            }
        }

        if (afterRerun)
        {
            foreach (string missing in expected.Keys.Except(files, StringComparer.Ordinal))
            {
                problems.Add($"{label}: {missing} is missing from the checkout target");
            }
        }

        return partials;
    }

    /// <summary>The repository to check for a subject: the one the command ran in, or a fresh clone of the remote (null when cloning fails).</summary>
    private string? Open(string subject, List<string> problems, string label)
    {
        if (subject == Local)
        {
            return _repo;
        }

        RepositoryProbe.Reset(_remoteClone);
        var clone = _probe.Instrument("clone", _remoteUrl, _remoteClone, "-q");
        if (clone.ExitCode != 0)
        {
            problems.Add($"{label}: `mgit clone` of the remote exited with {clone.ExitCode}: {clone.Message}");
            return null;
        }

        return _remoteClone;
    }

    private IReadOnlyList<string> ListingOf(string subject)
    {
        var problems = new List<string>();
        string repository = Open(subject, problems, "before any fault") ?? throw new BenchException(problems[0]);
        return _probe.Listing(repository, out string failure) ?? throw new BenchException($"`mgit ls --json` fails without any fault: {failure}");
    }

    /// <summary>Files in the temporary folders mgit writes through: the repository's and a file:// remote's.</summary>
    private Dictionary<string, int> TempFiles() => new(StringComparer.Ordinal)
    {
        [TempFolderOfRepository] = CountFiles(Path.Combine(_repo, ".mgit", "tmp")),
        [TempFolderOfRemote] = CountFiles(Path.Combine(_remote, "tmp")),
    };

    private static int CountFiles(string folder) =>
        Directory.Exists(folder) ? Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories).Count() : 0;

    /// <summary>Fresh copies of templates at the live paths: the repository first, then the remote; an empty checkout target.</summary>
    private void Fresh(string repository, string? remote = null)
    {
        RepositoryProbe.Reset(_repo);
        RepositoryProbe.Reset(_remote);
        RepositoryProbe.Reset(_target);
        RepositoryProbe.Reset(_remoteClone);
        Copy(Template(repository), _repo);
        if (remote is not null)
        {
            Copy(Template(remote), _remote);
        }

        Directory.CreateDirectory(_target);
    }

    private string Template(string name) => Path.Combine(_templates, name);

    private static void Copy(string from, string to) => ChildProcess.Run("cp", "-a", from, to);

    private void Must(params string[] arguments) => ChildProcess.Run(Invocation.Mgit(_mgit, arguments));

    private static string Format(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
