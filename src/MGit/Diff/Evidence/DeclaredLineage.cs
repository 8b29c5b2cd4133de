namespace MGit.Diff.Evidence;

/// <summary>What one file claims about the model it came from.</summary>
/// <param name="Base">The base as the file names it (a Hugging Face id, a path, a URL, a file name).</param>
/// <param name="Relation">
/// The derivation in mgit's words (<c>finetune</c>, <c>quantize</c>, <c>merge</c>, ...) when the file
/// says one, else null. A Hugging Face <c>adapter</c> is a <c>finetune</c> whose <see cref="Source"/> says "adapter".
/// </param>
/// <param name="Source">Where the claim was read, for a placement's reason ("README.md base_model").</param>
internal sealed record BaseClaim(string Base, string? Relation, string Source);

/// <summary>
/// Every claim a model's files make about its base, nearest first where a file tells them apart (a
/// GGUF's source before its base models), and what could not be read (one line each, for the user).
/// </summary>
internal sealed record DeclaredLineage(IReadOnlyList<BaseClaim> Claims, IReadOnlyList<string> Notes)
{
    public static readonly DeclaredLineage None = new([], []);
}
