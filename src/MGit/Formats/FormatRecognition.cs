using MGit.Errors;

namespace MGit.Formats;

/// <summary>For readers: the point from which a file is certainly of their format.</summary>
internal static class FormatRecognition
{
    /// <summary>
    /// Runs the rest of a reader once the file is certainly of its format: any problem found from
    /// here on refuses the file rather than letting it fall back to an opaque blob.
    /// </summary>
    public static T Recognized<T>(string displayName, Func<T> read)
    {
        try
        {
            return read();
        }
        catch (InvalidModelFileException e) when (!e.Recognized)
        {
            throw new InvalidModelFileException(displayName, e.Problem, e.Kind) { Recognized = true };
        }
    }
}
