using System.Globalization;
using MGit.Web.Tests.Support;
using static Microsoft.Playwright.Assertions;

namespace MGit.Web.Tests;

[Collection(WebTestGroup.Name)]
public sealed class DiffAndStoragePageTests(WebFixture web)
{
    [BrowserFact]
    public async Task The_diff_page_picks_two_models_and_shows_their_diff()
    {
        await using var session = await web.NewPageAsync();
        var page = session.Page;
        var response = await page.GotoAsync(web.Server.Url("/diff"));
        Assert.Equal(200, response!.Status);
        foreach (string select in new[] { "diff-a", "diff-b" })
        {
            string[] options = await page.GetByTestId(select).Locator("option").EvaluateAllAsync<string[]>("os => os.map(o => o.value)");
            Assert.Subset(options.ToHashSet(), WebFixture.QuickstartRefs.ToHashSet());
        }

        await page.GetByTestId("diff-a").SelectOptionAsync("penguin-island@1");
        await page.GetByTestId("diff-b").SelectOptionAsync("penguin-island-bf16@1");
        await page.GetByTestId("diff-go").ClickAsync();
        await Pages.WaitForPageAsync(page, "/diff", ("a", "penguin-island@1"), ("b", "penguin-island-bf16@1"));

        var diff = await web.ApiAsync("/api/diff?a=penguin-island%401&b=penguin-island-bf16%401");
        var rows = page.GetByTestId("diff-table").Locator("tr[data-status]");
        string[] statuses = [.. diff.Items("tensors").Select(t => t.GetProperty("status").GetString()!).Order(StringComparer.Ordinal)];
        await Expect(rows).ToHaveCountAsync(statuses.Length);
        // The bf16 cast changes every float tensor's dtype: one status per row, as /api/diff says.
        Assert.Contains("dtype_changed", statuses);
        Assert.Equal(statuses, (await rows.EvaluateAllAsync<string[]>("rows => rows.map(r => r.dataset.status)")).Order(StringComparer.Ordinal));
        Assert.True(await Pages.ShapesAsync(page.GetByTestId("diff-chart")) > 0, "diff-chart is no svg with shapes");
        Assert.Equal("penguin-island@1", await page.GetByTestId("diff-a").InputValueAsync());
        Assert.Equal("penguin-island-bf16@1", await page.GetByTestId("diff-b").InputValueAsync());
        await Expect(page.GetByTestId("onnx-diff")).ToHaveCountAsync(0);

        // The next version, trained further: every tensor changed, one bar each in the chart.
        await page.GetByTestId("diff-a").SelectOptionAsync("penguin-base@1");
        await page.GetByTestId("diff-b").SelectOptionAsync("penguin-base@2");
        await page.GetByTestId("diff-go").ClickAsync();
        await Pages.WaitForPageAsync(page, "/diff", ("a", "penguin-base@1"), ("b", "penguin-base@2"));
        diff = await web.ApiAsync("/api/diff?a=penguin-base%401&b=penguin-base%402");
        int changed = diff.Items("tensors").Count(t => t.GetProperty("status").GetString() == "changed");
        Assert.Equal(6, changed);
        await Expect(page.GetByTestId("diff-table").Locator("tr[data-status=changed]")).ToHaveCountAsync(changed);
        await Expect(page.GetByTestId("diff-summary")).ToContainTextAsync("penguin-base@2");
        Assert.True(await Pages.ShapesAsync(page.GetByTestId("diff-chart")) >= changed, $"diff-chart: fewer shapes than the {changed} changed tensors");
        await WebFixture.ScreenshotAsync(page, "serve-diff.png");
        session.AssertClean();
    }

    [BrowserFact]
    public async Task The_storage_page_shows_the_ratio_and_charts_per_codec_and_model()
    {
        var stats = await web.ApiAsync("/api/stats");
        double ratio = stats.GetProperty("ratio").GetDouble();
        int codecs = stats.GetProperty("codecs").EnumerateObject().Count();
        int models = stats.GetProperty("per_model").GetArrayLength();

        await using var session = await web.NewPageAsync();
        var page = session.Page;
        await page.GotoAsync(web.Server.Url("/"));
        await page.GetByTestId("nav-storage").ClickAsync();
        await Pages.WaitForPageAsync(page, "/storage");

        var total = page.GetByTestId("storage-total");
        await Expect(total).Not.ToBeEmptyAsync();
        string text = await total.InnerTextAsync();
        string[] spellings = [ratio.ToString("0.00", CultureInfo.InvariantCulture), ratio.ToString("0.0", CultureInfo.InvariantCulture), ratio.ToString(CultureInfo.InvariantCulture)];
        Assert.True(spellings.Any(text.Contains), $"storage-total \"{text}\" shows none of {string.Join(", ", spellings)} (the ratio of /api/stats)");

        Assert.True(await Pages.ShapesAsync(page.GetByTestId("storage-codecs")) >= codecs, $"storage-codecs: fewer shapes than the {codecs} codecs");
        Assert.True(await Pages.ShapesAsync(page.GetByTestId("storage-models")) >= models, $"storage-models: fewer shapes than the {models} models");
        await Expect(Pages.DataRows(page.GetByTestId("storage-table"))).ToHaveCountAsync(models);
        await WebFixture.ScreenshotAsync(page, "serve-storage.png");

        await page.GetByTestId("nav-diff").ClickAsync();
        await Pages.WaitForPageAsync(page, "/diff");
        await page.GetByTestId("nav-graph").ClickAsync();
        await page.WaitForURLAsync(url => Pages.PathOf(url) is "/" or "/graph");
        await Pages.WaitForGraphAsync(page);
        session.AssertClean();
    }
}
