using System.IO.Compression;
using System.Text;

namespace MGit.Tests.TestSupport;

/// <summary>
/// Builds PyTorch checkpoints the way torch.save (1.6+) lays them out, without Python or torch: a
/// protocol-2 pickle of an OrderedDict of <c>_rebuild_tensor_v2</c> calls whose storages are
/// persistent ids, and a zip archive with <c>archive/data.pkl</c>, <c>archive/data/KEY</c> (stored,
/// 64-byte aligned), <c>archive/version</c>. Also writes hostile pickles for the refusal tests.
/// </summary>
public static class RawPyTorch
{
    /// <summary>A storage: key, torch storage class (FloatStorage, ...), element size and bytes.</summary>
    public sealed record TorchStorage(string Key, string StorageType, int ElementSize, byte[] Data)
    {
        public long Elements => Data.Length / ElementSize;
    }

    /// <summary>A tensor view into a storage.</summary>
    public sealed record View(string Name, TorchStorage Storage, long Offset, long[] Shape, long[] Stride);

    public static long[] ContiguousStride(long[] shape)
    {
        var stride = new long[shape.Length];
        long s = 1;
        for (int i = shape.Length - 1; i >= 0; i--)
        {
            stride[i] = s;
            s *= shape[i];
        }

        return stride;
    }

    /// <summary>The state-dict pickle for <paramref name="views"/>, in order.</summary>
    public static byte[] StateDictPickle(IEnumerable<View> views)
    {
        var p = new PickleWriter();
        p.Proto();
        StateDictInto(p, views);
        p.Op('.');
        return p.ToArray();
    }

    /// <summary>Pushes an OrderedDict of the views (a state dict), for pickles that nest one.</summary>
    public static void StateDictInto(PickleWriter p, IEnumerable<View> views)
    {
        p.Global("collections", "OrderedDict");
        p.Op(')');
        p.Op('R');
        p.Op('(');
        foreach (var v in views)
        {
            p.Unicode(v.Name);
            TensorInto(p, v);
        }

        p.Op('u');
    }

    /// <summary>Pushes one tensor as torch.save pickles it (<c>_rebuild_tensor_v2</c> over a persistent storage id).</summary>
    public static void TensorInto(PickleWriter p, View v)
    {
        p.Global("torch._utils", "_rebuild_tensor_v2");
        p.Op('(');
        p.Op('(');
        p.Unicode("storage");
        p.Global("torch", v.Storage.StorageType);
        p.Unicode(v.Storage.Key);
        p.Unicode("cpu");
        p.Number(v.Storage.Elements);
        p.Op('t');
        p.Op('Q');
        p.Number(v.Offset);
        p.Tuple(v.Shape);
        p.Tuple(v.Stride);
        p.Op(0x89);
        p.Global("collections", "OrderedDict");
        p.Op(')');
        p.Op('R');
        p.Op('t');
        p.Op('R');
    }

    /// <summary>A pickle that would run <c>module.name(argument)</c> if it were ever executed.</summary>
    public static byte[] CallingPickle(string module, string name, string argument)
    {
        var p = new PickleWriter();
        p.Proto();
        p.Global(module, name);
        p.Unicode(argument);
        p.Op(0x85);
        p.Op('R');
        p.Op('.');
        return p.ToArray();
    }

    /// <summary>A torch.save-style zip: data.pkl, the storages, version; <paramref name="deflateStorages"/> compresses the storages.</summary>
    public static byte[] Checkpoint(byte[] pickle, IEnumerable<TorchStorage> storages, bool deflateStorages = false, string archive = "archive", bool zip64 = false)
    {
        var members = new List<(string Name, byte[] Data, bool Deflate)> { ($"{archive}/data.pkl", pickle, false) };
        members.AddRange(storages.DistinctBy(s => s.Key).Select(s => ($"{archive}/data/{s.Key}", s.Data, deflateStorages)));
        members.Add(($"{archive}/version", "3\n"u8.ToArray(), false));
        return Zip(members, zip64);
    }

    public static byte[] StateDict(IReadOnlyList<View> views, bool deflateStorages = false, bool zip64 = false) =>
        Checkpoint(StateDictPickle(views), views.Select(v => v.Storage), deflateStorages, zip64: zip64);

    /// <summary>A minimal zip writer: stored members padded (by an extra field) to start at 64-byte boundaries, as torch's writer does.</summary>
    /// <param name="zip64">Write every size and offset through zip64 extra fields and a zip64 end record, as writers do for archives over 4 GiB.</param>
    public static byte[] Zip(IEnumerable<(string Name, byte[] Data, bool Deflate)> members, bool zip64 = false)
    {
        using var output = new MemoryStream();
        using var w = new BinaryWriter(output);
        var central = new List<(byte[] Name, uint Crc, int Compressed, int Length, int Offset, ushort Method)>();
        foreach (var (name, data, deflate) in members)
        {
            byte[] nameBytes = Encoding.UTF8.GetBytes(name);
            byte[] payload = deflate ? DeflateBytes(data) : data;
            ushort method = deflate ? (ushort)8 : (ushort)0;
            int offset = (int)output.Position;
            int localZip64 = zip64 ? 20 : 0;
            int padding = (int)((64 - ((offset + 30 + nameBytes.Length + localZip64 + 4) % 64)) % 64);
            uint crc = Crc32(data);
            w.Write(0x04034b50u);
            w.Write((ushort)(zip64 ? 45 : 20));
            w.Write((ushort)0);
            w.Write(method);
            w.Write(0u);
            w.Write(crc);
            w.Write(zip64 ? uint.MaxValue : (uint)payload.Length);
            w.Write(zip64 ? uint.MaxValue : (uint)data.Length);
            w.Write((ushort)nameBytes.Length);
            w.Write((ushort)(localZip64 + 4 + padding));
            w.Write(nameBytes);
            if (zip64)
            {
                w.Write((ushort)1);
                w.Write((ushort)16);
                w.Write((ulong)data.Length);
                w.Write((ulong)payload.Length);
            }

            w.Write((ushort)0x4246);
            w.Write((ushort)padding);
            w.Write(new byte[padding]);
            w.Write(payload);
            central.Add((nameBytes, crc, payload.Length, data.Length, offset, method));
        }

        int directoryOffset = (int)output.Position;
        foreach (var c in central)
        {
            w.Write(0x02014b50u);
            w.Write((ushort)20);
            w.Write((ushort)20);
            w.Write((ushort)0);
            w.Write(c.Method);
            w.Write(0u);
            w.Write(c.Crc);
            w.Write(zip64 ? uint.MaxValue : (uint)c.Compressed);
            w.Write(zip64 ? uint.MaxValue : (uint)c.Length);
            w.Write((ushort)c.Name.Length);
            w.Write((ushort)(zip64 ? 28 : 0));
            w.Write((ushort)0);
            w.Write((ushort)0);
            w.Write((ushort)0);
            w.Write(0u);
            w.Write(zip64 ? uint.MaxValue : (uint)c.Offset);
            w.Write(c.Name);
            if (zip64)
            {
                w.Write((ushort)1);
                w.Write((ushort)24);
                w.Write((ulong)c.Length);
                w.Write((ulong)c.Compressed);
                w.Write((ulong)c.Offset);
            }
        }

        int directoryLength = (int)output.Position - directoryOffset;
        if (zip64)
        {
            long recordOffset = output.Position;
            w.Write(0x06064b50u);
            w.Write(44UL);
            w.Write((ushort)45);
            w.Write((ushort)45);
            w.Write(0u);
            w.Write(0u);
            w.Write((ulong)central.Count);
            w.Write((ulong)central.Count);
            w.Write((ulong)directoryLength);
            w.Write((ulong)directoryOffset);
            w.Write(0x07064b50u);
            w.Write(0u);
            w.Write((ulong)recordOffset);
            w.Write(1u);
        }

        w.Write(0x06054b50u);
        w.Write((ushort)0);
        w.Write((ushort)0);
        w.Write(zip64 ? ushort.MaxValue : (ushort)central.Count);
        w.Write(zip64 ? ushort.MaxValue : (ushort)central.Count);
        w.Write(zip64 ? uint.MaxValue : (uint)directoryLength);
        w.Write(zip64 ? uint.MaxValue : (uint)directoryOffset);
        w.Write((ushort)0);
        w.Flush();
        return output.ToArray();
    }

    private static byte[] DeflateBytes(byte[] data)
    {
        using var output = new MemoryStream();
        using (var deflate = new DeflateStream(output, CompressionLevel.Optimal, leaveOpen: true))
        {
            deflate.Write(data);
        }

        return output.ToArray();
    }

    private static uint Crc32(byte[] data)
    {
        uint crc = 0xFFFFFFFF;
        foreach (byte b in data)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++) crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB88320 : crc >> 1;
        }

        return ~crc;
    }

    /// <summary>Emits pickle opcodes (protocol 2).</summary>
    public sealed class PickleWriter
    {
        private readonly List<byte> _out = [];

        public void Proto()
        {
            _out.Add(0x80);
            _out.Add(2);
        }

        public void Op(char op) => _out.Add((byte)op);

        public void Op(byte op) => _out.Add(op);

        public void Global(string module, string name) => Raw(Encoding.ASCII.GetBytes($"c{module}\n{name}\n"));

        public void Unicode(string text)
        {
            byte[] utf8 = Encoding.UTF8.GetBytes(text);
            Op('X');
            Raw(BitConverter.GetBytes(utf8.Length));
            Raw(utf8);
        }

        public void Number(long value)
        {
            if (value is >= 0 and < 256)
            {
                Op('K');
                Op((byte)value);
            }
            else if (value is >= int.MinValue and <= int.MaxValue)
            {
                Op('J');
                Raw(BitConverter.GetBytes((int)value));
            }
            else
            {
                Op(0x8A);
                Op(8);
                Raw(BitConverter.GetBytes(value));
            }
        }

        public void Tuple(IEnumerable<long> values)
        {
            Op('(');
            foreach (long v in values) Number(v);
            Op('t');
        }

        public void Raw(byte[] bytes) => _out.AddRange(bytes);

        public byte[] ToArray() => _out.ToArray();
    }
}
