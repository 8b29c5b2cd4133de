using System.Buffers.Binary;
using MGit.Lineage;
using MGit.Primitives;
using MGit.Storage;

namespace MGit.Diff;

/// <summary>
/// Every stored version's packed fingerprint (<see cref="IndexedFingerprint"/>) in one local file,
/// <c>.mgit/cache/placement.bin</c>, so that placement streams hundreds of models through one
/// small buffer instead of querying the database and decoding an object per tensor. The lineage
/// database stays the truth: the file is derived from it, keyed by version id and manifest id (a
/// fingerprint is a function of the stored content, so a record is right for any version with
/// that manifest), and may be deleted at any time. Clones and pulls start without it; <c>rm</c>
/// leaves dead records, which are skipped and dropped at the next rewrite.
/// File: "MGPC", i32 format (1), 8 reserved bytes, then records one after another (layout in
/// <see cref="IndexedFingerprint.ToRecord"/>). New records are appended (one write, under a lock
/// file); a damaged file, or one that is mostly dead records, is rewritten whole (temporary
/// file, then rename), so a reader sees the old file or the new one, and a record still being
/// appended is simply not there yet (a short or damaged tail is ignored).
/// </summary>
internal static class PlacementCache
{
    public const string FileName = "placement.bin";
    public const int FormatVersion = 1;
    internal const int FileHeaderBytes = 16;
    private const uint Magic = 0x4350474D; // "MGPC"

    /// <summary>
    /// Hands every version of <paramref name="versions"/> that has a fingerprint to
    /// <paramref name="visit"/> (with its position in the list), reading the cache file in one
    /// pass; versions the file lacks come from <paramref name="fetch"/> (the lineage database, or
    /// the stored data) and are added to the file. When <paramref name="cursor"/> is true, the
    /// fingerprint handed over is one reused object, valid only during the call (no allocation per
    /// model); <see cref="StoredFingerprints.Load"/> gives a lasting copy of any of them afterwards.
    /// A version may be visited twice (a repeated record); the last visit counts.
    /// </summary>
    public static StoredFingerprints Scan(
        string directory,
        string temporaryDirectory,
        IReadOnlyList<ModelVersion> versions,
        Func<IReadOnlyList<ModelVersion>, IReadOnlyDictionary<long, ModelFingerprint>> fetch,
        Action<int, IndexedFingerprint> visit,
        bool cursor)
    {
        string path = Path.Combine(directory, FileName);
        int n = versions.Count;
        var positions = new HashIndex(n);
        for (int p = 0; p < n; p++)
        {
            positions.TryAdd((ulong)versions[p].Id, p);
        }

        var stored = new StoredFingerprints(path, n);
        var scan = new FileScan();
        if (stored.Stream is { } stream)
        {
            scan = ReadRecords(stream, cursor, (record, offset, buffer, start) =>
            {
                int p = positions.Find((ulong)record.VersionId);
                if (p >= 0 && IsRecordOf(record, versions[p]))
                {
                    stored.Offsets[p] = offset;
                    stored.Lengths[p] = IndexedFingerprint.DeclaredLength(buffer.AsSpan(start));
                    visit(p, record);
                }
            });
        }

        var missing = new List<ModelVersion>();
        int live = 0;
        for (int p = 0; p < n; p++)
        {
            if (stored.Offsets[p] < 0)
            {
                missing.Add(versions[p]);
            }
            else
            {
                live++;
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
                    int p = positions.Find((ulong)version.Id);
                    var record = new IndexedFingerprint(fingerprint, version.Id, ObjectId.Parse(version.ManifestId));
                    stored.Fetched[p] = record;
                    added.Add(record);
                    visit(p, record);
                }
            }
        }

        // Rewrite when damaged or when dead records outnumber live ones; otherwise append.
        if (scan.Damaged || scan.Records - live > Math.Max(16, live))
        {
            Rewrite(directory, temporaryDirectory, path, stored, added);
        }
        else if (added.Count > 0)
        {
            Append(directory, path, added, stored.Stream is null ? 0 : scan.End);
        }

        return stored;
    }

    /// <summary>
    /// Adds one new version's record when the cache file exists (<c>add</c> calls this, so the
    /// next placement finds every version in the file); a repository that never placed a model
    /// has no file and pays nothing.
    /// </summary>
    public static void Record(string directory, Func<IndexedFingerprint> pack)
    {
        string path = Path.Combine(directory, FileName);
        if (File.Exists(path))
        {
            Append(directory, path, [pack()], expectedEnd: null);
        }
    }

    /// <summary>Whether a record read from the file is this version's: its id, and the manifest it still has (a fingerprint is a function of the stored content).</summary>
    public static bool IsRecordOf(IndexedFingerprint record, ModelVersion version) =>
        record.VersionId == version.Id && record.ManifestId.ToString() == version.ManifestId;

    private delegate void RecordVisitor(IndexedFingerprint record, long offset, byte[] buffer, int start);

    private readonly record struct FileScan(long End, int Records, bool Damaged);

    /// <summary>Reads the file's records in order through a small buffer, handing each valid one to <paramref name="onRecord"/>; stops at the first short or damaged one.</summary>
    private static FileScan ReadRecords(FileStream stream, bool cursor, RecordVisitor onRecord)
    {
        try
        {
            stream.Position = 0;
            // Small buffers, grown only for huge models: fresh memory costs page faults and collections.
            var buffer = new byte[64 * 1024];
            var scratch = new ulong[buffer.Length / 8];
            IndexedFingerprint? reused = null;
            int start = 0, end = Fill(stream, buffer, 0);
            if (end < FileHeaderBytes || BinaryPrimitives.ReadUInt32LittleEndian(buffer) != Magic || BinaryPrimitives.ReadInt32LittleEndian(buffer.AsSpan(4)) != FormatVersion)
            {
                return new FileScan(0, 0, end > 0);
            }

            start = FileHeaderBytes;
            long offset = FileHeaderBytes;
            int count = 0;
            while (true)
            {
                if (end - start < IndexedFingerprint.HeaderBytes)
                {
                    (start, end) = Refill(stream, ref buffer, start, end, IndexedFingerprint.HeaderBytes);
                }

                if (end == start)
                {
                    return new FileScan(offset, count, false);
                }

                // A length beyond the end of the file is a record still being written, or damage: never allocated for.
                int length = IndexedFingerprint.DeclaredLength(buffer.AsSpan(start, end - start));
                bool plausible = length >= IndexedFingerprint.HeaderBytes && length <= stream.Length - offset;
                if (plausible && end - start < length)
                {
                    (start, end) = Refill(stream, ref buffer, start, end, length);
                }

                var record = plausible && end - start >= length
                    ? IndexedFingerprint.FromRecord(buffer, start, length, ref scratch, cursor ? reused : null)
                    : null;
                if (record is null)
                {
                    return new FileScan(offset, count, true);
                }

                reused = record;
                onRecord(record, offset, buffer, start);
                start += length;
                offset += length;
                count++;
            }
        }
        catch (IOException)
        {
            return new FileScan(0, 0, true);
        }
    }

    /// <summary>Moves the unread bytes to the front and reads more, until <paramref name="wanted"/> bytes are there or the file ends.</summary>
    private static (int Start, int End) Refill(FileStream stream, ref byte[] buffer, int start, int end, int wanted)
    {
        int pending = end - start;
        if (buffer.Length < wanted)
        {
            var larger = new byte[Math.Max(wanted, buffer.Length * 2)];
            Buffer.BlockCopy(buffer, start, larger, 0, pending);
            buffer = larger;
        }
        else
        {
            Buffer.BlockCopy(buffer, start, buffer, 0, pending);
        }

        return (0, Fill(stream, buffer, pending));
    }

    private static int Fill(FileStream stream, byte[] buffer, int from)
    {
        while (from < buffer.Length)
        {
            int read = stream.Read(buffer, from, buffer.Length - from);
            if (read == 0)
            {
                break;
            }

            from += read;
        }

        return from;
    }

    /// <summary>
    /// Appends records at the end of the file, under the lock file. When the file is not as this
    /// process read it (<paramref name="expectedEnd"/>), another writer got there first: the
    /// records are left out (the next placement fetches them again). Skipped, too, when another
    /// process holds the lock or the folder is not writable.
    /// </summary>
    private static void Append(string directory, string path, IReadOnlyList<IndexedFingerprint> records, long? expectedEnd)
    {
        if (!BitConverter.IsLittleEndian)
        {
            return;
        }

        try
        {
            Directory.CreateDirectory(directory);
            using var writerLock = new FileStream(path + ".lock", FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            using var stream = new FileStream(path, FileMode.OpenOrCreate, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete, bufferSize: 0);
            long end = stream.Length;
            if (expectedEnd is long expected && end != expected && end != 0)
            {
                return;
            }

            using var bytes = new MemoryStream();
            using var sketches = new MemoryStream();
            if (end == 0)
            {
                bytes.Write(FileHeader());
            }

            foreach (var record in records)
            {
                var packed = record.ToRecord();
                sketches.Write(PlacementSketches.ToRecord(record, end + bytes.Length, packed.Length));
                bytes.Write(packed);
            }

            // One write: a reader sees the records whole or, while it is under way, a short tail it ignores.
            stream.Position = end;
            stream.Write(bytes.GetBuffer(), 0, (int)bytes.Length);
            AppendSketches(directory, end, sketches);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A cache: the next placement reads what is missing from the database again.
        }
    }

    /// <summary>Writes the live records (those a scan used, and the new ones) to a temporary file and renames it over the cache.</summary>
    private static void Rewrite(string directory, string temporaryDirectory, string path, StoredFingerprints stored, IReadOnlyList<IndexedFingerprint> added)
    {
        if (!BitConverter.IsLittleEndian)
        {
            return;
        }

        string temporary = Path.Combine(temporaryDirectory, $"{FileName}.{Environment.ProcessId}.{Guid.NewGuid():N}");
        try
        {
            Directory.CreateDirectory(directory);
            Directory.CreateDirectory(temporaryDirectory);
            using var writerLock = new FileStream(path + ".lock", FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            using (var output = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 1 << 16))
            {
                output.Write(FileHeader());
                if (stored.Stream is { } input)
                {
                    var used = new HashIndex(stored.Offsets.Length);
                    foreach (long offset in stored.Offsets)
                    {
                        if (offset >= 0)
                        {
                            used.TryAdd((ulong)offset, 0);
                        }
                    }

                    ReadRecords(input, cursor: true, (record, offset, buffer, start) =>
                    {
                        if (used.Find((ulong)offset) >= 0)
                        {
                            output.Write(buffer, start, IndexedFingerprint.DeclaredLength(buffer.AsSpan(start)));
                        }
                    });
                }

                foreach (var record in added)
                {
                    output.Write(record.ToRecord());
                }
            }

            File.Move(temporary, path, overwrite: true);
            File.Delete(Path.Combine(directory, PlacementSketches.FileName)); // its offsets name the old file: rebuilt on next use
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // As above: another process holds the lock, or the folder is read-only.
        }
        finally
        {
            if (File.Exists(temporary))
            {
                File.Delete(temporary);
            }
        }
    }

    /// <summary>
    /// Appends the sketches of records just appended at <paramref name="placementEnd"/> (under the
    /// cache lock). A sketch file that did not cover the cache up to there is stale, and deleted.
    /// </summary>
    private static void AppendSketches(string directory, long placementEnd, MemoryStream sketches)
    {
        string path = Path.Combine(directory, PlacementSketches.FileName);
        if (placementEnd == 0)
        {
            using var created = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete, bufferSize: 0);
            created.Write(PlacementSketches.FileHeader());
            created.Write(sketches.GetBuffer(), 0, (int)sketches.Length);
            return;
        }

        if (!File.Exists(path))
        {
            return;
        }

        using var stream = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete, bufferSize: 0);
        if (PlacementSketches.CoveredEnd(stream) != placementEnd)
        {
            stream.Dispose();
            File.Delete(path);
            return;
        }

        stream.Position = stream.Length;
        stream.Write(sketches.GetBuffer(), 0, (int)sketches.Length);
    }

    /// <summary>
    /// Writes the sketch file anew from the cache file when it does not cover it (missing, stale,
    /// damaged, or made before sketches existed): a temporary file renamed over it, under the
    /// cache lock. Skipped when another process holds the lock or the folder is not writable.
    /// </summary>
    public static void RefreshSketches(string directory, string temporaryDirectory)
    {
        string path = Path.Combine(directory, FileName);
        string sketchPath = Path.Combine(directory, PlacementSketches.FileName);
        if (!BitConverter.IsLittleEndian || !File.Exists(path))
        {
            return;
        }

        string temporary = Path.Combine(temporaryDirectory, $"{PlacementSketches.FileName}.{Environment.ProcessId}.{Guid.NewGuid():N}");
        try
        {
            Directory.CreateDirectory(temporaryDirectory);
            using var writerLock = new FileStream(path + ".lock", FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            using var input = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, bufferSize: 0);
            if (File.Exists(sketchPath))
            {
                using var current = new FileStream(sketchPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, bufferSize: 0);
                if (PlacementSketches.CoveredEnd(current) == input.Length)
                {
                    return;
                }
            }

            using (var output = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 1 << 16))
            {
                output.Write(PlacementSketches.FileHeader());
                var scan = ReadRecords(input, cursor: true, (record, offset, buffer, start) =>
                    output.Write(PlacementSketches.ToRecord(record, offset, IndexedFingerprint.DeclaredLength(buffer.AsSpan(start)))));
                if (scan.Damaged || scan.End != input.Length)
                {
                    return; // the next placement rewrites the cache file, then this
                }
            }

            File.Move(temporary, sketchPath, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A cache: placement scans every fingerprint until the file is rebuilt.
        }
        finally
        {
            if (File.Exists(temporary))
            {
                File.Delete(temporary);
            }
        }
    }

    private static byte[] FileHeader()
    {
        var header = new byte[FileHeaderBytes];
        BinaryPrimitives.WriteUInt32LittleEndian(header, Magic);
        BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(4), FormatVersion);
        return header;
    }
}

/// <summary>
/// What a <see cref="PlacementCache.Scan"/> found: where each version's record lies in the cache
/// file (kept open, so a rewrite by another process does not move it) and the fingerprints that
/// came from the database instead; <see cref="Load"/> reads any of them again.
/// </summary>
internal sealed class StoredFingerprints : IDisposable
{
    private byte[] _record = [];
    private ulong[] _scratch = [];

    internal StoredFingerprints(string path, int versions)
    {
        Offsets = new long[versions];
        for (int p = 0; p < versions; p++)
        {
            Offsets[p] = -1;
        }

        Lengths = new int[versions];
        Fetched = new IndexedFingerprint?[versions];
        try
        {
            Stream = BitConverter.IsLittleEndian && File.Exists(path)
                ? new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, bufferSize: 0)
                : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Stream = null; // unreadable: every fingerprint comes from the database
        }
    }

    internal FileStream? Stream { get; }
    /// <summary>Per version position: the offset of its record in the file, or -1.</summary>
    internal long[] Offsets { get; }
    /// <summary>Per version position: the length of its record in the file.</summary>
    internal int[] Lengths { get; }
    internal IndexedFingerprint?[] Fetched { get; }

    /// <summary>
    /// The fingerprint of the version at <paramref name="position"/>, or null when it has none.
    /// A record from the file is read into <paramref name="cursor"/> (made on first use, then
    /// overwritten by each call that passes it: no allocation per model).
    /// </summary>
    public IndexedFingerprint? Load(int position, ref IndexedFingerprint? cursor)
    {
        if (Fetched[position] is { } fetched)
        {
            return fetched;
        }

        int length = Lengths[position];
        if (Offsets[position] < 0 || Stream is null)
        {
            return null;
        }

        if (_record.Length < length)
        {
            _record = new byte[length];
        }

        if (RandomAccess.Read(Stream.SafeFileHandle, _record.AsSpan(0, length), Offsets[position]) != length)
        {
            return null;
        }

        var loaded = IndexedFingerprint.FromRecord(_record, 0, length, ref _scratch, cursor);
        cursor = loaded ?? cursor;
        return loaded;
    }

    public void Dispose() => Stream?.Dispose();
}
