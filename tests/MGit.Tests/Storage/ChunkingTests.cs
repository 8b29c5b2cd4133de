using MGit.Formats;
using MGit.Formats.Catalog;
using MGit.Formats.Gguf;
using MGit.Storage;
using MGit.Tests.TestSupport;
using static MGit.Tests.Formats.Onnx.OnnxBuilder;

namespace MGit.Tests.Storage;

/// <summary>
/// Chunk boundaries are part of the stored format: a new version deduplicates against stored
/// ones only where it is cut at the same places. Formats now describe their element layouts
/// themselves; every dtype every built-in reader produces must still be cut where the rule that
/// cut the stored versions did (spelled out here as it was: storage looked the dtype's name up in
/// the safetensors table, then among ggml's quantised types).
/// </summary>
public sealed class ChunkingTests
{
    private static int? WholeByteSize(string dtype) => dtype switch
    {
        "BOOL" or "U8" or "I8" or "F8_E5M2" or "F8_E4M3" or "F8_E8M0" => 1,
        "I16" or "U16" or "F16" or "BF16" => 2,
        "I32" or "U32" or "F32" => 4,
        "I64" or "U64" or "F64" or "C64" => 8,
        _ => null,
    };

    private static int? GgmlBlockBytes(string dtype) => dtype switch
    {
        "MXFP4" => 17,
        "Q4_0" or "IQ4_NL" => 18,
        "Q4_1" => 20,
        "Q5_0" => 22,
        "Q5_1" => 24,
        "Q8_0" => 34,
        "Q8_1" => 36,
        "IQ1_S" => 50,
        "TQ1_0" => 54,
        "IQ1_M" => 56,
        "IQ2_XXS" or "TQ2_0" => 66,
        "IQ2_XS" => 74,
        "IQ2_S" => 82,
        "Q2_K" => 84,
        "IQ3_XXS" => 98,
        "Q3_K" or "IQ3_S" => 110,
        "IQ4_XS" => 136,
        "Q4_K" => 144,
        "Q5_K" => 176,
        "Q6_K" => 210,
        "Q8_K" => 292,
        _ => null,
    };

    private static int StoredVersionsCut(RepositoryFormat format, string dtype) =>
        WholeByteSize(dtype) is int bytes ? format.ChunkSize / 4 * bytes
        : GgmlBlockBytes(dtype) is int block ? format.ChunkSize / block * block
        : format.ChunkSize;

    private static void AssertCutAsBefore(string path, int expectedTensors)
    {
        var layout = ModelFormats.ReadLayout(path, Path.GetFileName(path));
        var tensors = layout.Segments.Where(s => s.Tensor is not null).Select(s => s.Tensor!).ToList();
        Assert.Equal(expectedTensors, tensors.Count);
        foreach (int chunkSize in new[] { 1024, 4 * 1024 * 1024 })
        {
            var format = new RepositoryFormat { ChunkSize = chunkSize };
            Assert.All(tensors, t => Assert.True(
                StoredVersionsCut(format, t.Dtype) == Chunking.ChunkBytes(format, t),
                $"{layout.Format} {t.Dtype}: cut every {Chunking.ChunkBytes(format, t)} bytes, stored versions every {StoredVersionsCut(format, t.Dtype)}"));
        }
    }

    private static byte[] RandomBytes(long length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    [Fact]
    public void Every_safetensors_dtype_is_cut_as_stored_versions_were()
    {
        using var dir = new TempDirectory();
        // Sub-byte dtypes (16 elements), and one this version does not know, kept as 2-byte elements.
        var tensors = RawSafetensors.AllDtypes.Select((d, i) => RawSafetensors.Random($"t{i}", d, [4, 4], i))
            .Append(new RawSafetensors.Tensor("c64", "C64", [4], RandomBytes(32, 1)))
            .Append(new RawSafetensors.Tensor("e8m0", "F8_E8M0", [4], RandomBytes(4, 2)))
            .Append(new RawSafetensors.Tensor("f4", "F4", [16], RandomBytes(8, 3)))
            .Append(new RawSafetensors.Tensor("f6a", "F6_E2M3", [16], RandomBytes(12, 4)))
            .Append(new RawSafetensors.Tensor("f6b", "F6_E3M2", [16], RandomBytes(12, 5)))
            .Append(new RawSafetensors.Tensor("newer", "X16", [4], RandomBytes(8, 6)))
            .ToList();
        AssertCutAsBefore(RawSafetensors.Write(dir.File("m.safetensors"), tensors), tensors.Count);
    }

    [Fact]
    public void Every_ggml_type_is_cut_as_stored_versions_were()
    {
        using var dir = new TempDirectory();
        var tensors = GgmlTypes.All.Select(t => RawGguf.Random($"t{t.Id}", t, blocks: 2, rows: 1, seed: t.Id)).ToList();
        string path = dir.File("m.gguf");
        File.WriteAllBytes(path, RawGguf.Build([], tensors));
        AssertCutAsBefore(path, tensors.Count);
    }

    [Fact]
    public void Every_onnx_data_type_is_cut_as_stored_versions_were()
    {
        using var dir = new TempDirectory();
        // Raw data of every fixed-width type (FNUZ, sub-byte and 16-byte ones included), typed fields, varints and strings.
        var initializers = Enumerable.Range(1, 24).Where(t => t != 8)
            .Select(t => Raw($"raw{t}", t, [8], RandomBytes(8 * (MGit.Formats.Onnx.OnnxDataTypes.BitsPerElement(t)!.Value) / 8, t)))
            .Append(new MGit.Formats.Onnx.Proto.TensorProto { Name = "floats", DataType = 1, Dims = { 2 }, FloatData = { 1f, 2f } })
            .Append(new MGit.Formats.Onnx.Proto.TensorProto { Name = "doubles", DataType = 11, Dims = { 2 }, DoubleData = { 1, 2 } })
            .Append(new MGit.Formats.Onnx.Proto.TensorProto { Name = "int64s", DataType = 7, Dims = { 2 }, Int64Data = { -5, 7 } })
            .Append(new MGit.Formats.Onnx.Proto.TensorProto { Name = "strings", DataType = 8, Dims = { 1 }, StringData = { Google.Protobuf.ByteString.CopyFromUtf8("a") } })
            .ToList();
        AssertCutAsBefore(Write(dir.File("m.onnx"), Model(initializers)), initializers.Count);
    }

    [Fact]
    public void Every_pytorch_storage_type_is_cut_as_stored_versions_were()
    {
        using var dir = new TempDirectory();
        (string Type, int Size)[] storages =
        [
            ("FloatStorage", 4), ("DoubleStorage", 8), ("HalfStorage", 2), ("BFloat16Storage", 2), ("LongStorage", 8), ("IntStorage", 4),
            ("ShortStorage", 2), ("CharStorage", 1), ("ByteStorage", 1), ("BoolStorage", 1), ("ComplexFloatStorage", 8), ("ComplexDoubleStorage", 16),
        ];
        var views = storages.Select((s, i) =>
        {
            var storage = new RawPyTorch.TorchStorage($"{i}", s.Type, s.Size, RandomBytes(4L * s.Size, i));
            return new RawPyTorch.View($"t{i}", storage, 0, [4], [1]);
        }).ToList();
        string path = dir.File("m.pt");
        File.WriteAllBytes(path, RawPyTorch.StateDict(views));
        AssertCutAsBefore(path, views.Count);
    }

    [Fact]
    public void Tensors_without_a_layout_and_format_1_repositories_are_cut_every_chunk_size()
    {
        var current = new RepositoryFormat { ChunkSize = 4096 };
        Assert.Equal(4096, Chunking.ChunkBytes(current, null));
        Assert.Equal(4096, Chunking.ChunkBytes(current, new TensorInfo("t", "F32", [8])));
        Assert.Equal(2048, Chunking.ChunkBytes(current, new TensorInfo("t", "BF16", [8], ElementLayout.Scalar(2))));
        Assert.Equal(4096, Chunking.ChunkBytes(current, new TensorInfo("t", "C128", [8], ElementLayout.Scalar(16))));
        Assert.Equal(4095, Chunking.ChunkBytes(current, new TensorInfo("t", "Q", [32], ElementLayout.Blocks(32, 7))));
        Assert.Equal(4096, Chunking.ChunkBytes(new RepositoryFormat { ChunkSize = 4096, FormatVersion = 1 }, new TensorInfo("t", "BF16", [8], ElementLayout.Scalar(2))));
    }
}
