using MGit.Errors;
using MGit.Ingest;
using MGit.Workspace;

namespace MGit.Quickstart;

/// <summary>One quickstart member as added: what was trained, and what storing it cost.</summary>
public sealed record QuickstartStep(FamilyMember Member, AddResult Added);

public sealed record QuickstartResult(
    string Directory,
    IReadOnlyList<QuickstartStep> Steps,
    string CheckedOutRef,
    string CheckedOutPath,
    bool CheckoutIdentical);

/// <summary>
/// The README's first command: train the penguin family, add it to a new repository in
/// <c>DIRECTORY</c> with its lineage, and check one model back out, comparing bytes.
/// </summary>
public static class QuickstartRunner
{
    public static QuickstartResult Run(string directory, RepositoryOptions options)
    {
        string root = Path.GetFullPath(directory);
        if (System.IO.Directory.Exists(root) && System.IO.Directory.EnumerateFileSystemEntries(root).Any())
        {
            throw new MGitException(ErrorKind.Conflict, $"{directory} is not empty; give the quickstart a new folder");
        }

        var members = PenguinFamily.Build(Path.Combine(root, "models"));
        using var repository = Repository.Init(root, options);
        var steps = new List<QuickstartStep>();
        foreach (var member in members)
        {
            var added = repository.Add(member.Path, new AddOptions
            {
                Name = member.Name,
                Parents = member.Parents,
                How = member.How,
                VersionOf = member.VersionOf,
                Type = member.Type,
                Message = member.Message,
                Metadata = new Dictionary<string, string>
                {
                    ["test_accuracy"] = member.TestAccuracy.ToString("0.0000", System.Globalization.CultureInfo.InvariantCulture),
                    ["dataset"] = "palmer-penguins",
                },
            });
            steps.Add(new QuickstartStep(member, added));
        }

        // Check the folder model back out and compare every file with what was trained.
        var original = members.First(m => m.Name == "penguin-base" && m.VersionOf is null);
        string output = Path.Combine(root, "checkout", "penguin-base");
        repository.Checkout("penguin-base@1", output);
        bool identical = System.IO.Directory.EnumerateFiles(original.Path, "*", SearchOption.AllDirectories).All(file =>
            File.ReadAllBytes(file).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(output, Path.GetRelativePath(original.Path, file)))));
        return new QuickstartResult(root, steps, "penguin-base@1", output, identical);
    }
}
