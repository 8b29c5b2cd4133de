using System.Diagnostics;
using System.Text;
using MGit.Errors;
using MGit.Formats;
using MGit.Formats.Gguf;
using MGit.Formats.Onnx;
using MGit.Formats.PyTorch;
using MGit.Formats.Safetensors;
using MGit.Tests.Formats.Onnx;
using MGit.Tests.TestSupport;

namespace MGit.Tests.Formats;

/// <summary>
/// The header caps of docs/FORMATS.md: a file over each is refused with one line naming the
/// limit, and headers under them cost time and memory linear in their size with a small constant.
/// Costs are asserted as allocation (deterministic on one thread) against the header's size, and
/// time only against a generous bound; the measurements themselves are in docs/BENCHMARKS.md.
/// </summary>
public sealed class HeaderCapTests
{
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(30);

    private static FileLayout Read(IModelFormat format, byte[] file, string name)
    {
        using var stream = new MemoryStream(file, writable: false);
        return format.ReadLayout(stream, file.Length, name);
    }

    private static string Refused(IModelFormat format, byte[] file, string name, string limit)
    {
        var e = Assert.Throws<InvalidModelFileException>(() => Read(format, file, name));
        Assert.StartsWith($"{name}: ", e.Message);
        Assert.DoesNotContain('\n', e.Message);
        Assert.Contains(limit, e.Message);
        return e.Message;
    }

    /// <summary>Allocation and time of one read, on this thread.</summary>
    private static (long Allocated, TimeSpan Elapsed, FileLayout Layout) Measure(IModelFormat format, byte[] file, string name)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        var clock = Stopwatch.StartNew();
        var layout = Read(format, file, name);
        return (GC.GetAllocatedBytesForCurrentThread() - before, clock.Elapsed, layout);
    }

    /// <summary>
    /// A safetensors file of <paramref name="count"/> one-byte tensors "layers.N.w" (about 70 header
    /// bytes each, as the 300,000-tensor file of the issue), written without going through strings.
    /// </summary>
    private static byte[] ManyTensors(int count) =>
        ManyTensors(count, i => $"\"layers.{i}.w\":{{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[{i},{i + 1}]}}", dataLength: count);

    private static byte[] ManyTensors(int count, Func<int, string> entry, int dataLength)
    {
        var header = new MemoryStream();
        header.WriteByte((byte)'{');
        for (int i = 0; i < count; i++)
        {
            if (i > 0)
            {
                header.WriteByte((byte)',');
            }

            header.Write(Encoding.UTF8.GetBytes(entry(i)));
        }

        header.WriteByte((byte)'}');
        return RawSafetensors.AssembleRaw(header.ToArray(), new byte[dataLength]);
    }

    [Fact]
    public void A_safetensors_header_of_100k_tensors_is_read_at_a_small_constant_per_header_byte()
    {
        var format = new SafetensorsFormat();
        byte[] small = ManyTensors(10_000);
        byte[] large = ManyTensors(100_000);
        Measure(format, small, "warm-up.safetensors");
        var (smallAllocated, _, _) = Measure(format, small, "small.safetensors");
        var (allocated, elapsed, layout) = Measure(format, large, "large.safetensors");

        Assert.Equal(100_000, layout.Tensors.Count());
        Assert.True(elapsed < Generous, $"reading 100,000 tensors took {elapsed}");

        // A document tree and a UTF-16 copy of the header took 16 bytes per header byte; one forward pass takes about 5.
        long headerBytes = large.Length - 100_000;
        Assert.True(allocated < 8 * headerBytes, $"reading a {headerBytes}-byte header allocated {allocated} bytes");

        // Ten times the tensors, about ten times the memory: nothing in the reader grows faster than the header.
        double ratio = (double)allocated / smallAllocated;
        Assert.True(ratio is > 8 and < 12, $"10x the tensors allocated {ratio:F1}x the bytes");
    }

    [Fact]
    public void A_safetensors_file_over_the_tensor_count_cap_is_refused()
    {
        // Empty tensors all at [0, 0] tile the (empty) data section, so only the count is wrong.
        byte[] file = ManyTensors(HeaderLimits.MaxTensors + 1, i => $"\"{i}\":{{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]}}", dataLength: 0);
        Refused(new SafetensorsFormat(), file, "many.safetensors", $"more than {HeaderLimits.MaxTensors} tensors, the limit per file");
    }

    [Fact]
    public void A_safetensors_name_dimension_count_or_metadata_over_its_cap_is_refused()
    {
        var format = new SafetensorsFormat();
        string longName = new('n', HeaderLimits.MaxNameBytes + 1);
        Refused(format, RawSafetensors.Build([RawSafetensors.Random(longName, "U8", [1], 1)]), "name.safetensors", $"more than the limit of {HeaderLimits.MaxNameBytes}");

        // At the cap it is read: the limit is in UTF-8 bytes ('é' is two).
        string atCap = new('é', HeaderLimits.MaxNameBytes / 2);
        Assert.Equal(atCap, Read(format, RawSafetensors.Build([RawSafetensors.Random(atCap, "U8", [1], 1)]), "ok.safetensors").Tensors.Single().Name);
        Refused(format, RawSafetensors.Build([RawSafetensors.Random(atCap + "é", "U8", [1], 1)]), "utf8.safetensors", $"more than the limit of {HeaderLimits.MaxNameBytes}");

        long[] deep = Enumerable.Repeat(1L, HeaderLimits.MaxDimensions + 1).ToArray();
        Refused(format, RawSafetensors.Build([RawSafetensors.Random("deep", "U8", deep, 1)]), "dims.safetensors", $"more than the limit of {HeaderLimits.MaxDimensions}");
        Assert.Equal(HeaderLimits.MaxDimensions, Read(format, RawSafetensors.Build([RawSafetensors.Random("deep", "U8", deep[1..], 1)]), "ok.safetensors").Tensors.Single().Shape.Count);

        var metadata = Enumerable.Range(0, HeaderLimits.MaxMetadataEntries + 1).ToDictionary(i => $"k{i}", i => "v");
        Refused(format, RawSafetensors.Build([RawSafetensors.Random("a", "U8", [1], 1)], metadata: metadata), "meta.safetensors", $"more than {HeaderLimits.MaxMetadataEntries} entries");

        Refused(format, RawSafetensors.Assemble("{}", [], pad: false, declaredLength: SafetensorsFormat.MaxHeaderLength + 1), "header.safetensors", $"exceeds the limit of {SafetensorsFormat.MaxHeaderLength}");
    }

    [Fact]
    public void A_safetensors_header_with_an_escaped_lone_surrogate_or_a_repeated_field_is_refused_in_one_line()
    {
        var format = new SafetensorsFormat();
        Refused(format, RawSafetensors.Assemble("{\"\\ud800\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", [0]), "surrogate.safetensors", "not valid Unicode");
        Refused(format, RawSafetensors.Assemble("{\"a\":{\"dtype\":\"U8\",\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", [0]), "twice.safetensors", "more than one 'dtype'");
    }

    [Fact]
    public void A_gguf_file_over_the_tensor_metadata_or_name_caps_is_refused()
    {
        var format = new GgufFormat();

        // Counts are checked before anything is read for them; the file holds enough bytes that only the cap refuses them.
        static byte[] Counts(ulong tensors, ulong metadata, int padding) =>
            [.. "GGUF"u8, .. BitConverter.GetBytes(3u), .. BitConverter.GetBytes(tensors), .. BitConverter.GetBytes(metadata), .. new byte[padding]];
        Refused(format, Counts(HeaderLimits.MaxTensors + 1UL, 0, 24 * (HeaderLimits.MaxTensors + 1)), "many.gguf", $"more than the limit of {HeaderLimits.MaxTensors} per file");
        Refused(format, Counts(0, HeaderLimits.MaxMetadataEntries + 1UL, 13 * (HeaderLimits.MaxMetadataEntries + 1)), "meta.gguf", $"more than the limit of {HeaderLimits.MaxMetadataEntries}");

        var f32 = GgmlTypes.All.Single(t => t.Name == "F32");
        var tensor = RawGguf.Random(new string('n', HeaderLimits.MaxNameBytes + 1), f32, 1, 1, 1);
        Refused(format, RawGguf.Build([], [tensor]), "name.gguf", $"more than the limit of {HeaderLimits.MaxNameBytes}");
        Refused(format, RawGguf.Build([RawGguf.U32(new string('k', HeaderLimits.MaxNameBytes + 1), 1)], []), "key.gguf", $"more than the limit of {HeaderLimits.MaxNameBytes}");
    }

    [Fact]
    public void An_onnx_tensor_over_the_name_or_dimension_cap_is_refused()
    {
        var format = new OnnxFormat();
        static byte[] Model(string name, long[] dims) => Google.Protobuf.MessageExtensions.ToByteArray(OnnxBuilder.Model([OnnxBuilder.Raw(name, 1, dims, new byte[4])]));
        Refused(format, Model(new string('n', HeaderLimits.MaxNameBytes + 1), [1]), "name.onnx", $"more than the limit of {HeaderLimits.MaxNameBytes}");
        Refused(format, Model("t", Enumerable.Repeat(1L, HeaderLimits.MaxDimensions + 1).ToArray()), "dims.onnx", $"more than the limit of {HeaderLimits.MaxDimensions}");
    }

    /// <summary>
    /// Unnamed tensors are labelled by where they sit ("NODE/ATTRIBUTE..."); 20 subgraphs deep under
    /// 60,000-character names each label was 2.4 million characters, made and kept per tensor: this
    /// 2.4 MB file took 49 s and 2.6 GB for 500 tensors.
    /// </summary>
    [Fact]
    public void Unnamed_onnx_tensors_deep_under_long_names_cost_a_bounded_label_each()
    {
        const int tensors = 300;
        byte[] graph = Enumerable.Range(0, tensors).SelectMany(_ => OnnxBuilder.Field(5, [])).ToArray();
        for (int level = 0; level < 20; level++)
        {
            byte[] attribute = [.. OnnxBuilder.Field(1, Encoding.ASCII.GetBytes(new string('Y', 60_000))), .. OnnxBuilder.Field(6, graph)];
            byte[] node = [.. OnnxBuilder.Field(4, Encoding.ASCII.GetBytes(new string('X', 60_000))), .. OnnxBuilder.Field(5, attribute)];
            graph = OnnxBuilder.Field(1, node);
        }

        byte[] file = OnnxBuilder.ModelWithGraphBytes(graph);
        var (allocated, elapsed, layout) = Measure(new OnnxFormat(), file, "deep.onnx");

        var names = layout.Tensors.Select(t => t.Name).ToList();
        Assert.Equal(tensors, names.Count);
        Assert.All(names, name => Assert.True(name.Length <= HeaderLimits.MaxNameBytes / 3, $"a label of {name.Length} characters"));
        // Cut at the front: the end, which tells them apart, is kept.
        Assert.All(names.Select((name, i) => (name, i)), t => Assert.EndsWith($"{new string('Y', 20)}initializer{t.i}", t.name));
        Assert.All(names, name => Assert.StartsWith("…", name));
        Assert.True(allocated < 16 * file.Length, $"reading a {file.Length}-byte model allocated {allocated} bytes");
        Assert.True(elapsed < Generous, $"took {elapsed}");
    }

    /// <summary>The ops of torch.save for one tensor of <paramref name="storage"/> (shape [1]), as RawPyTorch writes them.</summary>
    private static void TensorOps(RawPyTorch.PickleWriter p, RawPyTorch.TorchStorage storage)
    {
        p.Global("torch._utils", "_rebuild_tensor_v2");
        p.Op('(');
        p.Op('(');
        p.Unicode("storage");
        p.Global("torch", storage.StorageType);
        p.Unicode(storage.Key);
        p.Unicode("cpu");
        p.Number(storage.Elements);
        p.Op('t');
        p.Op('Q');
        p.Number(0);
        p.Tuple([1]);
        p.Tuple([1]);
        p.Op(0x89);
        p.Global("collections", "OrderedDict");
        p.Op(')');
        p.Op('R');
        p.Op('t');
        p.Op('R');
    }

    /// <summary>A pickle of dicts nested <paramref name="keys"/>.Count deep; the innermost value is written by <paramref name="inner"/>.</summary>
    private static byte[] Nested(IReadOnlyList<string> keys, Action<RawPyTorch.PickleWriter> inner)
    {
        var p = new RawPyTorch.PickleWriter();
        p.Proto();
        p.Op('}');
        foreach (string key in keys.SkipLast(1))
        {
            p.Unicode(key);
            p.Op('}');
        }

        p.Unicode(keys[^1]);
        inner(p);
        foreach (string _ in keys)
        {
            p.Op('s');
        }

        p.Op('.');
        return p.ToArray();
    }

    [Fact]
    public void A_checkpoint_over_the_tensor_count_or_name_cap_is_refused()
    {
        var format = new PyTorchFormat();
        var storage = new RawPyTorch.TorchStorage("0", "FloatStorage", 4, new byte[4]);

        // One tensor, memoized, under a million and one keys: each is a tensor of the state dict.
        var p = new RawPyTorch.PickleWriter();
        p.Proto();
        p.Op('}');
        p.Op('(');
        p.Number(0);
        TensorOps(p, storage);
        p.Op('q');
        p.Op(1);
        for (int i = 1; i <= HeaderLimits.MaxTensors; i++)
        {
            p.Number(i);
            p.Op('h');
            p.Op(1);
        }

        p.Op('u');
        p.Op('.');
        Refused(format, RawPyTorch.Checkpoint(p.ToArray(), [storage]), "many.pt", $"more than {HeaderLimits.MaxTensors} tensors, the limit per file");

        // A key path is made only for tensors, and refused before it is made when it is too long.
        string[] keys = Enumerable.Range(0, 5).Select(i => new string((char)('a' + i), 1000)).ToArray();
        Refused(format, RawPyTorch.Checkpoint(Nested(keys, w => TensorOps(w, storage)), [storage]), "name.pt", $"more than the limit of {HeaderLimits.MaxNameBytes} bytes");
        var layout = Read(format, RawPyTorch.Checkpoint(Nested(keys[..4], w => TensorOps(w, storage)), [storage]), "ok.pt");
        Assert.Equal(string.Join('.', keys[..4]), layout.Tensors.Single().Name);
    }

    /// <summary>
    /// Key paths were made as strings for every item of every container, tensors or not: 20,000
    /// numbers under 60 dicts with 1,000-character keys made 2.4 GB of 60,000-character paths.
    /// </summary>
    [Fact]
    public void Plain_values_deep_under_long_keys_cost_no_key_path()
    {
        var storage = new RawPyTorch.TorchStorage("0", "FloatStorage", 4, new byte[4]);
        string[] keys = Enumerable.Range(0, 60).Select(i => new string((char)('a' + (i % 26)), 1000)).ToArray();
        byte[] pickle = Nested(keys, p =>
        {
            p.Op(']');
            p.Op('(');
            for (int i = 0; i < 20_000; i++)
            {
                p.Number(i % 200);
            }

            p.Op('e');
        });
        byte[] file = RawPyTorch.Checkpoint(pickle, [storage]);
        var (allocated, elapsed, layout) = Measure(new PyTorchFormat(), file, "deep.pt");
        Assert.Empty(layout.Tensors);
        Assert.True(allocated < 16 * file.Length + (16 << 20), $"reading a {file.Length}-byte checkpoint allocated {allocated} bytes");
        Assert.True(elapsed < Generous, $"took {elapsed}");
    }
}
