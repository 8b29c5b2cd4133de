using MGit.Primitives;
using MGit.Storage;

namespace MGit.Remotes;

/// <summary>
/// The keys of a remote (under its folder or bucket prefix):
/// <code>
/// mgit-remote.json    remote format, hash, chunk size (clones cut chunks as the remote's writers did)
/// objects/ab/cd…      object files exactly as in .mgit/objects (header + payload), named by BLAKE3
/// lineage/ID          lineage snapshots: JSON, named by the BLAKE3 of their bytes, never changed
/// refs/lineage        the id of the current snapshot: the only key that is ever overwritten
/// locks/lineage…      the push lock (a flock file, or claims on S3)
/// tmp/                temporary files of a file:// remote
/// </code>
/// </summary>
public static class RemoteLayout
{
    public const string FormatKey = "mgit-remote.json";
    public const string ObjectPrefix = "objects/";
    public const string SnapshotPrefix = "lineage/";
    public const string LineageRef = "refs/lineage";
    public const string LockPrefix = "locks/";
    public const string TempPrefix = "tmp/";
    public const string LineageLock = "lineage";

    /// <summary>Snapshots and refs larger than this are damage, not data.</summary>
    public const int MaxSnapshotBytes = 256 * 1024 * 1024;

    /// <summary>An object file is a header plus at most a little more than its content.</summary>
    public const long MaxObjectFileBytes = ObjectStore.MaxObjectLength + (64L * 1024 * 1024);

    public static string ObjectKey(ObjectId id)
    {
        string hex = id.ToString();
        return $"{ObjectPrefix}{hex[..2]}/{hex[2..]}";
    }

    public static bool TryParseObjectKey(string key, out ObjectId id)
    {
        id = default;
        if (!key.StartsWith(ObjectPrefix, StringComparison.Ordinal) || key.Length != ObjectPrefix.Length + ObjectId.HexLength + 1 || key[ObjectPrefix.Length + 2] != '/')
        {
            return false;
        }

        return ObjectId.TryParse(string.Concat(key.AsSpan(ObjectPrefix.Length, 2), key.AsSpan(ObjectPrefix.Length + 3)), out id);
    }

    public static string SnapshotKey(ObjectId id) => $"{SnapshotPrefix}{id}";
}
