using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;

namespace MGit.Cli.Web;

/// <summary>
/// Who may ask. With a token, every request carries it as <c>Authorization: Bearer T</c> or the
/// cookie <c>mgit_token</c>; a page opened with <c>?token=T</c> (the URL serve prints) gets the
/// cookie and is sent on without the token in its address. Without a token the server is bound to
/// loopback and answers only requests addressed to a loopback name, so a web page elsewhere cannot
/// reach it by pointing a DNS name of its own at 127.0.0.1 (DNS rebinding).
/// </summary>
internal sealed class TokenGate(string? token)
{
    public const string CookieName = "mgit_token";

    private readonly byte[]? _token = string.IsNullOrEmpty(token) ? null : Encoding.UTF8.GetBytes(token);

    /// <summary>True when the request may go on; otherwise the answer that ends it has been written.</summary>
    public async Task<bool> AdmitAsync(HttpContext context)
    {
        var request = context.Request;
        if (_token is null)
        {
            if (IsLoopbackName(request.Host.Host))
            {
                return true;
            }

            await WebResponses.ErrorAsync(context, StatusCodes.Status403Forbidden, "mgit serve answers only requests addressed to localhost, 127.0.0.1 or [::1]").ConfigureAwait(false);
            return false;
        }

        if (Matches(BearerToken(request)) || Matches(request.Cookies[CookieName]))
        {
            return true;
        }

        if (HttpMethods.IsGet(request.Method) && !WebResponses.IsApi(request) && request.Query.TryGetValue("token", out var given) && Matches(given.ToString()))
        {
            context.Response.Cookies.Append(CookieName, given.ToString(), new CookieOptions { HttpOnly = true, SameSite = SameSiteMode.Strict, Path = "/", IsEssential = true });
            string rest = string.Join('&', request.Query.Where(q => q.Key != "token").Select(q => $"{Uri.EscapeDataString(q.Key)}={Uri.EscapeDataString(q.Value.ToString())}"));
            context.Response.Redirect(request.PathBase + request.Path + (rest.Length > 0 ? "?" + rest : ""));
            return false;
        }

        context.Response.Headers.WWWAuthenticate = "Bearer";
        await WebResponses.ErrorAsync(context, StatusCodes.Status401Unauthorized, "this mgit serve needs its token: open the URL it printed (with ?token=...), or send Authorization: Bearer TOKEN").ConfigureAwait(false);
        return false;
    }

    private static string? BearerToken(HttpRequest request)
    {
        string header = request.Headers.Authorization.ToString();
        return header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? header["Bearer ".Length..].Trim() : null;
    }

    /// <summary>In constant time, so how long the answer takes says nothing about how much of a guess was right.</summary>
    private bool Matches(string? candidate) =>
        candidate is not null && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(candidate), _token);

    private static bool IsLoopbackName(string host) =>
        host.Equals("localhost", StringComparison.OrdinalIgnoreCase)
        || (System.Net.IPAddress.TryParse(host.Trim('[', ']'), out var address) && System.Net.IPAddress.IsLoopback(address));
}
