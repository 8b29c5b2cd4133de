using System.Buffers.Binary;
using System.Text;
using MGit.Errors;

namespace MGit.Formats;

/// <summary>
/// Reads little-endian fields from a model file through a small buffer, tracking the position and
/// refusing any read or skip past the end of the file. Every failure is an
/// <see cref="InvalidModelFileException"/> naming the file, so a lying length can never make a
/// parser allocate or loop beyond what the file holds.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "The caller owns the file stream; disposing the buffer around it would close it.")]
internal sealed class LittleEndianFileReader
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private readonly BufferedStream _stream;
    private readonly string _displayName;

    public LittleEndianFileReader(Stream stream, long length, string displayName, long start = 0)
    {
        _stream = new BufferedStream(stream, 64 * 1024);
        Length = length;
        _displayName = displayName;
        _stream.Position = start;
    }

    public long Length { get; }

    public long Position => _stream.Position;

    public long Remaining => Length - _stream.Position;

    public InvalidModelFileException Bad(string problem) => new(_displayName, problem);

    /// <summary>A well-formed file that uses what mgit does not read.</summary>
    public InvalidModelFileException Unsupported(string problem) => new(_displayName, problem, ErrorKind.Unsupported);

    public void Seek(long position)
    {
        if (position < 0 || position > Length)
        {
            throw Bad($"offset {position} lies outside the file ({Length} bytes)");
        }

        _stream.Position = position;
    }

    public void Skip(ulong count, string what)
    {
        if (count > (ulong)Remaining)
        {
            throw Bad($"{what} ({count} bytes at offset {Position}) runs past the end of the file");
        }

        _stream.Position += (long)count;
    }

    public void ReadExactly(Span<byte> destination, string what)
    {
        if (destination.Length > Remaining)
        {
            throw Bad($"file is truncated: {what} at offset {Position} needs {destination.Length} bytes, {Remaining} remain");
        }

        _stream.ReadExactly(destination);
    }

    public byte ReadU8(string what)
    {
        Span<byte> b = stackalloc byte[1];
        ReadExactly(b, what);
        return b[0];
    }

    public ushort ReadU16(string what)
    {
        Span<byte> b = stackalloc byte[2];
        ReadExactly(b, what);
        return BinaryPrimitives.ReadUInt16LittleEndian(b);
    }

    public uint ReadU32(string what)
    {
        Span<byte> b = stackalloc byte[4];
        ReadExactly(b, what);
        return BinaryPrimitives.ReadUInt32LittleEndian(b);
    }

    public ulong ReadU64(string what)
    {
        Span<byte> b = stackalloc byte[8];
        ReadExactly(b, what);
        return BinaryPrimitives.ReadUInt64LittleEndian(b);
    }

    /// <summary>Reads <paramref name="length"/> bytes of strict UTF-8, after checking the length against a cap and the file.</summary>
    public string ReadUtf8(ulong length, int maxLength, string what)
    {
        if (length > (ulong)maxLength)
        {
            throw Bad($"{what} at offset {Position} is {length} bytes long, more than the limit of {maxLength}");
        }

        if (length > (ulong)Remaining)
        {
            throw Bad($"file is truncated: {what} at offset {Position} needs {length} bytes, {Remaining} remain");
        }

        byte[] bytes = new byte[(int)length];
        _stream.ReadExactly(bytes);
        try
        {
            return StrictUtf8.GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            throw Bad($"{what} at offset {Position - (long)length} is not valid UTF-8");
        }
    }
}
