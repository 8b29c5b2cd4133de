using MGit.Storage;
using MGit.Workspace;

namespace MGit.Checkout;

/// <summary>What <see cref="Repository.CheckoutLinked"/> wrote and how.</summary>
/// <param name="Path">The file or folder written.</param>
/// <param name="Method"><c>"reflink"</c> (copy-on-write clones), <c>"hardlink"</c> (read-only names for the cached files) or <c>"copy"</c> (the file system could not link there: written as a plain checkout).</param>
public sealed record LinkedCheckoutResult(string Path, string Method);

/// <summary>
/// <c>checkout --link</c>: a model that is unchanged in the checkout cache is not written again
/// but linked from there, in no time and no extra space. Reflinks are independent copies; hard
/// links share the cached files, so those are read-only, and the cache notes their length and
/// modification time and verifies the bytes of any it finds changed before a later use
/// (<see cref="CheckoutCache.MarkLinked"/>).
/// </summary>
internal sealed class LinkedCheckout(RepositoryContext context, ModelWriter writer, CheckoutCache cache)
{
    /// <summary>Checks <paramref name="reference"/> out at <paramref name="output"/> as links to its cached checkout (written first when the cache lacks it).</summary>
    public LinkedCheckoutResult Checkout(string reference, string output, bool overwrite, CancellationToken cancellationToken)
    {
        var version = context.Resolve(reference);
        var manifest = context.LoadManifest(version);
        // Get verifies a cached checkout that was hard-linked out before and looks touched since.
        string cached = cache.Get(version.ManifestId, manifest, cancellationToken);

        var linked = ModelWriter.LinkModel(manifest, cached, output, overwrite, cancellationToken);
        if (linked is not { } made)
        {
            return new LinkedCheckoutResult(writer.WriteModel(version.Ref, manifest, output, overwrite, cancellationToken), "copy");
        }

        if (made.Method == FileLinks.Method.HardLink)
        {
            cache.MarkLinked(version.ManifestId, manifest);
        }

        return new LinkedCheckoutResult(made.Path, made.Method == FileLinks.Method.Reflink ? "reflink" : "hardlink");
    }

}
