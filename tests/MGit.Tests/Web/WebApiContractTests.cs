using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using MGit.Cli;
using MGit.Cli.Web;
using MGit.Tests.TestSupport;
using MGit.Workspace;

namespace MGit.Tests.Web;

/// <summary>
/// The quickstart's family (plus one model whose name, message and metadata are markup, and a
/// test with recorded results), served by <c>mgit serve</c> itself, in-process, on a free port.
/// </summary>
public sealed class ServedFamilyFixture : IAsyncLifetime, IDisposable
{
    public const string HostileName = "<img src=x onerror=alert(1)>";

    private readonly TempDirectory _dir = new();
    private readonly Interruption _interruption = new();
    private Task<int>? _serving;

    public string Repository => Path.Combine(_dir.Path, "family");

    public Uri Address { get; private set; } = null!;

    public HttpClient Client { get; } = new();

    public async Task InitializeAsync()
    {
        CliRunner.Ok(_dir.Path, "quickstart", "family");
        string script = _dir.File("size-test.sh");
        File.WriteAllText(script, "#!/bin/sh\nkib=$(du -sk \"$1\" | cut -f1)\necho \"{\\\"kib\\\": $kib}\"\n");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(script, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        CliRunner.Ok(Repository, "test", "add", "size", "--cmd", script + " {model}", "--pass", "kib < 200");
        CliRunner.Ok(Repository, "add", Path.Combine(Repository, "models", "penguin-sex.safetensors"), "--name", HostileName,
            "--parent", "penguin-sex", "--how", "other", "-m", "<script>alert(2)</script>", "--meta", "note=<b>bold</b>");
        CliRunner.Run(Repository, "test", "run", "--all");

        // The real command, as a user starts it; the interruption stands in for Ctrl-C.
        var output = new StringWriter();
        var context = new CliContext(TextWriter.Synchronized(output), TextWriter.Null, Repository, name => name == "MGIT_FSYNC" ? "0" : null, ErrorIsTerminal: false) { Interruption = _interruption };
        _serving = Task.Run(() => MGitCli.Run(["serve", "--port", "0"], context));
        for (int i = 0; i < 600 && !output.ToString().Contains('\n', StringComparison.Ordinal); i++)
        {
            Assert.False(_serving.IsCompleted, $"mgit serve exited: {output}");
            await Task.Delay(50);
        }

        string line = output.ToString().Trim();
        Assert.StartsWith($"serving {Repository} at http://127.0.0.1:", line, StringComparison.Ordinal);
        Address = new Uri(line[(line.LastIndexOf(' ') + 1)..]);
    }

    public async Task DisposeAsync()
    {
        Client.Dispose();
        _interruption.Interrupt();
        if (_serving is not null)
        {
            Assert.Equal(0, await _serving.WaitAsync(TimeSpan.FromSeconds(30)));
        }
    }

    public void Dispose()
    {
        _interruption.Dispose();
        _dir.Dispose();
    }

    /// <summary>What the command prints with --json, parsed.</summary>
    public JsonNode Cli(params string[] args) => JsonNode.Parse(CliRunner.Ok(Repository, [.. args, "--json"]).Out)!;

    public async Task<(HttpStatusCode Status, string Body, HttpResponseMessage Response)> GetAsync(string path, Action<HttpRequestMessage>? configure = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(Address, path));
        configure?.Invoke(request);
        var response = await Client.SendAsync(request);
        return (response.StatusCode, await response.Content.ReadAsStringAsync(), response);
    }

    public async Task<JsonNode> ApiAsync(string path)
    {
        var (status, body, _) = await GetAsync(path);
        Assert.True(status == HttpStatusCode.OK, $"{path}: {(int)status} {body}");
        return JsonNode.Parse(body)!;
    }
}

public sealed class WebApiContractTests(ServedFamilyFixture served) : IClassFixture<ServedFamilyFixture>
{
    [Theory]
    [InlineData("/api/ls", new[] { "ls" })]
    [InlineData("/api/stats", new[] { "stats" })]
    [InlineData("/api/show?ref=penguin-sex", new[] { "show", "penguin-sex" })]
    [InlineData("/api/show?ref=penguin-base%401", new[] { "show", "penguin-base@1" })]
    [InlineData("/api/recipe?ref=penguin-sex-pruned", new[] { "recipe", "show", "penguin-sex-pruned" })]
    [InlineData("/api/diff?a=penguin-base%401&b=penguin-island", new[] { "diff", "penguin-base@1", "penguin-island" })]
    [InlineData("/api/tests?ref=penguin-sex", new[] { "test", "show", "penguin-sex" })]
    public async Task Each_api_document_is_the_one_the_command_prints_with_json(string path, string[] command)
    {
        var api = await served.ApiAsync(path);
        var cli = served.Cli(command);
        Assert.True(JsonNode.DeepEquals(cli, api), $"{path} differs from mgit {string.Join(' ', command)} --json:\n{api.ToJsonString()[..Math.Min(2000, api.ToJsonString().Length)]}");
    }

    [Fact]
    public async Task The_graph_document_is_graph_format_json_with_sizes_lossiness_and_test_status()
    {
        var api = await served.ApiAsync("/api/graph");
        var cli = JsonNode.Parse(CliRunner.Ok(served.Repository, "graph", "--format", "json").Out)!;
        Assert.True(JsonNode.DeepEquals(cli, api), "/api/graph differs from mgit graph --format json");

        var nodes = api["nodes"]!.AsArray().ToDictionary(n => n!["ref"]!.GetValue<string>());
        Assert.Equal(7, nodes.Count);
        var bf16 = nodes["penguin-island-bf16@1"]!;
        Assert.Equal("passed", bf16["test_status"]!.GetValue<string>());
        Assert.Equal(1, bf16["tests"]!["passed"]!.GetValue<int>());
        Assert.Equal("failed", nodes["penguin-base@1"]!["test_status"]!.GetValue<string>());
        Assert.All(nodes.Values, n => Assert.True(n!["logical_bytes"]!.GetValue<long>() > 100_000));
        var edges = api["edges"]!.AsArray();
        Assert.Contains(edges, e => e!["parent"]!.GetValue<string>() == "penguin-sex@1" && e["child"]!.GetValue<string>() == "penguin-sex-pruned@1" && e["how"]!.GetValue<string>() == "prune");
        Assert.Contains(edges, e => e!["child"]!.GetValue<string>() == "penguin-base@2" && e["kind"]!.GetValue<string>() == "versioned");
    }

    [Fact]
    public async Task The_repository_document_names_the_folder_only()
    {
        var repository = await served.ApiAsync("/api/repository");
        Assert.Equal("family", repository["name"]!.GetValue<string>());
        Assert.Single(repository.AsObject());
    }

    [Fact]
    public async Task A_file_download_is_the_byte_exact_file_checkout_writes()
    {
        var (status, _, response) = await served.GetAsync("/api/file?ref=penguin-base%401&path=model.safetensors");
        Assert.Equal(HttpStatusCode.OK, status);
        byte[] served1 = await response.Content.ReadAsByteArrayAsync();
        Assert.Equal("attachment", response.Content.Headers.ContentDisposition?.DispositionType);
        Assert.Equal("model.safetensors", response.Content.Headers.ContentDisposition?.FileNameStar);
        Assert.Equal(served1.Length, response.Content.Headers.ContentLength);

        using var checkout = new TempDirectory();
        string target = Path.Combine(checkout.Path, "base");
        CliRunner.Ok(served.Repository, "checkout", "penguin-base@1", "-o", target);
        Assert.Equal(SHA256.HashData(File.ReadAllBytes(Path.Combine(target, "model.safetensors"))), SHA256.HashData(served1));
    }

    [Theory]
    [InlineData("/api/file?ref=penguin-base%401&path=../../.mgit/config", HttpStatusCode.NotFound, "has no file '../../.mgit/config'")]
    [InlineData("/api/file?ref=penguin-base%401&path=%2Fetc%2Fpasswd", HttpStatusCode.NotFound, "has no file '/etc/passwd'")]
    [InlineData("/api/file?ref=penguin-base%401", HttpStatusCode.BadRequest, "has 3 files: name one with path=")]
    [InlineData("/api/show?ref=nope", HttpStatusCode.NotFound, "no model named 'nope'")]
    [InlineData("/api/show?ref=penguin-sex%4099", HttpStatusCode.NotFound, "penguin-sex")]
    [InlineData("/api/show?ref=a%40b%40c", HttpStatusCode.BadRequest, "cannot contain '@'")]
    [InlineData("/api/show", HttpStatusCode.BadRequest, "missing parameter 'ref'")]
    [InlineData("/api/diff?a=penguin-sex", HttpStatusCode.BadRequest, "missing parameter 'b'")]
    [InlineData("/api/nothing", HttpStatusCode.NotFound, "no page at /api/nothing")]
    public async Task Bad_requests_get_a_one_line_json_error_and_the_right_status(string path, HttpStatusCode expected, string message)
    {
        var (status, body, response) = await served.GetAsync(path);
        Assert.Equal(expected, status);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        string error = JsonNode.Parse(body)!["error"]!.GetValue<string>();
        Assert.Contains(message, error, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', error);
        Assert.DoesNotContain("   at ", body, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("/", HttpStatusCode.OK)]
    [InlineData("/graph", HttpStatusCode.OK)]
    [InlineData("/storage", HttpStatusCode.OK)]
    [InlineData("/diff", HttpStatusCode.OK)]
    [InlineData("/model?ref=penguin-sex", HttpStatusCode.OK)]
    [InlineData("/diff?a=penguin-sex&b=penguin-base", HttpStatusCode.OK)]
    [InlineData("/model?ref=nope", HttpStatusCode.NotFound)]
    [InlineData("/diff?a=penguin-sex&b=nope", HttpStatusCode.NotFound)]
    [InlineData("/assets/../../../../etc/passwd", HttpStatusCode.NotFound)]
    [InlineData("/assets/%2e%2e/%2e%2e/etc/passwd", HttpStatusCode.NotFound)]
    [InlineData("/.mgit/mgit.db", HttpStatusCode.NotFound)]
    public async Task Pages_answer_with_the_shell_or_404_and_never_serve_a_path_on_disk(string path, HttpStatusCode expected)
    {
        var (status, body, response) = await served.GetAsync(path);
        Assert.Equal(expected, status);
        Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
        Assert.DoesNotContain("root:", body, StringComparison.Ordinal);
        Assert.DoesNotContain("SQLite format", body, StringComparison.Ordinal);
        Assert.Contains("default-src 'self'", response.Headers.GetValues("Content-Security-Policy").Single(), StringComparison.Ordinal);
        Assert.Equal("nosniff", response.Headers.GetValues("X-Content-Type-Options").Single());
    }

    [Fact]
    public async Task Untrusted_text_comes_back_as_data_not_markup()
    {
        var show = await served.ApiAsync("/api/show?ref=" + Uri.EscapeDataString(ServedFamilyFixture.HostileName));
        Assert.Equal(ServedFamilyFixture.HostileName, show["name"]!.GetValue<string>());
        Assert.Equal("<script>alert(2)</script>", show["message"]!.GetValue<string>());

        // A request naming the hostile model on a page: the page is the fixed shell, the name appears nowhere in it.
        var (status, body, _) = await served.GetAsync("/model?ref=" + Uri.EscapeDataString(ServedFamilyFixture.HostileName));
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.DoesNotContain("onerror", body, StringComparison.Ordinal);

        // An error message quoting markup is HTML-encoded on an error page.
        var (notFound, errorPage, _) = await served.GetAsync("/nope<script>alert(3)</script>");
        Assert.Equal(HttpStatusCode.NotFound, notFound);
        Assert.DoesNotContain("<script>alert(3)", errorPage, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Without_a_token_only_requests_addressed_to_loopback_are_answered()
    {
        // A page on another site that resolves its own name to 127.0.0.1 (DNS rebinding) sends its own Host.
        var (status, body, _) = await served.GetAsync("/api/ls", r => r.Headers.Host = "evil.example");
        Assert.Equal(HttpStatusCode.Forbidden, status);
        Assert.Contains("localhost", body, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, (await served.GetAsync("/api/ls", r => r.Headers.Host = $"localhost:{served.Address.Port}")).Status);
    }

    [Fact]
    public async Task The_static_graph_page_inlines_everything_and_escapes_names()
    {
        using var dir = new TempDirectory();
        string file = dir.File("graph.html");
        CliRunner.Ok(served.Repository, "graph", "--format", "html", "-o", file);
        string html = File.ReadAllText(file);
        Assert.DoesNotContain("src=\"/assets/", html, StringComparison.Ordinal);
        Assert.DoesNotContain("href=\"/assets/", html, StringComparison.Ordinal);
        Assert.DoesNotContain(ServedFamilyFixture.HostileName, html, StringComparison.Ordinal);
        Assert.DoesNotContain("<script>alert(2)", html, StringComparison.Ordinal);
        Assert.Contains("window.MGIT_STATIC", html, StringComparison.Ordinal);
        Assert.Contains("\\u003Cimg src=x onerror=alert(1)\\u003E", html, StringComparison.Ordinal);

        // The data inlined is the graph document itself.
        int start = html.IndexOf("window.MGIT_STATIC = ", StringComparison.Ordinal) + "window.MGIT_STATIC = ".Length;
        int end = html.IndexOf(";</script>", start, StringComparison.Ordinal);
        var inlined = JsonNode.Parse(html[start..end])!;
        Assert.True(JsonNode.DeepEquals(await served.ApiAsync("/api/graph"), inlined["graph"]));
    }
}

/// <summary>A server that needs its token: everything without it is 401, with it the same as on loopback.</summary>
public sealed class WebTokenTests : IAsyncLifetime, IDisposable
{
    private const string Secret = "s3cret-token";
    private readonly TempDirectory _dir = new();
    private WebServer? _server;

    public async Task InitializeAsync()
    {
        CliRunner.Ok(_dir.Path, "init");
        string model = RawSafetensors.Write(_dir.File("m.safetensors"), [RawSafetensors.Random("w", "F32", [8, 8], 1)]);
        CliRunner.Ok(_dir.Path, "add", model);
        _server = await WebServer.StartAsync(new WebServerOptions(_dir.Path, new RepositoryOptions { FlushToDisk = false }, IPAddress.Loopback, 0, Secret), CancellationToken.None);
    }

    public async Task DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Every_request_without_the_token_is_401_and_the_token_opens_pages_and_api()
    {
        using var handler = new HttpClientHandler { AllowAutoRedirect = false, UseCookies = false };
        using var client = new HttpClient(handler) { BaseAddress = _server!.Address };
        foreach (string path in new[] { "/", "/api/ls", "/assets/app.js", "/model?ref=m", "/api/file?ref=m" })
        {
            using var anonymous = await client.GetAsync(path);
            Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
            Assert.Equal("Bearer", anonymous.Headers.WwwAuthenticate.Single().Scheme);
        }

        using var wrong = new HttpRequestMessage(HttpMethod.Get, "/api/ls") { Headers = { Authorization = new AuthenticationHeaderValue("Bearer", Secret + "x") } };
        Assert.Equal(HttpStatusCode.Unauthorized, (await client.SendAsync(wrong)).StatusCode);

        using var bearer = new HttpRequestMessage(HttpMethod.Get, "/api/ls") { Headers = { Authorization = new AuthenticationHeaderValue("Bearer", Secret) } };
        using var listed = await client.SendAsync(bearer);
        Assert.Equal(HttpStatusCode.OK, listed.StatusCode);
        Assert.Equal("m@1", JsonNode.Parse(await listed.Content.ReadAsStringAsync())![0]!["ref"]!.GetValue<string>());

        // The printed URL carries the token once: the answer sets it as a strict, script-proof cookie and drops it from the address.
        using var opened = await client.GetAsync($"/model?ref=m&token={Secret}");
        Assert.Equal(HttpStatusCode.Redirect, opened.StatusCode);
        Assert.Equal("/model?ref=m", opened.Headers.Location!.OriginalString);
        string cookie = opened.Headers.GetValues("Set-Cookie").Single();
        Assert.StartsWith($"mgit_token={Secret}", cookie, StringComparison.Ordinal);
        Assert.Contains("httponly", cookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("samesite=strict", cookie, StringComparison.OrdinalIgnoreCase);

        using var withCookie = new HttpRequestMessage(HttpMethod.Get, "/api/show?ref=m") { Headers = { { "Cookie", $"mgit_token={Secret}" } } };
        Assert.Equal(HttpStatusCode.OK, (await client.SendAsync(withCookie)).StatusCode);

        // The API never takes the token from the address (it would end up in logs and histories).
        Assert.Equal(HttpStatusCode.Unauthorized, (await client.GetAsync($"/api/ls?token={Secret}")).StatusCode);
    }

    [Theory]
    [InlineData("0.0.0.0")]
    [InlineData("::")]
    [InlineData("192.168.1.10")]
    public void Binding_beyond_loopback_needs_a_token(string host)
    {
        var result = CliRunner.Run(_dir.Path, "serve", "--host", host, "--port", "0");
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("give --token", result.Error, StringComparison.Ordinal);
        Assert.Single(result.Error.Trim().Split('\n'));
    }

    [Theory]
    [InlineData(new[] { "serve", "--host", "example.org" }, "not an IP address")]
    [InlineData(new[] { "serve", "--port", "70000" }, "a port is 0 to 65535")]
    public void Bad_serve_options_are_one_line_errors(string[] args, string message)
    {
        var result = CliRunner.Run(_dir.Path, args);
        Assert.Equal(1, result.ExitCode);
        Assert.Contains(message, result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void Serve_outside_a_repository_is_refused_before_binding()
    {
        using var empty = new TempDirectory();
        var result = CliRunner.Run(empty.Path, "serve", "--port", "0");
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("not an mgit repository", result.Error, StringComparison.OrdinalIgnoreCase);
    }
}
