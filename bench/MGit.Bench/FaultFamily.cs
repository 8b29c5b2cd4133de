namespace MGit.Bench;

/// <summary>
/// The small family the fault runs store: a base, two fine-tunes of it and its next version, plus
/// a fine-tune of that version (what the killed add adds) and an unrelated model (what gc frees).
/// <see cref="Originals"/> maps each ref the runs create to the file it must check out as.
/// </summary>
internal sealed class FaultFamily
{
    /// <summary>Big enough that a command spends more of its run on the model than on start-up, small enough for a 40 MB disk.</summary>
    public const long BaseBytes = 8_000_000;

    private FaultFamily(string folder)
    {
        Base = Path.Combine(folder, "base.safetensors");
        FinetuneA = Path.Combine(folder, "ft-a.safetensors");
        FinetuneB = Path.Combine(folder, "ft-b.safetensors");
        BaseV2 = Path.Combine(folder, "base-v2.safetensors");
        Extra = Path.Combine(folder, "extra.safetensors");
        Unrelated = Path.Combine(folder, "other.safetensors");
        Originals = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["base@1"] = Base,
            ["ft-a@1"] = FinetuneA,
            ["ft-b@1"] = FinetuneB,
            ["base@2"] = BaseV2,
            ["extra@1"] = Extra,
            ["other@1"] = Unrelated,
        };
    }

    public string Base { get; }
    public string FinetuneA { get; }
    public string FinetuneB { get; }
    public string BaseV2 { get; }
    public string Extra { get; }
    public string Unrelated { get; }
    public IReadOnlyDictionary<string, string> Originals { get; }

    public long LogicalBytes => Originals.Values.Sum(f => new FileInfo(f).Length);

    /// <summary>Writes the family into <paramref name="folder"/> (a few hundred milliseconds; seeded, so the same files every time).</summary>
    public static FaultFamily Generate(string folder, ulong seed)
    {
        var family = new FaultFamily(folder);
        ModelGenerator.Generate(family.Base, ModelPlan.ForSize(BaseBytes, Dtype.F32), Dtype.F32, seed);
        ModelGenerator.Derive(family.Base, family.FinetuneA, 0.3, seed + 1);
        ModelGenerator.Derive(family.Base, family.FinetuneB, 0.3, seed + 2);
        ModelGenerator.Derive(family.Base, family.BaseV2, 0.2, seed + 3);
        ModelGenerator.Derive(family.BaseV2, family.Extra, 0.5, seed + 4);
        ModelGenerator.Generate(family.Unrelated, ModelPlan.ForSize(BaseBytes / 2, Dtype.F32), Dtype.F32, seed + 5);
        return family;
    }
}
