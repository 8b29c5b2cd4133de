using MGit.Errors;
using MGit.Formats.Gguf;
using MGit.Formats.Onnx;
using MGit.Formats.PyTorch;
using MGit.Formats.Safetensors;

namespace MGit.Formats.Catalog;

/// <summary>
/// The formats MGit knows, tried in order: the built-in ones, then those registered with
/// <see cref="Register"/>; the opaque blob format takes everything else.
/// </summary>
public static class ModelFormats
{
    /// <summary>How many leading bytes a format sees when deciding whether a file is its own.</summary>
    public const int PrefixLength = 64;

    private static readonly OpaqueFormat Opaque = new();

    private static readonly Lock Registering = new();

    // Replaced whole under the lock and read without it: detection never sees a list being built.
    private static volatile IModelFormat[] _all =
    [
        new SafetensorsFormat(),
        new GgufFormat(),
        new PyTorchFormat(),
        new OnnxFormat(),
        Opaque,
    ];

    /// <summary>Every known format in the order they are tried; the opaque blob format is last.</summary>
    public static IReadOnlyList<IModelFormat> All => Array.AsReadOnly(_all);

    /// <summary>
    /// Adds a format, tried after the built-in ones and those registered before it, and before
    /// the opaque blob format: registering a format never changes how files of a format already
    /// known are read (and so stored). Safe to call from any thread; meant for start-up, before
    /// files are added.
    /// </summary>
    /// <exception cref="ArgumentException">A format of the same name is already known: names are recorded in manifests.</exception>
    public static void Register(IModelFormat format)
    {
        ArgumentNullException.ThrowIfNull(format);
        ArgumentException.ThrowIfNullOrWhiteSpace(format.Name, nameof(format));
        lock (Registering)
        {
            var current = _all;
            if (current.Any(f => string.Equals(f.Name, format.Name, StringComparison.Ordinal)) || format.Name == OnnxFormat.ExternalDataFormatName)
            {
                throw new ArgumentException($"a model format named '{format.Name}' is already known", nameof(format));
            }

            _all = [.. current[..^1], format, current[^1]];
        }
    }

    /// <summary>
    /// Whether a name that is neither a stored model nor on disk was meant as a path (so a command
    /// can say "no such file" rather than "no model named"): it has a directory separator or the
    /// extension of a model file (a registered format claims the name, or a common checkpoint
    /// extension, .bin or .ckpt).
    /// </summary>
    /// <param name="argument">The name as the user gave it.</param>
    public static bool LooksLikeModelPath(string argument)
    {
        if (argument.Contains('/', StringComparison.Ordinal) || argument.Contains(Path.DirectorySeparatorChar, StringComparison.Ordinal))
        {
            return true;
        }

        string extension = Path.GetExtension(argument);
        return All.Any(f => f.ClaimsByName(argument))
            || extension.Equals(".bin", StringComparison.OrdinalIgnoreCase)
            || extension.Equals(".ckpt", StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>The format of a file, judged from its first bytes and its name.</summary>
    /// <param name="prefix">The start of the file (as much as the formats need to recognise it).</param>
    /// <param name="fileName">The file's name, for formats known by extension.</param>
    /// <returns>The first known format that claims the file.</returns>
    public static IModelFormat Detect(ReadOnlySpan<byte> prefix, string fileName)
    {
        foreach (var format in _all)
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
        catch (InvalidModelFileException e) when (!e.Recognized && !format.ClaimsByName(fileName))
        {
            // Only the content looked like this format; a file that merely resembles one is kept as a blob.
            return Opaque.ReadLayout(stream, length, displayName);
        }
    }
}
