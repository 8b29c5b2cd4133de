using MGit.Errors;
using MGit.Formats.Onnx;

namespace MGit.Formats.Catalog;

/// <summary>
/// Reads the layouts of every file being added together. Files are independent except for ONNX
/// external data: a model names side files and byte ranges in them holding its tensors, so those
/// side files are laid out from the model's external_data entries (tensor spans that deduplicate
/// and delta like any other tensor) rather than by their own content.
/// </summary>
public static class FolderLayouts
{
    /// <param name="files">Full and '/'-separated relative paths of the files.</param>
    /// <param name="displayName">How to name a file (by relative path) in errors.</param>
    /// <param name="isFolder">Whether a folder is being added; a single model file cannot bring its side files.</param>
    public static List<(string FullPath, string RelativePath, FileLayout Layout)> Read(
        IReadOnlyList<(string FullPath, string RelativePath)> files, Func<string, string> displayName, bool isFolder)
    {
        var layouts = new FileLayout?[files.Count];

        // ONNX models first: their external_data entries say how to lay out the side files.
        for (int i = 0; i < files.Count; i++)
        {
            if (ModelFormats.DetectFile(files[i].FullPath) is OnnxFormat)
            {
                layouts[i] = ModelFormats.ReadLayout(files[i].FullPath, displayName(files[i].RelativePath));
            }
        }

        var sideSpans = CollectExternalSpans(files, layouts, displayName, isFolder);
        for (int i = 0; i < files.Count; i++)
        {
            var (fullPath, relativePath) = files[i];
            if (sideSpans.TryGetValue(relativePath, out var spans))
            {
                if (layouts[i] is not null)
                {
                    throw new InvalidModelFileException(displayName(relativePath), "is a model itself, but another model names it as its external data file");
                }

                layouts[i] = SideFileLayout(fullPath, spans, displayName(relativePath));
            }
            else
            {
                layouts[i] ??= ModelFormats.ReadLayout(fullPath, displayName(relativePath));
            }
        }

        return files.Select((f, i) => (f.FullPath, f.RelativePath, layouts[i]!)).ToList();
    }

    private static Dictionary<string, List<Segment>> CollectExternalSpans(
        IReadOnlyList<(string FullPath, string RelativePath)> files, FileLayout?[] layouts, Func<string, string> displayName, bool isFolder)
    {
        var present = files.Select(f => f.RelativePath).ToHashSet(StringComparer.Ordinal);
        var result = new Dictionary<string, List<Segment>>(StringComparer.Ordinal);
        for (int i = 0; i < files.Count; i++)
        {
            if (layouts[i] is not { ExternalTensors.Count: > 0 } layout)
            {
                continue;
            }

            string model = displayName(files[i].RelativePath);
            if (!isFolder)
            {
                var names = layout.ExternalTensors.Select(t => t.Location).Distinct().Take(3);
                throw new MGitException(ErrorKind.InvalidInput, $"{model} keeps {layout.ExternalTensors.Count} tensors in external data ({string.Join(", ", names)}); add the folder that holds the model and its data files");
            }

            string directory = files[i].RelativePath.Contains('/') ? files[i].RelativePath[..(files[i].RelativePath.LastIndexOf('/') + 1)] : "";
            foreach (var tensor in layout.ExternalTensors)
            {
                string sidePath = directory + ResolveLocation(tensor, model);
                if (!present.Contains(sidePath))
                {
                    throw new InvalidModelFileException(model, $"tensor '{tensor.Tensor.Name}' is in external file '{tensor.Location}', which is not in the folder");
                }

                if (!result.TryGetValue(sidePath, out var spans))
                {
                    result[sidePath] = spans = [];
                }

                spans.Add(new Segment(tensor.Offset, tensor.Length, tensor.Tensor));
            }
        }

        return result;
    }

    /// <summary>The side file's path relative to the model's folder: it must stay inside that folder.</summary>
    private static string ResolveLocation(ExternalTensorSpan tensor, string model)
    {
        string location = tensor.Location.Replace('\\', '/');
        var parts = location.Split('/').Where(p => p is not ("" or ".")).ToList();
        if (location.StartsWith('/') || Path.IsPathRooted(tensor.Location) || parts.Count == 0 || parts.Contains(".."))
        {
            throw new InvalidModelFileException(model, $"tensor '{tensor.Tensor.Name}' names external file '{tensor.Location}', which is outside the model's folder");
        }

        return string.Join('/', parts);
    }

    private static FileLayout SideFileLayout(string path, List<Segment> spans, string display)
    {
        long length = new FileInfo(path).Length;
        var kept = new List<Segment>();
        long end = 0;
        foreach (var span in spans.OrderBy(s => s.Offset).ThenByDescending(s => s.Length))
        {
            if (span.Offset > length || span.Length > length - span.Offset)
            {
                throw new InvalidModelFileException(display, $"is {length} bytes, but tensor '{span.Tensor!.Name}' is said to be {span.Length} bytes at offset {span.Offset}");
            }

            // Tensors sharing bytes (tied weights) are stored once, under the first of them.
            if (span.Offset >= end)
            {
                kept.Add(span);
                end = span.Offset + span.Length;
            }
        }

        return FileLayout.FromTensorSpans(OnnxFormat.ExternalDataFormatName, length, kept);
    }
}
