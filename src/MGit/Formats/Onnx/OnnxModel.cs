using System.Globalization;
using Google.Protobuf;
using MGit.Errors;
using MGit.Formats.Onnx.Proto;

namespace MGit.Formats.Onnx;

/// <summary>
/// An ONNX model's structure without its weights: the graph (nodes, attributes, inputs, outputs,
/// value infos, opsets, functions) as a Google.Protobuf <see cref="ModelProto"/> in which every
/// tensor keeps its name, dims, data_type and external_data but no values, plus the list of
/// tensors with where their values are in the file. Built by walking the file as a stream, so
/// it costs memory in proportion to the graph, not to the weights.
/// </summary>
/// <param name="Model">The model with every TensorProto's values (raw_data, *_data) left out.</param>
/// <param name="Tensors">Every tensor in file order: initializers, sparse initializers' parts, attribute tensors (Constant values), in subgraphs and functions too.</param>
/// <param name="Metadata">ir_version, producer, opset and the model's metadata_props, as MGit records them for the file.</param>
internal sealed record OnnxModel(ModelProto Model, IReadOnlyList<OnnxTensor> Tensors, IReadOnlyDictionary<string, string> Metadata)
{
    /// <summary>Reads the structure of an .onnx file. Throws <see cref="InvalidModelFileException"/> when it is not a valid model.</summary>
    public static OnnxModel ReadStructure(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1);
        return ReadStructure(stream, path);
    }

    /// <summary>Reads the structure of a model from a seekable stream, from position 0 to its end.</summary>
    public static OnnxModel ReadStructure(Stream stream, string displayName)
    {
        long length = stream.CanSeek ? stream.Length : throw new ArgumentException("the stream must be seekable to know its length", nameof(stream));
        var scan = Scan(stream, length, displayName, buildStructure: true);
        ModelProto model;
        try
        {
            model = ModelProto.Parser.ParseFrom(scan.Stripped!);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw OnnxFormat.Invalid(displayName, e.Message);
        }

        return scan with { Model = model };
    }

    internal static OnnxModel Scan(Stream stream, long length, string displayName, bool buildStructure)
    {
        OnnxScanner scanner;
        try
        {
            scanner = OnnxScanner.Scan(stream, length, buildStructure);
        }
        catch (ProtoFormatException e)
        {
            throw OnnxFormat.Invalid(displayName, e.Message);
        }
        catch (HeaderLimitException e)
        {
            throw new InvalidModelFileException(displayName, e.Message);
        }

        if (scanner.IrVersion is null)
        {
            throw OnnxFormat.Invalid(displayName, "it has no ir_version");
        }

        if (!scanner.HasGraph)
        {
            throw OnnxFormat.Invalid(displayName, "it has no graph");
        }

        var metadata = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["ir_version"] = scanner.IrVersion.Value.ToString(CultureInfo.InvariantCulture),
        };
        if (!string.IsNullOrEmpty(scanner.ProducerName))
        {
            metadata["producer"] = string.IsNullOrEmpty(scanner.ProducerVersion) ? scanner.ProducerName : $"{scanner.ProducerName} {scanner.ProducerVersion}";
        }

        if (scanner.Opsets.Count > 0)
        {
            metadata["opset"] = string.Join(", ", scanner.Opsets.Select(o => $"{(o.Domain.Length == 0 ? "ai.onnx" : o.Domain)} {o.Version.ToString(CultureInfo.InvariantCulture)}"));
        }

        foreach (var entry in scanner.MetadataProps)
        {
            metadata.TryAdd(entry.Key, entry.Value);
        }

        return new OnnxModel(new ModelProto(), scanner.Tensors, metadata) { Stripped = scanner.Stripped };
    }

    /// <summary>Reads one serialized TensorProto (the .pb files of ONNX test data sets) and says where its values are.</summary>
    public static OnnxTensor ReadTensor(Stream stream, string displayName)
    {
        try
        {
            return OnnxScanner.ScanTensor(stream, stream.Length);
        }
        catch (ProtoFormatException e)
        {
            throw new InvalidModelFileException(displayName, $"not a valid ONNX tensor: {e.Message}");
        }
        catch (HeaderLimitException e)
        {
            throw new InvalidModelFileException(displayName, e.Message);
        }
    }

    /// <summary>The serialized model without tensor values, between the scan and the parse.</summary>
    internal byte[]? Stripped { get; init; }
}
