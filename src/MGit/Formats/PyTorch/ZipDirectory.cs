using System.Buffers.Binary;
using System.Text;

namespace MGit.Formats.PyTorch;

/// <summary>One member of a zip archive: where its header and data are, and how the data is stored.</summary>
internal sealed record ZipEntry(string Name, ushort Method, ushort Flags, long HeaderOffset, long DataOffset, long CompressedLength, long Length)
{
    /// <summary>Stored without compression or encryption: the member's bytes are a span of the file.</summary>
    public bool IsStored => Method == 0 && (Flags & 1) == 0 && CompressedLength == Length;
}

/// <summary>
/// Reads a zip archive's central directory (with zip64) and every member's local header, checking
/// that members lie inside the file, before the central directory, and do not overlap. Nothing is
/// decompressed here.
/// </summary>
internal static class ZipDirectory
{
    private const uint LocalHeaderSignature = 0x04034b50;
    private const uint CentralHeaderSignature = 0x02014b50;
    private const uint EndSignature = 0x06054b50;
    private const uint Zip64EndSignature = 0x06064b50;
    private const uint Zip64LocatorSignature = 0x07064b50;
    private const int EndRecordLength = 22;
    private const int MaxEntries = 1_000_000;

    public static IReadOnlyList<ZipEntry> Read(LittleEndianFileReader reader)
    {
        long endOffset = FindEndRecord(reader);
        reader.Seek(endOffset + 4);
        ushort disk = reader.ReadU16("the zip end record");
        ushort directoryDisk = reader.ReadU16("the zip end record");
        ulong entryCount = reader.ReadU16("the zip end record");
        ulong totalEntries = reader.ReadU16("the zip end record");
        ulong directoryLength = reader.ReadU32("the zip end record");
        ulong directoryOffset = reader.ReadU32("the zip end record");
        long directoryLimit = endOffset;
        if (disk != 0 || directoryDisk != 0 || entryCount != totalEntries)
        {
            throw reader.Bad("multi-disk zip archives are not supported");
        }

        if (totalEntries == 0xFFFF || directoryLength == 0xFFFFFFFF || directoryOffset == 0xFFFFFFFF)
        {
            (totalEntries, directoryLength, directoryOffset, directoryLimit) = ReadZip64End(reader, endOffset);
        }

        if (directoryOffset > (ulong)directoryLimit || directoryLength > (ulong)directoryLimit - directoryOffset)
        {
            throw reader.Bad($"the zip central directory ({directoryLength} bytes at {directoryOffset}) lies outside the file");
        }

        if (totalEntries > MaxEntries || totalEntries > directoryLength / 46)
        {
            throw reader.Bad($"the zip central directory claims {totalEntries} entries, more than it can hold");
        }

        var entries = new List<ZipEntry>((int)totalEntries);
        reader.Seek((long)directoryOffset);
        long directoryEnd = (long)(directoryOffset + directoryLength);
        for (ulong i = 0; i < totalEntries; i++)
        {
            entries.Add(ReadCentralEntry(reader, directoryEnd));
        }

        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var entry in entries)
        {
            if (!names.Add(entry.Name))
            {
                throw reader.Bad($"zip member '{entry.Name}' appears twice");
            }
        }

        var located = entries.Select(e => Locate(reader, e, (long)directoryOffset)).OrderBy(e => e.HeaderOffset).ToList();
        for (int i = 1; i < located.Count; i++)
        {
            if (located[i].HeaderOffset < located[i - 1].DataOffset + located[i - 1].CompressedLength)
            {
                throw reader.Bad($"zip members '{located[i - 1].Name}' and '{located[i].Name}' overlap");
            }
        }

        return located;
    }

    private static long FindEndRecord(LittleEndianFileReader reader)
    {
        long length = reader.Length;
        if (length < EndRecordLength)
        {
            throw reader.Bad("too short for a zip archive");
        }

        // The end record is the last 22 bytes plus a comment of at most 65,535 bytes.
        int window = (int)Math.Min(length, EndRecordLength + 65_535);
        byte[] tail = new byte[window];
        reader.Seek(length - window);
        reader.ReadExactly(tail, "the zip end record");
        for (int i = window - EndRecordLength; i >= 0; i--)
        {
            if (BinaryPrimitives.ReadUInt32LittleEndian(tail.AsSpan(i)) == EndSignature
                && BinaryPrimitives.ReadUInt16LittleEndian(tail.AsSpan(i + 20)) == window - EndRecordLength - i)
            {
                return length - window + i;
            }
        }

        throw reader.Bad("no zip end record: the archive is truncated or not a zip file");
    }

    private static (ulong Entries, ulong Length, ulong Offset, long Limit) ReadZip64End(LittleEndianFileReader reader, long endOffset)
    {
        if (endOffset < 20)
        {
            throw reader.Bad("the zip64 end locator is missing");
        }

        reader.Seek(endOffset - 20);
        if (reader.ReadU32("the zip64 locator") != Zip64LocatorSignature)
        {
            throw reader.Bad("the zip64 end locator is missing");
        }

        reader.ReadU32("the zip64 locator");
        ulong recordOffset = reader.ReadU64("the zip64 locator");
        if (recordOffset > (ulong)(endOffset - 20 - 56))
        {
            throw reader.Bad($"the zip64 end record offset {recordOffset} lies outside the file");
        }

        reader.Seek((long)recordOffset);
        if (reader.ReadU32("the zip64 end record") != Zip64EndSignature)
        {
            throw reader.Bad("the zip64 end record is missing");
        }

        reader.Skip(8 + 2 + 2 + 4 + 4, "the zip64 end record");
        ulong onDisk = reader.ReadU64("the zip64 end record");
        ulong total = reader.ReadU64("the zip64 end record");
        ulong length = reader.ReadU64("the zip64 end record");
        ulong offset = reader.ReadU64("the zip64 end record");
        if (onDisk != total)
        {
            throw reader.Bad("multi-disk zip archives are not supported");
        }

        return (total, length, offset, (long)recordOffset);
    }

    private static ZipEntry ReadCentralEntry(LittleEndianFileReader reader, long directoryEnd)
    {
        if (directoryEnd - reader.Position < 46 || reader.ReadU32("a zip directory entry") != CentralHeaderSignature)
        {
            throw reader.Bad($"bad zip central directory entry at offset {reader.Position}");
        }

        reader.Skip(4, "a zip directory entry");
        ushort flags = reader.ReadU16("a zip directory entry");
        ushort method = reader.ReadU16("a zip directory entry");
        reader.Skip(8, "a zip directory entry");
        ulong compressed = reader.ReadU32("a zip directory entry");
        ulong uncompressed = reader.ReadU32("a zip directory entry");
        int nameLength = reader.ReadU16("a zip directory entry");
        int extraLength = reader.ReadU16("a zip directory entry");
        int commentLength = reader.ReadU16("a zip directory entry");
        reader.Skip(8, "a zip directory entry");
        ulong headerOffset = reader.ReadU32("a zip directory entry");
        if (reader.Position + nameLength + extraLength + commentLength > directoryEnd)
        {
            throw reader.Bad("a zip directory entry runs past the end of the directory");
        }

        byte[] nameBytes = new byte[nameLength];
        reader.ReadExactly(nameBytes, "a zip member name");
        string name = (flags & 0x800) != 0 ? Encoding.UTF8.GetString(nameBytes) : Encoding.Latin1.GetString(nameBytes);
        byte[] extra = new byte[extraLength];
        reader.ReadExactly(extra, "a zip extra field");
        reader.Skip((ulong)commentLength, "a zip member comment");

        // Zip64: fields saturated at 0xFFFFFFFF are in the 0x0001 extra field, in this order.
        if (uncompressed == 0xFFFFFFFF || compressed == 0xFFFFFFFF || headerOffset == 0xFFFFFFFF)
        {
            var zip64 = FindExtra(extra, 0x0001) ?? throw reader.Bad($"zip member '{name}' lacks its zip64 sizes");
            int at = 0;
            ulong Next()
            {
                if (at + 8 > zip64.Length)
                {
                    throw reader.Bad($"zip member '{name}' has a short zip64 field");
                }

                at += 8;
                return BinaryPrimitives.ReadUInt64LittleEndian(zip64.AsSpan(at - 8));
            }

            uncompressed = uncompressed == 0xFFFFFFFF ? Next() : uncompressed;
            compressed = compressed == 0xFFFFFFFF ? Next() : compressed;
            headerOffset = headerOffset == 0xFFFFFFFF ? Next() : headerOffset;
        }

        if (compressed > long.MaxValue || uncompressed > long.MaxValue || headerOffset > long.MaxValue)
        {
            throw reader.Bad($"zip member '{name}' has impossible sizes");
        }

        return new ZipEntry(name, method, flags, (long)headerOffset, DataOffset: -1, (long)compressed, (long)uncompressed);
    }

    /// <summary>Reads the member's local header to find where its data starts, and checks it ends before the central directory.</summary>
    private static ZipEntry Locate(LittleEndianFileReader reader, ZipEntry entry, long directoryOffset)
    {
        if (entry.HeaderOffset > directoryOffset - 30)
        {
            throw reader.Bad($"zip member '{entry.Name}' has its header outside the archive's data");
        }

        reader.Seek(entry.HeaderOffset);
        if (reader.ReadU32("a zip local header") != LocalHeaderSignature)
        {
            throw reader.Bad($"zip member '{entry.Name}' has no local header at offset {entry.HeaderOffset}");
        }

        reader.Skip(22, "a zip local header");
        int nameLength = reader.ReadU16("a zip local header");
        int extraLength = reader.ReadU16("a zip local header");
        long dataOffset = entry.HeaderOffset + 30 + nameLength + extraLength;
        if (dataOffset > directoryOffset || entry.CompressedLength > directoryOffset - dataOffset)
        {
            throw reader.Bad($"zip member '{entry.Name}' ({entry.CompressedLength} bytes) runs into the central directory");
        }

        return entry with { DataOffset = dataOffset };
    }

    private static byte[]? FindExtra(byte[] extra, ushort id)
    {
        int at = 0;
        while (at + 4 <= extra.Length)
        {
            ushort tag = BinaryPrimitives.ReadUInt16LittleEndian(extra.AsSpan(at));
            int size = BinaryPrimitives.ReadUInt16LittleEndian(extra.AsSpan(at + 2));
            if (at + 4 + size > extra.Length)
            {
                return null;
            }

            if (tag == id)
            {
                return extra.AsSpan(at + 4, size).ToArray();
            }

            at += 4 + size;
        }

        return null;
    }
}
