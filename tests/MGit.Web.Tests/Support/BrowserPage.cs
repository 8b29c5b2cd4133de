using Microsoft.Playwright;

namespace MGit.Web.Tests.Support;

/// <summary>
/// A page in its own browser context, recording what the page should never do: script errors,
/// console errors (a Content-Security-Policy violation is one), dialogs (alert from injected HTML).
/// </summary>
public sealed class BrowserPage : IAsyncDisposable
{
    private readonly List<string> _errors = [];
    private readonly List<string> _dialogs = [];

    public BrowserPage(IBrowserContext context, IPage page)
    {
        Context = context;
        Page = page;
        page.Console += (_, message) =>
        {
            if (message.Type == "error")
            {
                lock (_errors)
                {
                    _errors.Add($"console: {message.Text} ({message.Location})");
                }
            }
        };
        page.PageError += (_, error) =>
        {
            lock (_errors)
            {
                _errors.Add($"page error: {error}");
            }
        };
        page.Dialog += (_, dialog) =>
        {
            lock (_dialogs)
            {
                _dialogs.Add($"{dialog.Type}: {dialog.Message}");
            }

            _ = dialog.DismissAsync();
        };
    }

    public IBrowserContext Context { get; }

    public IPage Page { get; }

    public IReadOnlyList<string> Dialogs
    {
        get
        {
            lock (_dialogs)
            {
                return [.. _dialogs];
            }
        }
    }

    /// <summary>No script error, no console error (CSP violations included), no dialog so far.</summary>
    public void AssertClean()
    {
        string[] errors;
        lock (_errors)
        {
            errors = [.. _errors];
        }

        Assert.True(errors.Length == 0, "the page logged errors:\n" + string.Join('\n', errors));
        Assert.True(Dialogs.Count == 0, "the page opened dialogs:\n" + string.Join('\n', Dialogs));
    }

    public async ValueTask DisposeAsync() => await Context.CloseAsync().ConfigureAwait(false);
}
