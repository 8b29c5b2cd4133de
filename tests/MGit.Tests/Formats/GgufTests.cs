using MGit.Errors;
using MGit.Formats;
using MGit.Formats.Gguf;
using MGit.Ingest;
using MGit.Storage;
using MGit.Tests.TestSupport;

namespace MGit.Tests.Formats;

public sealed class GgufTests
{
    public static TheoryData<string> AllTypes() => new(GgmlTypes.All.Select(t => t.Name));

    private static FileLayout Read(byte[] bytes, string name = "m.gguf")
    {
        using var stream = new MemoryStream(bytes);
        return new GgufFormat().ReadLayout(stream, bytes.Length, name);
    }

    [Theory]
    [MemberData(nameof(AllTypes))]
    public void Every_ggml_type_round_trips_byte_for_byte_with_whole_blocks_per_chunk(string typeName)
    {
        var type = GgmlTypes.All.Single(t => t.Name == typeName);
        using var fx = new RepoFixture(chunkSize: 1024);
        // 7 rows of 19 blocks: the tensor spans several 1 KiB chunks, none a multiple of 1024 / block bytes.
        var tensors = new[] { RawGguf.Random("blk.0.w", type, blocks: type.IsQuantized ? 19 : 400, rows: 7, seed: type.Id), RawGguf.Random("blk.0.b", type, blocks: 1, rows: 1, seed: 99) };
        string path = fx.Model($"{typeName}.gguf");
        File.WriteAllBytes(path, RawGguf.Build(RawGguf.EveryValueType(), tensors, version: (uint)(type.Id % 2 == 0 ? 3 : 2)));

        var added = fx.Repository.Add(path, new AddOptions());
        string output = fx.Scratch("out.gguf");
        fx.Repository.Checkout(added.Version.Ref, output);
        Assert.Equal(File.ReadAllBytes(path), File.ReadAllBytes(output));

        var details = fx.Repository.Show(added.Version.Ref);
        var weight = details.Tensors.Single(t => t.Name == "blk.0.w");
        Assert.Equal(typeName, weight.Dtype);
        Assert.Equal([7L, (type.IsQuantized ? 19L : 400L) * type.BlockElements], weight.Shape);
        Assert.Equal("gguf", details.Manifest.Files[0].Format);
        Assert.Equal("llama", details.Manifest.Files[0].Metadata!["general.architecture"]);

        var segment = details.Manifest.Files[0].Segments.Single(s => s.Tensor?.Name == "blk.0.w");
        int chunkBytes = details.Manifest.Files[0].ChunkBytesOf(segment);
        Assert.Equal(0, chunkBytes % type.BlockBytes);
        Assert.True(segment.Chunks.Count > 1, "the tensor should span several chunks");
        using var tensor = fx.Repository.OpenTensor(added.Version.Ref, "blk.0.w");
        var bytes = new byte[tensor.Length];
        tensor.ReadExactly(bytes);
        Assert.Equal(tensors[0].Data, bytes);
    }

    [Fact]
    public void Metadata_of_every_value_type_is_read_and_short_scalars_are_kept()
    {
        var layout = Read(RawGguf.Build(RawGguf.EveryValueType(), []));
        var meta = layout.Metadata!;
        Assert.Equal("200", meta["t.u8"]);
        Assert.Equal("-2", meta["t.i8"]);
        Assert.Equal("-300", meta["t.i16"]);
        Assert.Equal("4000000000", meta["t.u32"]);
        Assert.Equal("1.5", meta["t.f32"]);
        Assert.Equal("true", meta["t.bool"]);
        Assert.Equal("-9223372036854775808", meta["t.i64"]);
        Assert.Equal("-2.25", meta["t.f64"]);
        Assert.False(meta.ContainsKey("t.long.string"));
        Assert.False(meta.ContainsKey("t.array.nested"));
        Assert.Empty(layout.Tensors);
    }

    [Theory]
    [InlineData(32u)]
    [InlineData(64u)]
    [InlineData(1u)]
    public void General_alignment_places_the_data_section(uint alignment)
    {
        var type = GgmlTypes.All.Single(t => t.Name == "Q4_0");
        var tensors = new[] { RawGguf.Random("a", type, 1, 1, 1), RawGguf.Random("b", type, 3, 1, 2) };
        var metadata = alignment == 32 ? [] : new[] { RawGguf.U32("general.alignment", alignment) };
        var layout = Read(RawGguf.Build(metadata, tensors, alignment));
        var spans = layout.Segments.Where(s => s.Tensor is not null).ToList();
        Assert.All(spans, s => Assert.Equal(0, s.Offset % alignment));
        Assert.Equal([18L, 54L], spans.Select(s => s.Length));
        Assert.Equal(layout.Length, layout.Segments.Sum(s => s.Length));
    }

    [Fact]
    public void Same_f32_tensor_in_safetensors_and_gguf_is_stored_once()
    {
        using var fx = new RepoFixture(chunkSize: 4096);
        var weight = RawSafetensors.Random("w", "F32", [64, 256], 5);
        fx.Repository.Add(RawSafetensors.Write(fx.Model("a.safetensors"), [weight]), new AddOptions());
        long before = fx.StoredBytes;
        string gguf = fx.Model("a.gguf");
        File.WriteAllBytes(gguf, RawGguf.Build([RawGguf.Str("general.architecture", "test")], [new RawGguf.Tensor("w", 0, [256, 64], weight.Data)]));
        fx.Repository.Add(gguf, new AddOptions { Name = "a-gguf" });
        long growth = fx.StoredBytes - before;
        Assert.True(growth < weight.Data.Length / 10, $"grew {growth} bytes for {weight.Data.Length} bytes of an already stored tensor");
        Assert.Equal([64L, 256L], fx.Repository.Show("a-gguf").Tensors.Single().Shape);
    }

    [Fact]
    public void Show_json_lists_gguf_tensors_outermost_dimension_first()
    {
        using var fx = new RepoFixture();
        var q6 = GgmlTypes.All.Single(t => t.Name == "Q6_K");
        string path = fx.Model("tiny.gguf");
        File.WriteAllBytes(path, RawGguf.Build([RawGguf.Str("general.architecture", "llama")], [RawGguf.Random("output.weight", q6, 2, 3, 1), RawGguf.Random("norm", GgmlTypes.All[0], 16, 1, 2)]));
        Assert.Equal(0, CliRunner.Run(fx.Models, "-C", fx.RepositoryPath, "add", path, "-q").ExitCode);
        var result = CliRunner.Run(fx.Models, "-C", fx.RepositoryPath, "show", "tiny", "--json");
        using var json = System.Text.Json.JsonDocument.Parse(result.Out);
        var tensors = json.RootElement.GetProperty("tensors").EnumerateArray()
            .Select(t => $"{t.GetProperty("name").GetString()} {t.GetProperty("dtype").GetString()} {string.Join('x', t.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()))}");
        Assert.Equal(["output.weight Q6_K 3x512", "norm F32 1x16"], tensors);
        Assert.Equal("llama", json.RootElement.GetProperty("files")[0].GetProperty("metadata").GetProperty("general.architecture").GetString());
    }

    [Fact]
    public void A_new_version_changing_one_block_stores_about_one_chunk()
    {
        using var fx = new RepoFixture(chunkSize: 4096);
        var q4k = GgmlTypes.All.Single(t => t.Name == "Q4_K");
        var weight = RawGguf.Random("w", q4k, blocks: 64, rows: 4, seed: 3);
        string v1 = fx.Model("m.gguf");
        File.WriteAllBytes(v1, RawGguf.Build([], [weight]));
        fx.Repository.Add(v1, new AddOptions());
        long before = fx.StoredBytes;

        byte[] changed = (byte[])weight.Data.Clone();
        changed[100 * q4k.BlockBytes + 7] ^= 0xFF; // one byte of block 100
        string v2 = fx.Model("m2.gguf");
        File.WriteAllBytes(v2, RawGguf.Build([], [weight with { Data = changed }]));
        var added = fx.Repository.Add(v2, new AddOptions { VersionOf = "m" });
        long growth = fx.StoredBytes - before;
        // 36 KiB of Q4_K in 4032-byte chunks: only the chunk holding block 100 (plus a manifest) is new.
        Assert.True(growth < 3 * 4096, $"grew {growth} bytes for a one-block change");
        Assert.Equal(1, added.ChunksNew);
    }

    [Fact]
    public void A_gguf_without_the_extension_is_detected_by_content()
    {
        using var fx = new RepoFixture();
        string path = fx.Model("model.bin");
        File.WriteAllBytes(path, RawGguf.Build([], [RawGguf.Random("t", GgmlTypes.All[0], 8, 2, 1)]));
        var added = fx.Repository.Add(path, new AddOptions());
        Assert.Equal("gguf", fx.Repository.Show(added.Version.Ref).Manifest.Files[0].Format);
    }

    public static TheoryData<string, byte[]> Malformed()
    {
        var q8 = GgmlTypes.All.Single(t => t.Name == "Q8_0");
        byte[] valid = RawGguf.Build([RawGguf.Str("general.name", "x")], [RawGguf.Random("t", q8, 2, 2, 1)]);
        byte[] With(Action<byte[]> change)
        {
            byte[] copy = (byte[])valid.Clone();
            change(copy);
            return copy;
        }

        int tensorInfo = 24 + 8 + 12 + 4 + 8 + 1; // header, key "general.name", type, value "x"
        return new TheoryData<string, byte[]>
        {
            { "truncated", valid[..(valid.Length - 5)] },
            { "version 1", With(b => b[4] = 1) },
            { "big-endian", With(b => { b[4] = 0; b[7] = 3; }) },
            { "tensor count lies", With(b => BitConverter.GetBytes(1UL << 60).CopyTo(b, 8)) },
            { "metadata count lies", With(b => BitConverter.GetBytes(ulong.MaxValue).CopyTo(b, 16)) },
            { "key length lies", With(b => BitConverter.GetBytes(1UL << 40).CopyTo(b, 24)) },
            { "unknown value type", With(b => b[24 + 8 + 12] = 77) },
            { "too many dimensions", With(b => b[tensorInfo + 8 + 1] = 9) },
            { "element count overflows", RawGguf.Build([], [new RawGguf.Tensor("t", 0, [1L << 40, 1L << 40], new byte[4])]) },
            { "row not whole blocks", RawGguf.Build([], [new RawGguf.Tensor("t", 8, [33, 1], new byte[34])]) },
            { "unknown ggml type", RawGguf.Build([], [new RawGguf.Tensor("t", 4, [32, 1], new byte[18])]) },
            { "offset past the end", With(b => BitConverter.GetBytes(1UL << 20).CopyTo(b, tensorInfo + 8 + 1 + 4 + 16 + 4)) },
            { "misaligned offset", With(b => BitConverter.GetBytes(3UL).CopyTo(b, tensorInfo + 8 + 1 + 4 + 16 + 4)) },
            { "bad alignment", RawGguf.Build([RawGguf.U32("general.alignment", 24)], []) },
            { "alignment of wrong type", RawGguf.Build([RawGguf.Str("general.alignment", "32")], []) },
            { "duplicate key", RawGguf.Build([RawGguf.Str("k", "a"), RawGguf.Str("k", "b")], []) },
            { "duplicate tensor", RawGguf.Build([], [new RawGguf.Tensor("t", 0, [1], new byte[4]), new RawGguf.Tensor("t", 0, [1], new byte[4])]) },
            { "array count lies", RawGguf.Build([new RawGguf.Entry("a", 9, [.. BitConverter.GetBytes(8u), .. BitConverter.GetBytes(1UL << 61)])], []) },
            { "overlapping tensors", OverlappingTensors() },
        };
    }

    private static byte[] OverlappingTensors()
    {
        byte[] bytes = RawGguf.Build([], [new RawGguf.Tensor("a", 0, [16], new byte[64]), new RawGguf.Tensor("b", 0, [16], new byte[64])]);
        // Point b's offset (the last 8 bytes of its tensor info) at a's data.
        int bOffset = 24 + (8 + 1 + 4 + 8 + 4 + 8) + (8 + 1 + 4 + 8 + 4);
        BitConverter.GetBytes(32UL).CopyTo(bytes, bOffset);
        return bytes;
    }

    [Theory]
    [MemberData(nameof(Malformed))]
    public void Malformed_files_are_refused_with_one_line_and_the_repository_unchanged(string problem, byte[] bytes)
    {
        var error = Assert.Throws<InvalidModelFileException>(() => Read(bytes));
        Assert.DoesNotContain('\n', error.Message);
        Assert.StartsWith("m.gguf: ", error.Message, StringComparison.Ordinal);

        using var fx = new RepoFixture();
        string path = fx.Model("m.gguf");
        File.WriteAllBytes(path, bytes);
        var before = RepositorySnapshot.Take(fx.RepositoryPath);
        Assert.Throws<InvalidModelFileException>(() => fx.Repository.Add(path, new AddOptions()));
        Assert.Equal(before, RepositorySnapshot.Take(fx.RepositoryPath));
        _ = problem;
    }

    [Fact]
    public void Chunks_of_block_types_hold_whole_blocks_at_any_chunk_size()
    {
        foreach (int chunkSize in new[] { 1024, 1088, 4096, 4 * 1024 * 1024 })
        {
            var format = new RepositoryFormat { ChunkSize = chunkSize };
            foreach (var type in GgmlTypes.All.Where(t => t.IsQuantized))
            {
                int bytes = Chunking.ChunkBytes(format, new TensorInfo("t", type.Name, [256], type.Layout));
                Assert.Equal(0, bytes % type.BlockBytes);
                Assert.InRange(bytes, chunkSize - type.BlockBytes + 1, chunkSize);
            }
        }
    }
}
