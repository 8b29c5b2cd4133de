using System.Text;
using MGit.Errors;
using MGit.Formats;
using MGit.Formats.Catalog;
using MGit.Formats.Safetensors;
using MGit.Tests.TestSupport;
using static MGit.Tests.TestSupport.RawSafetensors;

namespace MGit.Tests.Formats;

public sealed class SafetensorsFormatTests
{
    private static FileLayout Read(byte[] file, string name = "model.safetensors")
    {
        using var stream = new MemoryStream(file);
        return new SafetensorsFormat().ReadLayout(stream, file.Length, name);
    }

    private static string Refused(byte[] file)
    {
        var e = Assert.Throws<InvalidModelFileException>(() => Read(file, "bad.safetensors"));
        Assert.StartsWith("bad.safetensors: ", e.Message);
        Assert.DoesNotContain('\n', e.Message);
        return e.Message;
    }

    [Fact]
    public void Segments_tile_the_file_with_header_first_and_tensors_in_offset_order()
    {
        var a = RawSafetensors.Random("a", "F32", [2, 3], 1);
        var b = RawSafetensors.Random("b", "I64", [4], 2);
        byte[] file = Build([b, a]);
        var layout = Read(file);

        Assert.Equal(file.Length, layout.Length);
        Assert.Null(layout.Segments[0].Tensor);
        Assert.Equal(["b", "a"], layout.Tensors.Select(t => t.Name));
        long position = 0;
        foreach (var segment in layout.Segments)
        {
            Assert.Equal(position, segment.Offset);
            position += segment.Length;
        }

        Assert.Equal(file.Length, position);
        Assert.Equal([2L, 3L], layout.Tensors.Single(t => t.Name == "a").Shape);
    }

    [Fact]
    public void Metadata_scalars_and_zero_sized_tensors_are_read()
    {
        var scalar = RawSafetensors.Random("scalar", "F64", [], 3);
        var empty = new Tensor("empty", "F32", [0, 1024], []);
        var layout = Read(Build([scalar, empty], metadata: new Dictionary<string, string> { ["format"] = "pt" }));
        Assert.Equal("pt", layout.Metadata!["format"]);
        Assert.Empty(layout.Tensors.Single(t => t.Name == "scalar").Shape);
        Assert.Equal(0, layout.Segments.Single(s => s.Tensor?.Name == "empty").Length);
    }

    [Theory]
    [InlineData("F4", new long[] { 6 }, 3)]
    [InlineData("F6_E2M3", new long[] { 4 }, 3)]
    [InlineData("F8_E8M0", new long[] { 5 }, 5)]
    [InlineData("C64", new long[] { 2 }, 16)]
    [InlineData("FUTURE16", new long[] { 3 }, 6)]
    public void Newer_dtypes_are_kept_as_bytes_when_sizes_add_up(string dtype, long[] shape, int bytes)
    {
        var layout = Read(Assemble(Header([new Tensor("t", dtype, shape, new byte[bytes])]), new byte[bytes]));
        Assert.Equal(dtype, layout.Tensors.Single().Dtype);
    }

    [Fact]
    public void Truncated_file_is_refused() =>
        Assert.Contains("truncated", Refused(Build([RawSafetensors.Random("a", "F32", [16], 1)])[..^4]));

    [Fact]
    public void File_shorter_than_the_length_prefix_is_refused() => Assert.Contains("too short", Refused([1, 2, 3]));

    [Fact]
    public void Header_length_beyond_the_file_is_refused() =>
        Assert.Contains("past the end", Refused(Assemble("{}", [], pad: false, declaredLength: 4096)));

    [Fact]
    public void Header_length_above_the_reference_cap_is_refused() =>
        Assert.Contains("exceeds the limit", Refused(Assemble("{}", [], pad: false, declaredLength: 100_000_001)));

    [Fact]
    public void Overlapping_offsets_are_refused()
    {
        string header = """{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}}""";
        Assert.Contains("overlaps", Refused(Assemble(header, new byte[6])));
    }

    [Fact]
    public void Gapped_offsets_are_refused()
    {
        string header = """{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[4],"data_offsets":[6,10]}}""";
        Assert.Contains("gap", Refused(Assemble(header, new byte[10])));
    }

    [Fact]
    public void Trailing_bytes_after_the_last_tensor_are_refused()
    {
        string header = """{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}}""";
        Assert.Contains("longer than its header", Refused(Assemble(header, new byte[9])));
    }

    [Fact]
    public void Unknown_dtype_whose_size_does_not_add_up_is_refused()
    {
        string header = """{"a":{"dtype":"Q3_FANCY","shape":[4],"data_offsets":[0,7]}}""";
        Assert.Contains("unknown dtype", Refused(Assemble(header, new byte[7])));
    }

    [Fact]
    public void Shape_and_size_mismatch_is_refused()
    {
        string header = """{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}""";
        Assert.Contains("needs 12 bytes", Refused(Assemble(header, new byte[8])));
    }

    [Fact]
    public void Duplicate_names_are_refused()
    {
        string header = """{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}""";
        Assert.Contains("duplicate", Refused(Assemble(header, new byte[2])));
    }

    [Fact]
    public void Invalid_json_is_refused() => Assert.Contains("not valid JSON", Refused(Assemble("{\"a\": {", [])));

    [Fact]
    public void Header_not_starting_with_a_brace_is_refused() => Assert.Contains("start", Refused(Assemble("[1, 2]", [])));

    [Fact]
    public void Invalid_utf8_is_refused()
    {
        byte[] header = [.. "{\"a"u8, 0xC3, 0x28, .. "\":{}}"u8];
        Assert.Contains("UTF-8", Refused(AssembleRaw(header, [])));
    }

    [Fact]
    public void Element_count_overflow_is_refused_without_allocating()
    {
        string header = """{"a":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,4]}}""";
        Assert.Contains("overflows", Refused(Assemble(header, new byte[4])));
    }

    [Fact]
    public void Byte_size_overflow_is_refused()
    {
        string header = """{"a":{"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,8]}}""";
        Assert.Contains("overflows", Refused(Assemble(header, new byte[8])));
    }

    [Fact]
    public void Negative_dimension_and_bad_offsets_are_refused()
    {
        Assert.Contains("dimension", Refused(Assemble("""{"a":{"dtype":"U8","shape":[-1],"data_offsets":[0,1]}}""", new byte[1])));
        Assert.Contains("ends before", Refused(Assemble("""{"a":{"dtype":"U8","shape":[0],"data_offsets":[4,0]}}""", new byte[4])));
        Assert.Contains("data_offsets", Refused(Assemble("""{"a":{"dtype":"U8","shape":[1],"data_offsets":[0]}}""", new byte[1])));
    }

    [Fact]
    public void Metadata_with_non_string_values_is_refused() =>
        Assert.Contains("__metadata__", Refused(Assemble("""{"__metadata__":{"n":1}}""", [])));

    [Fact]
    public void Content_detection_claims_unnamed_safetensors_and_falls_back_for_lookalikes()
    {
        using var dir = new TempDirectory();
        string valid = dir.File("weights.bin");
        File.WriteAllBytes(valid, Build([RawSafetensors.Random("a", "F32", [4], 1)]));
        Assert.Equal("safetensors", ModelFormats.ReadLayout(valid, "weights.bin").Format);

        // Looks like safetensors by its first bytes but is not: kept as a blob, not refused.
        string lookalike = dir.File("notes.bin");
        File.WriteAllBytes(lookalike, Assemble("{\"hello\": 1}", new byte[3]));
        Assert.Equal("blob", ModelFormats.ReadLayout(lookalike, "notes.bin").Format);

        string text = dir.File("README.md");
        File.WriteAllText(text, "# model card\n", Encoding.UTF8);
        Assert.Equal("blob", ModelFormats.ReadLayout(text, "README.md").Format);
    }
}
