using MGit.Primitives;

namespace MGit.Storage;

/// <summary>
/// Whether files on disk are exactly a stored version, without storing anything: each segment is
/// cut into its recorded chunks and hashed, and a chunk's id is the hash of its bytes. One chunk
/// buffer at a time, so any model size fits.
/// </summary>
internal static class StoredContent
{
    /// <summary>True when <paramref name="files"/> (full path, path relative to the model) are exactly the files of <paramref name="manifest"/>, byte for byte.</summary>
    public static bool Matches(Manifest manifest, IReadOnlyList<(string FullPath, string RelativePath)> files, CancellationToken cancellationToken)
    {
        if (manifest.Files.Count != files.Count)
        {
            return false;
        }

        var byPath = manifest.Files.ToDictionary(f => f.Path, StringComparer.Ordinal);
        foreach (var (fullPath, relativePath) in files)
        {
            if (!byPath.TryGetValue(relativePath.Replace('\\', '/'), out var stored) || new FileInfo(fullPath).Length != stored.Length)
            {
                return false;
            }
        }

        // Sizes first for every file (cheap), then the bytes.
        foreach (var (fullPath, relativePath) in files)
        {
            if (!FileMatches(byPath[relativePath.Replace('\\', '/')], fullPath, cancellationToken))
            {
                return false;
            }
        }

        return true;
    }

    private static bool FileMatches(ManifestFile stored, string path, CancellationToken cancellationToken)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
        int largest = stored.Segments.Count == 0 ? 0 : stored.Segments.Max(s => (int)Math.Min(stored.ChunkBytesOf(s), Math.Max(1, s.Length)));
        using var buffer = new RentedBuffer(Math.Max(1, largest));
        long position = 0;
        foreach (var segment in stored.Segments)
        {
            if (segment.Offset != position)
            {
                return false;
            }

            long left = segment.Length;
            int chunkBytes = stored.ChunkBytesOf(segment);
            foreach (string chunk in segment.Chunks)
            {
                cancellationToken.ThrowIfCancellationRequested();
                int length = (int)Math.Min(chunkBytes, left);
                var span = buffer.Span[..length];
                file.ReadExactly(span);
                if (!ObjectId.Compute(span).Equals(ObjectId.Parse(chunk)))
                {
                    return false;
                }

                left -= length;
            }

            if (left != 0)
            {
                return false;
            }

            position += segment.Length;
        }

        return position == stored.Length;
    }
}
