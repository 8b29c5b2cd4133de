using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;

namespace MGit.Primitives;

/// <summary>
/// The identity of stored content: the BLAKE3-256 hash of its uncompressed bytes. BLAKE3 rather
/// than SHA-256 because it is a cryptographic hash that runs ~3-4x faster here and hashes one
/// chunk on all cores, which keeps hashing far below the cost of reading the data.
/// </summary>
public readonly struct ObjectId : IEquatable<ObjectId>, IComparable<ObjectId>
{
    /// <summary>Length of an id in bytes.</summary>
    public const int ByteLength = 32;
    /// <summary>Length of an id written in hexadecimal.</summary>
    public const int HexLength = 64;

    private readonly ulong _a, _b, _c, _d;

    private ObjectId(ulong a, ulong b, ulong c, ulong d) { _a = a; _b = b; _c = c; _d = d; }

    /// <summary>The id whose bytes these are (not a hash of them).</summary>
    /// <param name="bytes">Exactly <see cref="ByteLength"/> bytes.</param>
    /// <exception cref="ArgumentException"><paramref name="bytes"/> is not <see cref="ByteLength"/> long.</exception>
    public static ObjectId FromBytes(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length != ByteLength)
        {
            throw new ArgumentException($"an object id is {ByteLength} bytes, not {bytes.Length}", nameof(bytes));
        }

        return new ObjectId(
            BinaryPrimitives.ReadUInt64BigEndian(bytes),
            BinaryPrimitives.ReadUInt64BigEndian(bytes[8..]),
            BinaryPrimitives.ReadUInt64BigEndian(bytes[16..]),
            BinaryPrimitives.ReadUInt64BigEndian(bytes[24..]));
    }

    /// <summary>Hashes content (in one call; BLAKE3 uses SIMD across the input).</summary>
    public static ObjectId Compute(ReadOnlySpan<byte> content)
    {
        Span<byte> hash = stackalloc byte[ByteLength];
        Blake3.Hasher.Hash(content, hash);
        return FromBytes(hash);
    }

    /// <summary>Reads an id written as <see cref="HexLength"/> hexadecimal digits.</summary>
    /// <exception cref="FormatException">The text is not an id.</exception>
    public static ObjectId Parse(string hex) =>
        TryParse(hex, out var id) ? id : throw new FormatException($"'{hex}' is not an object id");

    /// <summary>Reads an id written as <see cref="HexLength"/> hexadecimal digits, or returns false.</summary>
    /// <param name="hex">The text to read; null gives false.</param>
    /// <param name="id">The id when the text is one.</param>
    public static bool TryParse([NotNullWhen(true)] string? hex, out ObjectId id)
    {
        id = default;
        if (hex is null || hex.Length != HexLength)
        {
            return false;
        }

        Span<byte> bytes = stackalloc byte[ByteLength];
        if (Convert.FromHexString(hex, bytes, out _, out int written) != System.Buffers.OperationStatus.Done || written != ByteLength)
        {
            return false;
        }

        id = FromBytes(bytes);
        return true;
    }

    /// <summary>The id's first 8 bytes as a number: uniform, as every part of a hash (compact sets key on it).</summary>
    internal ulong Prefix => _a;

    /// <summary>Writes the id's <see cref="ByteLength"/> bytes to the start of <paramref name="destination"/>.</summary>
    public void WriteBytes(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt64BigEndian(destination, _a);
        BinaryPrimitives.WriteUInt64BigEndian(destination[8..], _b);
        BinaryPrimitives.WriteUInt64BigEndian(destination[16..], _c);
        BinaryPrimitives.WriteUInt64BigEndian(destination[24..], _d);
    }

    /// <summary>The id as lowercase hexadecimal, as it names object files and appears in manifests.</summary>
    public override string ToString()
    {
        Span<byte> bytes = stackalloc byte[ByteLength];
        WriteBytes(bytes);
        return Convert.ToHexStringLower(bytes);
    }

    /// <inheritdoc/>
    public bool Equals(ObjectId other) => _a == other._a && _b == other._b && _c == other._c && _d == other._d;
    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is ObjectId other && Equals(other);
    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(_a, _b);
    /// <inheritdoc/>
    public int CompareTo(ObjectId other)
    {
        int c = _a.CompareTo(other._a);
        if (c != 0) return c;
        c = _b.CompareTo(other._b);
        if (c != 0) return c;
        c = _c.CompareTo(other._c);
        return c != 0 ? c : _d.CompareTo(other._d);
    }

    /// <summary>Whether two ids are equal.</summary>
    public static bool operator ==(ObjectId left, ObjectId right) => left.Equals(right);
    /// <summary>Whether two ids differ.</summary>
    public static bool operator !=(ObjectId left, ObjectId right) => !left.Equals(right);
    /// <summary>Whether <paramref name="left"/> sorts before <paramref name="right"/> (byte order).</summary>
    public static bool operator <(ObjectId left, ObjectId right) => left.CompareTo(right) < 0;
    /// <summary>Whether <paramref name="left"/> sorts after <paramref name="right"/> (byte order).</summary>
    public static bool operator >(ObjectId left, ObjectId right) => left.CompareTo(right) > 0;
    /// <summary>Whether <paramref name="left"/> sorts before or equal to <paramref name="right"/> (byte order).</summary>
    public static bool operator <=(ObjectId left, ObjectId right) => left.CompareTo(right) <= 0;
    /// <summary>Whether <paramref name="left"/> sorts after or equal to <paramref name="right"/> (byte order).</summary>
    public static bool operator >=(ObjectId left, ObjectId right) => left.CompareTo(right) >= 0;
}
