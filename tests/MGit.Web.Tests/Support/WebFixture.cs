using System.Text.Json;
using Microsoft.Playwright;

namespace MGit.Web.Tests.Support;

/// <summary>
/// One repository, one server, one browser for every browser test (a collection fixture, so test
/// classes share it instead of each building its own). Built once: the quickstart family
/// (<c>mgit quickstart</c>) with a registered test run over it (badges), served by
/// <c>mgit serve --port 0</c>; a second small repository holds the hostile names (the escaping
/// tests) behind a second server; Debian's Chromium, headless, driven by Playwright. Each test
/// takes a fresh page in a fresh context (its own cookies) from <see cref="NewPageAsync"/>.
/// </summary>
public sealed class WebFixture : IAsyncLifetime
{
    /// <summary>A model name that is HTML: a page that sets it with innerHTML runs the handler.</summary>
    public const string HostileName = "<img src=x onerror=alert(1)>";

    public const string HostileType = "<b>bold</b>";

    public const string HostileMessage = "<script>alert(2)</script>";

    public const string HostileMeta = "<svg onload=alert(3)>";

    /// <summary>The hostile model's child: quotes and an ampersand that a hand-built URL or attribute would break on.</summary>
    public const string HostileChild = "child\"&<i>";

    /// <summary>The child's message (on its edge too): closes a script element that inlines the graph as JSON, then runs a handler.</summary>
    public const string HostileEdgeMessage = "</script><img src=x onerror=alert(4)>";

    /// <summary>The quickstart's six versions.</summary>
    public static readonly string[] QuickstartRefs = ["penguin-base@1", "penguin-sex@1", "penguin-island@1", "penguin-base@2", "penguin-sex-pruned@1", "penguin-island-bf16@1"];

    private readonly string _root = Path.Combine(Path.GetTempPath(), "mgit-web-tests", Guid.NewGuid().ToString("N"));
    private IPlaywright? _playwright;
    private IBrowser? _browser;
    private ServeRun? _server;
    private ServeRun? _hostileServer;

    /// <summary>The quickstart folder: the repository (.mgit), models/ and checkout/ as the quickstart left them.</summary>
    public string Repository => Path.Combine(_root, "qs");

    /// <summary>The repository with the hostile names.</summary>
    public string HostileRepository => Path.Combine(_root, "hostile");

    public string Scratch => Path.Combine(_root, "scratch");

    public ServeRun Server => _server ?? throw new InvalidOperationException(Unavailable);

    public ServeRun HostileServer => _hostileServer ?? throw new InvalidOperationException(Unavailable);

    public IBrowser Browser => _browser ?? throw new InvalidOperationException(Unavailable);

    public HttpClient Http { get; } = new() { Timeout = TimeSpan.FromSeconds(30) };

    private static string Unavailable => BrowserFactAttribute.Chromium is null ? BrowserFactAttribute.NoChromium : "the web fixture did not start";

    public async Task InitializeAsync()
    {
        string? chromium = BrowserFactAttribute.Chromium;
        if (chromium is null)
        {
            if (BrowserFactAttribute.UnderCi)
            {
                throw new InvalidOperationException("CI is set but " + BrowserFactAttribute.NoChromium);
            }

            return;
        }

        Directory.CreateDirectory(Scratch);
        Microsoft.Playwright.Assertions.SetDefaultExpectTimeout(20_000);
        // The browser starts while the family trains.
        var browser = LaunchAsync(chromium);
        try
        {
            await Task.Run(BuildRepositories).ConfigureAwait(false);
            _server = await ServeRun.StartAsync(Repository).ConfigureAwait(false);
            _hostileServer = await ServeRun.StartAsync(HostileRepository).ConfigureAwait(false);
        }
        finally
        {
            // Kept for DisposeAsync, which closes it, whether or not the rest started.
            _browser = await browser.ConfigureAwait(false);
        }
    }

    private async Task<IBrowser> LaunchAsync(string chromium)
    {
        // Never fetch a browser: the one installed (Debian's chromium) is the one tested.
        Environment.SetEnvironmentVariable("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1");
        _playwright = await Microsoft.Playwright.Playwright.CreateAsync().ConfigureAwait(false);
        return await _playwright.Chromium.LaunchAsync(new() { ExecutablePath = chromium, Headless = true }).ConfigureAwait(false);
    }

    private void BuildRepositories()
    {
        Mgit.Ok(_root, "quickstart", Repository);

        // A test that prints {"kib": N}: the bf16 model (about 136 KiB) fails it, the others pass,
        // so the pages have both badges.
        string script = Path.Combine(_root, "size.sh");
        File.WriteAllText(script, "#!/bin/sh\nprintf '{\"kib\": %s}\\n' \"$(du -sk \"$1\" | cut -f1)\"\n");
        Mgit.Ok(Repository, "test", "add", "size", "--cmd", $"sh {script} {{model}}", "--pass", "kib > 200");
        string ran = Mgit.Exits(1, Repository, "test", "run", "--all");
        if (!ran.Contains("5 passed, 1 failed", StringComparison.Ordinal))
        {
            throw new InvalidOperationException("mgit test run --all: expected 5 passed, 1 failed (penguin-island-bf16@1):\n" + ran);
        }

        Directory.CreateDirectory(HostileRepository);
        Mgit.Ok(HostileRepository, "init");
        Mgit.Ok(HostileRepository, "add", Path.Combine(Repository, "models", "penguin-sex.safetensors"), "--name", HostileName, "--type", HostileType, "-m", HostileMessage, "--meta", "note=" + HostileMeta);
        Mgit.Ok(HostileRepository, "add", Path.Combine(Repository, "models", "penguin-sex-pruned.safetensors"), "--name", HostileChild, "--parent", HostileName + "@1", "--how", "prune", "-m", HostileEdgeMessage);
    }

    /// <summary>A fresh page (in its own context: no cookies from other tests) at 1400x900, downloads allowed.</summary>
    public async Task<BrowserPage> NewPageAsync()
    {
        var context = await Browser.NewContextAsync(new() { ViewportSize = new() { Width = 1400, Height = 900 }, AcceptDownloads = true }).ConfigureAwait(false);
        // Generous: CI runs these next to the other test assembly on a busy machine; a page that works
        // answers in well under a second, so only failures wait this long.
        context.SetDefaultTimeout(30_000);
        var page = await context.NewPageAsync().ConfigureAwait(false);
        return new BrowserPage(context, page);
    }

    /// <summary>An API document of the main server, read outside the browser (the expected values).</summary>
    public async Task<JsonElement> ApiAsync(string pathAndQuery)
    {
        string text = await Http.GetStringAsync(Server.Url(pathAndQuery)).ConfigureAwait(false);
        using var document = JsonDocument.Parse(text);
        return document.RootElement.Clone();
    }

    /// <summary>
    /// Takes a screenshot of the viewport. With MGIT_UPDATE_SCREENSHOTS=1 it becomes docs/images/NAME
    /// of the repository the tests were built from (the README's pictures); otherwise it goes to the
    /// temp folder, so a test run leaves the working tree as it was.
    /// </summary>
    public static async Task ScreenshotAsync(IPage page, string name)
    {
        string folder = Environment.GetEnvironmentVariable("MGIT_UPDATE_SCREENSHOTS") == "1"
            ? Path.Combine(RepositoryRoot(), "docs", "images")
            : Path.Combine(Path.GetTempPath(), "mgit-web-screenshots");
        Directory.CreateDirectory(folder);
        string file = Path.Combine(folder, name);
        await page.ScreenshotAsync(new() { Path = file }).ConfigureAwait(false);
        Assert.True(new FileInfo(file).Length > 1000, $"the screenshot {file} is empty");
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "MGit.slnx")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"no MGit.slnx above {AppContext.BaseDirectory}");
    }

    public async Task DisposeAsync()
    {
        if (_browser is not null)
        {
            await _browser.CloseAsync().ConfigureAwait(false);
        }

        _playwright?.Dispose();
        if (_server is not null)
        {
            await _server.DisposeAsync().ConfigureAwait(false);
        }

        if (_hostileServer is not null)
        {
            await _hostileServer.DisposeAsync().ConfigureAwait(false);
        }

        Http.Dispose();
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}

[CollectionDefinition(Name)]
public sealed class WebTestGroup : ICollectionFixture<WebFixture>
{
    public const string Name = "web";
}

/// <summary>
/// A browser test: skipped with the reason where no Chromium is installed, except under CI (CI
/// set), where it runs and fails, so CI never passes without the browser tests (.ci/run installs
/// Chromium and sets MGIT_TEST_CHROMIUM).
/// </summary>
public sealed class BrowserFactAttribute : FactAttribute
{
    public static string NoChromium =>
        Environment.GetEnvironmentVariable("MGIT_TEST_CHROMIUM") is { Length: > 0 } set
            ? $"no Chromium: MGIT_TEST_CHROMIUM={set} does not exist"
            : "no Chromium: install Debian's chromium (/usr/bin/chromium) or set MGIT_TEST_CHROMIUM (bash .ci/run installs it)";

    public BrowserFactAttribute()
    {
        if (Chromium is null && !UnderCi)
        {
            Skip = NoChromium;
        }
    }

    public static bool UnderCi => Environment.GetEnvironmentVariable("CI") is not null;

    /// <summary>$MGIT_TEST_CHROMIUM, else the system's chromium; null when there is none.</summary>
    public static string? Chromium =>
        Environment.GetEnvironmentVariable("MGIT_TEST_CHROMIUM") is { Length: > 0 } set ? (File.Exists(set) ? set : null)
        : new[] { "/usr/bin/chromium", "/usr/bin/chromium-browser" }.FirstOrDefault(File.Exists);
}
