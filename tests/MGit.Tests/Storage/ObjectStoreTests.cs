using MGit.Errors;
using MGit.Storage;
using MGit.Tests.TestSupport;

namespace MGit.Tests.Storage;

public sealed class ObjectStoreTests
{
    private static ObjectStore NewStore(TempDirectory dir)
    {
        Directory.CreateDirectory(dir.File("tmp"));
        return new ObjectStore(dir.File("objects"), dir.File("tmp"), flushToDisk: false);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(300)]
    [InlineData(200_000)]
    public void Random_content_round_trips(int length)
    {
        using var dir = new TempDirectory();
        var store = NewStore(dir);
        var content = new byte[length];
        new Random(length).NextBytes(content);
        var (id, written) = store.Put(content);
        Assert.True(written);
        Assert.False(store.Put(content).Written);
        using var read = store.Read(id);
        Assert.Equal(content, read.Span.ToArray());
        // Incompressible data is stored raw: never more than the header larger.
        Assert.True(store.StoredLength(id) <= length + ObjectStore.HeaderLength);
    }

    [Fact]
    public void Compressible_content_is_stored_smaller_and_round_trips()
    {
        using var dir = new TempDirectory();
        var store = NewStore(dir);
        var content = new byte[1 << 20];
        for (int i = 0; i < content.Length; i++) content[i] = (byte)(i % 7);
        var (id, _) = store.Put(content);
        Assert.True(store.StoredLength(id) < content.Length / 10);
        using var read = store.Read(id);
        Assert.True(read.Span.SequenceEqual(content));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_flipped_byte_is_reported_never_returned(bool compressible)
    {
        using var dir = new TempDirectory();
        var store = NewStore(dir);
        var content = new byte[100_000];
        if (compressible) Array.Fill(content, (byte)42); else new Random(5).NextBytes(content);
        var (id, _) = store.Put(content);
        string path = store.PathOf(id);
        byte[] stored = File.ReadAllBytes(path);
        stored[^10] ^= 0x01;
        File.WriteAllBytes(path, stored);
        var e = Assert.Throws<DamagedObjectException>(() => store.Read(id));
        Assert.Equal(id.ToString(), e.ObjectId);
    }

    [Fact]
    public void A_missing_object_or_a_lying_length_is_damage()
    {
        using var dir = new TempDirectory();
        var store = NewStore(dir);
        Assert.Throws<DamagedObjectException>(() => store.Read(ObjectId.Compute([1, 2, 3])));
        var (id, _) = store.Put(new byte[64]);
        byte[] stored = File.ReadAllBytes(store.PathOf(id));
        stored[8] = 0xFF; stored[9] = 0xFF; stored[10] = 0xFF; stored[11] = 0x7F;
        File.WriteAllBytes(store.PathOf(id), stored);
        Assert.Throws<DamagedObjectException>(() => store.Read(id));
    }

    [Fact]
    public void Object_ids_parse_and_print_as_lowercase_hex()
    {
        var id = ObjectId.Compute("abc"u8);
        // BLAKE3("abc") from the BLAKE3 reference test vectors.
        Assert.Equal("6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85", id.ToString());
        Assert.Equal(id, ObjectId.Parse(id.ToString()));
        Assert.False(ObjectId.TryParse("xyz", out _));
    }
}
