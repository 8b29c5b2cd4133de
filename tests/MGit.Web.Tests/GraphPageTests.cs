using MGit.Web.Tests.Support;
using static Microsoft.Playwright.Assertions;

namespace MGit.Web.Tests;

[Collection(WebTestGroup.Name)]
public sealed class GraphPageTests(WebFixture web)
{
    [BrowserFact]
    public async Task The_graph_page_draws_every_version_and_edge_with_the_summary()
    {
        await using var session = await web.NewPageAsync();
        var page = session.Page;
        var response = await page.GotoAsync(web.Server.Url("/"));
        Assert.Equal(200, response!.Status);
        await Pages.WaitForGraphAsync(page);

        Assert.Equal(WebFixture.QuickstartRefs.Order(StringComparer.Ordinal), (await Pages.NodeIdsAsync(page)).Order(StringComparer.Ordinal));
        var graph = await web.ApiAsync("/api/graph");
        foreach (var edge in graph.Items("edges"))
        {
            string parent = edge.GetProperty("parent").GetString()!;
            string child = edge.GetProperty("child").GetString()!;
            bool drawn = await page.EvaluateAsync<bool>("([p, c]) => window.mgitGraph.edges().some(e => e.source().id() === p && e.target().id() === c)", new[] { parent, child });
            Assert.True(drawn, $"no edge {parent} -> {child} in window.mgitGraph");
        }

        await Expect(page.GetByTestId("graph-summary")).ToContainTextAsync("6 versions");
        await Expect(page.GetByTestId("graph-summary")).ToContainTextAsync("5 models");
        foreach (string nav in new[] { "nav-graph", "nav-storage", "nav-diff" })
        {
            await Expect(page.GetByTestId(nav)).ToBeVisibleAsync();
        }

        // The picture for the docs: the family with one model's panel open.
        await Pages.ClickNodeAsync(page, "penguin-sex@1");
        await Expect(page.GetByTestId("graph-panel")).ToContainTextAsync("penguin-sex@1");
        await WebFixture.ScreenshotAsync(page, "serve-graph.png");
        session.AssertClean();
    }

    [BrowserFact]
    public async Task Search_selects_the_matching_nodes_and_counts_them()
    {
        await using var session = await web.NewPageAsync();
        var page = session.Page;
        await page.GotoAsync(web.Server.Url("/"));
        await Pages.WaitForGraphAsync(page);

        await page.GetByTestId("graph-search").FillAsync("ISLAND");
        await Expect(page.GetByTestId("graph-search-count")).ToHaveTextAsync(new System.Text.RegularExpressions.Regex(@"(^|\D)2(\D|$)"));
        string[] selected = await page.EvaluateAsync<string[]>("() => window.mgitGraph.nodes(':selected').map(n => n.id())");
        Assert.Equal(new[] { "penguin-island-bf16@1", "penguin-island@1" }, selected.Order(StringComparer.Ordinal));

        await page.GetByTestId("graph-search").FillAsync("sex-pruned");
        await Expect(page.GetByTestId("graph-search-count")).ToHaveTextAsync(new System.Text.RegularExpressions.Regex(@"(^|\D)1(\D|$)"));
        session.AssertClean();
    }

    [BrowserFact]
    public async Task Collapse_hides_the_descendants_and_shows_them_again()
    {
        await using var session = await web.NewPageAsync();
        var page = session.Page;
        await page.GotoAsync(web.Server.Url("/"));
        await Pages.WaitForGraphAsync(page);

        await Pages.ClickNodeAsync(page, "penguin-island@1");
        await Expect(page.GetByTestId("graph-panel")).ToContainTextAsync("penguin-island@1");
        var collapse = page.GetByTestId("graph-panel").GetByTestId("collapse");
        string before = (await collapse.TextContentAsync() ?? "").Trim();
        await collapse.ClickAsync();
        await page.WaitForFunctionAsync("() => { const n = window.mgitGraph.getElementById('penguin-island-bf16@1'); return n.length === 0 || !n.visible(); }");
        string[] visible = await page.EvaluateAsync<string[]>("() => window.mgitGraph.nodes(':visible').map(n => n.id())");
        Assert.Equal(new[] { "penguin-base@1", "penguin-base@2", "penguin-island@1", "penguin-sex-pruned@1", "penguin-sex@1" }, visible.Order(StringComparer.Ordinal));
        string after = (await collapse.TextContentAsync() ?? "").Trim();
        Assert.NotEqual(before, after);

        await collapse.ClickAsync();
        await page.WaitForFunctionAsync("() => window.mgitGraph.nodes(':visible').length === 6");
        Assert.Equal(before, (await collapse.TextContentAsync() ?? "").Trim());

        // A root's subtree is the whole family but the root.
        await Pages.ClickNodeAsync(page, "penguin-base@1");
        await Expect(page.GetByTestId("graph-panel")).ToContainTextAsync("penguin-base@1");
        await collapse.ClickAsync();
        await page.WaitForFunctionAsync("() => window.mgitGraph.nodes(':visible').length === 1");
        Assert.Equal(new[] { "penguin-base@1" }, await page.EvaluateAsync<string[]>("() => window.mgitGraph.nodes(':visible').map(n => n.id())"));
        session.AssertClean();
    }

    [BrowserFact]
    public async Task Clicking_a_selected_node_opens_its_model_page()
    {
        await using var session = await web.NewPageAsync();
        var page = session.Page;
        await page.GotoAsync(web.Server.Url("/"));
        await Pages.WaitForGraphAsync(page);

        await Pages.ClickNodeAsync(page, "penguin-sex-pruned@1");
        await Expect(page.GetByTestId("graph-panel")).ToContainTextAsync("penguin-sex-pruned@1");
        string? href = await page.GetByTestId("open-model").GetAttributeAsync("href");
        Assert.Equal("penguin-sex-pruned@1", Pages.Query(href ?? "", "ref"));
        await Pages.ClickNodeAsync(page, "penguin-sex-pruned@1");
        await Pages.WaitForPageAsync(page, "/model", ("ref", "penguin-sex-pruned@1"));
        await Expect(page.GetByTestId("model-title")).ToHaveTextAsync(Pages.Whole("penguin-sex-pruned@1"));
        session.AssertClean();
    }
}
