using System.Text.Json;
using Google.Protobuf;
using MGit.Errors;
using MGit.Formats;
using MGit.Formats.Catalog;
using MGit.Formats.Onnx;
using MGit.Formats.Onnx.Proto;
using MGit.Ingest;
using MGit.Tests.TestSupport;
using static MGit.Tests.Formats.Onnx.OnnxBuilder;

namespace MGit.Tests.Formats.Onnx;

public sealed class OnnxFormatTests
{
    private static FileLayout Layout(string path) => ModelFormats.ReadLayout(path, Path.GetFileName(path));

    private static void AssertRoundTrip(RepoFixture fx, string path, string? name = null)
    {
        var added = fx.Repository.Add(path, new AddOptions { Name = name });
        string output = fx.Scratch(Guid.NewGuid().ToString("N"));
        fx.Repository.Checkout(added.Version.Ref, output);
        Assert.Equal(File.ReadAllBytes(path), File.ReadAllBytes(output));
    }

    /// <summary>Every ONNX data type with a fixed width, in raw_data: 15 elements, so 4-bit types end on a half byte.</summary>
    public static TheoryData<int, string> RawDataTypes() => new()
    {
        { 1, "F32" }, { 2, "U8" }, { 3, "I8" }, { 4, "U16" }, { 5, "I16" }, { 6, "I32" }, { 7, "I64" }, { 9, "BOOL" },
        { 10, "F16" }, { 11, "F64" }, { 12, "U32" }, { 13, "U64" }, { 14, "C64" }, { 15, "C128" }, { 16, "BF16" },
        { 17, "F8_E4M3" }, { 18, "F8_E4M3FNUZ" }, { 19, "F8_E5M2" }, { 20, "F8_E5M2FNUZ" }, { 21, "U4" }, { 22, "I4" }, { 23, "F4" }, { 24, "F8_E8M0" },
    };

    [Theory]
    [MemberData(nameof(RawDataTypes))]
    public void Every_data_type_in_raw_data_is_a_tensor_span_and_round_trips(int dataType, string dtype)
    {
        using var fx = new RepoFixture(chunkSize: 1024);
        int bits = OnnxDataTypes.BitsPerElement(dataType)!.Value;
        var data = new byte[(15 * bits + 7) / 8];
        new Random(dataType).NextBytes(data);
        var big = new byte[3000 * bits / 8];
        new Random(-dataType).NextBytes(big);
        string path = Write(fx.Model("m.onnx"), Model([Raw("w", dataType, [3, 5], data), Raw("big", dataType, [3000], big), Raw("empty", dataType, [0, 4], [])]));

        var layout = Layout(path);
        Assert.Equal("onnx", layout.Format);
        var spans = layout.Segments.Where(s => s.Tensor is not null).ToList();
        Assert.Equal(["w", "big", "empty"], spans.Select(s => s.Tensor!.Name));
        Assert.All(spans, s => Assert.Equal(dtype, s.Tensor!.Dtype));
        Assert.Equal([3L, 5L], spans[0].Tensor!.Shape);
        Assert.Equal(data, File.ReadAllBytes(path).AsSpan((int)spans[0].Offset, (int)spans[0].Length).ToArray());
        Assert.Equal([data.Length, big.Length, 0], spans.Select(s => (int)s.Length));
        AssertRoundTrip(fx, path);
    }

    [Fact]
    public void Typed_fields_are_spans_floats_as_element_bytes_and_varints_marked()
    {
        using var fx = new RepoFixture();
        float[] weights = Weights(300, 1);
        var tensors = new[]
        {
            new TensorProto { Name = "floats", DataType = 1, Dims = { 300 }, FloatData = { weights } },
            new TensorProto { Name = "doubles", DataType = 11, Dims = { 2, 2 }, DoubleData = { 1.5, -2.25, 1e300, 0 } },
            new TensorProto { Name = "complex", DataType = 14, Dims = { 2 }, FloatData = { 1f, 2f, 3f, 4f } },
            new TensorProto { Name = "int8s", DataType = 3, Dims = { 4 }, Int32Data = { -1, 2, -128, 127 } },
            new TensorProto { Name = "halves", DataType = 10, Dims = { 2 }, Int32Data = { 0x3C00, 0xC000 } },
            new TensorProto { Name = "int64s", DataType = 7, Dims = { 3 }, Int64Data = { -5, long.MaxValue, 0 } },
            new TensorProto { Name = "uint64s", DataType = 13, Dims = { 2 }, Uint64Data = { ulong.MaxValue, 1 } },
            new TensorProto { Name = "strings", DataType = 8, Dims = { 2 }, StringData = { ByteString.CopyFromUtf8("a"), ByteString.CopyFromUtf8("bc") } },
            new TensorProto { Name = "nothing", DataType = 1, Dims = { 0 } },
        };
        string path = Write(fx.Model("typed.onnx"), Model(tensors));
        byte[] bytes = File.ReadAllBytes(path);

        var byName = Layout(path).Segments.Where(s => s.Tensor is not null).ToDictionary(s => s.Tensor!.Name);
        Assert.Equal("F32", byName["floats"].Tensor!.Dtype);
        Assert.Equal(Bytes(weights), bytes.AsSpan((int)byName["floats"].Offset, (int)byName["floats"].Length).ToArray());
        Assert.Equal("F64", byName["doubles"].Tensor!.Dtype);
        Assert.Equal(32, byName["doubles"].Length);
        Assert.Equal("C64", byName["complex"].Tensor!.Dtype);
        Assert.Equal(16, byName["complex"].Length);
        Assert.Equal("VARINT_I8", byName["int8s"].Tensor!.Dtype);
        Assert.Equal("VARINT_F16", byName["halves"].Tensor!.Dtype);
        Assert.Equal("VARINT_I64", byName["int64s"].Tensor!.Dtype);
        Assert.Equal("VARINT_U64", byName["uint64s"].Tensor!.Dtype);
        Assert.True(byName["int64s"].Length > 0);

        // Strings and empty tensors are listed, their values (if any) stay in the skeleton.
        Assert.Equal(("STRING", 0L), (byName["strings"].Tensor!.Dtype, byName["strings"].Length));
        Assert.Equal(0, byName["nothing"].Length);
        Assert.Equal([2L], byName["strings"].Tensor!.Shape);
        AssertRoundTrip(fx, path);
    }

    [Fact]
    public void Unpacked_and_split_repeated_fields_round_trip_in_the_skeleton()
    {
        using var fx = new RepoFixture();

        // float_data spelled one element per field (legal protobuf), and int64_data split into two packed runs.
        var unpacked = new MemoryStream();
        var output = new CodedOutputStream(unpacked);
        output.WriteTag(1, WireFormat.WireType.Varint);
        output.WriteInt64(3);
        output.WriteTag(2, WireFormat.WireType.Varint);
        output.WriteInt32(1);
        foreach (float f in new[] { 1f, 2f, 3f })
        {
            output.WriteTag(4, WireFormat.WireType.Fixed32);
            output.WriteFloat(f);
        }

        output.WriteTag(8, WireFormat.WireType.LengthDelimited);
        output.WriteString("unpacked");
        output.Flush();

        var split = new TensorProto { Name = "split", DataType = 7, Dims = { 4 } }.ToByteArray()
            .Concat(new TensorProto { Int64Data = { 1, 2 } }.ToByteArray())
            .Concat(new TensorProto { Int64Data = { 3, 4 } }.ToByteArray()).ToArray();

        byte[] graph = [.. Field(5, unpacked.ToArray()), .. Field(5, split), .. Field(2, "g"u8.ToArray())];
        string path = fx.Model("unpacked.onnx");
        File.WriteAllBytes(path, ModelWithGraphBytes(graph));

        // Google.Protobuf reads the same values from it.
        var parsed = ModelProto.Parser.ParseFrom(File.ReadAllBytes(path));
        Assert.Equal([1f, 2f, 3f], parsed.Graph.Initializer[0].FloatData);
        Assert.Equal([1L, 2L, 3L, 4L], parsed.Graph.Initializer[1].Int64Data);

        var structure = OnnxModel.ReadStructure(path);
        Assert.All(structure.Tensors, t => Assert.Equal(OnnxValueLayout.InSkeleton, t.Layout));
        Assert.Equal(["unpacked", "split"], Layout(path).Tensors.Select(t => t.Name));
        AssertRoundTrip(fx, path);
    }

    [Fact]
    public void Tensors_in_subgraphs_attributes_sparse_initializers_and_functions_are_found()
    {
        using var fx = new RepoFixture();
        var inner = new GraphProto { Name = "then", Initializer = { Raw("then_w", 1, [4], Bytes(Weights(4, 2))) } };
        var ifNode = new NodeProto { OpType = "If", Name = "branch", Attribute = { new AttributeProto { Name = "then_branch", Type = AttributeProto.Types.AttributeType.Graph, G = inner } } };
        var constant = new NodeProto { OpType = "Constant", Output = { "c" }, Attribute = { new AttributeProto { Name = "value", Type = AttributeProto.Types.AttributeType.Tensor, T = new TensorProto { DataType = 7, Dims = { 2 }, RawData = ByteString.CopyFrom(new byte[16]) } } } };
        var model = Model([Raw("w", 1, [2], Bytes(Weights(2, 3)))], [ifNode, constant]);
        model.Graph.SparseInitializer.Add(new SparseTensorProto
        {
            Dims = { 10 },
            Values = Raw("sparse", 1, [2], Bytes(Weights(2, 4))),
            Indices = new TensorProto { DataType = 7, Dims = { 2 }, Int64Data = { 1, 7 } },
        });
        model.Functions.Add(new FunctionProto { Name = "f", Domain = "custom", Node = { new NodeProto { OpType = "Constant", Name = "k", Attribute = { new AttributeProto { Name = "value", T = Raw("", 1, [1], Bytes([1f])) } } } } });
        string path = Write(fx.Model("nested.onnx"), model);

        var tensors = Layout(path).Tensors.ToList();
        Assert.Contains(tensors, t => t.Name == "then_w" && t.Dtype == "F32");
        Assert.Contains(tensors, t => t.Name == "w");
        Assert.Contains(tensors, t => t.Name == "sparse");
        Assert.Contains(tensors, t => t.Name.EndsWith(".indices", StringComparison.Ordinal) && t.Dtype == "VARINT_I64");
        Assert.Contains(tensors, t => t.Name.Contains("Constant", StringComparison.Ordinal) && t.Name.EndsWith("/value", StringComparison.Ordinal) && t.Dtype == "I64");
        Assert.Contains(tensors, t => t.Name == "k/value");
        Assert.Equal(6, tensors.Count);
        AssertRoundTrip(fx, path);

        var structure = OnnxModel.ReadStructure(path);
        Assert.Equal("If", structure.Model.Graph.Node[0].OpType);
        Assert.Equal(0, structure.Model.Graph.Node[0].Attribute[0].G.Initializer[0].RawData.Length);
        Assert.Equal([4L], structure.Model.Graph.Node[0].Attribute[0].G.Initializer[0].Dims);
        Assert.Equal("mgit-tests 1", structure.Metadata["producer"]);
        Assert.Equal("ai.onnx 19", structure.Metadata["opset"]);
    }

    [Fact]
    public void An_onnx_model_is_detected_by_content_and_a_lookalike_falls_back_to_a_blob()
    {
        using var fx = new RepoFixture();
        string model = Write(fx.Model("weights.dat"), Model([Raw("w", 1, [8], Bytes(Weights(8, 5)))]));
        Assert.Equal("onnx", Layout(model).Format);

        // Starts like a ModelProto (ir_version, then a string) but is not one.
        string lookalike = fx.Model("notes.dat");
        File.WriteAllBytes(lookalike, [0x08, 0x07, 0x12, 0x40, (byte)'x']);
        Assert.Equal("blob", Layout(lookalike).Format);
        AssertRoundTrip(fx, lookalike);

        // The same bytes named .onnx must be a valid model.
        string named = fx.Model("bad.onnx");
        File.Copy(lookalike, named);
        var error = Assert.Throws<InvalidModelFileException>(() => Layout(named));
        Assert.Contains("bad.onnx: not a valid ONNX model", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void File_metadata_names_the_producer_opset_and_metadata_props()
    {
        using var fx = new RepoFixture();
        var model = Model([]);
        model.MetadataProps.Add(new StringStringEntryProto { Key = "author", Value = "penguins" });
        var metadata = Layout(Write(fx.Model("m.onnx"), model)).Metadata!;
        Assert.Equal("9", metadata["ir_version"]);
        Assert.Equal("mgit-tests 1", metadata["producer"]);
        Assert.Equal("penguins", metadata["author"]);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void The_same_weights_as_safetensors_and_as_onnx_are_stored_once(bool floatData)
    {
        using var fx = new RepoFixture();
        float[] w1 = Weights(128 * 256, 11), w2 = Weights(512, 12);
        string safetensors = RawSafetensors.Write(fx.Model("m.safetensors"), [new("layer.weight", "F32", [128, 256], Bytes(w1)), new("layer.bias", "F32", [512], Bytes(w2))]);
        TensorProto Tensor(string name, long[] dims, float[] values) =>
            floatData ? new TensorProto { Name = name, DataType = 1, Dims = { dims }, FloatData = { values } } : Raw(name, 1, dims, Bytes(values));
        string onnx = Write(fx.Model("m.onnx"), Model([Tensor("layer.weight", [128, 256], w1), Tensor("layer.bias", [512], w2)]));

        AssertRoundTrip(fx, safetensors, "st");
        long before = fx.StoredBytes;
        AssertRoundTrip(fx, onnx, "onnx");
        long growth = fx.StoredBytes - before;
        long tensorBytes = (w1.Length + w2.Length) * 4L;
        Assert.True(growth < tensorBytes / 20, $"stored bytes grew by {growth} for {tensorBytes} bytes of weights already stored");
    }

    [Fact]
    public void Show_json_lists_onnx_tensors_with_name_dtype_and_shape()
    {
        using var dir = new TempDirectory();
        string path = Write(dir.File("tiny.onnx"), Model([Raw("fc.weight", 1, [4, 3], Bytes(Weights(12, 6))), new TensorProto { Name = "steps", DataType = 7, Dims = { 2 }, Int64Data = { 1, 2 } }]));
        Assert.Equal(0, CliRunner.Run(dir.Path, "init", "-q").ExitCode);
        var add = CliRunner.Run(dir.Path, "add", path, "-q");
        Assert.True(add.ExitCode == 0, add.Error);
        var show = CliRunner.Run(dir.Path, "show", "tiny", "--json");
        Assert.Equal(0, show.ExitCode);
        using var json = JsonDocument.Parse(show.Out);
        Assert.Equal("onnx", json.RootElement.GetProperty("files")[0].GetProperty("format").GetString());
        var tensors = json.RootElement.GetProperty("tensors").EnumerateArray().ToList();
        Assert.Equal(["fc.weight", "steps"], tensors.Select(t => t.GetProperty("name").GetString()));
        Assert.Equal(["F32", "VARINT_I64"], tensors.Select(t => t.GetProperty("dtype").GetString()));
        Assert.Equal([4L, 3L], tensors[0].GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()));
    }
}
