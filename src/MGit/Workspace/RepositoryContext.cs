using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using MGit.Lineage;
using MGit.Primitives;
using MGit.Storage;

namespace MGit.Workspace;

/// <summary>
/// What every service of an open repository shares: where its folders are, the session's
/// options, the object store and the lineage database, the lock file, and the one gate that
/// serialises use of the database connection. The <see cref="Repository"/> facade owns it.
/// </summary>
internal sealed class RepositoryContext : IDisposable
{
    /// <summary>The repository's own folder inside its root.</summary>
    public const string DirectoryName = ModelFolder.RepositoryFolderName;

    private readonly Lock _databaseGate = new();

    public RepositoryContext(string root, RepositoryFormat format, LineageStore lineage, RepositoryOptions options)
    {
        Root = root;
        Format = format;
        Options = options;
        Lineage = lineage;
        Objects = new ObjectStore(Path.Combine(MetadataDirectory, "objects"), TempDirectory, options.FlushToDisk, format.MaxDeltaDepth);
        Reserve = new SpaceReserve(Path.Combine(MetadataDirectory, "reserve"));
    }

    /// <summary>The folder that holds <c>.mgit</c>.</summary>
    public string Root { get; }

    public RepositoryFormat Format { get; private set; }

    public RepositoryOptions Options { get; }

    public ObjectStore Objects { get; }

    public LineageStore Lineage { get; }

    /// <summary>Space kept free so that a full disk can still be cleaned up (rm, gc).</summary>
    public SpaceReserve Reserve { get; }

    public string MetadataDirectory => Path.Combine(Root, DirectoryName);

    public string TempDirectory => Path.Combine(MetadataDirectory, "tmp");

    public string LockPath => Path.Combine(MetadataDirectory, "lock");

    /// <summary>Read-only checkouts that tests, lossy checks and cascades run on.</summary>
    public string CheckoutCacheDirectory => Path.Combine(MetadataDirectory, "cache", "checkouts");

    /// <summary>The placement cache (fingerprints packed for <c>add --auto</c>).</summary>
    public string PlacementCacheDirectory => Path.Combine(MetadataDirectory, "cache");

    /// <summary>Logs of test runs and recipes.</summary>
    public string LogDirectory => Path.Combine(MetadataDirectory, "logs");

    /// <summary>The format new chunks are cut with (an older repository is upgraded by its first write).</summary>
    public RepositoryFormat WritingFormat => Format.FormatVersion < RepositoryFormat.CurrentVersion ? Format with { FormatVersion = RepositoryFormat.CurrentVersion } : Format;

    /// <summary>
    /// Before the first write with this mgit, a repository of an older format is moved to the
    /// current one: the new objects it is about to get would be unreadable to the older mgit.
    /// Everything already stored stays as it is and is read as before.
    /// </summary>
    public void UpgradeFormatForWriting()
    {
        if (Format.FormatVersion < RepositoryFormat.CurrentVersion)
        {
            Format = Format with { FormatVersion = RepositoryFormat.CurrentVersion };
            Format.Save(Path.Combine(MetadataDirectory, RepositoryFormat.FileName));
        }
    }

    /// <summary>A consistent snapshot of the lineage graph.</summary>
    public LineageGraph Graph() => Lineage.ReadGraph();

    /// <summary>The version <paramref name="reference"/> names, read through indexes (not the whole graph).</summary>
    public ModelVersion Resolve(string reference) => Lineage.ReadResolved(ModelRef.Parse(reference));

    public Manifest LoadManifest(ModelVersion version)
    {
        using var bytes = Objects.Read(ObjectId.Parse(version.ManifestId));
        return Manifest.FromJson(bytes.Span, version.Ref);
    }

    /// <summary>The lineage connection is not thread-safe: test runs and cascade steps on several threads take turns with it (reads and writes alike).</summary>
    public T WithDatabase<T>(Func<T> use)
    {
        lock (_databaseGate)
        {
            return use();
        }
    }

    /// <inheritdoc cref="WithDatabase{T}(Func{T})"/>
    public void WithDatabase(Action use)
    {
        lock (_databaseGate)
        {
            use();
        }
    }

    /// <summary>
    /// Deletes what killed processes left in the repository's temporary folders (their names carry
    /// the process id: see <see cref="TemporaryFiles"/>); every command that writes starts so.
    /// </summary>
    public void RemoveStaleTemporaries()
    {
        TemporaryFiles.RemoveStale(TempDirectory);
        TemporaryFiles.RemoveStale(CheckoutCacheDirectory);
    }

    /// <summary>Where the log of one run goes: <c>.mgit/logs/FOLDER/STEM-STAMP.log</c>, unique per run.</summary>
    public string RunLogPath(string folder, string stem, DateTimeOffset startedAt) =>
        Path.Combine(LogDirectory, folder, $"{stem}-{Stamp(startedAt)}.log");

    /// <summary>A file name for a ref that may hold any character: the safe characters, then a short hash that keeps names distinct.</summary>
    public static string SafeFileName(string text)
    {
        var safe = new StringBuilder();
        foreach (char c in text)
        {
            safe.Append(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or '@' ? c : '_');
        }

        string hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..8];
        return $"{(safe.Length > 60 ? safe.ToString(0, 60) : safe)}-{hash}";
    }

    private static string Stamp(DateTimeOffset at) =>
        at.UtcDateTime.ToString("yyyyMMdd'T'HHmmss.fff", CultureInfo.InvariantCulture) + "-" + Guid.NewGuid().ToString("N")[..6];

    public void Dispose() => Lineage.Dispose();
}
