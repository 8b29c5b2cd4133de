using MGit.Formats;
using MGit.Formats.Catalog;
using MGit.Formats.Onnx;
using MGit.Formats.Onnx.Proto;
using MGit.Ingest;
using MGit.Tests.TestSupport;

namespace MGit.Tests.Formats.Onnx;

/// <summary>Real ONNX files from the ONNX project: byte-identical round trips, and spans checked against Google.Protobuf.</summary>
public sealed class OnnxCorpusTests
{
    public static TheoryData<string> FixtureModels() => new(OnnxCorpus.FixtureFiles(".onnx").Select(f => Path.GetRelativePath(OnnxCorpus.Fixtures, f)));

    [Fact]
    public void The_fixture_subset_is_there()
    {
        Assert.True(OnnxCorpus.FixtureFiles(".onnx").Count() >= 100);
        Assert.True(OnnxCorpus.FixtureFiles(".pb").Count() >= 100);
        Assert.True(File.Exists(Path.Combine(OnnxCorpus.Fixtures, "backend", "LICENSE")));
    }

    [Fact]
    public void Every_model_adds_and_checks_out_byte_for_byte()
    {
        // The fixtures hold every .onnx of the backend test data; their .pb files are not models and are left out here.
        using var fx = new RepoFixture();
        string folder = fx.Model("corpus");
        var models = OnnxCorpus.FixtureFiles(".onnx").ToList();
        foreach (string model in models)
        {
            string copy = Path.Combine(folder, Path.GetRelativePath(OnnxCorpus.Fixtures, model));
            Directory.CreateDirectory(Path.GetDirectoryName(copy)!);
            File.Copy(model, copy);
        }

        var added = fx.Repository.Add(folder, new AddOptions { Name = "corpus" });
        var manifest = fx.Repository.Show(added.Version.Ref).Manifest;
        Assert.Equal(models.Count, manifest.Files.Count);
        Assert.All(manifest.Files, f => Assert.Equal("onnx", f.Format));
        Assert.True(added.Tensors > 1000, $"{added.Tensors} tensors");

        string output = fx.Scratch("out");
        fx.Repository.Checkout(added.Version.Ref, output);
        foreach (var file in manifest.Files)
        {
            Assert.Equal(File.ReadAllBytes(Path.Combine(folder, file.Path)), File.ReadAllBytes(Path.Combine(output, file.Path)));
        }
    }

    [Theory]
    [MemberData(nameof(FixtureModels))]
    public void Tensor_spans_hold_exactly_what_protobuf_decodes(string relativePath)
    {
        string path = Path.Combine(OnnxCorpus.Fixtures, relativePath);
        byte[] bytes = File.ReadAllBytes(path);
        var full = ModelProto.Parser.ParseFrom(bytes);
        var expected = OnnxCorpus.AllTensors(full);
        var found = OnnxModel.ReadStructure(path).Tensors;

        Assert.Equal(expected.Count, found.Count);
        foreach (var (proto, tensor) in expected.Zip(found))
        {
            if (proto.Name.Length > 0)
            {
                Assert.Equal(proto.Name, tensor.Name);
            }

            Assert.Equal(proto.Dims, tensor.Dims);
            Assert.Equal(proto.DataType, tensor.DataType);
            if (tensor.Layout is OnnxValueLayout.ElementBytes or OnnxValueLayout.Varints)
            {
                Assert.Equal(OnnxCorpus.ExpectedSpanBytes(proto), bytes.AsSpan((int)tensor.Offset, (int)tensor.Length).ToArray());
            }
        }

        // The layout lists the same tensors with the same dtypes and tiles the file.
        var layout = ModelFormats.ReadLayout(path, relativePath);
        Assert.Equal("onnx", layout.Format);
        Assert.Equal(found.Select(t => (t.Name, t.Dtype)), layout.Tensors.Select(t => (t.Name, t.Dtype)));
        Assert.Equal(bytes.Length, layout.Segments.Sum(s => s.Length));
        Assert.True(OnnxFormat.LooksLikeModel(bytes.AsSpan(0, Math.Min(bytes.Length, ModelFormats.PrefixLength))), "detected by content");
    }

    [Theory]
    [MemberData(nameof(FixtureModels))]
    public void Structure_is_the_model_with_tensor_values_left_out(string relativePath)
    {
        string path = Path.Combine(OnnxCorpus.Fixtures, relativePath);
        var full = ModelProto.Parser.ParseFrom(File.ReadAllBytes(path));
        foreach (var tensor in OnnxCorpus.AllTensors(full))
        {
            tensor.ClearRawData();
            tensor.FloatData.Clear();
            tensor.DoubleData.Clear();
            tensor.Int32Data.Clear();
            tensor.Int64Data.Clear();
            tensor.Uint64Data.Clear();
            tensor.StringData.Clear();
        }

        var structure = OnnxModel.ReadStructure(path);
        Assert.Equal(full, structure.Model);
        Assert.Equal(full.IrVersion.ToString(System.Globalization.CultureInfo.InvariantCulture), structure.Metadata["ir_version"]);
    }

    [Fact]
    public void TensorProto_files_decode_to_the_values_protobuf_reads() =>
        AssertTensorFilesDecode(OnnxCorpus.FixtureFiles(".pb"), minimum: 100);

    [Fact]
    public void The_full_corpus_TensorProto_files_decode_to_the_values_protobuf_reads()
    {
        // The shared corpus (with the larger .pb files the fixtures leave out) is beside the checkout on developer machines and in CI.
        if (OnnxCorpus.Full is string full)
        {
            AssertTensorFilesDecode(Directory.EnumerateFiles(full, "*.pb", SearchOption.AllDirectories), minimum: 300);
        }
    }

    private static void AssertTensorFilesDecode(IEnumerable<string> files, int minimum)
    {
        int checkedSpans = 0;
        foreach (string path in files)
        {
            byte[] bytes = File.ReadAllBytes(path);
            var proto = TensorProto.Parser.ParseFrom(bytes);
            using var stream = new MemoryStream(bytes);
            var tensor = OnnxModel.ReadTensor(stream, path);
            Assert.Equal(proto.Dims, tensor.Dims);
            Assert.Equal(proto.DataType, tensor.DataType);
            Assert.Equal(proto.Name.Length > 0 ? proto.Name : "tensor", tensor.Name);
            if (tensor.Layout is OnnxValueLayout.ElementBytes or OnnxValueLayout.Varints)
            {
                Assert.Equal(OnnxCorpus.ExpectedSpanBytes(proto), bytes.AsSpan((int)tensor.Offset, (int)tensor.Length).ToArray());
                checkedSpans++;
            }
        }

        Assert.True(checkedSpans >= minimum, $"{checkedSpans} spans checked");
    }
}
