namespace MGit.Formats.Onnx;

/// <summary>The four protobuf wire types ONNX uses, plus the deprecated groups (skipped when met).</summary>
internal enum WireType
{
    Varint = 0,
    Fixed64 = 1,
    LengthDelimited = 2,
    StartGroup = 3,
    EndGroup = 4,
    Fixed32 = 5,
}

/// <summary>
/// Reads the protobuf wire format from a stream with a small buffer, tracking the absolute file
/// position, so that a message of any size is walked without loading it: payloads that are not
/// needed are skipped by seeking. Every read is bounded by a limit the caller passes (the end of
/// the enclosing message), so a lying length fails here instead of reading past it.
/// </summary>
internal sealed class ProtoWireReader
{
    private const int BufferSize = 64 * 1024;

    private readonly Stream _stream;
    private readonly byte[] _buffer = new byte[BufferSize];
    private long _bufferStart;
    private int _bufferCount;
    private int _index;

    /// <param name="stream">A seekable stream, read from position 0.</param>
    /// <param name="length">Its length.</param>
    public ProtoWireReader(Stream stream, long length)
    {
        _stream = stream;
        Length = length;
        _stream.Position = 0;
    }

    /// <summary>Bytes of the stream being walked.</summary>
    public long Length { get; }

    public long Position => _bufferStart + _index;

    /// <summary>Reads a field key; fails on field number 0 and on wire types protobuf does not define.</summary>
    public (int Field, WireType Wire) ReadTag(long limit)
    {
        ulong key = ReadVarint(limit);
        ulong field = key >> 3;
        int wire = (int)(key & 7);
        if (field == 0 || field > 536_870_911)
        {
            throw new ProtoFormatException($"invalid field number {field} at offset {Position}");
        }

        if (wire is 6 or 7)
        {
            throw new ProtoFormatException($"invalid wire type {wire} at offset {Position}");
        }

        return ((int)field, (WireType)wire);
    }

    /// <summary>A base-128 varint of at most 10 bytes that does not run past <paramref name="limit"/>.</summary>
    public ulong ReadVarint(long limit)
    {
        ulong value = 0;
        for (int shift = 0; shift < 70; shift += 7)
        {
            if (Position >= limit)
            {
                throw new ProtoFormatException($"varint runs past the end of its message at offset {Position}");
            }

            byte b = ReadByte();
            value |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0)
            {
                if (shift == 63 && b > 1)
                {
                    throw new ProtoFormatException($"varint overflows 64 bits at offset {Position}");
                }

                return value;
            }
        }

        throw new ProtoFormatException($"varint longer than 10 bytes at offset {Position}");
    }

    /// <summary>The length prefix of a length-delimited field, checked against what is left before <paramref name="limit"/>.</summary>
    public long ReadLength(long limit)
    {
        ulong length = ReadVarint(limit);
        if (length > (ulong)(limit - Position))
        {
            throw new ProtoFormatException($"field length {length} at offset {Position} runs past the end of its message ({limit - Position} bytes left)");
        }

        return (long)length;
    }

    /// <summary>Skips the value of a field that is not needed (groups are walked to their end tag).</summary>
    public void SkipValue(int field, WireType wire, long limit, int depth = 0)
    {
        switch (wire)
        {
            case WireType.Varint:
                ReadVarint(limit);
                break;
            case WireType.Fixed64:
                Skip(8, limit);
                break;
            case WireType.Fixed32:
                Skip(4, limit);
                break;
            case WireType.LengthDelimited:
                Skip(ReadLength(limit), limit);
                break;
            case WireType.StartGroup:
                SkipGroup(field, limit, depth);
                break;
            default:
                throw new ProtoFormatException($"unexpected end-group tag for field {field} at offset {Position}");
        }
    }

    private void SkipGroup(int field, long limit, int depth)
    {
        if (depth >= OnnxLimits.MaxNesting)
        {
            throw new ProtoFormatException($"groups nested deeper than {OnnxLimits.MaxNesting} at offset {Position}");
        }

        while (true)
        {
            var (inner, wire) = ReadTag(limit);
            if (wire == WireType.EndGroup)
            {
                if (inner != field)
                {
                    throw new ProtoFormatException($"group {field} closed by end-group {inner} at offset {Position}");
                }

                return;
            }

            SkipValue(inner, wire, limit, depth + 1);
        }
    }

    public void Skip(long count, long limit)
    {
        if (count < 0 || count > limit - Position)
        {
            throw new ProtoFormatException($"value of {count} bytes at offset {Position} runs past the end of its message");
        }

        long target = Position + count;
        if (target <= _bufferStart + _bufferCount)
        {
            _index = (int)(target - _bufferStart);
            return;
        }

        // Beyond the buffer: seek instead of reading the payload (tensor data is never read here).
        _bufferStart = target;
        _bufferCount = 0;
        _index = 0;
        _stream.Position = target;
    }

    /// <summary>Reads exactly <paramref name="destination"/>.Length bytes, not past <paramref name="limit"/>.</summary>
    public void ReadBytes(Span<byte> destination, long limit)
    {
        if (destination.Length > limit - Position)
        {
            throw new ProtoFormatException($"value of {destination.Length} bytes at offset {Position} runs past the end of its message");
        }

        while (destination.Length > 0)
        {
            if (_index == _bufferCount)
            {
                Fill();
            }

            int take = Math.Min(destination.Length, _bufferCount - _index);
            _buffer.AsSpan(_index, take).CopyTo(destination);
            _index += take;
            destination = destination[take..];
        }
    }

    private byte ReadByte()
    {
        if (_index == _bufferCount)
        {
            Fill();
        }

        return _buffer[_index++];
    }

    private void Fill()
    {
        _bufferStart += _bufferCount;
        _index = 0;
        _bufferCount = _stream.Read(_buffer, 0, (int)Math.Min(_buffer.Length, Math.Max(0, Length - _bufferStart)));
        if (_bufferCount == 0)
        {
            throw new ProtoFormatException($"the file ends at offset {_bufferStart} in the middle of a field");
        }
    }
}

/// <summary>A violation of the protobuf wire format; turned into an <see cref="Errors.InvalidModelFileException"/> by the format reader.</summary>
internal sealed class ProtoFormatException(string message) : Exception(message);

/// <summary>Caps that keep a hostile file from costing memory or time.</summary>
internal static class OnnxLimits
{
    /// <summary>Messages within messages (graphs in attributes in nodes in graphs...); protobuf's own default is 100.</summary>
    public const int MaxNesting = 64;

    /// <summary>The fields of one tensor other than its values (name, dims, external_data...).</summary>
    public const int MaxTensorHeaderBytes = 16 * 1024 * 1024;

    /// <summary>A name or short string MGit reads to label tensors and files.</summary>
    public const int MaxLabelBytes = 64 * 1024;

    /// <summary>The weights-stripped model <see cref="OnnxModel.ReadStructure(string)"/> builds in memory.</summary>
    public const long MaxStructureBytes = 512L * 1024 * 1024;
}
