namespace MGit.Formats.Onnx;

/// <summary>Where an ONNX tensor's values are, as far as storing them goes.</summary>
internal enum OnnxValueLayout
{
    /// <summary>Little-endian element bytes in one contiguous run: raw_data, packed float_data or double_data.</summary>
    ElementBytes,

    /// <summary>One packed run of varints (int32_data, int64_data, uint64_data): kept as a span, but not element bytes.</summary>
    Varints,

    /// <summary>Values the file spells element by element (string_data, unpacked or split repeated fields): kept in the skeleton.</summary>
    InSkeleton,

    /// <summary>In a side file named by external_data (data_location = EXTERNAL).</summary>
    External,

    /// <summary>No values at all (an empty tensor, or one that only declares its type).</summary>
    None,
}

/// <summary>Where an external tensor's bytes are: a file relative to the model's folder, and a byte range in it.</summary>
internal sealed record OnnxExternalLocation(string Location, long Offset, long Length);

/// <summary>
/// One tensor of an ONNX model (an initializer, a sparse initializer's part, or a tensor in a
/// node attribute such as a Constant's value), with where its values are in the file.
/// </summary>
/// <param name="Name">The tensor's name; unnamed attribute tensors get "NODE/ATTRIBUTE".</param>
/// <param name="Dtype">MGit's dtype: the safetensors spelling (F32, I64...), or VARINT_... for varint fields.</param>
/// <param name="DataType">The ONNX TensorProto.DataType code.</param>
/// <param name="Dims">The tensor's dims, outermost first.</param>
/// <param name="Layout">How the values are stored.</param>
/// <param name="Offset">File offset of the values (of the TensorProto itself when they are not one run).</param>
/// <param name="Length">Bytes of the values run; 0 when they are not one run in this file.</param>
/// <param name="External">Where the values are when <see cref="Layout"/> is External.</param>
internal sealed record OnnxTensor(
    string Name,
    string Dtype,
    int DataType,
    IReadOnlyList<long> Dims,
    OnnxValueLayout Layout,
    long Offset,
    long Length,
    OnnxExternalLocation? External)
{
    /// <summary>The ONNX spelling of the data type (FLOAT, INT64...).</summary>
    public string OnnxType => OnnxDataTypes.OnnxName(DataType);
}
