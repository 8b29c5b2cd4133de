using System.Buffers.Binary;
using MGit.Lineage;
using MGit.Storage;

namespace MGit.Diff;

/// <summary>
/// Every stored version's packed fingerprint (<see cref="IndexedFingerprint"/>) in one local file,
/// <c>.mgit/cache/placement.bin</c>, so that placement loads hundreds of models with one read
/// and no decoding. The lineage database stays the truth: the file is derived from it, keyed by
/// version id and manifest id (a fingerprint is a function of the stored content, so a record is
/// right for any version with its manifest), and can be deleted at any time.
/// File: "MGPC", u32 format (1), u64 reserved, then records one after another. Versions missing
/// from it are read from the database and appended (under a lock file; one write per record);
/// when the file is damaged, or mostly dead records (removed versions), it is rewritten whole
/// (temporary file, then rename), so a reader sees either the old file or the new one, and a
/// half-appended record at the end is simply not there yet.
/// </summary>
public static class PlacementCache
{
    public const string FileName = "placement.bin";
    public const int FormatVersion = 1;
    private const int FileHeaderBytes = 16;
    private const uint Magic = 0x4350474D; // "MGPC"

    /// <summary>
    /// The packed fingerprint of every version in <paramref name="versions"/>: from the cache
    /// file where it holds a current record, from <paramref name="fetch"/> (the lineage
    /// database, or the stored data) for the others, which are then added to the file.
    /// </summary>
    public static Dictionary<long, IndexedFingerprint> Load(
        string directory,
        string temporaryDirectory,
        IReadOnlyList<ModelVersion> versions,
        Func<IReadOnlyList<ModelVersion>, IReadOnlyDictionary<long, ModelFingerprint>> fetch)
    {
        string path = Path.Combine(directory, FileName);
        var (cached, validEnd, recordCount, damaged) = Read(path);
        var result = new Dictionary<long, IndexedFingerprint>(versions.Count);
        var missing = new List<ModelVersion>();
        foreach (var version in versions)
        {
            if (cached.TryGetValue(version.Id, out var record) && ObjectId.TryParse(version.ManifestId, out var manifest) && record.ManifestId == manifest)
            {
                result[version.Id] = record;
            }
            else
            {
                missing.Add(version);
            }
        }

        var added = new List<IndexedFingerprint>();
        if (missing.Count > 0)
        {
            var fetched = fetch(missing);
            foreach (var version in missing)
            {
                if (fetched.TryGetValue(version.Id, out var fingerprint))
                {
                    var record = new IndexedFingerprint(fingerprint, version.Id, ObjectId.Parse(version.ManifestId));
                    result[version.Id] = record;
                    added.Add(record);
                }
            }
        }

        // Rewrite when damaged or when more than half the records are dead; otherwise append.
        bool rewrite = damaged || recordCount - (result.Count - added.Count) > Math.Max(16, result.Count);
        if (BitConverter.IsLittleEndian && (added.Count > 0 || rewrite))
        {
            Update(directory, temporaryDirectory, path, validEnd, rewrite ? result.Values.OrderBy(r => r.VersionId).ToList() : added, rewrite);
        }

        return result;
    }

    /// <summary>The valid records of the file (last one per version wins), where they end, how many, and whether anything after them is damaged.</summary>
    private static (Dictionary<long, IndexedFingerprint> Records, long ValidEnd, int Count, bool Damaged) Read(string path)
    {
        var records = new Dictionary<long, IndexedFingerprint>();
        byte[] bytes;
        try
        {
            bytes = BitConverter.IsLittleEndian && File.Exists(path) ? File.ReadAllBytes(path) : [];
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return (records, 0, 0, true);
        }

        if (bytes.Length == 0)
        {
            return (records, 0, 0, false);
        }

        if (bytes.Length < FileHeaderBytes || BinaryPrimitives.ReadUInt32LittleEndian(bytes) != Magic || BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(4)) != FormatVersion)
        {
            return (records, 0, 0, true);
        }

        int offset = FileHeaderBytes, count = 0;
        while (offset < bytes.Length && IndexedFingerprint.TryRead(bytes, offset, out int length) is { } record)
        {
            records[record.VersionId] = record;
            offset += length;
            count++;
        }

        return (records, offset, count, offset != bytes.Length);
    }

    /// <summary>Appends the new records, or rewrites the file; skipped when another process holds the lock (it is doing the same) or the folder is not writable.</summary>
    private static void Update(string directory, string temporaryDirectory, string path, long validEnd, IReadOnlyList<IndexedFingerprint> records, bool rewrite)
    {
        try
        {
            Directory.CreateDirectory(directory);
            using var writerLock = new FileStream(Path.Combine(directory, FileName + ".lock"), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            if (!rewrite && validEnd > 0)
            {
                using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite);
                // Another writer changed the file since it was read: its tail is unknown, so rewrite rather than append after it.
                if (RandomAccess.GetLength(handle) == validEnd)
                {
                    RandomAccess.Write(handle, Concatenate(records, withHeader: false), validEnd);
                    return;
                }
            }

            Directory.CreateDirectory(temporaryDirectory);
            string temporary = Path.Combine(temporaryDirectory, $"{FileName}.{Environment.ProcessId}.{Guid.NewGuid():N}");
            try
            {
                File.WriteAllBytes(temporary, Concatenate(rewrite ? records : [.. Read(path).Records.Values, .. records], withHeader: true));
                File.Move(temporary, path, overwrite: true);
            }
            finally
            {
                File.Delete(temporary);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A cache: the next placement reads what is missing from the database again.
        }
    }

    private static byte[] Concatenate(IReadOnlyList<IndexedFingerprint> records, bool withHeader)
    {
        long total = (withHeader ? FileHeaderBytes : 0) + records.Sum(r => (long)r.Record.Length);
        var bytes = new byte[total];
        int at = 0;
        if (withHeader)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(bytes, Magic);
            BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(4), FormatVersion);
            at = FileHeaderBytes;
        }

        foreach (var record in records)
        {
            record.Record.CopyTo(bytes.AsSpan(at));
            at += record.Record.Length;
        }

        return bytes;
    }
}
