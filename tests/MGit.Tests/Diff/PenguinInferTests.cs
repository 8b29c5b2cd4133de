using MGit.Lineage;
using MGit.Tests.Quickstart;
using MGit.Tests.TestSupport;

namespace MGit.Tests.Diff;

/// <summary>Placement on the quickstart's real trained family: its recorded lineage is the truth.</summary>
public sealed class PenguinInferTests(PenguinFamilyFixture family) : IClassFixture<PenguinFamilyFixture>
{
    private static string NameOf(string reference) => reference.Split('@')[0];

    [Fact]
    public void Infer_recovers_the_quickstart_family_from_its_files_alone()
    {
        string folder = Path.GetDirectoryName(family.Members[0].Path)!;
        Assert.All(family.Members, m => Assert.Equal(folder, Path.GetDirectoryName(m.Path)));
        using var fixture = new RepoFixture();
        var inferred = fixture.Repository.Infer(folder);
        Assert.Equal(family.Members.Count, inferred.Count);

        var graph = fixture.Repository.Graph();
        foreach (var member in family.Members)
        {
            // Infer names models by file stem or folder name; the next version lives in its own folder.
            string name = Path.GetFileNameWithoutExtension(member.Path.TrimEnd('/'));
            string? truth = member.Parents.Count > 0 ? member.Parents[0] : member.VersionOf;
            var parent = graph.Parents(graph.Resolve(name), EdgeKind.Adapted).SingleOrDefault();
            Assert.True((truth is null ? null : NameOf(truth)) == parent?.Name, $"{name}: inferred {parent?.Name ?? "(root)"}, truth {truth ?? "(root)"}");
        }
    }
}
