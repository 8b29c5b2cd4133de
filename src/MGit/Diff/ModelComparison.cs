using MGit.Diff;
using MGit.Errors;
using MGit.Formats.Catalog;
using MGit.Lineage;
using MGit.Storage;
using MGit.Workspace;

namespace MGit.Diff;

/// <summary>Compares models: stored versions by ref, or files and folders on disk.</summary>
internal sealed class ModelComparison(RepositoryContext context)
{
    /// <summary>
    /// Compares two models. Each of <paramref name="a"/> and <paramref name="b"/> is a ref
    /// (NAME or NAME@N) when the repository has a model of that name, otherwise a model file or
    /// folder on disk (relative to <paramref name="workingDirectory"/>), read without storing it.
    /// </summary>
    public ModelDiffResult Diff(string a, string b, string? workingDirectory = null)
    {
        // Every version of the models the arguments would name, and no other: refs resolve within it.
        var graph = context.Lineage.ReadAround([ModelRef.NameOf(a), ModelRef.NameOf(b)], []);
        using (RepositoryLock.Shared(context.LockPath, context.Options.LockWait))
        {
            return ModelDiff.Compare(Side(graph, a, workingDirectory), Side(graph, b, workingDirectory));
        }
    }

    /// <summary>Compares two models on disk, without a repository (chunks cut as a new repository would cut them).</summary>
    public static ModelDiffResult DiffPaths(string a, string b) =>
        ModelDiff.Compare(PathSide(a, a, new RepositoryFormat()), PathSide(b, b, new RepositoryFormat()));

    private DiffSide Side(LineageGraph graph, string argument, string? workingDirectory)
    {
        if (IsStoredModel(graph, argument))
        {
            var version = graph.Resolve(argument);
            return DiffSide.FromStored(version.Ref, context.LoadManifest(version), context.Objects);
        }

        string path = Path.GetFullPath(argument, workingDirectory ?? Environment.CurrentDirectory);
        if (!File.Exists(path) && !Directory.Exists(path))
        {
            if (ModelFormats.LooksLikeModelPath(argument))
            {
                throw new MGitException(ErrorKind.NotFound, $"no such file or model: {argument}");
            }

            // Resolve again for the ref's own error message ("no model named ...", "has no version 3").
            graph.Resolve(argument);
        }

        return PathSide(argument, path, context.WritingFormat);
    }

    private static bool IsStoredModel(LineageGraph graph, string argument) => graph.Latest(ModelRef.NameOf(argument)) is not null;

    private static DiffSide PathSide(string label, string path, RepositoryFormat format)
    {
        string full = Path.GetFullPath(path);
        if (Directory.Exists(full))
        {
            return DiffSide.FromPath(label, full, format, ModelFolder.Enumerate(full, keepLinks: true).Files);
        }

        if (!File.Exists(full))
        {
            throw new MGitException(ErrorKind.NotFound, $"no such file or model: {label}");
        }

        return DiffSide.FromPath(label, full, format, [(full, Path.GetFileName(full))]);
    }
}
