using MGit.Formats.Gguf;
using MGit.Formats.Onnx;
using MGit.Formats.PyTorch;
using MGit.Formats.Safetensors;

namespace MGit.Formats;

/// <summary>The formats MGit knows, tried in order; the opaque blob format takes everything else.</summary>
public static class ModelFormats
{
    /// <summary>How many leading bytes a format sees when deciding whether a file is its own.</summary>
    public const int PrefixLength = 64;

    private static readonly OpaqueFormat Opaque = new();

    public static IReadOnlyList<IModelFormat> All { get; } =
    [
        new SafetensorsFormat(),
        new GgufFormat(),
        new PyTorchFormat(),
        new OnnxFormat(),
        Opaque,
    ];

    public static IModelFormat Detect(ReadOnlySpan<byte> prefix, string fileName)
    {
        foreach (var format in All)
        {
            if (format.Matches(prefix, fileName))
            {
                return format;
            }
        }

        throw new InvalidOperationException("the opaque format matches every file");
    }

    /// <summary>The format a file's first bytes (and name) point to, without reading its layout.</summary>
    public static IModelFormat DetectFile(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1);
        Span<byte> prefix = stackalloc byte[PrefixLength];
        int read = stream.ReadAtLeast(prefix, PrefixLength, throwOnEndOfStream: false);
        return Detect(prefix[..read], Path.GetFileName(path));
    }

    /// <summary>Opens a file, detects its format by content and reads its layout.</summary>
    public static FileLayout ReadLayout(string path, string displayName)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1);
        long length = stream.Length;
        Span<byte> prefix = stackalloc byte[PrefixLength];
        int read = stream.ReadAtLeast(prefix, PrefixLength, throwOnEndOfStream: false);
        stream.Position = 0;
        string fileName = Path.GetFileName(path);
        var format = Detect(prefix[..read], fileName);
        try
        {
            return format.ReadLayout(stream, length, displayName);
        }
        catch (Errors.InvalidModelFileException e) when (!e.Recognized && !format.ClaimsByName(fileName))
        {
            // Only the content looked like this format; a file that merely resembles one is kept as a blob.
            return Opaque.ReadLayout(stream, length, displayName);
        }
    }

    /// <summary>
    /// Runs the rest of a reader once the file is certainly of its format: any problem found from
    /// here on refuses the file rather than letting it fall back to an opaque blob.
    /// </summary>
    internal static T Recognized<T>(string displayName, Func<T> read)
    {
        try
        {
            return read();
        }
        catch (Errors.InvalidModelFileException e) when (!e.Recognized)
        {
            throw new Errors.InvalidModelFileException(displayName, e.Problem, e.Kind) { Recognized = true };
        }
    }
}
