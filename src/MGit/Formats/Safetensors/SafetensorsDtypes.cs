namespace MGit.Formats.Safetensors;

/// <summary>Element sizes of the safetensors dtypes, in bits (sub-byte types pack several elements per byte).</summary>
internal static class SafetensorsDtypes
{
    private static readonly Dictionary<string, int> BitsByDtype = new(StringComparer.Ordinal)
    {
        ["BOOL"] = 8,
        ["U8"] = 8,
        ["I8"] = 8,
        ["F8_E5M2"] = 8,
        ["F8_E4M3"] = 8,
        ["F8_E8M0"] = 8,
        ["I16"] = 16,
        ["U16"] = 16,
        ["F16"] = 16,
        ["BF16"] = 16,
        ["I32"] = 32,
        ["U32"] = 32,
        ["F32"] = 32,
        ["I64"] = 64,
        ["U64"] = 64,
        ["F64"] = 64,
        ["C64"] = 64,
        ["F4"] = 4,
        ["F6_E2M3"] = 6,
        ["F6_E3M2"] = 6,
    };

    /// <summary>Bits per element of a known dtype, or null for a dtype this version does not know.</summary>
    public static int? BitsPerElement(string dtype) => BitsByDtype.TryGetValue(dtype, out int bits) ? bits : null;

    /// <summary>
    /// The element layout of a known whole-byte dtype; null for sub-byte dtypes (F4, F6_*), whose
    /// packed bits are chunked as plain bytes, and for unknown ones.
    /// </summary>
    public static ElementLayout? Layout(string dtype) =>
        BitsPerElement(dtype) is int bits && bits % 8 == 0 ? ElementLayout.Scalar(bits / 8) : null;
}
