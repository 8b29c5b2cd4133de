namespace MGit.Formats.Gguf;

/// <summary>
/// A ggml tensor type: <see cref="BlockElements"/> elements are stored in <see cref="BlockBytes"/>
/// bytes. Plain types have one-element blocks; quantized types pack a block of 32 or 256 elements
/// with their scales, and a block is the smallest unit that means anything, so chunks of a
/// quantized tensor always hold whole blocks.
/// </summary>
internal sealed record GgmlType(int Id, string Name, int BlockElements, int BlockBytes)
{
    public bool IsQuantized => BlockElements > 1;

    /// <summary>The type's layout as storage sees it: whole blocks, or plain elements.</summary>
    public ElementLayout Layout { get; } = ElementLayout.Blocks(BlockElements, BlockBytes);
}

/// <summary>The ggml types GGUF files use, by their numeric id (ggml.h), with block sizes from ggml's type traits.</summary>
internal static class GgmlTypes
{
    // Ids 4, 5 (Q4_2, Q4_3), 31-33 and 36-38 (repacked types) were removed from ggml: files using them are refused.
    private static readonly GgmlType[] Known =
    [
        new(0, "F32", 1, 4),
        new(1, "F16", 1, 2),
        new(2, "Q4_0", 32, 18),
        new(3, "Q4_1", 32, 20),
        new(6, "Q5_0", 32, 22),
        new(7, "Q5_1", 32, 24),
        new(8, "Q8_0", 32, 34),
        new(9, "Q8_1", 32, 36),
        new(10, "Q2_K", 256, 84),
        new(11, "Q3_K", 256, 110),
        new(12, "Q4_K", 256, 144),
        new(13, "Q5_K", 256, 176),
        new(14, "Q6_K", 256, 210),
        new(15, "Q8_K", 256, 292),
        new(16, "IQ2_XXS", 256, 66),
        new(17, "IQ2_XS", 256, 74),
        new(18, "IQ3_XXS", 256, 98),
        new(19, "IQ1_S", 256, 50),
        new(20, "IQ4_NL", 32, 18),
        new(21, "IQ3_S", 256, 110),
        new(22, "IQ2_S", 256, 82),
        new(23, "IQ4_XS", 256, 136),
        new(24, "I8", 1, 1),
        new(25, "I16", 1, 2),
        new(26, "I32", 1, 4),
        new(27, "I64", 1, 8),
        new(28, "F64", 1, 8),
        new(29, "IQ1_M", 256, 56),
        new(30, "BF16", 1, 2),
        new(34, "TQ1_0", 256, 54),
        new(35, "TQ2_0", 256, 66),
        new(39, "MXFP4", 32, 17),
    ];

    private static readonly Dictionary<uint, GgmlType> ById = Known.ToDictionary(t => (uint)t.Id);

    private static readonly Dictionary<string, GgmlType> ByName = Known.ToDictionary(t => t.Name, StringComparer.Ordinal);

    public static IReadOnlyList<GgmlType> All => Known;

    public static GgmlType? FromId(uint id) => ById.GetValueOrDefault(id);

    /// <summary>The type a tensor's dtype names (GGUF tensors carry the ggml type name as their dtype).</summary>
    public static GgmlType? FromName(string name) => ByName.GetValueOrDefault(name);
}
