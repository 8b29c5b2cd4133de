using System.Text.Json;
using System.Text.RegularExpressions;
using System.Web;
using Microsoft.Playwright;

namespace MGit.Web.Tests.Support;

/// <summary>What the tests do on the pages, by the data-testid attributes of UI-CONTRACT.md.</summary>
internal static class Pages
{
    /// <summary>Waits for the graph page's layout (<c>window.mgitReady</c>).</summary>
    public static Task WaitForGraphAsync(IPage page) =>
        page.WaitForFunctionAsync("() => window.mgitReady === true && !!window.mgitGraph", null, new() { Timeout = 30_000 });

    public static async Task<string[]> NodeIdsAsync(IPage page) =>
        await page.EvaluateAsync<string[]>("() => window.mgitGraph.nodes().map(n => n.id())").ConfigureAwait(false);

    /// <summary>Clicks a node where cytoscape drew it: its rendered position inside the container.</summary>
    public static async Task ClickNodeAsync(IPage page, string reference)
    {
        var box = await page.GetByTestId("graph").BoundingBoxAsync().ConfigureAwait(false) ?? throw new InvalidOperationException("the graph container is not visible");
        // A node out of view (after a search zoomed in elsewhere) is panned to first, as a user would.
        double[]? at = await page.EvaluateAsync<double[]?>(
            @"([r, w, h]) => {
                const cy = window.mgitGraph, n = cy.getElementById(r);
                if (n.length === 0) return null;
                let p = n.renderedPosition();
                if (p.x < 10 || p.y < 10 || p.x > w - 10 || p.y > h - 10) { cy.center(n); p = n.renderedPosition(); }
                return [p.x, p.y];
            }",
            new object[] { reference, box.Width, box.Height }).ConfigureAwait(false);
        Assert.True(at is not null, $"no node {reference} in window.mgitGraph");
        double x = box.X + at[0];
        double y = box.Y + at[1];
        Assert.True(at[0] >= 0 && at[1] >= 0 && at[0] <= box.Width && at[1] <= box.Height, $"node {reference} is drawn at ({at[0]}, {at[1]}), outside the {box.Width}x{box.Height} graph container");
        // Cytoscape takes two clicks within 250 ms for a double-tap, whatever nodes they hit: clicks are
        // spaced as a person's would be, so each is one tap (a tap on the selected node opens its page).
        if (LastClick.TryGetValue(page, out var last) && DateTime.UtcNow - last.At < TimeSpan.FromMilliseconds(400))
        {
            await Task.Delay(TimeSpan.FromMilliseconds(400) - (DateTime.UtcNow - last.At)).ConfigureAwait(false);
        }

        await page.Mouse.ClickAsync((float)x, (float)y).ConfigureAwait(false);
        LastClick.AddOrUpdate(page, new Click(reference, DateTime.UtcNow));
    }

    private sealed record Click(string Node, DateTime At);

    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<IPage, Click> LastClick = [];

    /// <summary>The decoded query parameter of a URL (or of a relative href).</summary>
    public static string? Query(string url, string name)
    {
        int q = url.IndexOf('?', StringComparison.Ordinal);
        return q < 0 ? null : HttpUtility.ParseQueryString(url[(q + 1)..])[name];
    }

    public static string PathOf(string url) => new Uri(new Uri("http://x/"), url).AbsolutePath;

    /// <summary>Waits until the page is at PATH with these decoded query values.</summary>
    public static async Task WaitForPageAsync(IPage page, string path, params (string Name, string Value)[] query)
    {
        // Polls the page's URL: under full load, WaitForURLAsync once missed a navigation that had
        // already committed when it began (the page was at the URL wanted, and it timed out).
        // Committed is enough: the assertions that follow wait for what they need on the page.
        bool There() => PathOf(page.Url) == path && query.All(p => Query(page.Url, p.Name) == p.Value);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!There())
        {
            if (DateTime.UtcNow > deadline)
            {
                string wanted = path + (query.Length == 0 ? "" : "?" + string.Join('&', query.Select(p => p.Name + "=" + p.Value)));
                throw new TimeoutException($"the page did not get to {wanted}: it is at {page.Url}");
            }

            await Task.Delay(50).ConfigureAwait(false);
        }
    }

    public static string ModelUrl(string reference) => "model?ref=" + Uri.EscapeDataString(reference);

    /// <summary>The cells of one column (by header text) of a table's shown data rows, in the order shown.</summary>
    public static async Task<string[]> ColumnAsync(ILocator table, string header) =>
        await table.EvaluateAsync<string[]>(
            @"(t, h) => {
                const ths = [...t.querySelectorAll('th')];
                const i = ths.findIndex(x => x.textContent.trim().toLowerCase().startsWith(h));
                if (i < 0) throw new Error('no column ' + h + ' among ' + ths.map(x => x.textContent.trim()).join(', '));
                return [...t.querySelectorAll('tr')].filter(r => r.querySelector('td') && r.getClientRects().length > 0).map(r => r.cells[i].textContent.trim());
            }",
            header).ConfigureAwait(false);

    /// <summary>The table's data rows that show (a filter may hide rows rather than remove them).</summary>
    public static ILocator DataRows(ILocator table) => table.Locator("tr:has(td):visible");

    /// <summary>How many drawn shapes (bars, lines, points) an svg holds; the chart is the element or the svg inside it.</summary>
    public static async Task<int> ShapesAsync(ILocator chart) =>
        await chart.EvaluateAsync<int>(
            @"el => {
                const svg = el.tagName.toLowerCase() === 'svg' ? el : el.querySelector('svg');
                if (!svg) return -1;
                return svg.querySelectorAll('rect, path, line, polyline, polygon, circle').length;
            }").ConfigureAwait(false);

    public static IEnumerable<JsonElement> Items(this JsonElement element, string property) => element.GetProperty(property).EnumerateArray();

    public static Regex Whole(string text) => new("^\\s*" + Regex.Escape(text) + "\\s*$");
}
