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
    /// <summary>The remote's format file (format, hash, chunk size).</summary>
    public const string FormatKey = "mgit-remote.json";
    /// <summary>Where object files live, under two-hex-digit folders.</summary>
    public const string ObjectPrefix = "objects/";
    /// <summary>Where lineage snapshots live, each named by the hash of its bytes.</summary>
    public const string SnapshotPrefix = "lineage/";
    /// <summary>The key naming the current lineage snapshot: the only key ever overwritten.</summary>
    public const string LineageRef = "refs/lineage";
    /// <summary>Where the remote's locks live.</summary>
    public const string LockPrefix = "locks/";
    /// <summary>Temporary files of a <c>file://</c> remote's writes in progress.</summary>
    public const string TempPrefix = "tmp/";
    /// <summary>The name of the lock a push holds while it moves the lineage ref.</summary>
    public const string LineageLock = "lineage";

    /// <summary>Snapshots and refs larger than this are damage, not data.</summary>
    public const int MaxSnapshotBytes = 256 * 1024 * 1024;

    /// <summary>An object file is a header plus at most a little more than its content.</summary>
    public const long MaxObjectFileBytes = ObjectStore.MaxObjectLength + (64L * 1024 * 1024);

    /// <summary>The key of an object's file on the remote.</summary>
    public static string ObjectKey(ObjectId id)
    {
        string hex = id.ToString();
        return $"{ObjectPrefix}{hex[..2]}/{hex[2..]}";
    }

    /// <summary>Reads the object id back from an object key; false for any other key.</summary>
    public static bool TryParseObjectKey(string key, out ObjectId id)
    {
        id = default;
        if (!key.StartsWith(ObjectPrefix, StringComparison.Ordinal) || key.Length != ObjectPrefix.Length + ObjectId.HexLength + 1 || key[ObjectPrefix.Length + 2] != '/')
        {
            return false;
        }

        return ObjectId.TryParse(string.Concat(key.AsSpan(ObjectPrefix.Length, 2), key.AsSpan(ObjectPrefix.Length + 3)), out id);
    }

    /// <summary>The key of a lineage snapshot, by the hash of its bytes.</summary>
    public static string SnapshotKey(ObjectId id) => $"{SnapshotPrefix}{id}";
}
