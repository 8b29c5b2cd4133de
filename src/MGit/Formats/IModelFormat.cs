namespace MGit.Formats;

/// <summary>
/// A model file format MGit understands. A reader only finds where the tensors are, and how each
/// tensor's dtype lays out its elements (<see cref="TensorInfo.Layout"/>, which decides where
/// chunks are cut); it never writes: checkout rebuilds any format from its layout. To support a
/// new format, add one class implementing this interface and register it with
/// <see cref="Catalog.ModelFormats.Register"/> (the built-in ones are listed there).
/// </summary>
public interface IModelFormat
{
    /// <summary>The name recorded in manifests and shown to users ("safetensors", "onnx", ...).</summary>
    string Name { get; }

    /// <summary>Whether this format claims the file, judged by its first bytes (and its name only as a hint).</summary>
    bool Matches(ReadOnlySpan<byte> prefix, string fileName);

    /// <summary>
    /// Whether the file name alone marks the file as this format. A file claimed by name must be
    /// valid; one recognised only by its content falls back to an opaque blob when it is not.
    /// </summary>
    bool ClaimsByName(string fileName);

    /// <summary>
    /// Reads and validates the file's structure without reading tensor payloads. Throws
    /// <see cref="Errors.InvalidModelFileException"/> naming the file and the problem.
    /// </summary>
    FileLayout ReadLayout(Stream stream, long length, string displayName);
}
