using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using MGit.Formats.Safetensors;

namespace MGit.Tests.Formats;

public sealed class SafetensorsWriterTests
{
    private static readonly float[] ZeroToFive = [0f, 1f, 2f, 3f, 4f, 5f];

    [Fact]
    public void MatchesReferenceBytesWhenNoPaddingIsNeeded()
    {
        // The reference implementation's own serialization test: one F32 [1,2,3] tensor named "attn.0".
        byte[] file = Write([new TensorData("attn.0", "F32", [1, 2, 3], SafetensorsWriter.ToBytes(ZeroToFive))]);

        const string Json = """{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}""";
        Assert.Equal(64, Json.Length);
        Assert.Equal(Concat(LengthPrefix(64), Encoding.UTF8.GetBytes(Json), SafetensorsWriter.ToBytes(ZeroToFive)), file);
    }

    [Fact]
    public void PadsHeaderWithSpacesToMultipleOfEight()
    {
        TensorData[] tensors = [new TensorData("attn0", "F32", [1, 1, 2, 3], SafetensorsWriter.ToBytes(ZeroToFive))];
        const string Json = """{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}""";
        Assert.Equal(65, Json.Length);

        byte[] padded = Write(tensors);
        Assert.Equal(Concat(LengthPrefix(72), Encoding.UTF8.GetBytes(Json + "       "), SafetensorsWriter.ToBytes(ZeroToFive)), padded);

        byte[] unpadded = Write(tensors, new SafetensorsWriteOptions { PadHeader = false });
        Assert.Equal(Concat(LengthPrefix(65), Encoding.UTF8.GetBytes(Json), SafetensorsWriter.ToBytes(ZeroToFive)), unpadded);
    }

    [Fact]
    public void WritesEmptyFilesAndMetadataLikeTheReference()
    {
        Assert.Equal(Concat(LengthPrefix(8), "{}      "u8.ToArray()), Write([]));

        var withMetadata = new SafetensorsWriteOptions { Metadata = new Dictionary<string, string> { ["framework"] = "pt" } };
        Assert.Equal(
            Concat(LengthPrefix(40), Encoding.UTF8.GetBytes("""{"__metadata__":{"framework":"pt"}}     """)),
            Write([], withMetadata));

        Assert.Equal(
            Concat(LengthPrefix(35), Encoding.UTF8.GetBytes("""{"__metadata__":{"framework":"pt"}}""")),
            Write([], withMetadata with { PadHeader = false }));
    }

    [Fact]
    public void MetadataComesFirstWithKeysInOrdinalOrder()
    {
        var options = new SafetensorsWriteOptions
        {
            PadHeader = false,
            Metadata = new Dictionary<string, string> { ["b"] = "2", ["a"] = "1", ["B"] = "0" },
        };
        byte[] file = Write([new TensorData("t", "U8", [2], [7, 9])], options);

        Assert.Equal(
            """{"__metadata__":{"B":"0","a":"1","b":"2"},"t":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}""",
            HeaderText(file));
        Assert.Equal(new byte[] { 7, 9 }, file[^2..]);
    }

    [Fact]
    public void SortsLikeTheReferenceByDtypeThenName()
    {
        TensorData[] tensors =
        [
            new("b", "F32", [1], [1, 1, 1, 1]),
            new("a", "F32", [1], [2, 2, 2, 2]),
            new("c", "F16", [1], [3, 3]),
            new("z", "I64", [1], [4, 4, 4, 4, 4, 4, 4, 4]),
            new("y", "BF16", [1], [5, 5]),
            new("x", "U8", [0], []),
        ];

        byte[] sorted = Write(tensors, new SafetensorsWriteOptions { PadHeader = false });
        Assert.Equal(
            string.Concat(
                """{"z":{"dtype":"I64","shape":[1],"data_offsets":[0,8]},""",
                """ "a":{"dtype":"F32","shape":[1],"data_offsets":[8,12]},""".TrimStart(),
                """ "b":{"dtype":"F32","shape":[1],"data_offsets":[12,16]},""".TrimStart(),
                """ "y":{"dtype":"BF16","shape":[1],"data_offsets":[16,18]},""".TrimStart(),
                """ "c":{"dtype":"F16","shape":[1],"data_offsets":[18,20]},""".TrimStart(),
                """ "x":{"dtype":"U8","shape":[0],"data_offsets":[20,20]}}""".TrimStart()),
            HeaderText(sorted));
        Assert.Equal(new byte[] { 4, 4, 4, 4, 4, 4, 4, 4, 2, 2, 2, 2, 1, 1, 1, 1, 5, 5, 3, 3 }, Data(sorted));

        byte[] kept = Write(tensors, new SafetensorsWriteOptions { PadHeader = false, SortLikeReference = false });
        Assert.Equal(["b", "a", "c", "z", "y", "x"], TensorNames(kept));
        Assert.Equal(new byte[] { 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 4, 4, 4, 4, 4, 4, 4, 4, 5, 5 }, Data(kept));
    }

    [Fact]
    public void SortsNamesOrdinallyNotCulturally()
    {
        TensorData[] tensors = [new("b", "U8", [1], [0]), new("B", "U8", [1], [0]), new("a.10", "U8", [1], [0]), new("a.9", "U8", [1], [0])];
        Assert.Equal(["B", "a.10", "a.9", "b"], TensorNames(Write(tensors)));
    }

    [Fact]
    public void WritesNonAsciiNamesAsRawUtf8AndEscapesOnlyWhatJsonNeeds()
    {
        byte[] file = Write([new TensorData("café<\"q\">", "U8", [1], [1])], new SafetensorsWriteOptions { PadHeader = false });
        Assert.Equal("""{"café<\"q\">":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}""", HeaderText(file));
    }

    [Fact]
    public void WriteFileProducesTheSameBytesAsWrite()
    {
        string path = Path.Combine(Path.GetTempPath(), $"mgit-writer-{Guid.NewGuid():N}.safetensors");
        try
        {
            TensorData[] tensors = [new("w", "F32", [2, 3], SafetensorsWriter.ToBytes(ZeroToFive)), new("n", "I32", [1], [1, 0, 0, 0])];
            SafetensorsWriter.WriteFile(path, tensors);
            Assert.Equal(Write(tensors), File.ReadAllBytes(path));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void RejectsMalformedTensors()
    {
        byte[] four = new byte[4];
        Assert.Throws<ArgumentException>(() => Write([new("t", "F32", [2], four)]));
        Assert.Throws<ArgumentException>(() => Write([new("t", "F32", [1], four), new("t", "F32", [1], four)]));
        Assert.Throws<ArgumentException>(() => Write([new("t", "F31", [1], four)]));
        Assert.Throws<ArgumentException>(() => Write([new("t", "f32", [1], four)]));
        Assert.Throws<ArgumentException>(() => Write([new("t", "F32", [-1, -1], four)]));
        Assert.Throws<ArgumentException>(() => Write([new("t", "F32", [long.MaxValue, 2], four)]));
        Assert.Throws<ArgumentException>(() => Write([new("t", "F64", [long.MaxValue / 4], four)]));
        Assert.Throws<ArgumentException>(() => Write([new("", "F32", [1], four)]));
        Assert.Throws<ArgumentException>(() => Write([new("__metadata__", "F32", [1], four)]));
        Assert.Throws<ArgumentException>(() => Write([new("t", "F32", [1], null!)]));
        Assert.Throws<ArgumentException>(() => Write([new("t", "F32", null!, four)]));
        Assert.Throws<ArgumentException>(() => Write([null!]));
        Assert.Throws<ArgumentException>(() => Write([], new SafetensorsWriteOptions { Metadata = new Dictionary<string, string> { ["k"] = null! } }));
    }

    [Fact]
    public void RejectedWriteLeavesNoFileAndWritesNothingToTheStream()
    {
        string path = Path.Combine(Path.GetTempPath(), $"mgit-writer-{Guid.NewGuid():N}.safetensors");
        TensorData[] bad = [new("t", "F32", [3], new byte[4])];
        Assert.Throws<ArgumentException>(() => SafetensorsWriter.WriteFile(path, bad));
        Assert.False(File.Exists(path));

        using var stream = new MemoryStream();
        Assert.Throws<ArgumentException>(() => SafetensorsWriter.Write(stream, bad));
        Assert.Equal(0, stream.Length);
    }

    [Theory]
    [InlineData("BOOL", 1)]
    [InlineData("U8", 1)]
    [InlineData("I8", 1)]
    [InlineData("F8_E5M2", 1)]
    [InlineData("F8_E4M3", 1)]
    [InlineData("I16", 2)]
    [InlineData("U16", 2)]
    [InlineData("F16", 2)]
    [InlineData("BF16", 2)]
    [InlineData("I32", 4)]
    [InlineData("U32", 4)]
    [InlineData("F32", 4)]
    [InlineData("F64", 8)]
    [InlineData("I64", 8)]
    [InlineData("U64", 8)]
    public void KnowsDtypeSizes(string dtype, int size) => Assert.Equal(size, SafetensorsWriter.DtypeSize(dtype));

    [Fact]
    public void RejectsUnknownDtype()
    {
        Assert.Throws<ArgumentException>(() => SafetensorsWriter.DtypeSize("Q4"));
        Assert.Throws<ArgumentException>(() => SafetensorsWriter.DtypeSize("bf16"));
    }

    [Fact]
    public void ToBytesIsLittleEndianFloat32()
    {
        Assert.Equal(new byte[] { 0, 0, 0x80, 0x3F, 0, 0, 0, 0xC0, 0, 0, 0, 0x3F }, SafetensorsWriter.ToBytes([1f, -2f, 0.5f]));
        Assert.Empty(SafetensorsWriter.ToBytes([]));
    }

    private static byte[] Write(IReadOnlyList<TensorData> tensors, SafetensorsWriteOptions? options = null)
    {
        using var stream = new MemoryStream();
        SafetensorsWriter.Write(stream, tensors, options);
        return stream.ToArray();
    }

    private static byte[] LengthPrefix(ulong length)
    {
        byte[] prefix = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(prefix, length);
        return prefix;
    }

    private static byte[] Concat(params byte[][] parts) => [.. parts.SelectMany(p => p)];

    private static int HeaderLength(byte[] file) => checked((int)BinaryPrimitives.ReadUInt64LittleEndian(file));

    private static string HeaderText(byte[] file) => Encoding.UTF8.GetString(file, 8, HeaderLength(file));

    private static byte[] Data(byte[] file) => file[(8 + HeaderLength(file))..];

    private static string[] TensorNames(byte[] file)
    {
        using var doc = JsonDocument.Parse(HeaderText(file));
        return [.. doc.RootElement.EnumerateObject().Select(p => p.Name).Where(n => n != "__metadata__")];
    }
}
