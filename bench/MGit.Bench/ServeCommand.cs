using System.Diagnostics;
using System.Globalization;
using System.Text;
using Microsoft.Playwright;

namespace MGit.Bench;

/// <summary>
/// <c>mgit serve</c> at scale: a seeded repository of N small models in families (roots, fine-tunes
/// of fine-tunes, prunes, casts, merges, chains of versions), then: how long <c>mgit serve</c> takes
/// to print its URL, how long the API's documents take, and in a real headless Chromium how long
/// the graph page takes to be laid out and how it answers search, zoom and pan.
/// </summary>
internal static class ServeCommand
{
    private static readonly string[] Operations = ["finetune", "finetune", "finetune", "prune", "quantize", "merge", "distill"];

    public static int Run(Arguments options, string[] commandLine)
    {
        string mgit = Path.GetFullPath(options.RequiredString("mgit"));
        string work = Path.GetFullPath(options.RequiredString("work"));
        int count = (int)options.Long("models", 2000, 2, 20000);
        int seed = (int)options.Long("seed", 1, 0, int.MaxValue);
        string chromium = options.String("chromium") ?? "/usr/bin/chromium";
        string? screenshot = options.String("screenshot");
        string? results = options.String("results");
        options.RejectUnused();

        string repo = Path.Combine(work, $"serve-{count}");
        var build = Stopwatch.StartNew();
        var (models, versions) = BuildRepository(repo, Path.Combine(work, "serve-models"), count, seed);
        Console.Error.WriteLine($"{models} models, {versions} versions stored in {build.Elapsed.TotalSeconds:0} s");

        var startups = new List<double>();
        for (int i = 0; i < 5; i++)
        {
            using var server = Server.Start(mgit, repo);
            startups.Add(server.StartupSeconds);
        }

        using var served = Server.Start(mgit, repo);
        var api = new List<(string Path, double Ms, long Bytes)>();
        using (var client = new HttpClient { BaseAddress = served.Address })
        {
            foreach (string path in new[] { "/api/graph", "/api/ls", "/api/stats", "/api/show?ref=m0100" })
            {
                var times = new List<double>();
                long bytes = 0;
                for (int i = 0; i < 5; i++)
                {
                    var stopwatch = Stopwatch.StartNew();
                    bytes = client.GetByteArrayAsync(path).GetAwaiter().GetResult().LongLength;
                    times.Add(stopwatch.Elapsed.TotalMilliseconds);
                }

                api.Add((path, Statistics.Median(times), bytes));
            }
        }

        var browser = MeasureBrowser(chromium, served.Address, screenshot).GetAwaiter().GetResult();
        var export = ChildProcess.Measure(Invocation.Mgit(mgit, ["-C", repo, "graph", "--format", "html", "-o", Path.Combine(work, "graph.html")]));
        long exportBytes = new FileInfo(Path.Combine(work, "graph.html")).Length;

        string report = Report(commandLine, work, models, versions, startups, api, browser, export.Seconds, exportBytes);
        Console.WriteLine(report);
        if (results is not null)
        {
            File.WriteAllText(results, report);
        }

        return 0;
    }

    /// <summary>Adds the family in this process (the library, as <c>mgit add</c> does).</summary>
    private static (int Models, int Versions) BuildRepository(string repo, string models, int count, int seed)
    {
        if (Directory.Exists(repo))
        {
            Directory.Delete(repo, recursive: true);
        }

        Directory.CreateDirectory(models);
        var random = new Random(seed);
        var names = new List<string>();
        using var repository = MGit.Repository.Init(repo, new MGit.Workspace.RepositoryOptions { FlushToDisk = false, Workers = 1 });
        for (int i = 0; names.Count < count; i++)
        {
            string name = $"m{names.Count:D4}";
            string file = WriteModel(models, name, random);
            MGit.Ingest.AddOptions add;
            if (i == 0 || random.Next(100) == 0)
            {
                add = new MGit.Ingest.AddOptions { Name = name, Type = $"family-{names.Count % 20}", Message = "pre-trained from scratch" };
            }
            else if (random.Next(6) == 0)
            {
                // A next version of an earlier model: the same name, a versioned edge.
                string of = names[random.Next(names.Count)];
                add = new MGit.Ingest.AddOptions { Name = of, VersionOf = of, Message = "retrained on more data" };
                repository.Add(file, add);
                continue;
            }
            else
            {
                string how = Operations[random.Next(Operations.Length)];
                var parents = how == "merge" && names.Count > 1 ? new[] { Recent(names, random), Recent(names, random) }.Distinct().ToArray() : [Recent(names, random)];
                add = new MGit.Ingest.AddOptions { Name = name, Parents = parents, How = how, Type = $"task-{random.Next(12)}", Message = $"{how} of {string.Join(" and ", parents)}" };
            }

            repository.Add(file, add);
            names.Add(name);
            if (names.Count % 500 == 0)
            {
                Console.Error.WriteLine($"{names.Count} models added");
            }
        }

        var graph = repository.Graph();
        return (graph.Versions.Select(v => v.Name).Distinct(StringComparer.Ordinal).Count(), graph.Versions.Count);
    }

    /// <summary>Families grow at their recent end: a parent among the last 200 models, as fine-tunes of fine-tunes do.</summary>
    private static string Recent(List<string> names, Random random) => names[Math.Max(0, names.Count - 1 - random.Next(Math.Min(200, names.Count)))];

    private static string WriteModel(string directory, string name, Random random)
    {
        var specs = new[] { new TensorSpec("encoder.weight", [16, 8], 0, 0.02f), new TensorSpec("head.weight", [4, 16], 0, 0.02f) };
        var entries = Safetensors.Layout(specs, Dtype.F32);
        string path = Path.Combine(directory, $"{name}.safetensors");
        using var file = File.Create(path);
        file.Write(Safetensors.Header(entries));
        foreach (var spec in specs)
        {
            for (long e = 0; e < spec.Elements; e++)
            {
                file.Write(BitConverter.GetBytes((float)(random.NextDouble() - 0.5) * spec.Std));
            }
        }

        return path;
    }

    private sealed record BrowserTimings(List<double> ReadyMs, double SearchMs, int SearchMatches, double ZoomMs, double FitMs, double PanFramesPerSecond, string Version);

    private static async Task<BrowserTimings> MeasureBrowser(string chromium, Uri address, string? screenshot)
    {
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions { ExecutablePath = chromium, Headless = true });
        var ready = new List<double>();
        IPage? page = null;
        for (int i = 0; i < 3; i++)
        {
            if (page is not null)
            {
                await page.CloseAsync();
            }

            page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1400, Height = 900 } });
            var stopwatch = Stopwatch.StartNew();
            await page.GotoAsync(address.ToString());
            await page.WaitForFunctionAsync("() => window.mgitReady === true", null, new PageWaitForFunctionOptions { Timeout = 300_000, PollingInterval = 20 });
            ready.Add(stopwatch.Elapsed.TotalMilliseconds);
        }

        if (screenshot is not null)
        {
            await page!.ScreenshotAsync(new PageScreenshotOptions { Path = screenshot });
        }

        var search = Stopwatch.StartNew();
        await page!.FillAsync("[data-testid=graph-search]", "m19");
        await page.WaitForFunctionAsync("() => (document.querySelector('[data-testid=graph-search-count]')?.textContent ?? '').match(/[1-9]/)", null, new PageWaitForFunctionOptions { Timeout = 60_000, PollingInterval = 10 });
        double searchMs = search.Elapsed.TotalMilliseconds;
        int matches = await page.EvaluateAsync<int>("() => window.mgitGraph.nodes(':selected').length");

        double zoomMs = await page.EvaluateAsync<double>(
            "() => new Promise(done => { const t = performance.now(); const cy = window.mgitGraph; cy.zoom({ level: cy.zoom() * 4, renderedPosition: { x: 700, y: 450 } }); requestAnimationFrame(() => requestAnimationFrame(() => done(performance.now() - t))); })");
        double fitMs = await page.EvaluateAsync<double>(
            "() => new Promise(done => { const t = performance.now(); window.mgitGraph.fit(); requestAnimationFrame(() => requestAnimationFrame(() => done(performance.now() - t))); })");
        double fps = await page.EvaluateAsync<double>(
            "() => new Promise(done => { const cy = window.mgitGraph; let frames = 0; const t = performance.now(); const tick = () => { frames++; if (performance.now() - t < 2000) { cy.panBy({ x: 3, y: 2 }); requestAnimationFrame(tick); } else { done(frames * 1000 / (performance.now() - t)); } }; requestAnimationFrame(tick); })");
        return new BrowserTimings(ready, searchMs, matches, zoomMs, fitMs, fps, browser.Version);
    }

    private static string Report(string[] commandLine, string work, int models, int versions, List<double> startups, List<(string Path, double Ms, long Bytes)> api, BrowserTimings browser, double exportSeconds, long exportBytes)
    {
        var machine = MachineInfo.Collect(work);
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"## mgit serve with {models} models");
        text.AppendLine();
        text.AppendLine(CultureInfo.InvariantCulture, $"- **Date:** {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC; machine: {machine.Cpu}, {machine.Cores} cores, {machine.Memory}; {machine.Runtime}; Chromium {browser.Version} (headless)");
        text.AppendLine(CultureInfo.InvariantCulture, $"- **Command:** `MGit.Bench {string.Join(' ', commandLine.Select(Invocation.Quote))}`");
        text.AppendLine(CultureInfo.InvariantCulture, $"- **Repository:** {models} models, {versions} versions (roots, fine-tunes of fine-tunes, prunes, casts, merges, chains of versions; seeded).");
        text.AppendLine();
        text.AppendLine("| what | median | |");
        text.AppendLine("| --- | ---: | --- |");
        text.AppendLine(CultureInfo.InvariantCulture, $"| `mgit serve` start to URL printed | {Statistics.Median(startups) * 1000:0} ms | 5 starts, max {startups.Max() * 1000:0} ms |");
        foreach (var (path, ms, bytes) in api)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"| GET `{path}` | {ms:0} ms | {bytes / 1024.0:0} KiB, 5 requests |");
        }

        text.AppendLine(CultureInfo.InvariantCulture, $"| graph page: open to laid out (`window.mgitReady`) | {Statistics.Median(browser.ReadyMs):0} ms | 3 loads, max {browser.ReadyMs.Max():0} ms |");
        text.AppendLine(CultureInfo.InvariantCulture, $"| search \"m19\" to matches selected | {browser.SearchMs:0} ms | {browser.SearchMatches} matches |");
        text.AppendLine(CultureInfo.InvariantCulture, $"| zoom in 4x, to the second frame drawn | {browser.ZoomMs:0} ms | |");
        text.AppendLine(CultureInfo.InvariantCulture, $"| fit the whole graph, to the second frame drawn | {browser.FitMs:0} ms | |");
        text.AppendLine(CultureInfo.InvariantCulture, $"| panning, frames per second | {browser.PanFramesPerSecond:0} | 2 s of panning by script |");
        text.AppendLine(CultureInfo.InvariantCulture, $"| `mgit graph --format html` | {exportSeconds * 1000:0} ms | {exportBytes / 1024.0:0} KiB file |");
        return text.ToString();
    }

    /// <summary>A running <c>mgit serve --port 0</c>; disposing kills it.</summary>
    private sealed class Server : IDisposable
    {
        private readonly Process _process;

        private Server(Process process, Uri address, double startupSeconds)
        {
            _process = process;
            Address = address;
            StartupSeconds = startupSeconds;
        }

        public Uri Address { get; }

        public double StartupSeconds { get; }

        public static Server Start(string mgit, string repo)
        {
            var invocation = Invocation.Mgit(mgit, ["-C", repo, "serve", "--port", "0"]);
            var start = new ProcessStartInfo(invocation.Program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (string argument in invocation.Arguments)
            {
                start.ArgumentList.Add(argument);
            }

            var stopwatch = Stopwatch.StartNew();
            var process = Process.Start(start) ?? throw new BenchException("could not start mgit serve");
            string? line = process.StandardOutput.ReadLine();
            double seconds = stopwatch.Elapsed.TotalSeconds;
            if (line is null || !line.StartsWith("serving ", StringComparison.Ordinal))
            {
                process.Kill();
                throw new BenchException($"mgit serve printed no URL: {process.StandardError.ReadToEnd().Trim()}");
            }

            return new Server(process, new Uri(line[(line.LastIndexOf(' ') + 1)..]), seconds);
        }

        public void Dispose()
        {
            _process.Kill();
            _process.WaitForExit();
            _process.Dispose();
        }
    }
}
