using System.Security.Cryptography;
using MGit.Web.Tests.Support;
using static Microsoft.Playwright.Assertions;

namespace MGit.Web.Tests;

[Collection(WebTestGroup.Name)]
public sealed class ModelPageTests(WebFixture web)
{
    [BrowserFact]
    public async Task The_model_page_shows_parents_tensors_and_tests_and_compares_with_the_parent()
    {
        var show = await web.ApiAsync("/api/show?ref=penguin-sex%401");
        string[] tensors = [.. show.Items("tensors").Select(t => t.GetProperty("name").GetString()!)];
        Assert.Equal(6, tensors.Length);

        await using var session = await web.NewPageAsync();
        var page = session.Page;
        var response = await page.GotoAsync(web.Server.Url(Pages.ModelUrl("penguin-sex@1")));
        Assert.Equal(200, response!.Status);
        await Expect(page.GetByTestId("model-title")).ToHaveTextAsync(Pages.Whole("penguin-sex@1"));
        await Expect(page.GetByTestId("model-type")).ToContainTextAsync("sex");
        await Expect(page.GetByTestId("model-message")).ToContainTextAsync("Fine-tune penguin-base to predict sex");
        await Expect(page.GetByTestId("model-tests")).ToContainTextAsync("size");
        await WebFixture.ScreenshotAsync(page, "serve-model.png");

        var parents = page.GetByTestId("model-parents");
        await Expect(parents).ToContainTextAsync("finetune");
        string?[] parentRefs = [.. (await parents.Locator("a").EvaluateAllAsync<string[]>("links => links.map(a => a.getAttribute('href'))")).Select(h => Pages.PathOf(h) == "/model" ? Pages.Query(h, "ref") : null)];
        Assert.Equal(new[] { "penguin-base@1" }, parentRefs);
        string?[] childRefs = [.. (await page.GetByTestId("model-children").Locator("a").EvaluateAllAsync<string[]>("links => links.map(a => a.getAttribute('href'))")).Select(h => Pages.Query(h, "ref"))];
        Assert.Equal(new[] { "penguin-sex-pruned@1" }, childRefs);

        // Tensor table: one row per tensor; a header click sorts by it, a second reverses.
        var table = page.GetByTestId("tensor-table");
        await Expect(Pages.DataRows(table)).ToHaveCountAsync(tensors.Length);
        await Expect(page.GetByTestId("tensor-count")).ToContainTextAsync($"{tensors.Length} of {tensors.Length}");
        Assert.Equal(tensors.Order(StringComparer.Ordinal), (await Pages.ColumnAsync(table, "name")).Order(StringComparer.Ordinal));
        var nameHeader = table.Locator("th").Filter(new() { HasTextRegex = new System.Text.RegularExpressions.Regex("^\\s*name", System.Text.RegularExpressions.RegexOptions.IgnoreCase) }).First;
        await nameHeader.ClickAsync();
        string[] once = await Pages.ColumnAsync(table, "name");
        await nameHeader.ClickAsync();
        string[] twice = await Pages.ColumnAsync(table, "name");
        string[] ascending = [.. tensors.Order(StringComparer.Ordinal)];
        string[] descending = [.. ascending.Reverse()];
        Assert.True(
            (once.SequenceEqual(ascending) && twice.SequenceEqual(descending)) || (once.SequenceEqual(descending) && twice.SequenceEqual(ascending)),
            $"sorting by name: after one click [{string.Join(", ", once)}], after two [{string.Join(", ", twice)}]");

        // Sorting by stored bytes puts the head (new in this fine-tune) and the shared encoder apart: the order changes.
        var storedHeader = table.Locator("th").Filter(new() { HasTextRegex = new System.Text.RegularExpressions.Regex("stored", System.Text.RegularExpressions.RegexOptions.IgnoreCase) }).First;
        await storedHeader.ClickAsync();
        string[] byStored = await Pages.ColumnAsync(table, "name");
        await storedHeader.ClickAsync();
        string[] byStoredReversed = await Pages.ColumnAsync(table, "name");
        Assert.NotEqual(byStored, byStoredReversed);

        await page.GetByTestId("tensor-filter").FillAsync("HEAD.");
        string[] heads = [.. tensors.Where(t => t.Contains("head.", StringComparison.OrdinalIgnoreCase))];
        await Expect(Pages.DataRows(table)).ToHaveCountAsync(heads.Length);
        Assert.Equal(heads.Order(StringComparer.Ordinal), (await Pages.ColumnAsync(table, "name")).Order(StringComparer.Ordinal));
        await Expect(page.GetByTestId("tensor-count")).ToContainTextAsync($"{heads.Length} of {tensors.Length}");

        // The registered test and its metric.
        var tests = page.GetByTestId("model-tests");
        await Expect(tests).ToContainTextAsync("size");
        await Expect(tests).ToContainTextAsync("kib");
        await Expect(tests).ToContainTextAsync("268");
        await Expect(page.GetByTestId("model-storage")).Not.ToBeEmptyAsync();

        // Compare with parent: the diff page, one row per tensor of the diff.
        var diff = await web.ApiAsync("/api/diff?a=penguin-base%401&b=penguin-sex%401");
        string[] statuses = [.. diff.Items("tensors").Select(t => t.GetProperty("status").GetString()!).Order(StringComparer.Ordinal)];
        await page.GetByTestId("compare-parent").ClickAsync();
        await Pages.WaitForPageAsync(page, "/diff", ("a", "penguin-base@1"), ("b", "penguin-sex@1"));
        var rows = page.GetByTestId("diff-table").Locator("tr[data-status]");
        await Expect(rows).ToHaveCountAsync(statuses.Length);
        string[] shown = await rows.EvaluateAllAsync<string[]>("rows => rows.map(r => r.dataset.status)");
        Assert.Equal(statuses, shown.Order(StringComparer.Ordinal));
        await Expect(page.GetByTestId("diff-summary")).Not.ToBeEmptyAsync();
        Assert.True(await Pages.ShapesAsync(page.GetByTestId("diff-chart")) > 0, "diff-chart is no svg with shapes");
        session.AssertClean();
    }

    [BrowserFact]
    public async Task The_version_list_links_the_other_versions()
    {
        await using var session = await web.NewPageAsync();
        var page = session.Page;
        await page.GotoAsync(web.Server.Url(Pages.ModelUrl("penguin-base@2")));
        await Expect(page.GetByTestId("model-title")).ToHaveTextAsync(Pages.Whole("penguin-base@2"));
        var versions = page.GetByTestId("model-versions");
        string[] hrefs = await versions.Locator("a").EvaluateAllAsync<string[]>("links => links.map(a => a.getAttribute('href'))");
        Assert.Contains("penguin-base@1", hrefs.Select(h => Pages.Query(h, "ref")));
        await Expect(page.GetByTestId("compare-parent")).ToHaveCountAsync(1);
        session.AssertClean();
    }

    [BrowserFact]
    public async Task The_download_button_gives_the_byte_exact_file()
    {
        await using var session = await web.NewPageAsync();
        var page = session.Page;
        await page.GotoAsync(web.Server.Url(Pages.ModelUrl("penguin-base@1")));
        var link = page.Locator("[data-testid=download][data-path='model.safetensors']");
        await Expect(link).ToHaveCountAsync(1);
        Assert.NotNull(await link.GetAttributeAsync("download"));
        string href = await link.GetAttributeAsync("href") ?? "";
        Assert.Equal("/api/file", Pages.PathOf(href));
        Assert.Equal("penguin-base@1", Pages.Query(href, "ref"));
        Assert.Equal("model.safetensors", Pages.Query(href, "path"));
        Assert.Equal(3, await page.Locator("[data-testid=download]").CountAsync());

        var download = await page.RunAndWaitForDownloadAsync(() => link.ClickAsync());
        Assert.Equal("model.safetensors", download.SuggestedFilename);
        string saved = Path.Combine(web.Scratch, Guid.NewGuid().ToString("N") + ".safetensors");
        await download.SaveAsAsync(saved);

        // The quickstart checked penguin-base@1 out (byte-identical to what it trained): the same bytes.
        string original = Path.Combine(web.Repository, "checkout", "penguin-base", "model.safetensors");
        Assert.Equal(Convert.ToHexString(SHA256.HashData(await File.ReadAllBytesAsync(original))), Convert.ToHexString(SHA256.HashData(await File.ReadAllBytesAsync(saved))));
        session.AssertClean();
    }

    [BrowserFact]
    public async Task A_ref_that_does_not_resolve_answers_404_with_the_message()
    {
        await using var session = await web.NewPageAsync();
        var page = session.Page;
        var response = await page.GotoAsync(web.Server.Url("/model?ref=nope"));
        Assert.Equal(404, response!.Status);
        await Expect(page.GetByTestId("error")).ToBeVisibleAsync();
        await Expect(page.GetByTestId("error")).ToContainTextAsync("no model named 'nope'");

        response = await page.GotoAsync(web.Server.Url("/diff?a=penguin-base%401&b=nope"));
        Assert.Equal(404, response!.Status);
        await Expect(page.GetByTestId("error")).ToBeVisibleAsync();
        await Expect(page.GetByTestId("error")).ToContainTextAsync("nope");

        // A page that works shows no error element.
        await page.GotoAsync(web.Server.Url(Pages.ModelUrl("penguin-sex@1")));
        await Expect(page.GetByTestId("model-title")).ToHaveTextAsync(Pages.Whole("penguin-sex@1"));
        await Expect(page.GetByTestId("error")).ToBeHiddenAsync();
    }
}
