namespace MGit.Formats;

/// <summary>Any file MGit does not understand: one skeleton segment, stored as a deduplicated blob.</summary>
internal sealed class OpaqueFormat : IModelFormat
{
    public string Name => "blob";

    public bool Matches(ReadOnlySpan<byte> prefix, string fileName) => true;

    public bool ClaimsByName(string fileName) => false;

    public FileLayout ReadLayout(Stream stream, long length, string displayName) =>
        FileLayout.FromTensorSpans(Name, length, []);
}
