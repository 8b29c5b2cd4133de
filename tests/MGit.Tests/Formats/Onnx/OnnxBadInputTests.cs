using System.Diagnostics;
using Google.Protobuf;
using MGit.Errors;
using MGit.Formats;
using MGit.Formats.Catalog;
using MGit.Formats.Onnx;
using MGit.Formats.Onnx.Proto;
using MGit.Ingest;
using MGit.Tests.TestSupport;
using static MGit.Tests.Formats.Onnx.OnnxBuilder;

namespace MGit.Tests.Formats.Onnx;

/// <summary>
/// Broken and hostile ONNX files: a one-line error, no huge allocation, no hang, the repository
/// unchanged. The malformed corpus lives in Fixtures/onnx/malformed (written by
/// <see cref="Malformed"/>; set MGIT_WRITE_FIXTURES=1 and run the writer test to regenerate it),
/// and a seeded mutation fuzzer runs over the real corpus.
/// </summary>
public sealed class OnnxBadInputTests
{
    private static readonly OnnxFormat Format = new();

    /// <summary>Each malformed file, with what its error must say.</summary>
    public static IReadOnlyDictionary<string, (byte[] Bytes, string Error)> Malformed()
    {
        static byte[] WithTensor(TensorProto tensor) => Model([tensor]).ToByteArray();

        byte[] conv = File.ReadAllBytes(Path.Combine(OnnxCorpus.Fixtures, "backend", "pytorch-converted", "test_Conv2d", "model.onnx"));
        var garbage = new byte[512];
        new Random(1).NextBytes(garbage);
        var badExternal = new TensorProto { Name = "w", DataType = 1, Dims = { 4 }, DataLocation = TensorProto.Types.DataLocation.External };
        badExternal.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = "w.data" });
        badExternal.ExternalData.Add(new StringStringEntryProto { Key = "offset", Value = "12abc" });

        // 80 levels of graph > node > attribute > graph, more than the nesting cap.
        byte[] graph = Field(2, "leaf"u8.ToArray());
        for (int i = 0; i < 80; i++)
        {
            graph = Field(1, Field(5, [.. Field(1, "g"u8.ToArray()), .. Field(6, graph)]));
        }

        return new Dictionary<string, (byte[], string)>
        {
            ["empty.onnx"] = ([], "no ir_version"),
            ["garbage.onnx"] = (garbage, "not a valid ONNX model"),
            ["truncated.onnx"] = (conv[..(conv.Length / 2)], "not a valid ONNX model"),
            ["lying-graph-length.onnx"] = ([0x08, 0x09, 0x3A, .. Varint(1000), 0x0A, 0x00], "runs past the end"),
            ["huge-length.onnx"] = ([0x08, 0x09, 0x3A, .. Varint(1UL << 62)], "runs past the end"),
            ["varint-overflow.onnx"] = ([0x08, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F], "overflows 64 bits"),
            ["varint-too-long.onnx"] = ([0x08, .. Enumerable.Repeat((byte)0x80, 11)], "longer than 10 bytes"),
            ["field-zero.onnx"] = ([0x08, 0x09, 0x02, 0x00], "invalid field number 0"),
            ["wire-type-7.onnx"] = ([0x08, 0x09, 0x3F], "invalid wire type 7"),
            ["unterminated-group.onnx"] = ([0x08, 0x09, 0x7B, 0x08, 0x01], "runs past the end"),
            ["no-graph.onnx"] = ([0x08, 0x09, 0x12, 0x01, (byte)'x'], "no graph"),
            ["negative-dim.onnx"] = (WithTensor(Raw("w", 1, [-1], new byte[4])), "negative dimension"),
            ["overflowing-dims.onnx"] = (WithTensor(Raw("w", 1, [1L << 40, 1L << 40, 1L << 40], new byte[4])), "overflows"),
            ["raw-size-mismatch.onnx"] = (WithTensor(Raw("w", 1, [4], new byte[12])), "need 16 bytes, raw_data has 12"),
            ["float-data-wrong-type.onnx"] = (WithTensor(new TensorProto { Name = "w", DataType = 7, Dims = { 1 }, FloatData = { 1f } }), "float_data, which holds FLOAT or COMPLEX64 only"),
            ["float-data-short.onnx"] = (WithTensor(new TensorProto { Name = "w", DataType = 1, Dims = { 3 }, FloatData = { 1f } }), "need 12 bytes of float_data"),
            ["two-value-fields.onnx"] = (WithTensor(new TensorProto { Name = "w", DataType = 1, Dims = { 1 }, FloatData = { 1f }, RawData = ByteString.CopyFrom(new byte[4]) }), "more than one field"),
            ["string-raw-data.onnx"] = (WithTensor(Raw("w", 8, [1], new byte[4])), "STRING tensor with raw_data"),
            ["bad-external-offset.onnx"] = (WithTensor(badExternal), "invalid offset '12abc'"),
            ["bad-tensor-header.onnx"] = (ModelWithGraphBytes(Field(5, [.. Field(8, "w"u8.ToArray()), .. Field(13, [0x0A, 0x7F])])), "invalid tensor"),
            ["deep-nesting.onnx"] = (ModelWithGraphBytes(graph), "nested deeper than 64"),
        };
    }

    public static TheoryData<string> MalformedNames() => new(Malformed().Keys);

    [Fact]
    public void Malformed_corpus_writer()
    {
        // Regenerates the committed files; the tests below read those files, not these bytes.
        if (Environment.GetEnvironmentVariable("MGIT_WRITE_FIXTURES") != "1")
        {
            return;
        }

        string folder = Path.Combine(FindSourceTestsFolder(), "Fixtures", "onnx", "malformed");
        Directory.CreateDirectory(folder);
        foreach (var (name, (bytes, _)) in Malformed())
        {
            File.WriteAllBytes(Path.Combine(folder, name), bytes);
        }
    }

    [Theory]
    [MemberData(nameof(MalformedNames))]
    public void Each_malformed_file_fails_with_a_clear_one_line_error(string name)
    {
        string path = Path.Combine(OnnxCorpus.Malformed, name);
        byte[] bytes = File.ReadAllBytes(path);
        Assert.Equal(Malformed()[name].Bytes, bytes);
        var watch = Stopwatch.StartNew();
        long allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
        var error = Assert.Throws<InvalidModelFileException>(() => ModelFormats.ReadLayout(path, name));
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - allocatedBefore < 16 * 1024 * 1024, "no large allocation");
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), $"took {watch.Elapsed}");
        Assert.StartsWith($"{name}: not a valid ONNX model: ", error.Message, StringComparison.Ordinal);
        Assert.Contains(Malformed()[name].Error, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', error.Message);

        using var stream = new MemoryStream(bytes);
        Assert.Throws<InvalidModelFileException>(() => OnnxModel.ReadStructure(stream, name));
    }

    [Fact]
    public void Adding_a_folder_with_a_malformed_model_changes_nothing_and_the_cli_prints_one_line()
    {
        using var fx = new RepoFixture();
        string folder = fx.Model("broken");
        Directory.CreateDirectory(folder);
        File.Copy(Path.Combine(OnnxCorpus.Malformed, "lying-graph-length.onnx"), Path.Combine(folder, "model.onnx"));
        var before = RepositorySnapshot.Take(fx.RepositoryPath);
        Assert.Throws<InvalidModelFileException>(() => fx.Repository.Add(folder, new AddOptions()));
        Assert.Equal(before, RepositorySnapshot.Take(fx.RepositoryPath));

        fx.Repository.Dispose();
        before = RepositorySnapshot.Take(fx.RepositoryPath);
        var result = CliRunner.Run(fx.RepositoryPath, "add", Path.Combine(folder, "model.onnx"));
        Assert.Equal(1, result.ExitCode);
        Assert.StartsWith("mgit: ", result.Error, StringComparison.Ordinal);
        Assert.Single(result.Error.Trim().Split('\n'));
        Assert.Equal(before, RepositorySnapshot.Take(fx.RepositoryPath));
        fx.Reopen();
    }

    [Fact]
    public void Seeded_mutations_of_real_models_parse_or_fail_cleanly()
    {
        var models = OnnxCorpus.FixtureFiles(".onnx").Where((_, i) => i % 4 == 0).Select(File.ReadAllBytes).ToList();
        var tensors = OnnxCorpus.FixtureFiles(".pb").Where((_, i) => i % 8 == 0).Select(File.ReadAllBytes).ToList();
        var random = new Random(20261127);
        int parsed = 0, refused = 0;
        var watch = Stopwatch.StartNew();
        for (int round = 0; round < 4000; round++)
        {
            bool model = round % 4 != 3;
            var source = model ? models[random.Next(models.Count)] : tensors[random.Next(tensors.Count)];
            byte[] mutated = Mutate(source, random);
            try
            {
                using var stream = new MemoryStream(mutated);
                if (model)
                {
                    var layout = Format.ReadLayout(stream, mutated.Length, "fuzz.onnx");
                    Assert.Equal(mutated.Length, layout.Segments.Sum(s => s.Length));
                    stream.Position = 0;
                    OnnxModel.ReadStructure(stream, "fuzz.onnx");
                }
                else
                {
                    var tensor = OnnxModel.ReadTensor(stream, "fuzz.pb");
                    Assert.InRange(tensor.Offset + tensor.Length, 0, mutated.Length);
                }

                parsed++;
            }
            catch (InvalidModelFileException e)
            {
                Assert.DoesNotContain('\n', e.Message);
                refused++;
            }
            catch (Exception e)
            {
                Assert.Fail($"round {round}: {e.GetType().Name}: {e.Message}; input {Convert.ToHexString(mutated.AsSpan(0, Math.Min(mutated.Length, 256)))}");
            }
        }

        Assert.True(parsed > 100 && refused > 100, $"{parsed} parsed, {refused} refused: the mutations should exercise both paths");
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(60), $"took {watch.Elapsed}");
    }

    private static byte[] Mutate(byte[] source, Random random)
    {
        var bytes = source.ToList();
        int edits = 1 + random.Next(4);
        for (int e = 0; e < edits && bytes.Count > 0; e++)
        {
            int at = random.Next(bytes.Count);
            switch (random.Next(6))
            {
                case 0: bytes[at] ^= (byte)(1 << random.Next(8)); break;
                case 1: bytes[at] = (byte)random.Next(256); break;
                case 2: bytes[at] = random.Next(2) == 0 ? (byte)0xFF : (byte)0x80; break;
                case 3: bytes.RemoveRange(at, bytes.Count - at); break;
                case 4: bytes.InsertRange(at, Enumerable.Range(0, 1 + random.Next(8)).Select(_ => (byte)random.Next(256))); break;
                default: bytes.RemoveRange(at, Math.Min(bytes.Count - at, 1 + random.Next(16))); break;
            }
        }

        return bytes.ToArray();
    }

    private static string FindSourceTestsFolder()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "MGit.Tests.csproj")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("tests/MGit.Tests not found above the test binaries");
    }
}
