using MGit.Tests.TestSupport;

namespace MGit.Tests.Cli;

public sealed class QuickstartCommandTests
{
    [Fact]
    public void Quickstart_builds_adds_and_checks_out_the_penguin_family()
    {
        using var dir = new TempDirectory();
        string target = dir.File("qs");
        var result = CliRunner.Run(dir.Path, "quickstart", target);
        Assert.True(result.ExitCode == 0, result.Error);
        Assert.Contains("every file is byte-identical", result.Out);
        Assert.Contains("└── penguin-base@2  (next version)", result.Out);

        var ls = CliRunner.Run(target, "ls");
        foreach (string reference in new[] { "penguin-base@1", "penguin-sex@1", "penguin-island@1", "penguin-base@2", "penguin-sex-pruned@1", "penguin-island-bf16@1" })
        {
            Assert.Contains(reference, ls.Out);
        }

        // The head-only fine-tune shares the frozen encoder: almost nothing new was stored for it.
        using var repository = Repository.Open(target);
        var sex = repository.Show("penguin-sex");
        var baseModel = repository.Show("penguin-base@1");
        var shared = sex.Manifest.Files[0].Segments.Where(s => s.Tensor?.Name.StartsWith("encoder.", StringComparison.Ordinal) == true).SelectMany(s => s.Chunks).ToHashSet();
        var baseChunks = baseModel.Manifest.Files.SelectMany(f => f.Segments).SelectMany(s => s.Chunks).ToHashSet();
        Assert.NotEmpty(shared);
        Assert.Subset(baseChunks, shared);
        Assert.True(repository.Fsck().Intact);

        // A second run into the same folder is refused rather than mixing two families.
        var again = CliRunner.Run(dir.Path, "quickstart", target);
        Assert.Equal(1, again.ExitCode);
        Assert.Contains("not empty", again.Error);
    }
}
