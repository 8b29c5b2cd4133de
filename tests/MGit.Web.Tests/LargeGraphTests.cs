using System.Text.Json.Nodes;
using MGit.Web.Tests.Support;

namespace MGit.Web.Tests;

/// <summary>
/// Above 300 versions the graph page lays out each first-parent tree as a tidy tree and packs the
/// trees. A synthetic graph document of 1,200 versions (made without storing 1,200 models) goes
/// into the static export of the quickstart's family in place of its own data.
/// </summary>
[Collection(WebTestGroup.Name)]
public sealed class LargeGraphTests(WebFixture web)
{
    [BrowserFact]
    public async Task A_graph_of_1200_versions_is_laid_out_top_down_without_overlaps_and_searchable()
    {
        const int count = 1200;
        var random = new Random(5);
        var nodes = new JsonArray();
        var edges = new JsonArray();
        for (int i = 0; i < count; i++)
        {
            nodes.Add(new JsonObject { ["ref"] = $"m{i:D4}@1", ["name"] = $"m{i:D4}", ["version"] = 1, ["type"] = "t", ["message"] = null, ["tags"] = new JsonArray(), ["logical_bytes"] = 1000 + i, ["lossy"] = i % 7 == 0, ["tests"] = new JsonObject { ["passed"] = 0, ["failed"] = 0 }, ["test_status"] = "none" });
            if (i % 100 != 0)
            {
                // A parent among the last 50: long, bushy families; every 9th also a merge with a second parent.
                int parent = Math.Max(i - 1 - random.Next(50), (i / 100) * 100);
                edges.Add(new JsonObject { ["parent"] = $"m{parent:D4}@1", ["child"] = $"m{i:D4}@1", ["kind"] = "adapted", ["how"] = "finetune", ["message"] = null });
                if (i % 9 == 0 && i > 150)
                {
                    edges.Add(new JsonObject { ["parent"] = $"m{i - 150:D4}@1", ["child"] = $"m{i:D4}@1", ["kind"] = "adapted", ["how"] = "merge", ["message"] = null });
                }
            }
        }

        string exported = Path.Combine(web.Scratch, "large-" + Guid.NewGuid().ToString("N") + ".html");
        Mgit.Ok(web.Repository, "graph", "--format", "html", "-o", exported);
        string html = File.ReadAllText(exported);
        const string marker = "window.MGIT_STATIC = ";
        int start = html.IndexOf(marker, StringComparison.Ordinal) + marker.Length;
        int end = html.IndexOf(";</script>", start, StringComparison.Ordinal);
        string data = new JsonObject { ["graph"] = new JsonObject { ["nodes"] = nodes, ["edges"] = edges }, ["title"] = "large" }.ToJsonString();
        File.WriteAllText(exported, html[..start] + data + html[end..]);

        await using var session = await web.NewPageAsync();
        var page = session.Page;
        await page.GotoAsync(new Uri(exported).AbsoluteUri);
        await Pages.WaitForGraphAsync(page);
        Assert.Equal(count, await page.EvaluateAsync<int>("() => window.mgitGraph.nodes().length"));

        // Every first-parent edge points down; no two nodes overlap.
        int upward = await page.EvaluateAsync<int>("""
            () => {
              const cy = window.mgitGraph, seen = new Set();
              let bad = 0;
              cy.edges().forEach(e => {
                const child = e.target().id();
                if (seen.has(child)) return;
                seen.add(child);
                if (e.target().position('y') <= e.source().position('y')) bad++;
              });
              return bad;
            }
            """);
        Assert.Equal(0, upward);
        int overlaps = await page.EvaluateAsync<int>("""
            () => {
              const boxes = window.mgitGraph.nodes().map(n => n.boundingBox({ includeLabels: false }));
              boxes.sort((a, b) => a.x1 - b.x1);
              let bad = 0;
              for (let i = 0; i < boxes.length; i++)
                for (let j = i + 1; j < boxes.length && boxes[j].x1 < boxes[i].x2; j++)
                  if (boxes[j].y1 < boxes[i].y2 && boxes[i].y1 < boxes[j].y2) bad++;
              return bad;
            }
            """);
        Assert.Equal(0, overlaps);

        await page.GetByTestId("graph-search").FillAsync("m11");
        await page.WaitForFunctionAsync("() => window.mgitGraph.nodes(':selected').length === 100");
        Assert.Empty(session.Dialogs);
    }
}
