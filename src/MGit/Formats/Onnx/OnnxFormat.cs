using MGit.Errors;

namespace MGit.Formats.Onnx;

/// <summary>
/// ONNX models (a protobuf ModelProto). The layout makes every tensor whose values are one run
/// of bytes a tensor segment: raw_data and packed float_data/double_data as element bytes (so
/// they deduplicate against the same weights in safetensors), packed int32/int64/uint64_data as
/// VARINT_* spans. Everything else, including values spelled element by element, is skeleton.
/// External tensors are listed in <see cref="FileLayout.ExternalTensors"/> for the side files.
/// </summary>
internal sealed class OnnxFormat : IModelFormat
{
    /// <summary>The format recorded for a side file holding external tensor data.</summary>
    public const string ExternalDataFormatName = "onnx-data";

    public string Name => "onnx";

    public bool ClaimsByName(string fileName) => fileName.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase);

    public bool Matches(ReadOnlySpan<byte> prefix, string fileName) => ClaimsByName(fileName) || LooksLikeModel(prefix);

    public FileLayout ReadLayout(Stream stream, long length, string displayName)
    {
        var model = OnnxModel.Scan(stream, length, displayName, buildStructure: false);
        var spans = new List<Segment>();
        var external = new List<ExternalTensorSpan>();
        foreach (var tensor in model.Tensors)
        {
            // Varints are not element bytes: no layout, chunked as plain bytes.
            var layout = tensor.Layout == OnnxValueLayout.Varints ? null : OnnxDataTypes.Layout(tensor.DataType);
            var info = new TensorInfo(tensor.Name, tensor.Dtype, tensor.Dims, layout);
            if (tensor.External is { } location)
            {
                external.Add(new ExternalTensorSpan(location.Location, location.Offset, location.Length, info));
            }
            else
            {
                // Values that are not one run get an empty segment, so the tensor is still listed.
                spans.Add(new Segment(tensor.Offset, tensor.Length, info));
            }
        }

        return FileLayout.FromTensorSpans(Name, length, spans, model.Metadata.Count > 0 ? model.Metadata : null) with { ExternalTensors = external };
    }

    /// <summary>
    /// ONNX has no magic number. Writers put ir_version (field 1, a small varint) first and then
    /// another ModelProto field; this checks that shape on the first bytes.
    /// </summary>
    public static bool LooksLikeModel(ReadOnlySpan<byte> prefix)
    {
        if (prefix.Length < 3 || prefix[0] != 0x08 || prefix[1] is 0 or >= 0x40)
        {
            return false;
        }

        // The field after ir_version: producer_name, producer_version, domain, doc_string, graph,
        // opset_import, metadata_props (length-delimited) or model_version (varint).
        byte next = prefix[2];
        return next is 0x12 or 0x1A or 0x22 or 0x32 or 0x3A or 0x42 or 0x72 or 0x28;
    }

    internal static InvalidModelFileException Invalid(string displayName, string problem) => new(displayName, $"not a valid ONNX model: {problem}");
}
