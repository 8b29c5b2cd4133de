using MGit.Formats;

namespace MGit.Storage;

/// <summary>
/// How segments are cut into chunks. Since format 2 a tensor of 1-, 2-, 4- or 8-byte elements is
/// cut every chunk_size/4 elements (4 MiB of F32, 2 MiB of BF16), so chunk i of a tensor covers
/// the same elements whatever its dtype: a BF16 cast or a pruned copy lines up chunk for chunk
/// with its parent. Block-quantised dtypes are cut at the last whole block within chunk_size
/// bytes, so no block is ever split across chunks. Skeleton bytes, blobs, and tensors whose
/// format describes no element layout (or elements of another size) are cut every chunk_size
/// bytes. The element layout comes from the format's reader (<see cref="TensorInfo.Layout"/>):
/// storage knows no format's dtypes. These cuts are part of the stored format: changing them
/// stops new versions from deduplicating against stored ones.
/// </summary>
internal static class Chunking
{
    public static int ChunkBytes(RepositoryFormat format, TensorInfo? tensor)
    {
        if (format.FormatVersion < 2 || tensor?.Layout is not { } layout)
        {
            return format.ChunkSize;
        }

        if (layout.IsBlock)
        {
            return Math.Max(1, format.ChunkSize / layout.BlockBytes) * layout.BlockBytes;
        }

        return layout.BlockBytes is 1 or 2 or 4 or 8 ? format.ChunkSize / 4 * layout.BlockBytes : format.ChunkSize;
    }
}
