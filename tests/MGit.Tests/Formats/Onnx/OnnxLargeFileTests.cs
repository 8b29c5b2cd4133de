using Google.Protobuf;
using MGit.Formats;
using MGit.Formats.Catalog;
using MGit.Formats.Onnx;
using MGit.Formats.Onnx.Proto;
using MGit.Tests.TestSupport;
using static MGit.Tests.Formats.Onnx.OnnxBuilder;

namespace MGit.Tests.Formats.Onnx;

/// <summary>Files past 2 GB (sparse on disk, so they cost no space): offsets stay exact and memory stays small.</summary>
public sealed class OnnxLargeFileTests
{
    [Fact]
    public void A_3_GB_tensor_inside_the_model_is_found_by_seeking_with_little_memory()
    {
        using var dir = new TempDirectory();
        const long elements = 3L * 1024 * 1024 * 1024 / 4;
        // TensorProto: dims, data_type FLOAT, name, then raw_data's tag and length; the 3 GB of values are a hole in the file.
        byte[] head = [.. Tag(1, WireFormat.WireType.Varint), .. Varint(elements), .. Tag(2, WireFormat.WireType.Varint), 1, .. Tag(8, WireFormat.WireType.LengthDelimited), 1, (byte)'w', .. Tag(9, WireFormat.WireType.LengthDelimited), .. Varint(elements * 4)];
        long tensorLength = head.Length + elements * 4;
        byte[] graphHead = [.. Tag(5, WireFormat.WireType.LengthDelimited), .. Varint((ulong)tensorLength)];
        byte[] modelHead = [0x08, 0x09, .. Tag(7, WireFormat.WireType.LengthDelimited), .. Varint((ulong)(graphHead.Length + tensorLength))];
        string path = dir.File("huge.onnx");
        using (var file = new FileStream(path, FileMode.Create))
        {
            file.Write([.. modelHead, .. graphHead, .. head]);
            file.SetLength(file.Length + elements * 4);
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        var layout = ModelFormats.ReadLayout(path, "huge.onnx");
        var structure = OnnxModel.ReadStructure(path);
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 8 * 1024 * 1024, "reading the layout must not read the weights");

        var span = layout.Segments.Single(s => s.Tensor is not null);
        Assert.Equal(modelHead.Length + graphHead.Length + head.Length, span.Offset);
        Assert.Equal(elements * 4, span.Length);
        Assert.Equal([elements], span.Tensor!.Shape);
        Assert.Equal(new FileInfo(path).Length, layout.Length);
        Assert.Equal("w", structure.Model.Graph.Initializer.Single().Name);
        Assert.True(structure.Model.Graph.Initializer.Single().RawData.IsEmpty);
    }

    [Fact]
    public void External_tensors_past_2_GB_of_the_side_file_are_laid_out_exactly()
    {
        using var dir = new TempDirectory();
        string folder = dir.File("big");
        Directory.CreateDirectory(folder);
        const long offset = 5L * 1024 * 1024 * 1024;
        using (var data = new FileStream(Path.Combine(folder, "model.onnx.data"), FileMode.Create))
        {
            data.SetLength(offset + 4096);
        }

        var tensor = new TensorProto { Name = "late", DataType = 16, Dims = { 2048 }, DataLocation = TensorProto.Types.DataLocation.External };
        tensor.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = "model.onnx.data" });
        tensor.ExternalData.Add(new StringStringEntryProto { Key = "offset", Value = offset.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        Write(Path.Combine(folder, "model.onnx"), Model([tensor]));

        var files = new[] { (Path.Combine(folder, "model.onnx"), "model.onnx"), (Path.Combine(folder, "model.onnx.data"), "model.onnx.data") };
        var layouts = FolderLayouts.Read(files, r => r, isFolder: true);
        var side = layouts.Single(l => l.RelativePath == "model.onnx.data").Layout;
        Assert.Equal("onnx-data", side.Format);
        var span = side.Segments.Single(s => s.Tensor is not null);
        Assert.Equal((offset, 4096L, "BF16"), (span.Offset, span.Length, span.Tensor!.Dtype));
        Assert.Equal([(0L, offset), (offset, 4096L)], side.Segments.Select(s => (s.Offset, s.Length)));
    }
}
