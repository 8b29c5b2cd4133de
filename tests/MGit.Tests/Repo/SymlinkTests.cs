using MGit.Storage;
using MGit.Tests.TestSupport;
using static MGit.Tests.TestSupport.RawSafetensors;

namespace MGit.Tests.Repo;

/// <summary>Symbolic links in folder models: refused by default, kept as links (inside only) when asked.</summary>
public sealed class SymlinkTests
{
    private static string ModelFolder(TempDirectory dir)
    {
        string folder = dir.File("model");
        Directory.CreateDirectory(Path.Combine(folder, "shared"));
        Write(Path.Combine(folder, "model.safetensors"), [Random("w", "F32", [64, 64], 1)]);
        File.WriteAllText(Path.Combine(folder, "shared", "tokenizer.json"), "{\"vocab\": [1, 2, 3]}");
        return folder;
    }

    private static string NewRepo(TempDirectory dir)
    {
        string repo = dir.File("repo");
        Directory.CreateDirectory(repo);
        Assert.Equal(0, CliRunner.Run(repo, "init").ExitCode);
        return repo;
    }

    [LinuxFact("symbolic links without privileges")]
    public void A_link_pointing_outside_the_folder_is_refused_with_or_without_the_flag()
    {
        using var dir = new TempDirectory();
        string repo = NewRepo(dir);
        string folder = ModelFolder(dir);
        File.WriteAllText(dir.File("secret"), "do not store me");
        File.CreateSymbolicLink(Path.Combine(folder, "tokenizer.json"), dir.File("secret"));

        var plain = CliRunner.Run(repo, "add", folder);
        Assert.Equal(1, plain.ExitCode);
        Assert.Single(plain.Error.Trim().Split('\n'));
        Assert.Contains("symbolic link", plain.Error);
        Assert.Contains("--follow-symlinks", plain.Error);

        var followed = CliRunner.Run(repo, "add", folder, "--follow-symlinks");
        Assert.Equal(1, followed.ExitCode);
        Assert.Contains("outside the folder", followed.Error);

        // A link to a folder outside, and one to nothing, are refused the same way.
        File.Delete(Path.Combine(folder, "tokenizer.json"));
        Directory.CreateSymbolicLink(Path.Combine(folder, "etc"), "/etc");
        Assert.Contains("outside the folder", CliRunner.Run(repo, "add", folder, "--follow-symlinks").Error);
        File.Delete(Path.Combine(folder, "etc"));
        File.CreateSymbolicLink(Path.Combine(folder, "dangling"), "shared/none.json");
        Assert.Contains("does not exist", CliRunner.Run(repo, "add", folder, "--follow-symlinks").Error);
        Assert.Empty(CliRunner.Run(repo, "ls").Out.Trim());
    }

    [LinuxFact("symbolic links without privileges")]
    public void Links_inside_the_folder_are_kept_as_links_and_restored_as_links()
    {
        using var dir = new TempDirectory();
        string repo = NewRepo(dir);
        string folder = ModelFolder(dir);
        File.CreateSymbolicLink(Path.Combine(folder, "tokenizer.json"), "shared/tokenizer.json");
        Directory.CreateSymbolicLink(Path.Combine(folder, "assets"), "shared");
        // Written with an absolute target that lies inside: recorded relative, so the checkout points into itself.
        File.CreateSymbolicLink(Path.Combine(folder, "shared", "again.json"), Path.Combine(folder, "shared", "tokenizer.json"));

        Assert.Equal(1, CliRunner.Run(repo, "add", folder).ExitCode);
        var added = CliRunner.Run(repo, "add", folder, "--follow-symlinks");
        Assert.True(added.ExitCode == 0, added.Error);

        string output = dir.File("out");
        var checkout = CliRunner.Run(repo, "checkout", "model", "-o", output);
        Assert.True(checkout.ExitCode == 0, checkout.Error);
        Assert.Equal("shared/tokenizer.json", new FileInfo(Path.Combine(output, "tokenizer.json")).LinkTarget);
        Assert.Equal("shared", new DirectoryInfo(Path.Combine(output, "assets")).LinkTarget);
        Assert.Equal("tokenizer.json", new FileInfo(Path.Combine(output, "shared", "again.json")).LinkTarget);
        Assert.Equal(File.ReadAllText(Path.Combine(folder, "shared", "tokenizer.json")), File.ReadAllText(Path.Combine(output, "tokenizer.json")));
        Assert.Equal(File.ReadAllBytes(Path.Combine(folder, "model.safetensors")), File.ReadAllBytes(Path.Combine(output, "model.safetensors")));

        // Again over the same folder with --force: the links are replaced, not written through.
        Assert.Equal(0, CliRunner.Run(repo, "checkout", "model", "-o", output, "--force").ExitCode);
        Assert.Equal("shared/tokenizer.json", new FileInfo(Path.Combine(output, "tokenizer.json")).LinkTarget);
        Assert.Equal(0, CliRunner.Run(repo, "fsck").ExitCode);

        // The manifest says so, in schema 2; a model without links keeps schema 1 (and its old bytes).
        using var repository = Repository.Open(repo);
        var manifest = repository.LoadManifest(repository.Resolve("model"));
        Assert.Equal(Manifest.LinksSchema, manifest.Schema);
        Assert.Equal(["assets", "shared/again.json", "tokenizer.json"], manifest.Links!.Select(l => l.Path));
        string plain = System.Text.Encoding.UTF8.GetString(new Manifest { Kind = "folder", Files = [] }.ToJson());
        Assert.Contains("\"schema\":1", plain);
        Assert.DoesNotContain("links", plain);
    }

    [LinuxFact("symbolic links without privileges")]
    public void Checkout_never_writes_through_a_linked_folder_already_in_the_target()
    {
        using var dir = new TempDirectory();
        string repo = NewRepo(dir);
        string folder = ModelFolder(dir);
        Assert.Equal(0, CliRunner.Run(repo, "add", folder).ExitCode);

        string output = dir.File("out");
        string elsewhere = dir.File("elsewhere");
        Directory.CreateDirectory(output);
        Directory.CreateDirectory(elsewhere);
        Directory.CreateSymbolicLink(Path.Combine(output, "shared"), elsewhere);
        var result = CliRunner.Run(repo, "checkout", "model", "-o", output, "--force");
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("symbolic link", result.Error);
        Assert.Empty(Directory.EnumerateFileSystemEntries(elsewhere));
    }

    public static TheoryData<string, string> BadLinks => new()
    {
        { "a", "../outside" },
        { "sub/a", "../../outside" },
        { "a", "/etc/passwd" },
        { "a", "." },
        { "sub/a", ".." },
        { "a", "sub\\..\\..\\x" },
        { "a", "" },
    };

    [Theory]
    [MemberData(nameof(BadLinks))]
    public void A_manifest_with_a_link_leading_outside_is_refused(string path, string target)
    {
        var manifest = new Manifest { Kind = "folder", Files = [], Links = [new ManifestLink(path, target)], Schema = Manifest.LinksSchema };
        var e = Assert.Throws<MGit.Errors.MGitException>(() => Manifest.FromJson(manifest.ToJson(), "crafted"));
        Assert.Contains("link", e.Message);
    }

    [Fact]
    public void A_manifest_with_a_path_inside_a_link_or_a_link_through_a_link_is_refused()
    {
        // sub/c/b -> .. is sub; then sub/a -> c/b/../.. reads as sub but the kernel takes it to the parent of the model.
        var through = new Manifest
        {
            Kind = "folder",
            Files = [],
            Links = [new ManifestLink("sub/c/b", ".."), new ManifestLink("sub/a", "c/b/../..")],
            Schema = Manifest.LinksSchema,
        };
        Assert.Contains("through another link", Assert.Throws<MGit.Errors.MGitException>(() => Manifest.FromJson(through.ToJson(), "crafted")).Message);

        var inside = new Manifest
        {
            Kind = "folder",
            Files = [new ManifestFile { Path = "a/x", Format = "blob", Length = 0, ChunkSize = 1024, Segments = [] }],
            Links = [new ManifestLink("a", "b")],
            Schema = Manifest.LinksSchema,
        };
        Assert.Contains("inside the link", Assert.Throws<MGit.Errors.MGitException>(() => Manifest.FromJson(inside.ToJson(), "crafted")).Message);
    }
}
