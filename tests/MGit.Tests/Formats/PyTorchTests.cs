using MGit.Errors;
using MGit.Formats;
using MGit.Formats.PyTorch;
using MGit.Ingest;
using MGit.Tests.TestSupport;
using static MGit.Tests.TestSupport.RawPyTorch;
using TorchStorage = MGit.Tests.TestSupport.RawPyTorch.TorchStorage;

namespace MGit.Tests.Formats;

public sealed class PyTorchTests
{
    private static readonly (string StorageType, string Dtype, int Size)[] StorageTypes =
    [
        ("FloatStorage", "F32", 4), ("DoubleStorage", "F64", 8), ("HalfStorage", "F16", 2), ("BFloat16Storage", "BF16", 2),
        ("LongStorage", "I64", 8), ("IntStorage", "I32", 4), ("ShortStorage", "I16", 2), ("CharStorage", "I8", 1),
        ("ByteStorage", "U8", 1), ("BoolStorage", "BOOL", 1), ("ComplexFloatStorage", "C64", 8), ("ComplexDoubleStorage", "C128", 16),
    ];

    public static TheoryData<string> AllStorageTypes() => new(StorageTypes.Select(s => s.StorageType));

    private static TorchStorage RandomStorage(string key, string type, long elements, int seed)
    {
        int size = StorageTypes.Single(s => s.StorageType == type).Size;
        var data = new byte[elements * size];
        new Random(seed).NextBytes(data);
        return new TorchStorage(key, type, size, data);
    }

    private static View Whole(string name, TorchStorage storage, long[] shape) => new(name, storage, 0, shape, ContiguousStride(shape));

    private static FileLayout Read(byte[] bytes, string name = "m.pt")
    {
        using var stream = new MemoryStream(bytes);
        return new PyTorchFormat().ReadLayout(stream, bytes.Length, name);
    }

    [Theory]
    [MemberData(nameof(AllStorageTypes))]
    public void Every_storage_dtype_round_trips_and_lists_its_tensors(string storageType)
    {
        using var fx = new RepoFixture(chunkSize: 1024);
        var weight = RandomStorage("0", storageType, 24 * 50, 1);
        var bias = RandomStorage("1", storageType, 24, 2);
        string path = fx.Model("pytorch_model.bin");
        File.WriteAllBytes(path, StateDict([Whole("encoder.weight", weight, [24, 50]), Whole("encoder.bias", bias, [24])]));

        var added = fx.Repository.Add(path, new AddOptions());
        string output = fx.Scratch("out.bin");
        fx.Repository.Checkout(added.Version.Ref, output);
        Assert.Equal(File.ReadAllBytes(path), File.ReadAllBytes(output));

        var details = fx.Repository.Show(added.Version.Ref);
        string dtype = StorageTypes.Single(s => s.StorageType == storageType).Dtype;
        Assert.Equal("pytorch", details.Manifest.Files[0].Format);
        Assert.Equal(["encoder.weight", "encoder.bias"], details.Tensors.Select(t => t.Name));
        Assert.All(details.Tensors, t => Assert.Equal(dtype, t.Dtype));
        Assert.Equal([24L, 50L], details.Tensors.First().Shape);
        Assert.Equal(2, added.Tensors);

        using var stream = fx.Repository.OpenTensor(added.Version.Ref, "encoder.bias");
        var bytes = new byte[stream.Length];
        stream.ReadExactly(bytes);
        Assert.Equal(bias.Data, bytes);
    }

    [Fact]
    public void Views_sharing_a_storage_are_all_listed_with_offset_and_stride()
    {
        using var fx = new RepoFixture(chunkSize: 1024);
        var shared = RandomStorage("0", "FloatStorage", 200, 3);
        View[] views =
        [
            Whole("embed.weight", shared, [20, 10]),
            Whole("lm_head.weight", shared, [20, 10]), // tied weights: the same storage twice
            new("row.5", shared, 50, [10], [1]),
            new("transposed", shared, 0, [10, 20], [1, 10]),
        ];
        string path = fx.Model("tied.pt");
        File.WriteAllBytes(path, StateDict(views));

        var layout = Read(File.ReadAllBytes(path));
        Assert.Single(layout.Segments, s => s.Tensor is not null);
        Assert.Equal(4, layout.Views!.Count);
        var row = layout.Views.Single(v => v.Tensor.Name == "row.5");
        Assert.Equal(50, row.StorageOffset);
        Assert.Equal(40, row.ByteLength);

        var added = fx.Repository.Add(path, new AddOptions());
        var details = fx.Repository.Show(added.Version.Ref);
        Assert.Equal(views.Select(v => v.Name), details.Tensors.Select(t => t.Name));
        Assert.Equal([10L, 20L], details.Tensors.Single(t => t.Name == "transposed").Shape);
        Assert.Equal(4, fx.Repository.TensorStorageOf(added.Version.Ref).Count);

        using var stream = fx.Repository.OpenTensor(added.Version.Ref, "row.5");
        var bytes = new byte[stream.Length];
        stream.ReadExactly(bytes);
        Assert.Equal(shared.Data.AsSpan(200, 40).ToArray(), bytes);
        Assert.Throws<MGitException>(() => fx.Repository.OpenTensor(added.Version.Ref, "transposed"));

        string output = fx.Scratch("out.pt");
        fx.Repository.Checkout(added.Version.Ref, output);
        Assert.Equal(File.ReadAllBytes(path), File.ReadAllBytes(output));
    }

    [Fact]
    public void Show_json_lists_the_tensors_of_a_checkpoint()
    {
        using var fx = new RepoFixture();
        var storage = RandomStorage("0", "HalfStorage", 12, 4);
        string path = fx.Model("model.pth");
        File.WriteAllBytes(path, StateDict([Whole("a", storage, [3, 4]), new View("b", storage, 4, [4], [1])]));
        CliRunner.Run(fx.Models, "-C", fx.RepositoryPath, "add", path, "-q");
        var result = CliRunner.Run(fx.Models, "-C", fx.RepositoryPath, "show", "model", "--json");
        Assert.Equal(0, result.ExitCode);
        using var json = System.Text.Json.JsonDocument.Parse(result.Out);
        var tensors = json.RootElement.GetProperty("tensors").EnumerateArray().ToList();
        Assert.Equal(["a", "b"], tensors.Select(t => t.GetProperty("name").GetString()));
        Assert.Equal("F16", tensors[1].GetProperty("dtype").GetString());
        Assert.Equal([4L], tensors[1].GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()));
        Assert.Equal(2, json.RootElement.GetProperty("files")[0].GetProperty("tensors").GetInt32());
    }

    [Fact]
    public void Same_tensor_in_safetensors_and_a_checkpoint_is_stored_once()
    {
        using var fx = new RepoFixture(chunkSize: 4096);
        var weight = RawSafetensors.Random("w", "F32", [64, 256], 5);
        fx.Repository.Add(RawSafetensors.Write(fx.Model("a.safetensors"), [weight]), new AddOptions());
        long before = fx.StoredBytes;
        string path = fx.Model("a.pt");
        File.WriteAllBytes(path, StateDict([Whole("w", new TorchStorage("0", "FloatStorage", 4, weight.Data), [64, 256])]));
        fx.Repository.Add(path, new AddOptions { Name = "a-pt" });
        long growth = fx.StoredBytes - before;
        Assert.True(growth < weight.Data.Length / 10, $"grew {growth} bytes for {weight.Data.Length} bytes of an already stored tensor");
    }

    [Fact]
    public void A_zip64_archive_is_read_through_its_zip64_records()
    {
        var storage = RandomStorage("0", "FloatStorage", 30, 8);
        byte[] bytes = StateDict([Whole("w", storage, [5, 6])], zip64: true);
        var layout = Read(bytes);
        var segment = layout.Segments.Single(s => s.Tensor is not null);
        Assert.Equal(storage.Data, bytes.AsSpan((int)segment.Offset, (int)segment.Length).ToArray());
        Assert.Equal([5L, 6L], layout.Views!.Single().Tensor.Shape);
        // .NET's own zip reader agrees the archive is well formed.
        using var zip = new System.IO.Compression.ZipArchive(new MemoryStream(bytes));
        Assert.Equal(storage.Data.Length, zip.GetEntry("archive/data/0")!.Length);
    }

    [Fact]
    public void Rebuild_tensor_v3_takes_the_dtype_from_its_argument()
    {
        // torch >= 2.1 writes _rebuild_tensor_v3 over an untyped (byte) storage for dtypes without a storage class.
        var p = new PickleWriter();
        p.Proto();
        p.Op('}');
        p.Unicode("scale");
        p.Global("torch._utils", "_rebuild_tensor_v3");
        p.Op('(');
        p.Op('(');
        p.Unicode("storage");
        p.Global("torch", "UntypedStorage");
        p.Unicode("0");
        p.Unicode("cpu");
        p.Number(16);
        p.Op('t');
        p.Op('Q');
        p.Number(0);
        p.Tuple([4, 4]);
        p.Tuple([4, 1]);
        p.Op(0x89);
        p.Global("collections", "OrderedDict");
        p.Op(')');
        p.Op('R');
        p.Global("torch", "float8_e4m3fn");
        p.Op('t');
        p.Op('R');
        p.Op('s');
        p.Op('.');
        var layout = Read(Checkpoint(p.ToArray(), [new TorchStorage("0", "UntypedStorage", 1, new byte[16])]));
        var tensor = layout.Segments.Single(s => s.Tensor is not null).Tensor!;
        Assert.Equal(("scale", "F8_E4M3"), (tensor.Name, tensor.Dtype));
        Assert.Equal([4L, 4L], tensor.Shape);
    }

    [Fact]
    public void A_fine_tuned_checkpoint_is_stored_against_its_parent()
    {
        using var fx = new RepoFixture(chunkSize: 16 * 1024);
        var random = new Random(9);
        var parentData = new byte[64 * 1024];
        for (int i = 0; i < parentData.Length; i += 4) BitConverter.GetBytes((float)(random.NextDouble() - 0.5)).CopyTo(parentData, i);
        byte[] childData = (byte[])parentData.Clone();
        for (int i = 0; i < childData.Length; i += 4 * 97) BitConverter.GetBytes(BitConverter.ToSingle(childData, i) + 1e-3f).CopyTo(childData, i);

        // Storage keys differ between the two saves: the segments still pair by tensor name.
        string parent = fx.Model("base.pt");
        File.WriteAllBytes(parent, StateDict([Whole("layer.weight", new TorchStorage("0", "FloatStorage", 4, parentData), [128, 128])]));
        string child = fx.Model("tuned.pt");
        File.WriteAllBytes(child, StateDict([Whole("layer.weight", new TorchStorage("7", "FloatStorage", 4, childData), [128, 128])]));
        fx.Repository.Add(parent, new AddOptions());
        long before = fx.StoredBytes;
        var added = fx.Repository.Add(child, new AddOptions { Parents = ["base"], How = "finetune" });
        long growth = fx.StoredBytes - before;
        Assert.True(growth < childData.Length / 3, $"grew {growth} bytes for a {childData.Length}-byte tensor that differs in 1% of its elements");
        Assert.StartsWith("base@1:layer.weight", fx.Repository.TensorStorageOf(added.Version.Ref).Single().Base, StringComparison.Ordinal);

        string output = fx.Scratch("out.pt");
        fx.Repository.Checkout(added.Version.Ref, output);
        Assert.Equal(File.ReadAllBytes(child), File.ReadAllBytes(output));
    }

    [Fact]
    public void A_pickle_sharing_one_list_exponentially_is_read_quickly()
    {
        // Level k is a list holding level k-1 twice: 2^60 paths through 61 small lists.
        var p = new PickleWriter();
        p.Proto();
        p.Op(']');
        p.Op('q');
        p.Op(0);
        for (int level = 1; level <= 60; level++)
        {
            p.Op('0'); // only the memo keeps the previous level
            p.Op('(');
            p.Op('h');
            p.Op((byte)(level - 1));
            p.Op('h');
            p.Op((byte)(level - 1));
            p.Op('l');
            p.Op('q');
            p.Op((byte)level);
        }

        p.Op('.');
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var layout = Read(Checkpoint(p.ToArray(), []));
        Assert.Empty(layout.Tensors);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"took {clock.Elapsed}");
    }

    [Fact]
    public void Compressed_storages_stay_skeleton_and_still_round_trip()
    {
        using var fx = new RepoFixture();
        var storage = RandomStorage("0", "FloatStorage", 100, 6);
        string path = fx.Model("deflated.pt");
        File.WriteAllBytes(path, StateDict([Whole("w", storage, [10, 10])], deflateStorages: true));
        var layout = Read(File.ReadAllBytes(path));
        Assert.DoesNotContain(layout.Segments, s => s.Tensor is not null);
        Assert.Null(layout.Views!.Single().Segment);

        var added = fx.Repository.Add(path, new AddOptions());
        Assert.Equal("w", fx.Repository.Show(added.Version.Ref).Tensors.Single().Name);
        string output = fx.Scratch("out.pt");
        fx.Repository.Checkout(added.Version.Ref, output);
        Assert.Equal(File.ReadAllBytes(path), File.ReadAllBytes(output));
    }

    [Fact]
    public void A_legacy_pickle_is_an_opaque_blob_with_a_note_in_show()
    {
        using var fx = new RepoFixture();
        string path = fx.Model("old.pth");
        byte[] legacy = [0x80, 0x02, 0x8A, 0x0A, 0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19, .. new byte[500]];
        File.WriteAllBytes(path, legacy);
        CliRunner.Run(fx.Models, "-C", fx.RepositoryPath, "add", path, "-q");
        var text = CliRunner.Run(fx.Models, "-C", fx.RepositoryPath, "show", "old");
        Assert.Contains("pytorch-legacy", text.Out, StringComparison.Ordinal);
        Assert.Contains("note: legacy", text.Out, StringComparison.Ordinal);
    }

    [Fact]
    public void A_zip_without_data_pkl_is_a_blob_unless_its_name_says_checkpoint()
    {
        using var fx = new RepoFixture();
        byte[] zip = Zip([("docs/readme.txt", "hello"u8.ToArray(), false)]);
        string plain = fx.Model("bundle.zip");
        File.WriteAllBytes(plain, zip);
        var added = fx.Repository.Add(plain, new AddOptions());
        Assert.Equal("blob", fx.Repository.Show(added.Version.Ref).Manifest.Files[0].Format);

        string named = fx.Model("weights.pt");
        File.WriteAllBytes(named, zip);
        Assert.Throws<InvalidModelFileException>(() => fx.Repository.Add(named, new AddOptions()));
    }

    public static TheoryData<string, string> HostileGlobals() => new()
    {
        { "os", "system" },
        { "posix", "system" },
        { "builtins", "eval" },
        { "subprocess", "Popen" },
        { "torch", "load" },
        { "runpy", "_run_code" },
        { "builtins", "getattr" },
    };

    [Theory]
    [MemberData(nameof(HostileGlobals))]
    public void A_pickle_with_a_global_that_runs_code_is_refused_and_nothing_runs(string module, string name)
    {
        using var fx = new RepoFixture();
        string marker = fx.Scratch("executed");
        byte[] pickle = CallingPickle(module, name, $"touch {marker}");
        // Named as a checkpoint: refused rather than kept as a blob.
        string path = fx.Model("pytorch_model.bin");
        File.WriteAllBytes(path, Checkpoint(pickle, []));
        var before = RepositorySnapshot.Take(fx.RepositoryPath);

        var result = CliRunner.Run(fx.Models, "-C", fx.RepositoryPath, "add", path);
        Assert.Equal(1, result.ExitCode);
        Assert.StartsWith("mgit: ", result.Error, StringComparison.Ordinal);
        Assert.Contains($"'{module}.{name}'", result.Error, StringComparison.Ordinal);
        Assert.Single(result.Error.TrimEnd().Split('\n'));
        Assert.False(File.Exists(marker));
        Assert.Equal(before, RepositorySnapshot.Take(fx.RepositoryPath));
    }

    [Theory]
    [MemberData(nameof(HostileGlobals))]
    public void A_pickled_object_not_named_as_a_checkpoint_is_kept_as_a_blob_and_never_runs(string module, string name)
    {
        // Hugging Face's Trainer writes training_args.bin (a pickled object) next to the weights.
        using var fx = new RepoFixture();
        string marker = fx.Scratch("executed");
        string folder = fx.Model("trained");
        Directory.CreateDirectory(folder);
        File.WriteAllBytes(Path.Combine(folder, "training_args.bin"), Checkpoint(CallingPickle(module, name, $"touch {marker}"), []));

        var added = fx.Repository.Add(folder, new AddOptions());

        var file = fx.Repository.Show(added.Version.Ref).Manifest.Files.Single();
        Assert.Equal("blob", file.Format);
        Assert.Contains("never executed", file.Metadata!["note"], StringComparison.Ordinal);
        Assert.False(File.Exists(marker));
        string output = fx.Scratch("out");
        fx.Repository.Checkout(added.Version.Ref, output);
        Assert.Equal(File.ReadAllBytes(Path.Combine(folder, "training_args.bin")), File.ReadAllBytes(Path.Combine(output, "training_args.bin")));
    }

    public static TheoryData<string, byte[]> Malformed()
    {
        var storage = new TorchStorage("0", "FloatStorage", 4, new byte[64]);
        byte[] valid = StateDict([Whole("w", storage, [4, 4])]);
        return new TheoryData<string, byte[]>
        {
            { "truncated", valid[..(valid.Length - 30)] },
            { "not a zip", "garbage that is not a checkpoint"u8.ToArray() },
            { "storage missing", Checkpoint(StateDictPickle([Whole("w", storage, [4, 4])]), []) },
            { "storage too short", Checkpoint(StateDictPickle([Whole("w", storage, [4, 4])]), [storage with { Data = new byte[60] }]) },
            { "view past the storage", StateDict([new View("w", storage, 10, [4, 4], [4, 1])]) },
            { "element count overflows", StateDict([new View("w", storage, 0, [1L << 40, 1L << 40], [1L << 40, 1])]) },
            { "pickle truncated", Checkpoint(StateDictPickle([Whole("w", storage, [4, 4])])[..40], [storage]) },
            { "unknown opcode", Checkpoint([0x80, 0x02, (byte)'i', (byte)'.'], []) },
            { "storage count overflows", Checkpoint(WithStorageCount(StateDictPickle([Whole("w", storage, [4, 4])]), long.MaxValue), [storage]) },
            { "opaque objects nested past the cap", Checkpoint(NestedObjects(70), []) },
        };
    }

    /// <summary>a.B(a.B(... a.B() ...)), <paramref name="depth"/> calls deep: each an uninterpreted object holding the next.</summary>
    private static byte[] NestedObjects(int depth)
    {
        var p = new PickleWriter();
        p.Proto();
        for (int i = 0; i < depth; i++)
        {
            p.Global("a", "B");
        }

        p.Op(')');
        p.Op('R');
        for (int i = 1; i < depth; i++)
        {
            p.Op(0x85);
            p.Op('R');
        }

        p.Op('.');
        return p.ToArray();
    }

    [Fact]
    public void A_pickled_object_without_tensors_not_named_as_a_checkpoint_stays_a_blob()
    {
        // Hugging Face's training_args.bin: a TrainingArguments object (NEWOBJ, then BUILD with its attributes).
        var p = new PickleWriter();
        p.Proto();
        p.Global("transformers.training_args", "TrainingArguments");
        p.Op(')');
        p.Op(0x81);
        p.Op('}');
        p.Unicode("output_dir");
        p.Unicode("out");
        p.Op('s');
        p.Op('b');
        p.Op('.');
        using var fx = new RepoFixture();
        string folder = fx.Model("trained");
        Directory.CreateDirectory(folder);
        var weights = RandomStorage("0", "FloatStorage", 16, 5);
        File.WriteAllBytes(Path.Combine(folder, "pytorch_model.bin"), StateDict([Whole("w", weights, [4, 4])]));
        File.WriteAllBytes(Path.Combine(folder, "training_args.bin"), Checkpoint(p.ToArray(), []));

        var added = fx.Repository.Add(folder, new AddOptions());

        var files = fx.Repository.Show(added.Version.Ref).Manifest.Files.ToDictionary(f => f.Path);
        Assert.Equal("pytorch", files["pytorch_model.bin"].Format);
        Assert.Equal("blob", files["training_args.bin"].Format);
        Assert.Contains("'transformers.training_args.TrainingArguments', not a state dict", files["training_args.bin"].Metadata!["note"], StringComparison.Ordinal);
    }

    [Fact]
    public void A_checkpoint_of_a_plain_python_object_is_kept_and_says_what_it_did_not_interpret()
    {
        // torch.save(collections.Counter(a=1), "counts.pt"): no tensors, nothing that would run.
        var p = new PickleWriter();
        p.Proto();
        p.Global("collections", "Counter");
        p.Op('}');
        p.Unicode("a");
        p.Number(1);
        p.Op('s');
        p.Op(0x85);
        p.Op('R');
        p.Op('.');
        using var fx = new RepoFixture();
        string path = fx.Model("counts.pt");
        File.WriteAllBytes(path, Checkpoint(p.ToArray(), []));

        var added = fx.Repository.Add(path, new AddOptions());

        var details = fx.Repository.Show(added.Version.Ref);
        Assert.Equal("pytorch", details.Manifest.Files.Single().Format);
        Assert.Empty(details.Tensors);
        Assert.Equal(["collections.Counter"], details.UninterpretedGlobals);
    }

    [Fact]
    public void The_uninterpreted_globals_listed_are_capped_and_sorted()
    {
        var p = new PickleWriter();
        p.Proto();
        p.Op(']');
        p.Op('(');
        for (int i = 299; i >= 0; i--)
        {
            p.Global($"m{i:D3}", "C");
        }

        p.Op('e');
        p.Op('.');
        var layout = Read(Checkpoint(p.ToArray(), []));
        var names = layout.Metadata![PyTorchFormat.UninterpretedKey].Split(", ");
        Assert.Equal(257, names.Length);
        Assert.Equal("…", names[^1]);
        Assert.Equal(names[..^1].Order(StringComparer.Ordinal), names[..^1]);
    }

    /// <summary>Rewrites the storage element count (the K 16 after "cpu") as a LONG1 of 8 bytes.</summary>
    private static byte[] WithStorageCount(byte[] pickle, long count)
    {
        byte[] cpu = [(byte)'X', 3, 0, 0, 0, (byte)'c', (byte)'p', (byte)'u'];
        int at = pickle.AsSpan().IndexOf(cpu) + cpu.Length;
        return [.. pickle[..at], 0x8A, 8, .. BitConverter.GetBytes(count), .. pickle[(at + 2)..]];
    }

    [Theory]
    [MemberData(nameof(Malformed))]
    public void Malformed_checkpoints_are_refused_with_one_line_and_the_repository_unchanged(string problem, byte[] bytes)
    {
        var error = Assert.Throws<InvalidModelFileException>(() => Read(bytes));
        Assert.DoesNotContain('\n', error.Message);

        using var fx = new RepoFixture();
        string path = fx.Model("m.pt");
        File.WriteAllBytes(path, bytes);
        var before = RepositorySnapshot.Take(fx.RepositoryPath);
        Assert.Throws<InvalidModelFileException>(() => fx.Repository.Add(path, new AddOptions()));
        Assert.Equal(before, RepositorySnapshot.Take(fx.RepositoryPath));
        _ = problem;
    }
}
