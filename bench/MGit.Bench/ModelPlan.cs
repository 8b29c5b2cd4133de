namespace MGit.Bench;

/// <summary>
/// A LLaMA/Qwen-like decoder shaped to a byte budget: token embeddings, per layer RMS norms,
/// q/k/v/o projections (q/k/v with biases), gate/up/down MLP, a final norm and an untied LM head.
/// The hidden size is the largest that still leaves at least six layers; the vocabulary then
/// absorbs what is left so the file lands close to the requested size.
/// </summary>
internal sealed class ModelPlan
{
    private const float WeightStd = 0.02f;
    private static readonly int[] HiddenSizes = [64, 128, 256, 384, 512, 768, 1024, 1536, 2048, 2560, 3072, 4096, 5120, 8192];

    private ModelPlan(int hidden, int intermediate, int layers, int vocabulary, List<TensorSpec> tensors)
    {
        Hidden = hidden;
        Intermediate = intermediate;
        Layers = layers;
        Vocabulary = vocabulary;
        Tensors = tensors;
    }

    public int Hidden { get; }
    public int Intermediate { get; }
    public int Layers { get; }
    public int Vocabulary { get; }
    public IReadOnlyList<TensorSpec> Tensors { get; }

    public string Describe() =>
        $"hidden {Hidden}, MLP {Intermediate}, {Layers} layers, vocabulary {Vocabulary}, {Tensors.Count} tensors";

    public static ModelPlan ForSize(long targetBytes, Dtype dtype)
    {
        long budget = Math.Max(1, targetBytes / Safetensors.ElementSize(dtype));
        int hidden = HiddenSizes[0];
        foreach (int candidate in HiddenSizes)
        {
            if (budget * 3 / 4 / LayerElements(candidate) >= 6)
            {
                hidden = candidate;
            }
        }

        int intermediate = MlpWidth(hidden);
        int layers = (int)Math.Clamp(budget * 3 / 4 / LayerElements(hidden), 1, 4096);
        long left = budget - (layers * LayerElements(hidden)) - hidden;
        int vocabulary = (int)Math.Clamp(left / (2L * hidden) / 64 * 64, 256, 1_048_576);

        var tensors = new List<TensorSpec> { Matrix("model.embed_tokens.weight", vocabulary, hidden) };
        for (int layer = 0; layer < layers; layer++)
        {
            string prefix = $"model.layers.{layer}.";
            tensors.Add(Norm(prefix + "input_layernorm.weight", hidden));
            foreach (string projection in new[] { "q", "k", "v" })
            {
                tensors.Add(Matrix($"{prefix}self_attn.{projection}_proj.weight", hidden, hidden));
                tensors.Add(new TensorSpec($"{prefix}self_attn.{projection}_proj.bias", [hidden], 0f, WeightStd));
            }

            tensors.Add(Matrix(prefix + "self_attn.o_proj.weight", hidden, hidden));
            tensors.Add(Norm(prefix + "post_attention_layernorm.weight", hidden));
            tensors.Add(Matrix(prefix + "mlp.gate_proj.weight", intermediate, hidden));
            tensors.Add(Matrix(prefix + "mlp.up_proj.weight", intermediate, hidden));
            tensors.Add(Matrix(prefix + "mlp.down_proj.weight", hidden, intermediate));
        }

        tensors.Add(Norm("model.norm.weight", hidden));
        tensors.Add(Matrix("lm_head.weight", vocabulary, hidden));
        return new ModelPlan(hidden, intermediate, layers, vocabulary, tensors);
    }

    /// <summary>The LLaMA MLP width: 8/3 of the hidden size, rounded up to a multiple of 256.</summary>
    private static int MlpWidth(int hidden) => ((hidden * 8 / 3) + 255) / 256 * 256;

    private static long LayerElements(int hidden)
    {
        long h = hidden;
        return (4 * h * h) + (3 * h) + (3 * h * MlpWidth(hidden)) + (2 * h);
    }

    private static TensorSpec Matrix(string name, long rows, long columns) => new(name, [rows, columns], 0f, WeightStd);

    // Trained norm weights sit near 1 with some spread.
    private static TensorSpec Norm(string name, long size) => new(name, [size], 1f, WeightStd);
}
