namespace MGit.Codecs;

/// <summary>
/// What a chunk's bytes are, as far as codecs care: floats are split into byte planes so that
/// the exponent, which carries almost all the redundancy of trained weights, is coded on its own.
/// The numeric values are stored in encoded chunks: never renumber them.
/// </summary>
internal enum ElementKind : byte
{
    Opaque = 0,
    F32 = 1,
    BF16 = 2,
    F16 = 3,
    F64 = 4,
    /// <summary>32-bit integers (quantized deltas): plain byte planes, most significant first.</summary>
    I32 = 5,
}

internal static class ElementKinds
{
    public static ElementKind FromDtype(string? dtype) => dtype switch
    {
        "F32" => ElementKind.F32,
        "BF16" => ElementKind.BF16,
        "F16" => ElementKind.F16,
        "F64" => ElementKind.F64,
        _ => ElementKind.Opaque,
    };

    /// <summary>Bytes per element, or 1 for opaque data.</summary>
    public static int Width(this ElementKind kind) => kind switch
    {
        ElementKind.F32 or ElementKind.I32 => 4,
        ElementKind.BF16 or ElementKind.F16 => 2,
        ElementKind.F64 => 8,
        _ => 1,
    };
}
