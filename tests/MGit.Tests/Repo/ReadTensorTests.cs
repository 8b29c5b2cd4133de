using System.Runtime.InteropServices;
using MGit.Errors;
using MGit.Formats.Safetensors;
using MGit.Ingest;
using MGit.Tests.TestSupport;
using static MGit.Tests.TestSupport.RawPyTorch;

namespace MGit.Tests.Repo;

/// <summary>Repository.ReadTensor: typed reads of stored tensors, however their chunks are stored.</summary>
public sealed class ReadTensorTests
{
    private const int Count = 20_000; // F64: 160 KB, several 64 KiB chunks; BOOL: 20 KB, one

    private static byte[] Bytes<T>(T[] values) where T : unmanaged => MemoryMarshal.AsBytes(values.AsSpan()).ToArray();

    /// <summary>BF16 bits of a float (rounded to nearest even), and the float that stands for.</summary>
    private static ushort ToBFloat16(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        return (ushort)((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16);
    }

    private static float FromBFloat16(ushort bits) => BitConverter.UInt32BitsToSingle((uint)bits << 16);

    /// <summary>One tensor of each dtype ReadTensor covers, with the values written, from a seed; <paramref name="tune"/> nudges every tenth float.</summary>
    private sealed class Family(int seed, double tune = 0)
    {
        private readonly Random _random = new(seed);

        private double Next(int i) => (0.05 * (_random.NextDouble() - 0.5)) + (i % 10 == 0 ? tune : 0);

        public float[] F32 { get; private set; } = [];
        public Half[] F16 { get; private set; } = [];
        public ushort[] BF16 { get; private set; } = [];
        public long[] I64 { get; private set; } = [];
        public int[] I32 { get; private set; } = [];
        public short[] I16 { get; private set; } = [];
        public sbyte[] I8 { get; private set; } = [];
        public ulong[] U64 { get; private set; } = [];
        public uint[] U32 { get; private set; } = [];
        public ushort[] U16 { get; private set; } = [];
        public byte[] U8 { get; private set; } = [];
        public bool[] Bool { get; private set; } = [];

        public Family Build()
        {
            F64Values = Enumerable.Range(0, Count).Select(Next).ToArray();
            F32 = Enumerable.Range(0, Count).Select(i => (float)Next(i)).ToArray();
            F16 = Enumerable.Range(0, Count).Select(i => (Half)Next(i)).ToArray();
            BF16 = Enumerable.Range(0, Count).Select(i => ToBFloat16((float)Next(i))).ToArray();
            I64 = Enumerable.Range(0, Count).Select(i => _random.NextInt64(long.MinValue, long.MaxValue)).ToArray();
            I32 = Enumerable.Range(0, Count).Select(i => _random.Next(int.MinValue, int.MaxValue)).ToArray();
            I16 = Enumerable.Range(0, Count).Select(i => (short)_random.Next(short.MinValue, short.MaxValue)).ToArray();
            I8 = Enumerable.Range(0, Count).Select(i => (sbyte)_random.Next(sbyte.MinValue, sbyte.MaxValue)).ToArray();
            U64 = Enumerable.Range(0, Count).Select(i => (ulong)_random.NextInt64()).ToArray();
            U32 = Enumerable.Range(0, Count).Select(i => (uint)_random.NextInt64(0, uint.MaxValue)).ToArray();
            U16 = Enumerable.Range(0, Count).Select(i => (ushort)_random.Next(0, ushort.MaxValue)).ToArray();
            U8 = Enumerable.Range(0, Count).Select(i => (byte)_random.Next(0, 256)).ToArray();
            Bool = Enumerable.Range(0, Count).Select(i => _random.Next(3) == 0).ToArray();
            return this;
        }

        public double[] F64Values { get; private set; } = [];

        public string Write(string path)
        {
            long[] shape = [100, Count / 100];
            SafetensorsWriter.WriteFile(path,
            [
                new TensorData("f64", "F64", shape, Bytes(F64Values)),
                new TensorData("f32", "F32", shape, Bytes(F32)),
                new TensorData("f16", "F16", shape, Bytes(F16)),
                new TensorData("bf16", "BF16", shape, Bytes(BF16)),
                new TensorData("i64", "I64", shape, Bytes(I64)),
                new TensorData("i32", "I32", shape, Bytes(I32)),
                new TensorData("i16", "I16", shape, Bytes(I16)),
                new TensorData("i8", "I8", shape, Bytes(I8)),
                new TensorData("u64", "U64", shape, Bytes(U64)),
                new TensorData("u32", "U32", shape, Bytes(U32)),
                new TensorData("u16", "U16", shape, Bytes(U16)),
                new TensorData("u8", "U8", shape, Bytes(U8)),
                new TensorData("bool", "BOOL", shape, Bytes(Bool)),
                new TensorData("f8", "F8_E4M3", [16], new byte[16]),
            ]);
            return path;
        }
    }

    private static T[] Read<T>(Repository repository, string reference, string tensor) where T : unmanaged
    {
        var values = new T[Count];
        repository.ReadTensor<T>(reference, tensor, values);
        return values;
    }

    /// <summary>The integer and bool tensors, read back as written.</summary>
    private static void AssertReadsBack(Repository repository, string reference, Family expected)
    {
        Assert.Equal(expected.I64, Read<long>(repository, reference, "i64"));
        Assert.Equal(expected.I32, Read<int>(repository, reference, "i32"));
        Assert.Equal(expected.I16, Read<short>(repository, reference, "i16"));
        Assert.Equal(expected.I8, Read<sbyte>(repository, reference, "i8"));
        Assert.Equal(expected.U64, Read<ulong>(repository, reference, "u64"));
        Assert.Equal(expected.U32, Read<uint>(repository, reference, "u32"));
        Assert.Equal(expected.U16, Read<ushort>(repository, reference, "u16"));
        Assert.Equal(expected.U8, Read<byte>(repository, reference, "u8"));
        Assert.Equal(expected.Bool, Read<bool>(repository, reference, "bool"));
    }

    /// <summary>The float tensors, read back as written, in every type they may be read as.</summary>
    private static void AssertFloatsExact(Repository repository, string reference, Family expected)
    {
        Assert.Equal(expected.F64Values, Read<double>(repository, reference, "f64"));
        Assert.Equal(expected.F32, Read<float>(repository, reference, "f32"));
        Assert.Equal(expected.F16, Read<Half>(repository, reference, "f16"));
        Assert.Equal(expected.F16.Select(h => (float)h), Read<float>(repository, reference, "f16"));
        Assert.Equal(expected.BF16, Read<ushort>(repository, reference, "bf16"));
        Assert.Equal(expected.BF16.Select(FromBFloat16), Read<float>(repository, reference, "bf16"));
    }

    [Fact]
    public void Every_common_dtype_reads_back_as_written_when_stored_raw_and_as_deltas()
    {
        using var fixture = new RepoFixture();
        var root = new Family(1).Build();
        fixture.Repository.Add(root.Write(fixture.Model("base.safetensors")), new AddOptions());
        AssertReadsBack(fixture.Repository, "base", root);
        AssertFloatsExact(fixture.Repository, "base", root);

        // A fine-tune of the floats (the integers as they were, so deduplicated): its float chunks are deltas.
        var tuned = new Family(1, tune: 1e-3).Build();
        fixture.Repository.Add(tuned.Write(fixture.Model("tuned.safetensors")), new AddOptions { Parents = ["base"] });
        var storage = fixture.Repository.TensorStorageOf("tuned");
        Assert.Contains(storage, t => t.Name.StartsWith('f') && t.Codecs.Keys.Any(c => c.StartsWith("delta:", StringComparison.Ordinal)));
        AssertReadsBack(fixture.Repository, "tuned", tuned);
        AssertFloatsExact(fixture.Repository, "tuned", tuned);
    }

    [Fact]
    public void A_lossy_version_reads_back_within_its_bound_and_exactly_as_its_checkout()
    {
        using var fixture = new RepoFixture();
        var root = new Family(2).Build();
        fixture.Repository.Add(root.Write(fixture.Model("base.safetensors")), new AddOptions());
        var tuned = new Family(2, tune: 1e-3).Build();
        const double Bound = 1e-4;
        var added = fixture.Repository.Add(tuned.Write(fixture.Model("tuned.safetensors")), new AddOptions { Parents = ["base"], LossyErrorBound = Bound });
        Assert.True(added.Version.Lossy);
        Assert.Contains(fixture.Repository.TensorStorageOf("tuned"), t => t.Codecs.ContainsKey("delta:lossy"));

        AssertReadsBack(fixture.Repository, "tuned", tuned); // integers are never lossy
        var f64 = Read<double>(fixture.Repository, "tuned", "f64");
        var f32 = Read<float>(fixture.Repository, "tuned", "f32");
        var f16 = Read<float>(fixture.Repository, "tuned", "f16");
        var bf16 = Read<float>(fixture.Repository, "tuned", "bf16");
        Assert.NotEqual(tuned.F32, f32); // lossy indeed
        for (int i = 0; i < Count; i++)
        {
            Assert.True(Math.Abs(f64[i] - tuned.F64Values[i]) <= Bound, $"f64[{i}]");
            Assert.True(Math.Abs(f32[i] - tuned.F32[i]) <= Bound, $"f32[{i}]");
            Assert.True(Math.Abs(f16[i] - (float)tuned.F16[i]) <= Bound, $"f16[{i}]");
            Assert.True(Math.Abs(bf16[i] - FromBFloat16(tuned.BF16[i])) <= Bound, $"bf16[{i}]");
        }

        // The values are those of the file a checkout writes, element for element.
        string checkout = fixture.Repository.Checkout("tuned", fixture.Scratch("tuned.safetensors"));
        byte[] file = File.ReadAllBytes(checkout);
        var tensors = fixture.Repository.Show("tuned").Tensors.ToDictionary(t => t.Name);
        Assert.Equal(file.AsSpan((int)tensors["f32"].Offset, Count * 4).ToArray(), Bytes(f32));
        Assert.Equal(file.AsSpan((int)tensors["f64"].Offset, Count * 8).ToArray(), Bytes(f64));
        Assert.Equal(file.AsSpan((int)tensors["bf16"].Offset, Count * 2).ToArray(), Bytes(Read<ushort>(fixture.Repository, "tuned", "bf16")));
        Assert.Equal(file.AsSpan((int)tensors["f16"].Offset, Count * 2).ToArray(), Bytes(Read<Half>(fixture.Repository, "tuned", "f16")));
    }

    [Fact]
    public void A_type_count_dtype_or_name_that_does_not_fit_is_refused_in_one_line()
    {
        using var fixture = new RepoFixture();
        fixture.Repository.Add(new Family(3).Build().Write(fixture.Model("m.safetensors")), new AddOptions());
        var repository = fixture.Repository;

        Assert.Equal("m@1: tensor 'f32' is F32: read it as float, not double",
            Assert.Throws<MGitException>(() => repository.ReadTensor<double>("m", "f32", new double[Count])).Message);
        Assert.Equal("m@1: tensor 'bf16' is BF16: read it as float or ushort, not Half",
            Assert.Throws<MGitException>(() => repository.ReadTensor<Half>("m", "bf16", new Half[Count])).Message);
        Assert.Equal("m@1: tensor 'i32' is I32: read it as int, not uint",
            Assert.Throws<MGitException>(() => repository.ReadTensor<uint>("m", "i32", new uint[Count])).Message);
        Assert.Equal($"m@1: tensor 'f32' has {Count} elements (shape [100, {Count / 100}]), the destination {Count - 1}",
            Assert.Throws<MGitException>(() => repository.ReadTensor<float>("m", "f32", new float[Count - 1])).Message);
        Assert.StartsWith("m@1: tensor 'f8' is F8_E4M3; typed reads cover F64, F32, F16, BF16",
            Assert.Throws<MGitException>(() => repository.ReadTensor<byte>("m", "f8", new byte[16])).Message);
        Assert.Equal("m@1 has no tensor named 'nope'",
            Assert.Throws<MGitException>(() => repository.ReadTensor<float>("m", "nope", new float[1])).Message);
        Assert.Equal("m@1 has no file 'other.safetensors'",
            Assert.Throws<MGitException>(() => repository.ReadTensor<float>("m", "f32", new float[Count], "other.safetensors")).Message);
    }

    [Fact]
    public void A_name_in_several_shards_needs_its_file()
    {
        using var fixture = new RepoFixture();
        string folder = fixture.Model("sharded");
        Directory.CreateDirectory(folder);
        float[] first = [1, 2, 3];
        float[] second = [4, 5, 6];
        SafetensorsWriter.WriteFile(Path.Combine(folder, "a.safetensors"), [new TensorData("w", "F32", [3], SafetensorsWriter.ToBytes(first))]);
        SafetensorsWriter.WriteFile(Path.Combine(folder, "b.safetensors"), [new TensorData("w", "F32", [3], SafetensorsWriter.ToBytes(second))]);
        fixture.Repository.Add(folder, new AddOptions());

        Assert.Equal("sharded@1 has 2 tensors named 'w'; name the file",
            Assert.Throws<MGitException>(() => fixture.Repository.ReadTensor<float>("sharded", "w", new float[3])).Message);
        var values = new float[3];
        fixture.Repository.ReadTensor<float>("sharded", "w", values, "b.safetensors");
        Assert.Equal(second, values);
    }

    [Fact]
    public void Views_of_a_pytorch_checkpoint_read_in_row_major_order_contiguous_or_strided()
    {
        using var fixture = new RepoFixture(chunkSize: 1024);
        // 2,000 floats over two 1 KiB chunks and more, so gathering crosses chunk boundaries.
        var data = Enumerable.Range(0, 2000).Select(i => (float)i).ToArray();
        var storage = new TorchStorage("0", "FloatStorage", 4, Bytes(data));
        string path = fixture.Model("model.pt");
        File.WriteAllBytes(path, StateDict(
        [
            new View("whole", storage, 0, [40, 50], [50, 1]),
            new View("transposed", storage, 0, [50, 40], [1, 50]),
            new View("rows", storage, 110, [3, 20], [50, 1]),
            new View("every_other", storage, 1, [10, 5], [100, 2]),
        ]));
        fixture.Repository.Add(path, new AddOptions());

        float[] Tensor(string name, int count)
        {
            var values = new float[count];
            fixture.Repository.ReadTensor<float>("model", name, values);
            return values;
        }

        Assert.Equal(data, Tensor("whole", 2000));
        Assert.Equal(Enumerable.Range(0, 50).SelectMany(r => Enumerable.Range(0, 40).Select(c => (float)((c * 50) + r))), Tensor("transposed", 2000));
        Assert.Equal(Enumerable.Range(0, 3).SelectMany(r => Enumerable.Range(0, 20).Select(c => (float)(110 + (r * 50) + c))), Tensor("rows", 60));
        Assert.Equal(Enumerable.Range(0, 10).SelectMany(r => Enumerable.Range(0, 5).Select(c => (float)(1 + (r * 100) + (c * 2)))), Tensor("every_other", 50));
    }
}
