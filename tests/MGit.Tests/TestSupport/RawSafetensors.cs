using System.Buffers.Binary;
using System.Text;
using System.Text.Json;

namespace MGit.Tests.TestSupport;

/// <summary>
/// Builds safetensors bytes by hand, independently of the project's own writer, so tests can
/// make both valid files and every kind of broken one.
/// </summary>
public static class RawSafetensors
{
    public sealed record Tensor(string Name, string Dtype, long[] Shape, byte[] Data);

    public static int DtypeSize(string dtype) => dtype switch
    {
        "BOOL" or "U8" or "I8" or "F8_E5M2" or "F8_E4M3" => 1,
        "I16" or "U16" or "F16" or "BF16" => 2,
        "I32" or "U32" or "F32" => 4,
        "I64" or "U64" or "F64" => 8,
        _ => throw new ArgumentException(dtype),
    };

    public static readonly string[] AllDtypes = ["BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "I16", "U16", "F16", "BF16", "I32", "U32", "F32", "F64", "I64", "U64"];

    public static Tensor Random(string name, string dtype, long[] shape, int seed)
    {
        long elements = shape.Aggregate(1L, (a, b) => a * b);
        var data = new byte[elements * DtypeSize(dtype)];
        new Random(seed).NextBytes(data);
        if (dtype == "BOOL")
        {
            for (int i = 0; i < data.Length; i++) data[i] &= 1;
        }

        return new Tensor(name, dtype, shape, data);
    }

    /// <summary>A header JSON for tensors laid out in the given order.</summary>
    public static string Header(IEnumerable<Tensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var json = new StringBuilder("{");
        bool first = true;
        if (metadata is not null)
        {
            json.Append("\"__metadata__\":").Append(JsonSerializer.Serialize(metadata));
            first = false;
        }

        long offset = 0;
        foreach (var t in tensors)
        {
            if (!first) json.Append(',');
            first = false;
            json.Append(JsonSerializer.Serialize(t.Name)).Append(":{\"dtype\":\"").Append(t.Dtype).Append("\",\"shape\":[")
                .Append(string.Join(",", t.Shape)).Append("],\"data_offsets\":[").Append(offset).Append(',').Append(offset + t.Data.Length).Append("]}");
            offset += t.Data.Length;
        }

        return json.Append('}').ToString();
    }

    /// <summary>Assembles a file from header text and data; pad = spaces up to a multiple of 8.</summary>
    public static byte[] Assemble(string header, byte[] data, bool pad = true, long? declaredLength = null)
    {
        var headerBytes = Encoding.UTF8.GetBytes(header).ToList();
        while (pad && headerBytes.Count % 8 != 0) headerBytes.Add((byte)' ');
        return AssembleRaw(headerBytes.ToArray(), data, declaredLength);
    }

    public static byte[] AssembleRaw(byte[] header, byte[] data, long? declaredLength = null)
    {
        var file = new byte[8 + header.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(file, (ulong)(declaredLength ?? header.Length));
        header.CopyTo(file, 8);
        data.CopyTo(file, 8 + header.Length);
        return file;
    }

    public static byte[] Build(IReadOnlyList<Tensor> tensors, bool pad = true, IReadOnlyDictionary<string, string>? metadata = null) =>
        Assemble(Header(tensors, metadata), tensors.SelectMany(t => t.Data).ToArray(), pad);

    public static string Write(string path, IReadOnlyList<Tensor> tensors, bool pad = true, IReadOnlyDictionary<string, string>? metadata = null)
    {
        File.WriteAllBytes(path, Build(tensors, pad, metadata));
        return path;
    }
}
