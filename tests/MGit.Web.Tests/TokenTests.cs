using System.Net;
using System.Net.Http.Headers;
using MGit.Web.Tests.Support;
using static Microsoft.Playwright.Assertions;

namespace MGit.Web.Tests;

[Collection(WebTestGroup.Name)]
public sealed class TokenTests(WebFixture web)
{
    [BrowserFact]
    public async Task A_server_with_a_token_answers_401_until_the_token_link_sets_the_cookie()
    {
        await using var server = await ServeRun.StartAsync(web.Repository, "--host", "127.0.0.1", "--token", "secret");
        Assert.Equal("secret", Pages.Query(server.PrintedUrl, "token"));

        await using var session = await web.NewPageAsync();
        var page = session.Page;
        var response = await page.GotoAsync(server.Url("/"));
        Assert.Equal(401, response!.Status);
        response = await page.GotoAsync(server.Url("/model?ref=penguin-sex%401"));
        Assert.Equal(401, response!.Status);

        // The printed link: the cookie is set, the token leaves the address, the graph loads.
        response = await page.GotoAsync(server.PrintedUrl);
        Assert.Equal(200, response!.Status);
        Assert.Null(Pages.Query(page.Url, "token"));
        await Pages.WaitForGraphAsync(page);
        Assert.Equal(6, (await Pages.NodeIdsAsync(page)).Length);
        var cookie = Assert.Single(await session.Context.CookiesAsync(), c => c.Name == "mgit_token");
        Assert.True(cookie.HttpOnly, "the token cookie is readable from script");
        Assert.Equal(200, await page.EvaluateAsync<int>("() => fetch('/api/ls').then(r => r.status)"));
        Assert.DoesNotContain("secret", await page.EvaluateAsync<string>("() => document.cookie"));

        // Later pages go on working with the cookie alone.
        await page.GotoAsync(server.Url(Pages.ModelUrl("penguin-sex@1")));
        await Expect(page.GetByTestId("model-title")).ToHaveTextAsync(Pages.Whole("penguin-sex@1"));

        using var http = new HttpClient();
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync(server.Url("/api/ls"))).StatusCode);
        using var wrong = new HttpRequestMessage(HttpMethod.Get, server.Url("/api/ls"));
        wrong.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "not-the-secret");
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.SendAsync(wrong)).StatusCode);
        using var right = new HttpRequestMessage(HttpMethod.Get, server.Url("/api/ls"));
        right.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "secret");
        Assert.Equal(HttpStatusCode.OK, (await http.SendAsync(right)).StatusCode);
        Assert.Empty(session.Dialogs);
    }
}
