using MGit.Errors;
using MGit.Ingest;
using MGit.Tests.TestSupport;

namespace MGit.Tests.Formats;

/// <summary>
/// Files kept under Fixtures/: a checkpoint written by CPython's own pickler the way torch.save
/// lays it out, and the malformed corpus (see the make_*.py scripts beside them, run by hand).
/// </summary>
public sealed class FormatCorpusTests
{
    private static string Fixture(params string[] parts) => Path.Combine([AppContext.BaseDirectory, "Fixtures", .. parts]);

    public static TheoryData<string> MalformedFiles() =>
        new(Directory.EnumerateFiles(Fixture("malformed")).Where(f => !f.EndsWith(".py", StringComparison.Ordinal)).Select(Path.GetFileName).Order(StringComparer.Ordinal)!);

    [Theory]
    [MemberData(nameof(MalformedFiles))]
    public void Every_malformed_file_is_refused_in_one_line_and_the_repository_is_unchanged(string file)
    {
        using var fx = new RepoFixture();
        string path = fx.Model(file);
        File.Copy(Fixture("malformed", file), path);
        var before = RepositorySnapshot.Take(fx.RepositoryPath);
        var result = CliRunner.Run(fx.Models, "-C", fx.RepositoryPath, "add", path, "-q");
        Assert.Equal(1, result.ExitCode);
        Assert.StartsWith("mgit: ", result.Error, StringComparison.Ordinal);
        Assert.Single(result.Error.TrimEnd().Split('\n'));
        Assert.Equal(before, RepositorySnapshot.Take(fx.RepositoryPath));
        Assert.False(File.Exists("/tmp/mgit-corpus-executed"));
    }

    [Theory]
    [InlineData("state-dict.pt")]
    [InlineData("state-dict-protocol4.pt")]
    public void A_checkpoint_pickled_by_cpython_lists_its_tensors_and_round_trips(string file)
    {
        using var fx = new RepoFixture(chunkSize: 1024);
        string path = fx.Model(file);
        File.Copy(Fixture("pytorch", file), path);
        var added = fx.Repository.Add(path, new AddOptions());
        var tensors = fx.Repository.Show(added.Version.Ref).Tensors.ToList();
        Assert.Equal(
            ["embed.weight F32 8x8", "lm_head.weight F32 8x8", "layer.0.weight F16 6x8", "layer.0.bias F32 6", "position_ids I64 1x10"],
            tensors.Select(t => $"{t.Name} {t.Dtype} {string.Join('x', t.Shape)}"));
        // Tied weights share one storage: four storages, five tensors.
        Assert.Equal(4, fx.Repository.Show(added.Version.Ref).Manifest.Files[0].Segments.Count(s => s.Tensor is not null));

        string output = fx.Scratch("out.pt");
        fx.Repository.Checkout(added.Version.Ref, output);
        Assert.Equal(File.ReadAllBytes(path), File.ReadAllBytes(output));
    }

    [Fact]
    public void Refusals_name_the_file_and_are_marked_recognized()
    {
        var error = Assert.Throws<InvalidModelFileException>(() => MGit.Formats.Catalog.ModelFormats.ReadLayout(Fixture("malformed", "pickle-os-system.pt"), "evil.pt"));
        Assert.True(error.Recognized);
        Assert.StartsWith("evil.pt: ", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_safetensors_name_with_a_line_break_still_gives_a_one_line_error()
    {
        // Regression (mutation fuzzer, seed 7): names echoed into messages may hold control characters.
        byte[] header = "{\"a\\nb\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"a\\nb\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}"u8.ToArray();
        byte[] file = [.. BitConverter.GetBytes((ulong)header.Length), .. header, .. new byte[8]];
        using var stream = new MemoryStream(file);
        var error = Assert.Throws<InvalidModelFileException>(() => new MGit.Formats.Safetensors.SafetensorsFormat().ReadLayout(stream, file.Length, "m.safetensors"));
        Assert.DoesNotContain('\n', error.Message);
        Assert.Contains("a\\x0ab", error.Message, StringComparison.Ordinal);
    }
}
