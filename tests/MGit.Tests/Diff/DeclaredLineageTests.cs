using System.Text;
using MGit.Diff.Evidence;
using MGit.Storage;
using MGit.Tests.TestSupport;

namespace MGit.Tests.Diff;

/// <summary>
/// What model files say about their base (Hugging Face cards, config.json, PEFT adapters,
/// safetensors and GGUF metadata), read from real-looking files; and which repository model a
/// claimed base names.
/// </summary>
public sealed class DeclaredLineageTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    /// <summary>A model folder holding the given files (path inside the folder, text).</summary>
    private string Folder(string name, params (string Path, string Text)[] files)
    {
        string folder = Path.Combine(_temp.Path, name);
        foreach (var (path, text) in files)
        {
            string full = Path.Combine(folder, path);
            Directory.CreateDirectory(Path.GetDirectoryName(full)!);
            File.WriteAllText(full, text, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false));
        }

        return folder;
    }

    private static DeclaredLineage Read(string folder) => DeclaredLineageReader.Read(ModelFolder.Enumerate(folder).Files);

    private static string Claims(DeclaredLineage lineage) => string.Join(" | ", lineage.Claims.Select(c => $"{c.Base} [{c.Relation ?? "-"}] <{c.Source}>"));

    private static RawSafetensors.Tensor Weight(int seed = 1) => RawSafetensors.Random("w", "F32", [2, 2], seed);

    // ---- model cards ----

    [Fact]
    public void A_card_with_one_base_names_it_without_a_relation()
    {
        var lineage = Read(Folder("m", ("README.md", "---\nlicense: llama3.1\nbase_model: meta-llama/Llama-3.1-8B\ntags:\n- text-generation\n---\n\n# My fine-tune\n")));
        Assert.Equal("meta-llama/Llama-3.1-8B [-] <README.md base_model>", Claims(lineage));
        Assert.Empty(lineage.Notes);
    }

    [Fact]
    public void A_card_with_a_list_of_bases_is_a_merge()
    {
        var lineage = Read(Folder("m", ("README.md", """
            ---
            base_model:
            - mistralai/Mistral-7B-v0.1
            - HuggingFaceH4/zephyr-7b-beta
            library_name: transformers
            tags:
            - mergekit
            - merge
            ---
            # merged
            """)));
        Assert.Equal("mistralai/Mistral-7B-v0.1 [merge] <README.md base_model> | HuggingFaceH4/zephyr-7b-beta [merge] <README.md base_model>", Claims(lineage));
    }

    [Theory]
    [InlineData("base_model: \"Qwen/Qwen2.5-7B\"", "Qwen/Qwen2.5-7B")]
    [InlineData("base_model: 'Qwen/Qwen2.5-7B'", "Qwen/Qwen2.5-7B")]
    [InlineData("base_model: ['Qwen/Qwen2.5-7B']", "Qwen/Qwen2.5-7B")]
    [InlineData("base_model:\n  - \"Qwen/Qwen2.5-7B\"", "Qwen/Qwen2.5-7B")]
    [InlineData("base_model:   Qwen/Qwen2.5-7B   # the instruct one came later", "Qwen/Qwen2.5-7B")]
    public void Quoted_and_flow_forms_name_the_same_base(string line, string expected)
    {
        var lineage = Read(Folder("m", ("README.md", $"---\n{line}\n---\n")));
        Assert.Equal(expected, Assert.Single(lineage.Claims).Base);
        Assert.Empty(lineage.Notes);
    }

    [Theory]
    [InlineData("finetune", "finetune", "README.md base_model (base_model_relation: finetune)")]
    [InlineData("adapter", "finetune", "README.md base_model (adapter)")]
    [InlineData("quantized", "quantize", "README.md base_model (base_model_relation: quantized)")]
    [InlineData("merge", "merge", "README.md base_model (base_model_relation: merge)")]
    [InlineData("Quantized", "quantize", "README.md base_model (base_model_relation: quantized)")]
    public void The_hub_relation_becomes_mgits_word(string given, string relation, string source)
    {
        var lineage = Read(Folder("m", ("README.md", $"---\nbase_model: org/base\nbase_model_relation: {given}\n---\n")));
        Assert.Equal(new BaseClaim("org/base", relation, source), Assert.Single(lineage.Claims));
    }

    [Fact]
    public void A_relation_given_for_several_bases_is_kept()
    {
        var lineage = Read(Folder("m", ("README.md", "---\nbase_model: [org/a, org/b]\nbase_model_relation: finetune\n---\n")));
        Assert.Equal(["finetune", "finetune"], lineage.Claims.Select(c => c.Relation));
    }

    [Fact]
    public void An_unknown_relation_is_noted_and_the_base_still_claimed()
    {
        var lineage = Read(Folder("m", ("README.md", "---\nbase_model: org/base\nbase_model_relation: distilled\n---\n")));
        Assert.Equal("org/base [-] <README.md base_model>", Claims(lineage));
        Assert.Contains("base_model_relation 'distilled' is not one of", Assert.Single(lineage.Notes), StringComparison.Ordinal);
    }

    [Fact]
    public void Crlf_line_endings_and_a_byte_order_mark_are_read()
    {
        string folder = Folder("m");
        Directory.CreateDirectory(folder);
        File.WriteAllBytes(Path.Combine(folder, "README.md"), [0xEF, 0xBB, 0xBF, .. Encoding.UTF8.GetBytes("---\r\nbase_model:\r\n- org/a\r\n- org/b\r\nbase_model_relation: merge\r\n---\r\n# card\r\n")]);
        var lineage = Read(folder);
        Assert.Equal("org/a [merge] <README.md base_model (base_model_relation: merge)> | org/b [merge] <README.md base_model (base_model_relation: merge)>", Claims(lineage));
        Assert.Empty(lineage.Notes);
    }

    [Fact]
    public void A_card_without_front_matter_or_without_base_model_says_nothing()
    {
        Assert.Equal(DeclaredLineage.None, Read(Folder("a", ("README.md", "# A model\n\nbase_model: not in front matter\n"))), new LineageComparer());
        Assert.Equal(DeclaredLineage.None, Read(Folder("b", ("README.md", "---\nlicense: mit\n---\n"))), new LineageComparer());
        Assert.Equal(DeclaredLineage.None, Read(Folder("c", ("README.md", "---\nbase_model:\n---\n"))), new LineageComparer());
        Assert.Equal(DeclaredLineage.None, Read(Folder("d", ("README.md", "---\n---\n"))), new LineageComparer());
        Assert.Equal(DeclaredLineage.None, Read(Folder("e", ("README.md", "---\nbase_model: null\nbase_model_relation: ~\n---\n"))), new LineageComparer());
        Assert.Equal(DeclaredLineage.None, Read(Folder("f", ("README.md", "---\nbase_model: [~, null]\n---\n"))), new LineageComparer());
    }

    [Fact]
    public void Front_matter_without_its_closing_line_is_noted_not_guessed()
    {
        var lineage = Read(Folder("m", ("README.md", "---\nbase_model: org/base\n\n# The card goes on\n")));
        Assert.Empty(lineage.Claims);
        Assert.Equal("README.md: front matter has no closing '---'; not read", Assert.Single(lineage.Notes));
    }

    [Theory]
    [InlineData("base_model: org/base\n\tlicense: mit\n", 2)]
    [InlineData("license: mit\nbase_model: \"org/base\n", 3)]
    [InlineData("license: mit\nbase_model: org/base\nbase_model: org/other\n", 4)]
    // An unclosed list is found where the front matter ends.
    [InlineData("base_model: [org/a, org/b\n", 3)]
    [InlineData("base_model: *nowhere\n", 2)]
    public void Invalid_yaml_is_a_note_with_its_line_not_an_exception(string yaml, int line)
    {
        var lineage = Read(Folder("m", ("README.md", $"---\n{yaml}---\n")));
        Assert.Empty(lineage.Claims);
        string note = Assert.Single(lineage.Notes);
        Assert.Equal($"README.md: front matter is not valid YAML (line {line}): ", note[..(note.IndexOf("): ", StringComparison.Ordinal) + 3)]);
        Assert.DoesNotContain('\n', note);
    }

    [Fact]
    public void Deeply_nested_yaml_is_refused_before_it_can_overflow_the_stack()
    {
        // YamlDotNet builds nodes recursively: 100,000 brackets crash a process without the depth limit.
        string deep = new string('[', 100_000) + new string(']', 100_000);
        var lineage = Read(Folder("m", ("README.md", $"---\nbase_model: org/base\ntags: {deep}\n---\n")));
        Assert.Empty(lineage.Claims);
        Assert.Contains("nested more than", Assert.Single(lineage.Notes), StringComparison.Ordinal);
    }

    [Fact]
    public void Front_matter_that_is_not_a_mapping_or_a_base_that_is_not_a_name_is_noted()
    {
        var list = Read(Folder("a", ("README.md", "---\n- org/base\n---\n")));
        Assert.Empty(list.Claims);
        Assert.Equal("README.md: front matter is not a mapping of keys to values", Assert.Single(list.Notes));

        var map = Read(Folder("b", ("README.md", "---\nbase_model:\n  name: org/base\n---\n")));
        Assert.Empty(map.Claims);
        Assert.Equal("README.md: base_model is neither a name nor a list of names; ignored", Assert.Single(map.Notes));
    }

    [Fact]
    public void A_long_card_is_read_only_up_to_its_front_matter()
    {
        // 2 MB of card after a short front matter: the claim is read, the rest never is.
        var body = new StringBuilder("---\nbase_model: org/base\n---\n");
        while (body.Length < 2_000_000)
        {
            body.Append("| metric | value |\n|---|---|\n| accuracy | 0.91 |\n");
        }

        var lineage = Read(Folder("m", ("README.md", body.ToString())));
        Assert.Equal("org/base", Assert.Single(lineage.Claims).Base);
        Assert.Empty(lineage.Notes);
    }

    [Fact]
    public void Front_matter_longer_than_the_cap_is_skipped_with_a_note()
    {
        var yaml = new StringBuilder("---\nbase_model: org/base\nwidget:\n");
        while (yaml.Length <= ModelCard.MaxFrontMatterBytes)
        {
            yaml.Append("- text: \"an example prompt that goes on for a while to fill the card\"\n");
        }

        var lineage = Read(Folder("m", ("README.md", yaml.Append("---\n").ToString())));
        Assert.Empty(lineage.Claims);
        Assert.Equal("README.md: front matter does not end within the first 256 KiB; not read", Assert.Single(lineage.Notes));
    }

    [Fact]
    public void Only_the_top_folders_card_and_config_describe_the_model()
    {
        var lineage = Read(Folder("m",
            ("docs/README.md", "---\nbase_model: org/docs\n---\n"),
            ("unet/config.json", "{\"_name_or_path\": \"org/unet\"}")));
        Assert.Empty(lineage.Claims);
    }

    // ---- config.json and adapter_config.json ----

    [Fact]
    public void Config_name_or_path_names_the_base()
    {
        var lineage = Read(Folder("m", ("config.json", """
            {
              "_name_or_path": "google-bert/bert-base-uncased",
              "architectures": ["BertForSequenceClassification"],
              "hidden_size": 768,
              "model_type": "bert",
              "transformers_version": "4.44.2"
            }
            """)));
        Assert.Equal("google-bert/bert-base-uncased [-] <config.json _name_or_path>", Claims(lineage));
    }

    [Fact]
    public void Config_also_gives_base_model_name_or_path_once_per_name()
    {
        var both = Read(Folder("a", ("config.json", "{\"_name_or_path\": \"org/a\", \"base_model_name_or_path\": \"org/b\"}")));
        Assert.Equal("org/a [-] <config.json _name_or_path> | org/b [-] <config.json base_model_name_or_path>", Claims(both));
        var same = Read(Folder("b", ("config.json", "{\"_name_or_path\": \"org/a\", \"base_model_name_or_path\": \"ORG/A\"}")));
        Assert.Equal("org/a [-] <config.json _name_or_path>", Claims(same));
    }

    [Fact]
    public void An_empty_name_or_a_path_to_the_models_own_folder_is_no_claim()
    {
        string own = Path.Combine(_temp.Path, "run-7");
        foreach (string value in new[] { "", "  ", ".", "./", own, own + "/", "./run-7", "../outputs/run-7/", "outputs/checkpoints/run-7" })
        {
            if (Directory.Exists(own))
            {
                Directory.Delete(own, recursive: true);
            }

            var lineage = Read(Folder("run-7", ("config.json", $"{{\"_name_or_path\": {System.Text.Json.JsonSerializer.Serialize(value)}}}")));
            Assert.True(lineage.Claims.Count == 0, $"'{value}': {Claims(lineage)}");
        }
    }

    [Fact]
    public void A_path_to_another_folder_is_a_claim()
    {
        var lineage = Read(Folder("run-8", ("config.json", "{\"_name_or_path\": \"../outputs/run-7\"}")));
        Assert.Equal("../outputs/run-7 [-] <config.json _name_or_path>", Claims(lineage));
    }

    [Fact]
    public void Broken_or_oversized_configs_are_noted()
    {
        var broken = Read(Folder("a", ("config.json", "{\"_name_or_path\": \"org/a\",,")));
        Assert.Empty(broken.Claims);
        Assert.StartsWith("config.json: not valid JSON (", Assert.Single(broken.Notes), StringComparison.Ordinal);

        var array = Read(Folder("b", ("config.json", "[\"org/a\"]")));
        Assert.Equal("config.json: not a JSON object; not read for its base model", Assert.Single(array.Notes));

        var huge = Read(Folder("c", ("config.json", "{\"_name_or_path\": \"org/a\", \"id2label\": \"" + new string('x', DeclaredLineageReader.MaxJsonBytes) + "\"}")));
        Assert.Empty(huge.Claims);
        Assert.Equal("config.json: larger than 4 MiB; not read for its base model", Assert.Single(huge.Notes));

        var number = Read(Folder("d", ("config.json", "{\"_name_or_path\": 7}")));
        Assert.Equal(DeclaredLineage.None, number, new LineageComparer());
    }

    [Fact]
    public void A_peft_adapter_names_its_base_as_an_adapter_finetune()
    {
        var lineage = Read(Folder("lora", ("adapter_config.json", """
            {
              "alpha_pattern": {},
              "auto_mapping": null,
              "base_model_name_or_path": "meta-llama/Llama-2-7b-hf",
              "bias": "none",
              "lora_alpha": 16,
              "lora_dropout": 0.05,
              "peft_type": "LORA",
              "r": 8,
              "target_modules": ["q_proj", "v_proj"],
              "task_type": "CAUSAL_LM"
            }
            """), ("README.md", "---\nbase_model: meta-llama/Llama-2-7b-hf\nlibrary_name: peft\n---\n")));
        Assert.Equal("meta-llama/Llama-2-7b-hf [-] <README.md base_model> | meta-llama/Llama-2-7b-hf [finetune] <adapter_config.json base_model_name_or_path (adapter)>", Claims(lineage));
    }

    // ---- safetensors ----

    [Fact]
    public void A_single_safetensors_file_speaks_through_its_metadata()
    {
        string file = RawSafetensors.Write(_temp.File("model.safetensors"), [Weight()], metadata: new Dictionary<string, string> { ["format"] = "pt", ["base_model"] = "org/base" });
        var lineage = DeclaredLineageReader.Read([(file, "model.safetensors")]);
        Assert.Equal("org/base [-] <model.safetensors __metadata__ base_model>", Claims(lineage));
    }

    [Fact]
    public void A_kohya_lora_names_its_checkpoint_as_an_adapter()
    {
        string file = RawSafetensors.Write(_temp.File("style.safetensors"), [Weight()], metadata: new Dictionary<string, string>
        {
            ["ss_sd_model_name"] = "v1-5-pruned-emaonly.safetensors",
            ["ss_network_module"] = "networks.lora",
            ["ss_network_dim"] = "32",
        });
        var lineage = DeclaredLineageReader.Read([(file, "style.safetensors")]);
        Assert.Equal("v1-5-pruned-emaonly.safetensors [finetune] <style.safetensors __metadata__ ss_sd_model_name (adapter)>", Claims(lineage));
    }

    [Fact]
    public void Shards_repeating_one_anothers_metadata_make_one_claim()
    {
        string folder = Folder("sharded");
        Directory.CreateDirectory(folder);
        var meta = new Dictionary<string, string> { ["format"] = "pt", ["_name_or_path"] = "org/base" };
        RawSafetensors.Write(Path.Combine(folder, "model-00001-of-00002.safetensors"), [Weight(1)], metadata: meta);
        RawSafetensors.Write(Path.Combine(folder, "model-00002-of-00002.safetensors"), [Weight(2)], metadata: meta);
        var lineage = Read(folder);
        Assert.Equal("org/base [-] <model-00001-of-00002.safetensors __metadata__ _name_or_path>", Claims(lineage));
    }

    [Fact]
    public void A_broken_weights_file_is_a_note_not_an_exception()
    {
        string folder = Folder("m", ("README.md", "---\nbase_model: org/base\n---\n"));
        File.WriteAllBytes(Path.Combine(folder, "model.safetensors"), RawSafetensors.Build([Weight()])[..20]);
        var lineage = Read(folder);
        Assert.Equal("org/base", Assert.Single(lineage.Claims).Base);
        Assert.StartsWith("model.safetensors: not read for its base model (header length ", Assert.Single(lineage.Notes), StringComparison.Ordinal);
    }

    [Fact]
    public void A_layout_already_read_is_not_read_again()
    {
        string file = RawSafetensors.Write(_temp.File("model.safetensors"), [Weight()], metadata: new Dictionary<string, string> { ["parent"] = "org/on-disk" });
        var layout = new MGit.Formats.FileLayout("safetensors", 0, [], new Dictionary<string, string> { ["parent"] = "org/given" });
        var lineage = DeclaredLineageReader.Read([(file, "model.safetensors")], new Dictionary<string, MGit.Formats.FileLayout> { ["model.safetensors"] = layout });
        Assert.Equal("org/given", Assert.Single(lineage.Claims).Base);
    }

    [Fact]
    public void Every_safetensors_key_naming_a_base_is_read_and_the_rest_ignored()
    {
        string file = RawSafetensors.Write(_temp.File("m.safetensors"), [Weight()], metadata: new Dictionary<string, string>
        {
            ["base_model"] = "a",
            ["base_model_name_or_path"] = "b",
            ["_name_or_path"] = "c",
            ["parent"] = "d",
            ["modelspec.title"] = "not a base",
            ["format"] = "pt",
        });
        Assert.Equal(["a", "b", "c", "d"], DeclaredLineageReader.Read([(file, "m.safetensors")]).Claims.Select(c => c.Base));
    }

    // ---- GGUF ----

    private static readonly RawGguf.Tensor GgufWeight = new("token_embd.weight", 0, [4], new byte[16]);

    private string Gguf(string name, params RawGguf.Entry[] metadata)
    {
        string path = _temp.File(name);
        File.WriteAllBytes(path, RawGguf.Build([RawGguf.Str("general.architecture", "llama"), .. metadata], [GgufWeight]));
        return path;
    }

    [Fact]
    public void A_gguf_names_its_source_then_its_base_by_repo_url()
    {
        string file = Gguf("dolphin.Q4_K_M.gguf",
            RawGguf.Str("general.name", "Dolphin 3.0 Llama 3.1 8B"),
            RawGguf.Str("general.source.repo_url", "https://huggingface.co/cognitivecomputations/Dolphin3.0-Llama3.1-8B"),
            RawGguf.U32("general.base_model.count", 1),
            RawGguf.Str("general.base_model.0.name", "Llama 3.1 8B"),
            RawGguf.Str("general.base_model.0.organization", "Meta Llama"),
            RawGguf.Str("general.base_model.0.repo_url", "https://huggingface.co/meta-llama/Llama-3.1-8B"));
        var lineage = DeclaredLineageReader.Read([(file, "dolphin.Q4_K_M.gguf")]);
        Assert.Equal(
            "https://huggingface.co/cognitivecomputations/Dolphin3.0-Llama3.1-8B [-] <dolphin.Q4_K_M.gguf general.source.repo_url> | " +
            "https://huggingface.co/meta-llama/Llama-3.1-8B [-] <dolphin.Q4_K_M.gguf general.base_model.0.repo_url>",
            Claims(lineage));
    }

    [Fact]
    public void A_gguf_of_a_merge_names_each_base_and_falls_back_to_organization_and_name()
    {
        string file = Gguf("merge.gguf",
            RawGguf.U32("general.base_model.count", 2),
            RawGguf.Str("general.base_model.0.name", "Mistral-7B-v0.1"),
            RawGguf.Str("general.base_model.0.organization", "mistralai"),
            RawGguf.Str("general.base_model.1.name", "zephyr-7b-beta"),
            RawGguf.Str("general.base_model.2.name", "beyond the count: not read"));
        var lineage = DeclaredLineageReader.Read([(file, "merge.gguf")]);
        Assert.Equal(
            "mistralai/Mistral-7B-v0.1 [merge] <merge.gguf general.base_model.0.organization/name> | zephyr-7b-beta [merge] <merge.gguf general.base_model.1.name>",
            Claims(lineage));
    }

    [Fact]
    public void A_gguf_without_base_keys_says_nothing()
    {
        string file = Gguf("plain.gguf", RawGguf.Str("general.name", "plain"), RawGguf.U32("general.base_model.count", 0));
        Assert.Equal(DeclaredLineage.None, DeclaredLineageReader.Read([(file, "plain.gguf")]), new LineageComparer());
    }

    // ---- matching claims to repository models ----

    private static readonly IReadOnlyDictionary<string, string> NoMeta = new Dictionary<string, string>();

    private static (string, IReadOnlyDictionary<string, string>) M(string name, params (string Key, string Value)[] meta) =>
        (name, meta.ToDictionary(m => m.Key, m => m.Value));

    [Theory]
    [InlineData("org/name")]
    [InlineData("name")]
    [InlineData("NAME")]
    [InlineData("Org/Name")]
    [InlineData("name@v2")]
    [InlineData("org/name@0123abcd")]
    [InlineData("./models/name/")]
    [InlineData("../models/name")]
    [InlineData("/abs/path/name")]
    [InlineData("C:\\models\\name")]
    [InlineData("hf://org/name")]
    [InlineData("https://huggingface.co/org/name")]
    [InlineData("https://huggingface.co/org/name/tree/main")]
    [InlineData("https://huggingface.co/org/name/resolve/main/model.safetensors")]
    [InlineData("https://hf.co/org/name?library=transformers")]
    [InlineData("/home/u/.cache/huggingface/hub/models--org--name/snapshots/4f2c0b7e/")]
    [InlineData("name.safetensors")]
    public void A_claim_matches_a_model_by_its_last_name(string claim) =>
        Assert.Equal("name", BaseNameMatcher.Match(claim, "child", [M("name"), M("other"), M("child")]));

    [Theory]
    [InlineData("org-name")]
    [InlineData("org--name")]
    [InlineData("ORG--NAME")]
    public void Org_and_name_joined_match_and_beat_the_bare_name(string modelName)
    {
        Assert.Equal(modelName, BaseNameMatcher.Match("org/name", "child", [M(modelName), M("child")]));
        Assert.Equal(modelName, BaseNameMatcher.Match("https://huggingface.co/org/name", "child", [M("name"), M(modelName)]));
    }

    [Fact]
    public void Exact_names_and_metadata_beat_last_segment_matches()
    {
        Assert.Equal("org/name", BaseNameMatcher.Match("org/name", "child", [M("name"), M("org-name"), M("org/name")]));
        Assert.Equal("llama-base", BaseNameMatcher.Match("meta-llama/Llama-3.1-8B", "child", [M("Llama-3.1-8B"), M("llama-base", ("hf_id", "meta-llama/Llama-3.1-8B"))]));
        Assert.Equal("llama-base", BaseNameMatcher.Match("https://huggingface.co/meta-llama/Llama-3.1-8B", "child", [M("Llama-3.1-8B"), M("llama-base", ("source", "meta-llama/llama-3.1-8b"))]));
        Assert.Equal("ckpt", BaseNameMatcher.Match("/data/runs/7/final", "child", [M("final"), M("ckpt", ("path", "/data/runs/7/final"))]));
    }

    [Fact]
    public void Two_equally_good_candidates_are_ambiguous()
    {
        Assert.Null(BaseNameMatcher.Match("org/name", "child", [M("org-name"), M("org--name")]));
        Assert.Null(BaseNameMatcher.Match("org/name", "child", [M("a", ("hf_id", "org/name")), M("b", ("hf", "org/name"))]));
        Assert.Null(BaseNameMatcher.Match("name", "child", [M("Name"), M("name")]));
        // One model matching twice is one candidate, not two.
        Assert.Equal("a", BaseNameMatcher.Match("org/name", "child", [M("a", ("hf_id", "org/name"), ("mirror", "org/name"))]));
    }

    [Fact]
    public void A_claim_naming_the_model_itself_is_ignored()
    {
        Assert.Null(BaseNameMatcher.Match("org/bert", "bert", [M("bert"), M("roberta")]));
        Assert.Null(BaseNameMatcher.Match("org/bert", "bert", [M("roberta")]));
        Assert.Null(BaseNameMatcher.Match("./bert/", "BERT", []));
        Assert.Null(BaseNameMatcher.Match("org/bert", "mine", [M("mine", ("hf_id", "org/bert")), M("bert")]));
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("/")]
    [InlineData("https://huggingface.co/")]
    [InlineData("org/unknown")]
    public void A_claim_naming_nothing_in_the_repository_matches_nothing(string claim) =>
        Assert.Null(BaseNameMatcher.Match(claim, "child", [M("name"), M("org-name", ("hf_id", "org/name"))]));

    [Fact]
    public void A_downloaded_family_finds_its_bases()
    {
        // As a user would add them: a base under its Hub name, a fine-tune with a card, a LoRA with an adapter config.
        var repository = new[] { M("Llama-3.1-8B", ("hf_id", "meta-llama/Llama-3.1-8B")), M("dolphin"), M("dolphin-lora") };
        string dolphin = Folder("dolphin",
            ("README.md", "---\nbase_model: meta-llama/Llama-3.1-8B\nbase_model_relation: finetune\n---\n"),
            ("config.json", "{\"_name_or_path\": \"/scratch/ckpt/dolphin\"}"));
        string lora = Folder("dolphin-lora", ("adapter_config.json", "{\"base_model_name_or_path\": \"./dolphin\", \"peft_type\": \"LORA\"}"));

        // The config's path is where the model was saved from: it names the model itself, so it matches nothing.
        var first = Read(dolphin);
        Assert.Equal(["Llama-3.1-8B", null], first.Claims.Select(c => BaseNameMatcher.Match(c.Base, "dolphin", repository)));
        var second = Read(lora);
        var claim = Assert.Single(second.Claims);
        Assert.Equal(("dolphin", "finetune"), (BaseNameMatcher.Match(claim.Base, "dolphin-lora", repository), claim.Relation));
    }

    /// <summary>Records holding lists compare by reference; this compares what they hold.</summary>
    private sealed class LineageComparer : IEqualityComparer<DeclaredLineage>
    {
        public bool Equals(DeclaredLineage? x, DeclaredLineage? y) =>
            x is not null && y is not null && x.Claims.SequenceEqual(y.Claims) && x.Notes.SequenceEqual(y.Notes);

        public int GetHashCode(DeclaredLineage obj) => obj.Claims.Count;
    }
}
