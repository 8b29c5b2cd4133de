using Google.Protobuf;
using MGit.Formats.Onnx.Proto;

namespace MGit.Tests.Formats.Onnx;

/// <summary>Builds ONNX models with Google.Protobuf's generated types, and by hand where a test needs unusual bytes.</summary>
internal static class OnnxBuilder
{
    public static ModelProto Model(IEnumerable<TensorProto> initializers, IEnumerable<NodeProto>? nodes = null) => new()
    {
        IrVersion = 9,
        ProducerName = "mgit-tests",
        ProducerVersion = "1",
        OpsetImport = { new OperatorSetIdProto { Domain = "", Version = 19 } },
        Graph = new GraphProto
        {
            Name = "main",
            Initializer = { initializers },
            Node = { nodes ?? [] },
            Output = { new ValueInfoProto { Name = "out", Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = 1 } } } },
        },
    };

    public static TensorProto Raw(string name, int dataType, long[] dims, byte[] data) =>
        new() { Name = name, DataType = dataType, Dims = { dims }, RawData = ByteString.CopyFrom(data) };

    /// <summary>Float weights a trained layer could have (no NaN payloads to worry about).</summary>
    public static float[] Weights(int count, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => (float)((random.NextDouble() - 0.5) * 0.2)).ToArray();
    }

    public static byte[] Bytes(float[] values) => values.SelectMany(BitConverter.GetBytes).ToArray();

    public static string Write(string path, ModelProto model)
    {
        File.WriteAllBytes(path, model.ToByteArray());
        return path;
    }

    public static byte[] Varint(ulong value)
    {
        var stream = new MemoryStream();
        var output = new CodedOutputStream(stream);
        output.WriteUInt64(value);
        output.Flush();
        return stream.ToArray();
    }

    public static byte[] Tag(int field, WireFormat.WireType wire) => Varint(WireFormat.MakeTag(field, wire));

    /// <summary>A length-delimited field: tag, length, payload.</summary>
    public static byte[] Field(int field, byte[] payload)
    {
        var stream = new MemoryStream();
        var output = new CodedOutputStream(stream);
        output.WriteTag(field, WireFormat.WireType.LengthDelimited);
        output.WriteBytes(ByteString.CopyFrom(payload));
        output.Flush();
        return stream.ToArray();
    }

    /// <summary>A model whose graph is exactly <paramref name="graph"/> (hand-made bytes), after ir_version.</summary>
    public static byte[] ModelWithGraphBytes(byte[] graph) => [0x08, 0x09, .. Field(7, graph)];
}
