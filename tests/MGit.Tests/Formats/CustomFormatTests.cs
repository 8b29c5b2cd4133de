using System.Buffers.Binary;
using System.Text;
using MGit.Errors;
using MGit.Formats;
using MGit.Formats.Catalog;
using MGit.Ingest;
using MGit.Tests.TestSupport;

namespace MGit.Tests.Formats;

/// <summary>
/// A format MGit does not ship, registered from outside: one class, block-quantised dtype
/// included, is all it takes to add, list and check out its files.
/// </summary>
public sealed class CustomFormatTests
{
    static CustomFormatTests() => ModelFormats.Register(new TinyFormat());

    /// <summary>
    /// "TINYTNSR", a u32 tensor count, then per tensor a u8 name length, the name, a u8 dtype (0:
    /// F32, 1: TQ4, 16 elements in 9-byte blocks) and a u32 element count; then the payloads in order.
    /// </summary>
    private sealed class TinyFormat : IModelFormat
    {
        public static ReadOnlySpan<byte> Magic => "TINYTNSR"u8;

        public string Name => "tiny";

        public bool Matches(ReadOnlySpan<byte> prefix, string fileName) => prefix.StartsWith(Magic);

        public bool ClaimsByName(string fileName) => fileName.EndsWith(".tiny", StringComparison.Ordinal);

        public FileLayout ReadLayout(Stream stream, long length, string displayName)
        {
            using var reader = new BinaryReader(stream, Encoding.UTF8, leaveOpen: true);
            if (!reader.ReadBytes(Magic.Length).AsSpan().SequenceEqual(Magic))
            {
                throw new InvalidModelFileException(displayName, "no TINYTNSR magic");
            }

            int count = reader.ReadInt32();
            var tensors = new List<(string Name, byte Dtype, int Elements)>();
            for (int i = 0; i < count; i++)
            {
                string name = Encoding.UTF8.GetString(reader.ReadBytes(reader.ReadByte()));
                tensors.Add((name, reader.ReadByte(), reader.ReadInt32()));
            }

            long offset = stream.Position;
            var spans = new List<Segment>();
            foreach (var (name, dtype, elements) in tensors)
            {
                var (dtypeName, layout, bytes) = dtype switch
                {
                    0 => ("F32", ElementLayout.Scalar(4), elements * 4L),
                    1 => ("TQ4", ElementLayout.Blocks(16, 9), elements / 16 * 9L),
                    _ => throw new InvalidModelFileException(displayName, $"tensor '{name}' has unknown dtype {dtype}"),
                };
                spans.Add(new Segment(offset, bytes, new TensorInfo(name, dtypeName, [elements], layout)));
                offset += bytes;
            }

            if (offset > length)
            {
                throw new InvalidModelFileException(displayName, $"its tensors end at {offset}, beyond its {length} bytes");
            }

            return FileLayout.FromTensorSpans(Name, length, spans);
        }

        public static byte[] Build(params (string Name, byte Dtype, int Elements, byte[] Data)[] tensors)
        {
            using var output = new MemoryStream();
            output.Write(Magic);
            output.Write(BitConverter.GetBytes(tensors.Length));
            foreach (var t in tensors)
            {
                byte[] name = Encoding.UTF8.GetBytes(t.Name);
                output.WriteByte((byte)name.Length);
                output.Write(name);
                output.WriteByte(t.Dtype);
                var elements = new byte[4];
                BinaryPrimitives.WriteInt32LittleEndian(elements, t.Elements);
                output.Write(elements);
            }

            foreach (var t in tensors)
            {
                output.Write(t.Data);
            }

            output.Write("trailing notes"u8);
            return output.ToArray();
        }
    }

    private static byte[] RandomBytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    [Fact]
    public void A_registered_format_adds_and_checks_out_byte_for_byte_with_whole_blocks_per_chunk()
    {
        using var fx = new RepoFixture(chunkSize: 1024);
        // 400 blocks of 9 bytes: 3600 bytes, cut at 1017 (113 whole blocks), never at 1024.
        byte[] quantised = RandomBytes(400 * 9, 1);
        byte[] floats = RandomBytes(1000 * 4, 2);
        string path = fx.Model("m.tiny");
        File.WriteAllBytes(path, TinyFormat.Build(("q", 1, 400 * 16, quantised), ("w", 0, 1000, floats)));

        var added = fx.Repository.Add(path, new AddOptions());
        string output = fx.Scratch("out.tiny");
        fx.Repository.Checkout(added.Version.Ref, output);
        Assert.Equal(File.ReadAllBytes(path), File.ReadAllBytes(output));

        var details = fx.Repository.Show(added.Version.Ref);
        var file = details.Manifest.Files.Single();
        Assert.Equal("tiny", file.Format);
        Assert.Equal(["TQ4", "F32"], details.Tensors.Select(t => t.Dtype));
        var q = file.Segments.Single(s => s.Tensor?.Name == "q");
        Assert.Equal(113 * 9, file.ChunkBytesOf(q));
        Assert.Equal(4, q.Chunks.Count);
        Assert.Equal(1024, file.ChunkBytesOf(file.Segments.Single(s => s.Tensor?.Name == "w")));

        using var tensor = fx.Repository.OpenTensor(added.Version.Ref, "q");
        var bytes = new byte[tensor.Length];
        tensor.ReadExactly(bytes);
        Assert.Equal(quantised, bytes);
    }

    [Fact]
    public void A_registered_format_is_tried_after_the_built_in_ones_and_before_the_blob_fallback()
    {
        var names = ModelFormats.All.Select(f => f.Name).ToList();
        Assert.Equal(["safetensors", "gguf", "pytorch", "onnx"], names.Take(4));
        Assert.Equal("blob", names[^1]);
        Assert.Contains("tiny", names);
        Assert.Equal("tiny", ModelFormats.Detect(TinyFormat.Build(), "x.bin").Name);
        Assert.Equal("safetensors", ModelFormats.Detect(RawSafetensors.Build([]), "x.tiny").Name);
    }

    [Fact]
    public void A_second_format_of_a_known_name_is_refused()
    {
        var error = Assert.Throws<ArgumentException>(() => ModelFormats.Register(new TinyFormat()));
        Assert.Contains("'tiny' is already known", error.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => ModelFormats.Register(new OpaqueFormat()));
    }
}
