using MGit.Web.Tests.Support;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace MGit.Web.Tests;

/// <summary>
/// Names, types, messages and metadata that are HTML show as text: no element is made from them,
/// no handler runs (a dialog would be alert()), on the served pages and in the static export.
/// </summary>
[Collection(WebTestGroup.Name)]
public sealed class EscapingTests(WebFixture web)
{
    private const string Hostile = WebFixture.HostileName + "@1";
    private const string Child = WebFixture.HostileChild + "@1";

    [BrowserFact]
    public async Task A_model_named_like_html_shows_as_text_on_the_graph_page()
    {
        await using var session = await web.NewPageAsync();
        var page = session.Page;
        await page.GotoAsync(web.HostileServer.Url("/"));
        var panel = await OpenHostileNodeAsync(page);
        string? href = await panel.GetByTestId("open-model").GetAttributeAsync("href");
        Assert.Equal(Hostile, Pages.Query(href ?? "", "ref"));

        await page.GetByTestId("graph-search").FillAsync("<img");
        await Expect(page.GetByTestId("graph-search-count")).ToHaveTextAsync(new System.Text.RegularExpressions.Regex(@"(^|\D)1(\D|$)"));
        await AssertNothingInjectedAsync(session);

        await Pages.ClickNodeAsync(page, Child);
        await Expect(panel).ToContainTextAsync(Child);
        await Pages.ClickNodeAsync(page, Child);
        await Pages.WaitForPageAsync(page, "/model", ("ref", Child));
        await Expect(page.GetByTestId("model-title")).ToHaveTextAsync(Pages.Whole(Child));
        await AssertNothingInjectedAsync(session);
    }

    [BrowserFact]
    public async Task A_model_named_like_html_shows_as_text_on_its_model_page()
    {
        await using var session = await web.NewPageAsync();
        var page = session.Page;
        var response = await page.GotoAsync(web.HostileServer.Url(Pages.ModelUrl(Hostile)));
        Assert.Equal(200, response!.Status);
        await Expect(page.GetByTestId("model-title")).ToHaveTextAsync(Pages.Whole(Hostile));
        await Expect(page.GetByTestId("model-type")).ToContainTextAsync(WebFixture.HostileType);
        await Expect(page.GetByTestId("model-message")).ToContainTextAsync(WebFixture.HostileMessage);
        await Expect(page.GetByTestId("model-metadata")).ToContainTextAsync(WebFixture.HostileMeta);
        string[] children = await page.GetByTestId("model-children").Locator("a").EvaluateAllAsync<string[]>("links => links.map(a => a.getAttribute('href'))");
        Assert.Equal(new[] { Child }, children.Select(h => Pages.Query(h, "ref")));
        await Expect(page.GetByTestId("model-children")).ToContainTextAsync(Child);
        Assert.Equal(0, await page.GetByTestId("model-type").Locator("b").CountAsync());
        await AssertNothingInjectedAsync(session);

        // The child's page: the parent's name in a link, and a compare link whose query survives the quote and ampersand.
        await page.GotoAsync(web.HostileServer.Url(Pages.ModelUrl(Child)));
        await Expect(page.GetByTestId("model-title")).ToHaveTextAsync(Pages.Whole(Child));
        await Expect(page.GetByTestId("model-parents")).ToContainTextAsync(Hostile);
        await Expect(page.GetByTestId("model-message")).ToContainTextAsync(WebFixture.HostileEdgeMessage);
        await page.GetByTestId("compare-parent").ClickAsync();
        await Pages.WaitForPageAsync(page, "/diff", ("a", Hostile), ("b", Child));
        await Expect(page.GetByTestId("diff-table").Locator("tr[data-status]")).ToHaveCountAsync(6);
        await AssertNothingInjectedAsync(session);
    }

    [BrowserFact]
    public async Task The_static_export_shows_names_as_text_and_makes_no_request()
    {
        string file = Path.Combine(web.Scratch, "graph-" + Guid.NewGuid().ToString("N") + ".html");
        Mgit.Ok(web.HostileRepository, "graph", "--format", "html", "-o", file);

        await using var session = await web.NewPageAsync();
        var page = session.Page;
        var requests = new List<string>();
        page.Request += (_, request) =>
        {
            if (!request.Url.StartsWith("file:", StringComparison.Ordinal) && !request.Url.StartsWith("data:", StringComparison.Ordinal))
            {
                lock (requests)
                {
                    requests.Add(request.Url);
                }
            }
        };
        await session.Context.RouteAsync("**/*", route =>
            route.Request.Url.StartsWith("file:", StringComparison.Ordinal) || route.Request.Url.StartsWith("data:", StringComparison.Ordinal)
                ? route.ContinueAsync()
                : route.AbortAsync());

        await page.GotoAsync(new Uri(file).AbsoluteUri);
        var panel = await OpenHostileNodeAsync(page);
        await Expect(panel.GetByTestId("open-model")).ToHaveCountAsync(0);
        // A second tap on the selected node has no model page to open: the page stays.
        await Pages.ClickNodeAsync(page, Hostile);
        await page.WaitForTimeoutAsync(300);
        Assert.StartsWith("file:", page.Url, StringComparison.Ordinal);
        await AssertNothingInjectedAsync(session);
        lock (requests)
        {
            Assert.True(requests.Count == 0, "the static page made requests:\n" + string.Join('\n', requests));
        }
    }

    /// <summary>No element was made from the hostile strings and no handler of theirs ran.</summary>
    private static async Task AssertNothingInjectedAsync(BrowserPage session)
    {
        var page = session.Page;
        Assert.Equal(0, await page.Locator("img[src='x']").CountAsync());
        Assert.Equal(0, await page.Locator("[onerror], [onload]").CountAsync());
        Assert.Equal(0, await page.EvaluateAsync<int>("() => [...document.querySelectorAll('i')].filter(e => (e.parentElement?.textContent ?? '').includes('child\"&')).length"));
        Assert.Empty(session.Dialogs);
    }

    /// <summary>On a loaded graph page: both hostile nodes are there by their names; the hostile one, clicked, shows its name and type as text in the panel.</summary>
    private static async Task<ILocator> OpenHostileNodeAsync(IPage page)
    {
        await Pages.WaitForGraphAsync(page);
        Assert.Equal(new[] { Hostile, Child }.Order(StringComparer.Ordinal), (await Pages.NodeIdsAsync(page)).Order(StringComparer.Ordinal));
        await Pages.ClickNodeAsync(page, Hostile);
        var panel = page.GetByTestId("graph-panel");
        await Expect(panel).ToContainTextAsync(Hostile);
        await Expect(panel).ToContainTextAsync(WebFixture.HostileType);
        return panel;
    }
}
