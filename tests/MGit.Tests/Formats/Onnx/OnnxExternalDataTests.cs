using MGit.Errors;
using MGit.Formats.Onnx.Proto;
using MGit.Ingest;
using MGit.Tests.TestSupport;
using static MGit.Tests.Formats.Onnx.OnnxBuilder;

namespace MGit.Tests.Formats.Onnx;

/// <summary>Models whose tensors live in side files (data_location = EXTERNAL), as models over 2 GB must.</summary>
public sealed class OnnxExternalDataTests
{
    private static TensorProto External(string name, int dataType, long[] dims, string location, long offset, long? length)
    {
        var tensor = new TensorProto { Name = name, DataType = dataType, Dims = { dims }, DataLocation = TensorProto.Types.DataLocation.External };
        tensor.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = location });
        tensor.ExternalData.Add(new StringStringEntryProto { Key = "offset", Value = offset.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        if (length is long l)
        {
            tensor.ExternalData.Add(new StringStringEntryProto { Key = "length", Value = l.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        }

        return tensor;
    }

    /// <summary>A folder as onnx's save_model(..., save_as_external_data=True) writes it: tensors 4 KiB aligned in one data file.</summary>
    private static (string Folder, float[] Weight) WriteExternalModel(string folder, string location = "model.onnx.data")
    {
        Directory.CreateDirectory(folder);
        float[] weight = Weights(64 * 96, 21);
        byte[] ids = new byte[10 * 8];
        new Random(22).NextBytes(ids);
        var data = new MemoryStream();
        data.Write(Bytes(weight));
        long idsOffset = (data.Length + 4095) / 4096 * 4096;
        data.SetLength(idsOffset);
        data.Position = idsOffset;
        data.Write(ids);
        string dataPath = Path.Combine(folder, location);
        Directory.CreateDirectory(Path.GetDirectoryName(dataPath)!);
        File.WriteAllBytes(dataPath, data.ToArray());

        Write(Path.Combine(folder, "model.onnx"), Model(
        [
            External("encoder.weight", 1, [64, 96], location, 0, weight.Length * 4L),
            External("ids", 7, [10], location, idsOffset, null),
            Raw("bias", 1, [4], Bytes(Weights(4, 23))),
        ]));
        File.WriteAllText(Path.Combine(folder, "config.json"), "{}");
        return (folder, weight);
    }

    [Fact]
    public void A_folder_with_external_data_lays_out_the_side_file_from_the_model_and_round_trips()
    {
        using var fx = new RepoFixture();
        var (folder, _) = WriteExternalModel(fx.Model("ext"));
        var added = fx.Repository.Add(folder, new AddOptions());
        var manifest = fx.Repository.Show(added.Version.Ref).Manifest;

        var data = manifest.Files.Single(f => f.Path == "model.onnx.data");
        Assert.Equal("onnx-data", data.Format);
        var spans = data.Segments.Where(s => s.Tensor is not null).ToList();
        Assert.Equal(["encoder.weight", "ids"], spans.Select(s => s.Tensor!.Name));
        Assert.Equal(["F32", "I64"], spans.Select(s => s.Tensor!.Dtype));
        Assert.Equal([64L, 96L], spans[0].Tensor!.Shape);
        Assert.Equal(4096 * 6, spans[1].Offset);
        Assert.Equal("onnx", manifest.Files.Single(f => f.Path == "model.onnx").Format);
        Assert.Equal(["bias"], manifest.Files.Single(f => f.Path == "model.onnx").Segments.Where(s => s.Tensor is not null).Select(s => s.Tensor!.Name));

        string output = fx.Scratch("out");
        fx.Repository.Checkout(added.Version.Ref, output);
        foreach (string file in new[] { "model.onnx", "model.onnx.data", "config.json" })
        {
            Assert.Equal(File.ReadAllBytes(Path.Combine(folder, file)), File.ReadAllBytes(Path.Combine(output, file)));
        }
    }

    [Fact]
    public void External_tensors_dedup_against_the_same_weights_in_safetensors()
    {
        using var fx = new RepoFixture();
        var (folder, weight) = WriteExternalModel(fx.Model("ext"), location: "weights/data.bin");
        string safetensors = RawSafetensors.Write(fx.Model("m.safetensors"), [new("encoder.weight", "F32", [64, 96], Bytes(weight))]);
        fx.Repository.Add(safetensors, new AddOptions { Name = "st" });
        long before = fx.StoredBytes;
        fx.Repository.Add(folder, new AddOptions { Name = "onnx" });
        long growth = fx.StoredBytes - before;
        Assert.True(growth < weight.Length * 4L / 10, $"stored bytes grew by {growth} for {weight.Length * 4} bytes of weights already stored");
    }

    [Fact]
    public void Adding_only_the_model_file_says_to_add_its_folder()
    {
        using var fx = new RepoFixture();
        var (folder, _) = WriteExternalModel(fx.Model("ext"));
        var before = RepositorySnapshot.Take(fx.RepositoryPath);
        var error = Assert.Throws<MGitException>(() => fx.Repository.Add(Path.Combine(folder, "model.onnx"), new AddOptions()));
        Assert.Contains("add the folder", error.Message, StringComparison.Ordinal);
        Assert.Equal(before, RepositorySnapshot.Take(fx.RepositoryPath));
    }

    [Theory]
    [InlineData("../outside.data", 0, null, "outside the model's folder")]
    [InlineData("/etc/passwd", 0, null, "outside the model's folder")]
    [InlineData("missing.data", 0, null, "not in the folder")]
    [InlineData("side.data", 60, null, "is said to be")]
    [InlineData("side.data", 0, 12L, "external_data says 12")]
    [InlineData("side.data", -1, null, "invalid offset")]
    public void Bad_external_references_are_refused_and_the_repository_is_unchanged(string location, long offset, long? length, string expected)
    {
        using var fx = new RepoFixture();
        string folder = fx.Model("bad");
        Directory.CreateDirectory(folder);
        File.WriteAllBytes(Path.Combine(folder, "side.data"), new byte[64]);
        var tensor = External("w", 1, [4], location, Math.Max(offset, 0), length);
        if (offset < 0)
        {
            tensor.ExternalData[1].Value = "-1";
        }

        Write(Path.Combine(folder, "model.onnx"), Model([tensor]));
        var before = RepositorySnapshot.Take(fx.RepositoryPath);
        var error = Assert.ThrowsAny<MGitException>(() => fx.Repository.Add(folder, new AddOptions()));
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', error.Message);
        Assert.Equal(before, RepositorySnapshot.Take(fx.RepositoryPath));
    }
}
