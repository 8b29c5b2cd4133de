using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using MGit.Errors;

namespace MGit.Storage;

/// <summary>
/// Reads a stored tensor's elements into a typed span, for the dtypes whose elements are plain
/// little-endian numbers. The element type must be the dtype's own .NET type (bytes copied as
/// they are), except that the two 16-bit float dtypes may also be read as <see cref="float"/>
/// (widened exactly: every F16 and BF16 value is a float value), and BF16 as <see cref="ushort"/>
/// (its raw bits: .NET has no bfloat16 type, and runtimes that take bf16 take those bits).
/// </summary>
internal static class TensorElements
{
    /// <summary>Bytes per element and the .NET types an element may be read as, the exact one first.</summary>
    private static (int Size, Type[] Types)? Of(string dtype) => dtype switch
    {
        "F64" => (8, [typeof(double)]),
        "F32" => (4, [typeof(float)]),
        "F16" => (2, [typeof(Half), typeof(float)]),
        "BF16" => (2, [typeof(float), typeof(ushort)]),
        "I64" => (8, [typeof(long)]),
        "I32" => (4, [typeof(int)]),
        "I16" => (2, [typeof(short)]),
        "I8" => (1, [typeof(sbyte)]),
        "U64" => (8, [typeof(ulong)]),
        "U32" => (4, [typeof(uint)]),
        "U16" => (2, [typeof(ushort)]),
        "U8" => (1, [typeof(byte)]),
        "BOOL" => (1, [typeof(bool)]),
        _ => null,
    };

    /// <summary>Bytes per element of a dtype <see cref="Read"/> can read, or null.</summary>
    public static int? SizeOf(string dtype) => Of(dtype)?.Size;

    /// <summary>Elements of a shape (1 for a scalar's empty shape).</summary>
    public static long Count(IReadOnlyList<long> shape, string what)
    {
        try
        {
            return shape.Aggregate(1L, (count, dimension) => dimension >= 0 ? checked(count * dimension) : throw new OverflowException());
        }
        catch (OverflowException)
        {
            throw new MGitException(ErrorKind.Damaged, $"{what} has a shape [{string.Join(", ", shape)}] with no valid element count");
        }
    }

    /// <summary>
    /// Checks that <typeparamref name="T"/> and the destination's length fit the tensor, and
    /// returns its element size; <paramref name="what"/> names the tensor in messages.
    /// </summary>
    public static int Check<T>(string dtype, IReadOnlyList<long> shape, int destinationLength, string what)
        where T : unmanaged
    {
        if (!BitConverter.IsLittleEndian)
        {
            throw new MGitException(ErrorKind.Unsupported, "reading tensors needs a little-endian machine (stored elements are little-endian)");
        }

        if (Of(dtype) is not { } element)
        {
            throw new MGitException(ErrorKind.Unsupported, $"{what} is {dtype}; typed reads cover F64, F32, F16, BF16, I64, I32, I16, I8, U64, U32, U16, U8 and BOOL (open its file with OpenFile for the rest)");
        }

        if (!element.Types.Contains(typeof(T)))
        {
            throw new MGitException(ErrorKind.InvalidInput, $"{what} is {dtype}: read it as {string.Join(" or ", element.Types.Select(Name))}, not {Name(typeof(T))}");
        }

        long count = Count(shape, what);
        if (count != destinationLength)
        {
            throw new MGitException(ErrorKind.InvalidInput, $"{what} has {count} elements (shape [{string.Join(", ", shape)}]), the destination {destinationLength}");
        }

        return element.Size;
    }

    /// <summary>
    /// Fills <paramref name="destination"/> from <paramref name="source"/>, which holds the
    /// tensor's elements in order (its bytes as in the file), after <see cref="Check{T}"/>.
    /// </summary>
    public static void Read<T>(Stream source, string dtype, Span<T> destination)
        where T : unmanaged
    {
        if (typeof(T) == typeof(float) && dtype is "F16" or "BF16")
        {
            Widen(source, dtype == "BF16", MemoryMarshal.Cast<T, float>(destination));
            return;
        }

        // In slices: a span of more than 2 GiB has no byte span of its own.
        const int Slice = 1 << 20;
        for (int start = 0; start < destination.Length; start += Slice)
        {
            var bytes = MemoryMarshal.AsBytes(destination.Slice(start, Math.Min(Slice, destination.Length - start)));
            source.ReadExactly(bytes);
            if (typeof(T) == typeof(bool))
            {
                // Any byte but 0 is true, as the formats read it; a bool holds only 0 or 1.
                foreach (ref byte value in bytes)
                {
                    value = value != 0 ? (byte)1 : (byte)0;
                }
            }
        }
    }

    /// <summary>F16 or BF16 elements of <paramref name="source"/> as floats.</summary>
    private static void Widen(Stream source, bool bfloat16, Span<float> destination)
    {
        byte[] buffer = ArrayPool<byte>.Shared.Rent(1 << 16);
        try
        {
            int perRead = buffer.Length / 2;
            for (int start = 0; start < destination.Length; start += perRead)
            {
                var target = destination.Slice(start, Math.Min(perRead, destination.Length - start));
                var bytes = buffer.AsSpan(0, target.Length * 2);
                source.ReadExactly(bytes);
                for (int i = 0; i < target.Length; i++)
                {
                    ushort bits = BinaryPrimitives.ReadUInt16LittleEndian(bytes[(i * 2)..]);
                    target[i] = bfloat16 ? BitConverter.UInt32BitsToSingle((uint)bits << 16) : (float)BitConverter.UInt16BitsToHalf(bits);
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static string Name(Type type) =>
        type == typeof(double) ? "double"
        : type == typeof(float) ? "float"
        : type == typeof(long) ? "long"
        : type == typeof(int) ? "int"
        : type == typeof(short) ? "short"
        : type == typeof(sbyte) ? "sbyte"
        : type == typeof(ulong) ? "ulong"
        : type == typeof(uint) ? "uint"
        : type == typeof(ushort) ? "ushort"
        : type == typeof(byte) ? "byte"
        : type == typeof(bool) ? "bool"
        : type.Name;
}
