namespace MGit.Formats.Onnx;

/// <summary>
/// ONNX TensorProto.DataType codes and the dtype names MGit records for them. Names are those of
/// safetensors where the element type is the same (F32, BF16, I8...), so the same weights stored
/// as ONNX and as safetensors are chunked alike and deduplicate against each other.
/// </summary>
internal static class OnnxDataTypes
{
    public const int FloatType = 1;
    public const int StringType = 8;
    public const int DoubleType = 11;
    public const int Complex64Type = 14;
    public const int Complex128Type = 15;
    public const int Float8E4M3FnuzType = 18;
    public const int Float8E5M2FnuzType = 20;

    private static readonly Dictionary<int, (string Dtype, int Bits, string OnnxName)> ByCode = new()
    {
        [1] = ("F32", 32, "FLOAT"),
        [2] = ("U8", 8, "UINT8"),
        [3] = ("I8", 8, "INT8"),
        [4] = ("U16", 16, "UINT16"),
        [5] = ("I16", 16, "INT16"),
        [6] = ("I32", 32, "INT32"),
        [7] = ("I64", 64, "INT64"),
        [8] = ("STRING", 0, "STRING"),
        [9] = ("BOOL", 8, "BOOL"),
        [10] = ("F16", 16, "FLOAT16"),
        [11] = ("F64", 64, "DOUBLE"),
        [12] = ("U32", 32, "UINT32"),
        [13] = ("U64", 64, "UINT64"),
        [14] = ("C64", 64, "COMPLEX64"),
        [15] = ("C128", 128, "COMPLEX128"),
        [16] = ("BF16", 16, "BFLOAT16"),
        [17] = ("F8_E4M3", 8, "FLOAT8E4M3FN"),
        [18] = ("F8_E4M3FNUZ", 8, "FLOAT8E4M3FNUZ"),
        [19] = ("F8_E5M2", 8, "FLOAT8E5M2"),
        [20] = ("F8_E5M2FNUZ", 8, "FLOAT8E5M2FNUZ"),
        [21] = ("U4", 4, "UINT4"),
        [22] = ("I4", 4, "INT4"),
        [23] = ("F4", 4, "FLOAT4E2M1"),
        [24] = ("F8_E8M0", 8, "FLOAT8E8M0"),
    };

    /// <summary>The dtype MGit records for an ONNX data type; unknown (newer) codes become "ONNX_TYPE_n".</summary>
    public static string Dtype(int dataType) =>
        ByCode.TryGetValue(dataType, out var entry) ? entry.Dtype : $"ONNX_TYPE_{dataType}";

    /// <summary>The ONNX spelling of a data type ("FLOAT", "INT64"...).</summary>
    public static string OnnxName(int dataType) =>
        ByCode.TryGetValue(dataType, out var entry) ? entry.OnnxName : $"type {dataType}";

    /// <summary>Bits per element in raw_data, or null for strings and unknown codes.</summary>
    public static int? BitsPerElement(int dataType) =>
        ByCode.TryGetValue(dataType, out var entry) && entry.Bits > 0 ? entry.Bits : null;

    /// <summary>
    /// The layout of a data type's element bytes (raw_data, packed float_data/double_data, external
    /// data): plain elements of whole bytes. Null for strings, sub-byte and unknown types, which
    /// are chunked as plain bytes, and for the FNUZ float8 types: those were stored cut as plain
    /// bytes before formats described their layouts, and stay so that new versions keep
    /// deduplicating against stored ones.
    /// </summary>
    public static ElementLayout? Layout(int dataType) =>
        dataType is not (Float8E4M3FnuzType or Float8E5M2FnuzType) && BitsPerElement(dataType) is int bits && bits % 8 == 0
            ? ElementLayout.Scalar(bits / 8)
            : null;

    /// <summary>
    /// The dtype of values kept in a varint field (int32_data, int64_data, uint64_data): not
    /// element bytes, so codecs and dedup treat them as opaque.
    /// </summary>
    public static string VarintDtype(int dataType) => "VARINT_" + Dtype(dataType);
}
