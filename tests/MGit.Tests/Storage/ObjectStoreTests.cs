using MGit.Codecs;
using MGit.Errors;
using MGit.Primitives;
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

    /// <summary>Normal-ish F32 weights: compressible, but not so much that the payload is small.</summary>
    private static byte[] Weights(int count, int seed, float scale = 0.02f)
    {
        var random = new Random(seed);
        var values = new float[count];
        for (int i = 0; i < count; i++) values[i] = (float)((random.NextDouble() + random.NextDouble() + random.NextDouble() - 1.5) * scale);
        return System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()).ToArray();
    }

    private static ObjectId PutDelta(ObjectStore store, byte[] content, ObjectId baseId)
    {
        var id = ObjectId.Compute(content);
        store.PutWithId(id, content, ElementKind.F32, [new BaseCandidate(baseId, ElementKind.F32)]);
        return id;
    }

    [Fact]
    public void Large_payloads_read_through_a_mapping_round_trip_plain_and_as_deltas()
    {
        using var dir = new TempDirectory();
        var store = NewStore(dir);
        byte[] parent = Weights(1 << 20, 1);
        var (parentId, _) = store.Put(parent, ElementKind.F32);
        byte[] child = (byte[])parent.Clone();
        var changes = Weights(1 << 20, 2, 0.0002f);
        var values = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(child.AsSpan());
        var deltas = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(changes.AsSpan());
        for (int i = 0; i < values.Length; i++) values[i] += deltas[i];
        var childId = PutDelta(store, child, parentId);

        // Both payloads are far above the size from which reads map the file.
        Assert.InRange(store.StoredLength(parentId), 1 << 20, parent.Length - 1);
        Assert.InRange(store.StoredLength(childId), 1 << 20, store.StoredLength(parentId) - 1);
        foreach (var verification in new[] { Verification.Checksum, Verification.Identity })
        {
            using var readParent = store.Read(parentId, verification);
            using var readChild = store.Read(childId, verification);
            Assert.True(readParent.Span.SequenceEqual(parent));
            Assert.True(readChild.Span.SequenceEqual(child));
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_large_mapped_payload_flipped_or_cut_short_is_damage(bool cut)
    {
        using var dir = new TempDirectory();
        var store = NewStore(dir);
        byte[] content = Weights(1 << 20, 3);
        var (id, _) = store.Put(content, ElementKind.F32);
        string path = store.PathOf(id);
        byte[] stored = File.ReadAllBytes(path);
        Assert.True(stored.Length > 1 << 20);
        if (cut) stored = stored[..^1000]; else stored[stored.Length / 2] ^= 0x10;
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
    public void New_objects_carry_the_xxh3_128_of_their_content_in_a_format_2_header()
    {
        using var dir = new TempDirectory();
        var store = NewStore(dir);
        foreach (var content in new[] { Array.Empty<byte>(), new byte[300], Enumerable.Range(0, 100_000).Select(i => (byte)(i % 5)).ToArray() })
        {
            var (id, _) = store.Put(content);
            byte[] stored = File.ReadAllBytes(store.PathOf(id));
            Assert.Equal("MGOB"u8.ToArray(), stored[..4]);
            Assert.Equal(ObjectStore.ObjectFormatVersion, stored[4]);
            Assert.Equal(2, stored[4]);
            Assert.Equal(System.IO.Hashing.XxHash128.HashToUInt128(content), System.Buffers.Binary.BinaryPrimitives.ReadUInt128LittleEndian(stored.AsSpan(16, 16)));
        }
    }

    [Theory]
    [InlineData(16)]
    [InlineData(31)]
    public void A_damaged_checksum_is_damage_for_every_kind_of_read(int offset)
    {
        using var dir = new TempDirectory();
        var store = NewStore(dir);
        var content = new byte[10_000];
        new Random(3).NextBytes(content);
        var (id, _) = store.Put(content);
        byte[] stored = File.ReadAllBytes(store.PathOf(id));
        stored[offset] ^= 0x80;
        File.WriteAllBytes(store.PathOf(id), stored);
        Assert.Throws<DamagedObjectException>(() => store.Read(id));
        Assert.Throws<DamagedObjectException>(() => store.Read(id, Verification.Identity));
    }

    [Fact]
    public void A_well_formed_object_under_another_id_passes_its_checksum_but_not_the_identity_check()
    {
        // The checksum catches damage; only the id says what the content is. Reads of objects
        // from elsewhere (Import) and fsck therefore check the id.
        using var dir = new TempDirectory();
        var store = NewStore(dir);
        var (a, _) = store.Put("the content that was added"u8);
        var (b, _) = store.Put("other content, well formed"u8);
        File.Copy(store.PathOf(b), store.PathOf(a), overwrite: true);

        using (var read = store.Read(a))
        {
            Assert.Equal("other content, well formed"u8.ToArray(), read.Span.ToArray());
        }

        var e = Assert.Throws<DamagedObjectException>(() => store.Read(a, Verification.Identity));
        Assert.Equal(a.ToString(), e.ObjectId);

        string received = dir.File("received");
        File.Copy(store.PathOf(b), received);
        store.Delete(a);
        Assert.Throws<DamagedObjectException>(() => store.Import(a, received));
        Assert.False(store.Contains(a));
        Assert.False(File.Exists(received), "a refused import leaves its file behind");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Format_1_objects_without_a_checksum_read_and_are_checked_against_their_id(bool damage)
    {
        using var dir = new TempDirectory();
        var store = NewStore(dir);
        var content = new byte[5_000];
        new Random(9).NextBytes(content);
        var id = ObjectId.Compute(content);
        byte[] header = new byte[ObjectStore.HeaderLengthV1];
        "MGOB"u8.CopyTo(header);
        header[4] = 1; // object format 1, codec 0 (raw)
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(header.AsSpan(8), (ulong)content.Length);
        byte[] payload = (byte[])content.Clone();
        if (damage)
        {
            payload[1234] ^= 0x01;
        }

        Directory.CreateDirectory(Path.GetDirectoryName(store.PathOf(id))!);
        File.WriteAllBytes(store.PathOf(id), [.. header, .. payload]);
        Assert.Equal(content.Length, store.TryInspect(id)!.Length);
        foreach (var verification in new[] { Verification.Checksum, Verification.Identity })
        {
            if (damage)
            {
                Assert.Throws<DamagedObjectException>(() => store.Read(id, verification));
            }
            else
            {
                using var read = store.Read(id, verification);
                Assert.Equal(content, read.Span.ToArray());
            }
        }
    }

    [Fact]
    public void A_header_cut_short_of_its_checksum_is_damage()
    {
        using var dir = new TempDirectory();
        var store = NewStore(dir);
        var (id, _) = store.Put([]);
        byte[] stored = File.ReadAllBytes(store.PathOf(id));
        File.WriteAllBytes(store.PathOf(id), stored[..24]);
        Assert.Throws<DamagedObjectException>(() => store.Read(id));
        Assert.Null(store.TryInspect(id));
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
