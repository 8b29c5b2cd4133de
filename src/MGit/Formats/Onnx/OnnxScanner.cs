using System.Buffers;
using System.Globalization;
using System.Text;
using Google.Protobuf;
using MGit.Formats.Onnx.Proto;

namespace MGit.Formats.Onnx;

/// <summary>
/// Walks an ONNX ModelProto in the protobuf wire format as a stream and finds every tensor's
/// values without reading them: messages that can hold tensors (graphs, nodes, attributes,
/// functions, training info, sparse tensors) are descended into, everything else is skipped by
/// seeking. Each tensor's small header (name, dims, data_type, external_data) is collected apart
/// from its values and parsed with Google.Protobuf. Optionally it also writes the model with every
/// tensor's values left out, which <see cref="OnnxModel.ReadStructure(string)"/> parses.
/// </summary>
internal sealed class OnnxScanner
{
    // TensorProto fields that hold values.
    private const int FloatData = 4, Int32Data = 5, StringData = 6, Int64Data = 7, RawData = 9, DoubleData = 10, Uint64Data = 11;

    private readonly ProtoWireReader _reader;
    private readonly List<OnnxTensor> _tensors = [];
    private readonly HeaderBudget _budget = new(problem => new HeaderLimitException(problem));

    private OnnxScanner(Stream stream, long length) => _reader = new ProtoWireReader(stream, length);

    private enum Kind
    {
        Model,
        Graph,
        Node,
        Attribute,
        Tensor,
        SparseTensor,
        Function,
        TrainingInfo,
    }

    public IReadOnlyList<OnnxTensor> Tensors => _tensors;

    public long? IrVersion { get; private set; }

    public bool HasGraph { get; private set; }

    public string? ProducerName { get; private set; }

    public string? ProducerVersion { get; private set; }

    public List<OperatorSetIdProto> Opsets { get; } = [];

    public List<StringStringEntryProto> MetadataProps { get; } = [];

    /// <summary>The model without tensor values, when the scan was asked to build it.</summary>
    public byte[]? Stripped { get; private set; }

    /// <summary>Scans a whole stream as a ModelProto; throws <see cref="ProtoFormatException"/> when it is not one.</summary>
    public static OnnxScanner Scan(Stream stream, long length, bool buildStructure)
    {
        var scanner = new OnnxScanner(stream, length);
        var output = buildStructure ? new ProtoSink(OnnxLimits.MaxStructureBytes, "the model without its weights") : null;
        scanner.WalkMessage(Kind.Model, length, depth: 0, Label.Empty, output);
        scanner.Stripped = output?.ToArray();
        return scanner;
    }

    /// <summary>Scans a stream holding one serialized TensorProto (as in ONNX test data sets).</summary>
    public static OnnxTensor ScanTensor(Stream stream, long length)
    {
        var scanner = new OnnxScanner(stream, length);
        scanner.WalkTensor(length, depth: 0, new Label(null, "tensor"), output: null);
        return scanner._tensors.Single();
    }

    private static Kind? ChildKind(Kind parent, int field) => (parent, field) switch
    {
        (Kind.Model, 7) => Kind.Graph,
        (Kind.Model, 20) => Kind.TrainingInfo,
        (Kind.Model, 25) => Kind.Function,
        (Kind.Graph, 1) => Kind.Node,
        (Kind.Graph, 5) => Kind.Tensor,
        (Kind.Graph, 15) => Kind.SparseTensor,
        (Kind.Node, 5) => Kind.Attribute,
        (Kind.Attribute, 5 or 10) => Kind.Tensor,
        (Kind.Attribute, 6 or 11) => Kind.Graph,
        (Kind.Attribute, 22 or 23) => Kind.SparseTensor,
        (Kind.SparseTensor, 1 or 2) => Kind.Tensor,
        (Kind.Function, 7) => Kind.Node,
        (Kind.Function, 11) => Kind.Attribute,
        (Kind.TrainingInfo, 1 or 2) => Kind.Graph,
        _ => null,
    };

    /// <summary>Short string fields read to label tensors (node and attribute names) and the file (producer).</summary>
    private static bool IsLabel(Kind kind, int field) =>
        (kind, field) is (Kind.Model, 2 or 3 or 8 or 14) or (Kind.Node, 3 or 4) or (Kind.Attribute, 1);

    /// <summary>
    /// Where a message sits in the model, to name tensors that have no name of their own (Constant
    /// values often do not): "NODE/ATTRIBUTE", with node names, or op types and positions where
    /// nodes are unnamed. Only names already read are used, so the file is still read once.
    /// </summary>
    /// <remarks>
    /// Labels are <see cref="Label"/> chains sharing their parent's, not strings: a string per child
    /// repeated every ancestor's names, so deep subgraphs under long names cost time and memory
    /// quadratic in the file (a 2.4 MB model took 49 s and 2.6 GB for 500 tensors).
    /// </remarks>
    private static Label ChildLabel(Kind kind, int field, Label label, string name, string opType, int index)
    {
        string position = index.ToString(CultureInfo.InvariantCulture);
        return kind switch
        {
            Kind.Model => field == 7 ? Label.Empty : new Label(null, $"{(field == 20 ? "training" : "function")}{position}/"),
            Kind.Graph => new Label(label, field == 1 ? $"node{position}:" : $"initializer{position}"),
            Kind.Function => field == 7 ? new Label(label, $"node{position}:") : label,
            Kind.Node => name.Length > 0 ? new Label(null, name) : new Label(label, opType),
            Kind.Attribute => new Label(new Label(label, "/"), name).Then(field is 10 or 11 or 23 ? $".{position}" : ""),
            Kind.SparseTensor => field == 2 ? new Label(label, ".indices") : label,
            _ => label,
        };
    }

    /// <summary>
    /// A tensor label as a chain of parts ending with this one; text is only made for a tensor that
    /// has no name of its own, and then only its last <see cref="MaxChars"/> characters.
    /// </summary>
    internal sealed class Label(Label? prefix, string part)
    {
        /// <summary>Characters kept of a long label (its end, which tells tensors apart): at most <see cref="HeaderLimits.MaxNameBytes"/> in UTF-8.</summary>
        public const int MaxChars = HeaderLimits.MaxNameBytes / 3;

        public static readonly Label Empty = new(null, "");

        private readonly Label? _prefix = prefix;
        private readonly string _part = part;

        public long Length { get; } = (prefix?.Length ?? 0) + part.Length;

        public Label Then(string part) => part.Length == 0 ? this : new Label(this, part);

        public override string ToString()
        {
            int kept = (int)Math.Min(Length, MaxChars);
            return string.Create(kept, this, static (chars, label) =>
            {
                int at = chars.Length;
                for (var node = label; node is not null && at > 0; node = node._prefix)
                {
                    var part = node._part.AsSpan();
                    part = part[Math.Max(0, part.Length - at)..];
                    at -= part.Length;
                    part.CopyTo(chars[at..]);
                }

                if (label.Length > chars.Length)
                {
                    // Cut: say so, and never start with half a surrogate pair.
                    chars[0] = '…';
                    if (chars.Length > 1 && char.IsLowSurrogate(chars[1]))
                    {
                        chars[1] = '…';
                    }
                }
            });
        }
    }

    private void WalkMessage(Kind kind, long end, int depth, Label label, ProtoSink? output)
    {
        if (depth > OnnxLimits.MaxNesting)
        {
            throw new ProtoFormatException($"messages nested deeper than {OnnxLimits.MaxNesting} at offset {_reader.Position}");
        }

        string name = "", opType = "";
        int children = 0;
        while (_reader.Position < end)
        {
            var (field, wire) = _reader.ReadTag(end);
            if (wire == WireType.LengthDelimited && ChildKind(kind, field) is Kind child)
            {
                long length = _reader.ReadLength(end);
                long childEnd = _reader.Position + length;
                var childOutput = output is null ? null : new ProtoSink(OnnxLimits.MaxStructureBytes, "the model without its weights");
                var childLabel = ChildLabel(kind, field, label, name, opType, children);
                children++;
                if (child == Kind.Tensor)
                {
                    WalkTensor(childEnd, depth + 1, childLabel, childOutput);
                }
                else
                {
                    if (kind == Kind.Model && child == Kind.Graph)
                    {
                        HasGraph = true;
                    }

                    WalkMessage(child, childEnd, depth + 1, childLabel, childOutput);
                }

                output?.WriteMessage(field, childOutput!);
                continue;
            }

            if (kind == Kind.Model && field == 1 && wire == WireType.Varint)
            {
                ulong version = _reader.ReadVarint(end);
                IrVersion = unchecked((long)version);
                output?.WriteVarintField(field, version);
                continue;
            }

            byte[]? value = CopyField(field, wire, end, output, capture: wire == WireType.LengthDelimited && IsLabel(kind, field));
            if (value is null)
            {
                continue;
            }

            switch (kind, field)
            {
                case (Kind.Model, 2): ProducerName = Utf8(value); break;
                case (Kind.Model, 3): ProducerVersion = Utf8(value); break;
                case (Kind.Model, 8):
                    CheckMetadataCount();
                    Opsets.Add(ParseSmall(OperatorSetIdProto.Parser, value, "opset_import"));
                    break;
                case (Kind.Model, 14):
                    CheckMetadataCount();
                    MetadataProps.Add(ParseSmall(StringStringEntryProto.Parser, value, "metadata_props"));
                    break;
                case (Kind.Node, 4): opType = Utf8(value); break;
                default: name = Utf8(value); break;
            }
        }
    }

    /// <summary>Opsets and metadata_props are copied into the file's metadata: a few are real, millions would be a file made to cost.</summary>
    private void CheckMetadataCount()
    {
        if (Opsets.Count + MetadataProps.Count >= HeaderLimits.MaxMetadataEntries)
        {
            throw new HeaderLimitException($"more than {HeaderLimits.MaxMetadataEntries} opset_import and metadata_props entries, the limit");
        }
    }

    private sealed class ValueField
    {
        public int Runs;
        public int Unpacked;
        public long Offset;
        public long Length;
    }

    private void WalkTensor(long end, int depth, Label fallbackName, ProtoSink? output)
    {
        long start = _reader.Position;
        var header = new ProtoSink(OnnxLimits.MaxTensorHeaderBytes, "a tensor's header");
        var values = new SortedDictionary<int, ValueField>();
        while (_reader.Position < end)
        {
            var (field, wire) = _reader.ReadTag(end);
            if (field is FloatData or Int32Data or StringData or Int64Data or RawData or DoubleData or Uint64Data)
            {
                if (!values.TryGetValue(field, out var value))
                {
                    values[field] = value = new ValueField();
                }

                if (wire == WireType.LengthDelimited)
                {
                    value.Length = _reader.ReadLength(end);
                    value.Offset = _reader.Position;
                    value.Runs++;
                    _reader.Skip(value.Length, end);
                }
                else
                {
                    value.Unpacked++;
                    _reader.SkipValue(field, wire, end, depth);
                }

                continue;
            }

            CopyField(field, wire, end, header, capture: false);
        }

        TensorProto proto = ParseSmall(TensorProto.Parser, header.ToArray(), "tensor");
        string name = proto.Name.Length > 0 ? proto.Name : fallbackName.ToString();
        _budget.AddTensor(name);
        _budget.CheckDimensions(name, proto.Dims.Count);
        _tensors.Add(Classify(proto, name, values, start));
        output?.WriteRaw(header);
    }

    private static OnnxTensor Classify(TensorProto proto, string name, SortedDictionary<int, ValueField> values, long start)
    {
        int dataType = proto.DataType;
        var dims = proto.Dims.ToArray();
        ulong elements = ElementCount(name, dims);

        if (proto.DataLocation == TensorProto.Types.DataLocation.External)
        {
            if (values.Count > 0)
            {
                throw new ProtoFormatException($"tensor '{name}' is marked external but also has values inside the file");
            }

            var location = ExternalLocation(name, proto, ByteCount(name, dataType, elements));
            return new OnnxTensor(name, OnnxDataTypes.Dtype(dataType), dataType, dims, OnnxValueLayout.External, start, 0, location);
        }

        if (values.Count == 0)
        {
            return new OnnxTensor(name, OnnxDataTypes.Dtype(dataType), dataType, dims, OnnxValueLayout.None, start, 0, null);
        }

        if (values.Count > 1)
        {
            throw new ProtoFormatException($"tensor '{name}' has values in more than one field ({string.Join(", ", values.Keys.Select(FieldName))}); ONNX allows one");
        }

        var (field, run) = values.First();
        if (run.Runs != 1 || run.Unpacked > 0 || field == StringData || proto.Segment is not null)
        {
            // Spelled element by element (legal protobuf): the values stay in the skeleton, byte for byte.
            return new OnnxTensor(name, OnnxDataTypes.Dtype(dataType), dataType, dims, OnnxValueLayout.InSkeleton, start, 0, null);
        }

        switch (field)
        {
            case RawData:
                if (dataType == OnnxDataTypes.StringType)
                {
                    throw new ProtoFormatException($"tensor '{name}' is a STRING tensor with raw_data; strings belong in string_data");
                }

                if (ByteCount(name, dataType, elements) is long expected && expected != run.Length)
                {
                    throw new ProtoFormatException($"tensor '{name}': dims [{string.Join(", ", dims)}] of {OnnxDataTypes.OnnxName(dataType)} need {expected} bytes, raw_data has {run.Length}");
                }

                return Span(OnnxDataTypes.Dtype(dataType), OnnxValueLayout.ElementBytes);
            case FloatData or DoubleData:
                int width = field == FloatData ? 4 : 8;
                (string dtype, ulong perElement) = (field, dataType) switch
                {
                    (FloatData, OnnxDataTypes.FloatType) => ("F32", 1UL),
                    (FloatData, OnnxDataTypes.Complex64Type) => ("C64", 2UL),
                    (DoubleData, OnnxDataTypes.DoubleType) => ("F64", 1UL),
                    (DoubleData, OnnxDataTypes.Complex128Type) => ("C128", 2UL),
                    _ => throw new ProtoFormatException($"tensor '{name}' keeps {OnnxDataTypes.OnnxName(dataType)} values in {FieldName(field)}, which holds {(field == FloatData ? "FLOAT or COMPLEX64" : "DOUBLE or COMPLEX128")} only"),
                };
                ulong need;
                try
                {
                    need = checked(elements * perElement * (ulong)width);
                }
                catch (OverflowException)
                {
                    throw new ProtoFormatException($"tensor '{name}' has a byte size that overflows");
                }

                if (need != (ulong)run.Length)
                {
                    throw new ProtoFormatException($"tensor '{name}': dims [{string.Join(", ", dims)}] need {need} bytes of {FieldName(field)}, the file has {run.Length}");
                }

                return Span(dtype, OnnxValueLayout.ElementBytes);
            default:
                return Span(OnnxDataTypes.VarintDtype(dataType), OnnxValueLayout.Varints);
        }

        OnnxTensor Span(string dtype, OnnxValueLayout layout) => new(name, dtype, dataType, dims, layout, run.Offset, run.Length, null);
    }

    private static ulong ElementCount(string name, long[] dims)
    {
        if (dims.Any(d => d < 0))
        {
            throw new ProtoFormatException($"tensor '{name}' has a negative dimension in [{string.Join(", ", dims)}]");
        }

        // A zero dimension makes the tensor empty however large the others are.
        if (dims.Contains(0))
        {
            return 0;
        }

        try
        {
            ulong elements = 1;
            foreach (long dim in dims)
            {
                elements = checked(elements * (ulong)dim);
            }

            return elements;
        }
        catch (OverflowException)
        {
            throw new ProtoFormatException($"tensor '{name}' has dims [{string.Join(", ", dims)}] whose element count overflows");
        }
    }

    /// <summary>Bytes of the values as element bytes (raw_data or external data), or null when the type has no fixed width.</summary>
    private static long? ByteCount(string name, int dataType, ulong elements)
    {
        if (OnnxDataTypes.BitsPerElement(dataType) is not int bits)
        {
            return null;
        }

        try
        {
            ulong totalBits = checked(elements * (ulong)bits);
            ulong bytes = totalBits / 8 + (totalBits % 8 == 0 ? 0UL : 1UL);
            return bytes > long.MaxValue ? throw new OverflowException() : (long)bytes;
        }
        catch (OverflowException)
        {
            throw new ProtoFormatException($"tensor '{name}' has a byte size that overflows");
        }
    }

    private static OnnxExternalLocation ExternalLocation(string name, TensorProto proto, long? expected)
    {
        string? location = null;
        long offset = 0;
        long? length = null;
        foreach (var entry in proto.ExternalData)
        {
            switch (entry.Key)
            {
                case "location": location = entry.Value; break;
                case "offset": offset = ParseSize(name, "offset", entry.Value); break;
                case "length": length = ParseSize(name, "length", entry.Value); break;
            }
        }

        if (string.IsNullOrEmpty(location))
        {
            throw new ProtoFormatException($"external tensor '{name}' has no location");
        }

        if (proto.DataType == OnnxDataTypes.StringType)
        {
            throw new ProtoFormatException($"external tensor '{name}' is a STRING tensor; strings cannot be stored externally");
        }

        if (length is long given && expected is long need && given != need)
        {
            throw new ProtoFormatException($"external tensor '{name}': dims [{string.Join(", ", proto.Dims)}] of {OnnxDataTypes.OnnxName(proto.DataType)} need {need} bytes, external_data says {given}");
        }

        // A data type newer than this mgit has no known width: the length external_data gives is taken as is.
        return new OnnxExternalLocation(location, offset, expected ?? length ?? throw new ProtoFormatException($"external tensor '{name}' has data type {OnnxDataTypes.OnnxName(proto.DataType)} and no length"));
    }

    private static long ParseSize(string name, string key, string text) =>
        long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out long value)
            ? value
            : throw new ProtoFormatException($"external tensor '{name}' has an invalid {key} '{(text.Length > 40 ? text[..40] + "…" : text)}'");

    private static string FieldName(int field) => field switch
    {
        FloatData => "float_data",
        Int32Data => "int32_data",
        StringData => "string_data",
        Int64Data => "int64_data",
        RawData => "raw_data",
        DoubleData => "double_data",
        Uint64Data => "uint64_data",
        _ => $"field {field}",
    };

    /// <summary>
    /// Copies one field to <paramref name="output"/> (or skips it when there is none); returns the
    /// payload of a length-delimited field when <paramref name="capture"/> asks and it is short.
    /// </summary>
    private byte[]? CopyField(int field, WireType wire, long end, ProtoSink? output, bool capture)
    {
        switch (wire)
        {
            case WireType.Varint:
                ulong varint = _reader.ReadVarint(end);
                output?.WriteVarintField(field, varint);
                return null;
            case WireType.Fixed64 or WireType.Fixed32:
                Span<byte> fixedBytes = stackalloc byte[wire == WireType.Fixed64 ? 8 : 4];
                _reader.ReadBytes(fixedBytes, end);
                output?.WriteTag(field, wire);
                output?.Write(fixedBytes);
                return null;
            case WireType.LengthDelimited:
                long length = _reader.ReadLength(end);
                if (capture && length <= OnnxLimits.MaxLabelBytes)
                {
                    byte[] payload = new byte[length];
                    _reader.ReadBytes(payload, end);
                    output?.WriteBytesField(field, payload);
                    return payload;
                }

                if (output is null)
                {
                    _reader.Skip(length, end);
                }
                else
                {
                    output.WriteTag(field, wire);
                    output.WriteVarint((ulong)length);
                    output.CopyFrom(_reader, length, end);
                }

                return null;
            default:
                // Groups are not part of ONNX; they are legal protobuf, so they are skipped (and left out of the structure).
                _reader.SkipValue(field, wire, end);
                return null;
        }
    }

    private static T ParseSmall<T>(MessageParser<T> parser, byte[] bytes, string what)
        where T : IMessage<T>
    {
        try
        {
            return parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new ProtoFormatException($"invalid {what}: {e.Message}");
        }
    }

    private static string Utf8(byte[] bytes) => Encoding.UTF8.GetString(bytes);
}

/// <summary>A growable buffer that writes protobuf fields, with a size cap checked before it grows.</summary>
internal sealed class ProtoSink(long cap, string what)
{
    private readonly ArrayBufferWriter<byte> _buffer = new();

    public int Length => _buffer.WrittenCount;

    public void WriteTag(int field, WireType wire) => WriteVarint(((ulong)field << 3) | (ulong)wire);

    public void WriteVarint(ulong value)
    {
        Span<byte> bytes = stackalloc byte[10];
        int n = 0;
        while (value >= 0x80)
        {
            bytes[n++] = (byte)((value & 0x7F) | 0x80);
            value >>= 7;
        }

        bytes[n++] = (byte)value;
        Write(bytes[..n]);
    }

    public void WriteVarintField(int field, ulong value)
    {
        WriteTag(field, WireType.Varint);
        WriteVarint(value);
    }

    public void WriteBytesField(int field, ReadOnlySpan<byte> payload)
    {
        WriteTag(field, WireType.LengthDelimited);
        WriteVarint((ulong)payload.Length);
        Write(payload);
    }

    public void WriteMessage(int field, ProtoSink message) => WriteBytesField(field, message._buffer.WrittenSpan);

    public void WriteRaw(ProtoSink other) => Write(other._buffer.WrittenSpan);

    public void Write(ReadOnlySpan<byte> bytes)
    {
        Reserve(bytes.Length);
        bytes.CopyTo(_buffer.GetSpan(bytes.Length));
        _buffer.Advance(bytes.Length);
    }

    public void CopyFrom(ProtoWireReader reader, long length, long limit)
    {
        Reserve(length);
        while (length > 0)
        {
            int take = (int)Math.Min(length, 64 * 1024);
            reader.ReadBytes(_buffer.GetSpan(take)[..take], limit);
            _buffer.Advance(take);
            length -= take;
        }
    }

    public byte[] ToArray() => _buffer.WrittenSpan.ToArray();

    private void Reserve(long more)
    {
        if (more > cap - _buffer.WrittenCount)
        {
            throw new ProtoFormatException($"{what} is larger than {cap / (1024 * 1024)} MiB");
        }
    }
}
