using System.Buffers.Binary;
using System.Text.Json;
using MGit.Formats.Gguf;
using MGit.Formats.Onnx.Proto;
using MGit.Tests.Formats.Onnx;
using MGit.Tests.TestSupport;

namespace MGit.Tests.Cli;

/// <summary>`mgit diff` as users meet it: quantized GGUF tensors, missing files, ONNX attribute and wiring changes.</summary>
public sealed class DiffCliTests
{
    private const string Q8Name = "blk.0.attn_q.weight";
    private const string Q4KName = "blk.0.ffn_down.weight";
    private const string IqName = "blk.0.attn_k.weight";
    private static readonly float Q8Scale = (float)(Half)0.01f;

    private static CliResult Ok(string dir, params string[] args) => CliRunner.Ok(dir, args);

    /// <summary>Q8_0 blocks with a sane f16 scale and random quants (random scales could be NaN).</summary>
    private static byte[] Q8Blocks(int blocks, int seed)
    {
        var random = new Random(seed);
        var data = new byte[blocks * 34];
        for (int b = 0; b < blocks; b++)
        {
            BinaryPrimitives.WriteHalfLittleEndian(data.AsSpan(b * 34), (Half)Q8Scale);
            random.NextBytes(data.AsSpan((b * 34) + 2, 32));
        }

        return data;
    }

    /// <summary>Q4_K super-blocks: d 0.5, dmin 0.25, every 6-bit scale and min non-zero, random nibbles.</summary>
    private static byte[] Q4KBlocks(int blocks, int seed)
    {
        var random = new Random(seed);
        var data = new byte[blocks * 144];
        for (int b = 0; b < blocks; b++)
        {
            var block = data.AsSpan(b * 144, 144);
            BinaryPrimitives.WriteHalfLittleEndian(block, (Half)0.5f);
            BinaryPrimitives.WriteHalfLittleEndian(block[2..], (Half)0.25f);
            block.Slice(4, 12).Fill(0x25);
            random.NextBytes(block.Slice(16, 128));
        }

        return data;
    }

    /// <summary>A GGUF file with a Q8_0, a Q4_K, an IQ2_XXS (not dequantised) and an F32 tensor; <paramref name="flip"/> changes one byte of each quantized one.</summary>
    private static byte[] Gguf(bool flip)
    {
        byte[] q8 = Q8Blocks(290, 1); // 9,280 values
        byte[] q4k = Q4KBlocks(8, 2);
        var iq = RawGguf.Random(IqName, GgmlTypes.All.Single(t => t.Name == "IQ2_XXS"), blocks: 1, rows: 2, seed: 3);
        var norm = RawGguf.Random("output_norm.weight", GgmlTypes.All.Single(t => t.Name == "I8"), blocks: 64, rows: 1, seed: 4);
        if (flip)
        {
            q8[(5 * 34) + 2 + 7] ^= 0x01; // one quant of block 5: one value moves by one scale step
            q4k[(3 * 144) + 16 + 40] ^= 0x01; // one low nibble of super-block 3
            iq.Data[70] ^= 0xFF;
        }

        return RawGguf.Build(
            [RawGguf.Str("general.architecture", "llama")],
            [
                new RawGguf.Tensor(Q8Name, 8, [320, 29], q8),
                new RawGguf.Tensor(Q4KName, 12, [512, 4], q4k),
                iq,
                norm,
            ]);
    }

    [Fact]
    public void Diff_of_gguf_models_dequantises_quantized_tensors_and_names_every_changed_one()
    {
        using var dir = new TempDirectory();
        Ok(dir.Path, "init");
        File.WriteAllBytes(dir.File("a.gguf"), Gguf(flip: false));
        File.WriteAllBytes(dir.File("b.gguf"), Gguf(flip: true));
        Ok(dir.Path, "add", dir.File("a.gguf"), "--name", "m");
        Ok(dir.Path, "add", dir.File("b.gguf"), "--name", "tuned", "--parent", "m");

        // Stored against stored, and stored against the file on disk: the same answer.
        foreach (string other in new[] { "tuned", dir.File("b.gguf") })
        {
            string text = Ok(dir.Path, "diff", "m", other).Out;
            Assert.Contains("3 changed", text, StringComparison.Ordinal);
            Assert.Contains("parameters: 2 of 11,904 changed value", text, StringComparison.Ordinal);
            Assert.DoesNotContain("(0%)", text, StringComparison.Ordinal);
            string q8Line = Assert.Single(text.Split('\n'), l => l.Contains(Q8Name, StringComparison.Ordinal));
            Assert.Contains("changed 1 of 9,280 (0.01%)", q8Line, StringComparison.Ordinal);
            Assert.Contains("Q8_0, dequantised", q8Line, StringComparison.Ordinal);
            string q4kLine = Assert.Single(text.Split('\n'), l => l.Contains(Q4KName, StringComparison.Ordinal));
            Assert.Contains("changed 1 of 2,048", q4kLine, StringComparison.Ordinal);
            string iqLine = Assert.Single(text.Split('\n'), l => l.Contains(IqName, StringComparison.Ordinal));
            Assert.Contains("1 of 132 bytes differ", iqLine, StringComparison.Ordinal);
            Assert.Contains("statistics unavailable for type IQ2_XXS", iqLine, StringComparison.Ordinal);

            using var json = JsonDocument.Parse(Ok(dir.Path, "diff", "m", other, "--json").Out);
            var rows = json.RootElement.GetProperty("tensors").EnumerateArray().ToDictionary(r => r.GetProperty("name").GetString()!);
            var q8 = rows[Q8Name];
            Assert.Equal("changed", q8.GetProperty("status").GetString());
            Assert.Equal(1, q8.GetProperty("changed_elements").GetInt64());
            Assert.Equal(1, q8.GetProperty("changed_bytes").GetInt64());
            Assert.Equal(Q8Scale, q8.GetProperty("max_abs_delta").GetDouble()); // one quant step of the block's scale, exactly
            Assert.True(q8.GetProperty("dequantized").GetBoolean());
            Assert.InRange(q8.GetProperty("relative_change").GetDouble(), 1e-6, 1e-2);
            var q4k = rows[Q4KName];
            Assert.Equal(1, q4k.GetProperty("changed_elements").GetInt64());
            Assert.Equal(0.5 * 37, q4k.GetProperty("max_abs_delta").GetDouble()); // d * 6-bit scale 37, one nibble step
            var iq = rows[IqName];
            Assert.Equal(1, iq.GetProperty("changed_bytes").GetInt64());
            Assert.False(iq.TryGetProperty("l2_delta", out _));
            Assert.Equal("changed bytes, statistics unavailable for type IQ2_XXS", iq.GetProperty("note").GetString());
            Assert.Equal("identical", rows["output_norm.weight"].GetProperty("status").GetString());
            var summary = json.RootElement.GetProperty("summary");
            Assert.Equal(2, summary.GetProperty("parameters_changed").GetInt64());
            Assert.Equal(1, summary.GetProperty("changed_without_statistics").GetInt32());
        }
    }

    [Fact]
    public void A_change_that_leaves_every_value_equal_is_still_reported()
    {
        // Q8_K's block sums serve dot products only: a byte changed there changes no value.
        var q8k = GgmlTypes.All.Single(t => t.Name == "Q8_K");
        byte[] data = new byte[q8k.BlockBytes * 2];
        BinaryPrimitives.WriteSingleLittleEndian(data, 0.5f);
        BinaryPrimitives.WriteSingleLittleEndian(data.AsSpan(q8k.BlockBytes), 0.5f);
        byte[] changed = (byte[])data.Clone();
        changed[q8k.BlockBytes - 1] ^= 0x10;
        using var dir = new TempDirectory();
        File.WriteAllBytes(dir.File("a.gguf"), RawGguf.Build([], [new RawGguf.Tensor("t", (uint)q8k.Id, [512], data)]));
        File.WriteAllBytes(dir.File("b.gguf"), RawGguf.Build([], [new RawGguf.Tensor("t", (uint)q8k.Id, [512], changed)]));

        string text = Ok(dir.Path, "diff", dir.File("a.gguf"), dir.File("b.gguf")).Out;
        Assert.Contains("1 changed", text, StringComparison.Ordinal);
        Assert.Contains("changed 0 of 512 (0%)  (Q8_K, dequantised)  (1 byte(s) differ, values equal)", text, StringComparison.Ordinal);
        using var json = JsonDocument.Parse(Ok(dir.Path, "diff", dir.File("a.gguf"), dir.File("b.gguf"), "--json").Out);
        var row = json.RootElement.GetProperty("tensors")[0];
        Assert.Equal(0, row.GetProperty("changed_elements").GetInt64());
        Assert.Equal(1, row.GetProperty("changed_bytes").GetInt64());
    }

    [Fact]
    public void Diff_with_a_missing_file_says_no_such_file_or_model()
    {
        using var dir = new TempDirectory();
        Ok(dir.Path, "init");
        string model = RawSafetensors.Write(dir.File("a.safetensors"), [RawSafetensors.Random("w", "F32", [4, 4], 1)]);
        Ok(dir.Path, "add", model, "--name", "a");

        foreach (string missing in new[] { "missing.safetensors", "sub/nothing", "gone.gguf" })
        {
            var result = CliRunner.Run(dir.Path, "diff", "a", missing);
            Assert.Equal(1, result.ExitCode);
            Assert.Equal($"mgit: no such file or model: {missing}", result.Error.Trim());
        }

        // A bare name is a model name: its own message stays.
        Assert.Equal("mgit: no model named 'nope'", CliRunner.Run(dir.Path, "diff", "a", "nope").Error.Trim());

        // Outside a repository, files only.
        using var elsewhere = new TempDirectory();
        var outside = CliRunner.Run(elsewhere.Path, "diff", model, "missing.safetensors");
        Assert.Equal(1, outside.ExitCode);
        Assert.Equal("mgit: no such file or model: missing.safetensors", outside.Error.Trim());
    }

    private static ModelProto Graph(float gemmAlpha, float leakyAlpha, string identityInput)
    {
        var model = OnnxBuilder.Model(
            [OnnxBuilder.Raw("W", 1, [2, 2], OnnxBuilder.Bytes([1, 2, 3, 4])), OnnxBuilder.Raw("B", 1, [2], OnnxBuilder.Bytes([0, 1]))],
            [
                new NodeProto
                {
                    Name = "Gemm_648", OpType = "Gemm", Input = { "x", "W", "B" }, Output = { "y" },
                    Attribute =
                    {
                        new AttributeProto { Name = "alpha", Type = AttributeProto.Types.AttributeType.Float, F = gemmAlpha },
                        new AttributeProto { Name = "transB", Type = AttributeProto.Types.AttributeType.Int, I = 1 },
                    },
                },
                new NodeProto
                {
                    OpType = "LeakyRelu", Input = { "y" }, Output = { "z" },
                    Attribute = { new AttributeProto { Name = "alpha", Type = AttributeProto.Types.AttributeType.Float, F = leakyAlpha } },
                },
                new NodeProto { OpType = "Identity", Input = { identityInput }, Output = { "out" } },
            ]);
        model.Graph.Input.Add(new ValueInfoProto { Name = "x", Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = 1 } } });
        return model;
    }

    [Fact]
    public void Onnx_attribute_changes_read_plainly_and_rewiring_has_its_own_arrow()
    {
        using var dir = new TempDirectory();
        Ok(dir.Path, "init");
        OnnxBuilder.Write(dir.File("a.onnx"), Graph(1f, 0.01f, "z"));
        OnnxBuilder.Write(dir.File("b.onnx"), Graph(2f, 0.2f, "y"));
        Ok(dir.Path, "add", dir.File("a.onnx"), "--name", "a");
        Ok(dir.Path, "add", dir.File("b.onnx"), "--name", "b", "--parent", "a");

        var lines = Ok(dir.Path, "diff", "a", "b").Out.ReplaceLineEndings("\n").Split('\n').Select(l => l.Trim()).ToList();
        Assert.Contains("attribute changed Gemm_648.alpha: 1 -> 2", lines);
        Assert.Contains("attribute changed LeakyRelu#1.alpha: 0.01 -> 0.2", lines);
        Assert.Contains("rewired Identity#2 input 0: z => y", lines);
        Assert.DoesNotContain(lines, l => l.Contains('{', StringComparison.Ordinal));

        using var json = JsonDocument.Parse(Ok(dir.Path, "diff", "a", "b", "--json").Out);
        var structural = json.RootElement.GetProperty("files")[0].GetProperty("graph").GetProperty("structural").EnumerateArray().ToList();
        var gemm = Assert.Single(structural, c => c.GetProperty("kind").GetString() == "attribute_changed" && c.GetProperty("node").GetString() == "Gemm_648");
        Assert.Equal("alpha", gemm.GetProperty("attribute").GetString());
        Assert.Equal("1", gemm.GetProperty("before").GetString());
        Assert.Equal("2", gemm.GetProperty("after").GetString());
        Assert.Equal("Gemm_648.alpha", gemm.GetProperty("subject").GetString());
        var rewired = Assert.Single(structural, c => c.GetProperty("kind").GetString() == "rewired");
        Assert.Equal("Identity#2", rewired.GetProperty("node").GetString());
        Assert.Equal(("z", "y"), (rewired.GetProperty("before").GetString(), rewired.GetProperty("after").GetString()));
    }
}
