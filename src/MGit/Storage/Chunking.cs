using MGit.Formats;
using MGit.Formats.Gguf;
using MGit.Formats.Safetensors;

namespace MGit.Storage;

/// <summary>
/// How segments are cut into chunks. Since format 2 a tensor of whole-byte elements is cut every
/// chunk_size/4 elements (4 MiB of F32, 2 MiB of BF16), so chunk i of a tensor covers the same
/// elements whatever its dtype: a BF16 cast or a pruned copy lines up chunk for chunk with its
/// parent. Quantized (block) dtypes are cut at the last whole block within chunk_size bytes, so
/// no block is ever split across chunks. Skeleton bytes, blobs and sub-byte dtypes are cut every
/// chunk_size bytes.
/// </summary>
public static class Chunking
{
    public static int ChunkBytes(RepositoryFormat format, TensorInfo? tensor)
    {
        if (format.FormatVersion < 2 || tensor is null)
        {
            return format.ChunkSize;
        }

        int? bits = SafetensorsDtypes.BitsPerElement(tensor.Dtype);
        if (bits is 8 or 16 or 32 or 64)
        {
            return format.ChunkSize / 4 * (bits.Value / 8);
        }

        return GgmlTypes.Quantized(tensor.Dtype) is { } block
            ? Math.Max(1, format.ChunkSize / block.BlockBytes) * block.BlockBytes
            : format.ChunkSize;
    }
}
