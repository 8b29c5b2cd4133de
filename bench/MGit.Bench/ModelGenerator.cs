using System.Diagnostics;
using System.Runtime.InteropServices;

namespace MGit.Bench;

/// <summary>
/// Writes safetensors files block by block: a batch of blocks is filled in parallel, then written
/// in order, so memory stays at a few blocks per core whatever the file size.
/// </summary>
internal static class ModelGenerator
{
    /// <summary>Elements per block: 4 MiB of F32.</summary>
    private const int BlockElements = 1 << 20;

    /// <summary>A fine-tune's delta relative to the weight scale (std 0.02).</summary>
    private const float DeltaStd = 0.01f * 0.02f;

    private const ulong DeltaStream = 0x5EED_0000_0000UL;

    /// <summary>Up to <see cref="BlockElements"/> elements of one tensor; blocks never straddle tensors.</summary>
    private sealed record Block(int Tensor, long Index, int Elements, int ElementSize)
    {
        public int ByteLength => Elements * ElementSize;
    }

    public sealed record Summary(long Bytes, int Tensors, int ChangedTensors, long ChangedBytes, TimeSpan Elapsed);

    public static Summary Generate(string path, ModelPlan plan, Dtype dtype, ulong seed)
    {
        RequireLittleEndian();
        var stopwatch = Stopwatch.StartNew();
        var entries = Safetensors.Layout(plan.Tensors, dtype);
        byte[] header = Safetensors.Header(entries);

        WriteAtomically(path, output =>
        {
            output.Write(header);
            ProcessInBatches(Blocks(entries), output, input: null, (block, bytes, scratch) =>
            {
                var spec = plan.Tensors[block.Tensor];
                var rng = new Xoshiro256(seed, (ulong)block.Tensor, (ulong)block.Index);
                var values = scratch.AsSpan(0, block.Elements);
                rng.FillNormal(values, spec.Mean, spec.Std);
                Encode(values, dtype, bytes);
            });
        });

        long length = new FileInfo(path).Length;
        return new Summary(length, entries.Count, 0, 0, stopwatch.Elapsed);
    }

    /// <summary>
    /// Copies <paramref name="basePath"/> with the same header, perturbing every element of a random
    /// set of tensors that covers about <paramref name="changeFraction"/> of the data bytes.
    /// </summary>
    public static Summary Derive(string basePath, string path, double changeFraction, ulong seed)
    {
        RequireLittleEndian();
        var stopwatch = Stopwatch.StartNew();
        using var input = new FileStream(basePath, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1, FileOptions.SequentialScan);
        var (header, entries) = Safetensors.Read(input, basePath);
        var changed = PickTensors(entries, changeFraction, seed);
        long changedBytes = changed.Sum(i => entries[i].Length);

        WriteAtomically(path, output =>
        {
            output.Write(header);
            ProcessInBatches(Blocks(entries), output, input, (block, bytes, scratch) =>
            {
                if (!changed.Contains(block.Tensor))
                {
                    return;
                }

                var rng = new Xoshiro256(seed, DeltaStream + (ulong)block.Tensor, (ulong)block.Index);
                var deltas = scratch.AsSpan(0, block.Elements);
                rng.FillNormal(deltas, 0f, DeltaStd);
                if (entries[block.Tensor].Dtype == Dtype.F32)
                {
                    var values = MemoryMarshal.Cast<byte, float>(bytes);
                    for (int i = 0; i < values.Length; i++)
                    {
                        values[i] += deltas[i];
                    }
                }
                else
                {
                    var values = MemoryMarshal.Cast<byte, ushort>(bytes);
                    for (int i = 0; i < values.Length; i++)
                    {
                        values[i] = ToBFloat16(FromBFloat16(values[i]) + deltas[i]);
                    }
                }
            });
        });

        return new Summary(new FileInfo(path).Length, entries.Count, changed.Count, changedBytes, stopwatch.Elapsed);
    }

    /// <summary>Which tensors <see cref="Derive"/> changes for these arguments: (changed, total tensors, changed bytes).</summary>
    public static (int Changed, int Tensors, long ChangedBytes) PlannedChange(string basePath, double changeFraction, ulong seed)
    {
        using var input = new FileStream(basePath, FileMode.Open, FileAccess.Read, FileShare.Read);
        var (_, entries) = Safetensors.Read(input, basePath);
        var changed = PickTensors(entries, changeFraction, seed);
        return (changed.Count, entries.Count, changed.Sum(i => entries[i].Length));
    }

    /// <summary>A seeded random set of tensors whose bytes add up to about the fraction asked for.</summary>
    private static HashSet<int> PickTensors(List<TensorEntry> entries, double fraction, ulong seed)
    {
        long total = entries.Sum(e => e.Length);
        long goal = (long)(total * fraction);
        int[] order = Enumerable.Range(0, entries.Count).ToArray();
        var rng = new Xoshiro256(seed, DeltaStream - 1, 0);
        for (int i = order.Length - 1; i > 0; i--)
        {
            int j = rng.NextInt(i + 1);
            (order[i], order[j]) = (order[j], order[i]);
        }

        var picked = new HashSet<int>();
        long sum = 0;
        foreach (int index in order)
        {
            // Take a tensor when it brings the total closer to the goal.
            long length = entries[index].Length;
            if (Math.Abs(goal - (sum + length)) < Math.Abs(goal - sum))
            {
                picked.Add(index);
                sum += length;
            }
        }

        return picked;
    }

    private static List<Block> Blocks(List<TensorEntry> entries)
    {
        var blocks = new List<Block>();
        for (int t = 0; t < entries.Count; t++)
        {
            int elementSize = Safetensors.ElementSize(entries[t].Dtype);
            if (entries[t].Length % elementSize != 0)
            {
                throw new BenchException($"tensor '{entries[t].Name}' is {entries[t].Length} bytes, not a whole number of elements");
            }

            long elements = entries[t].Length / elementSize;
            for (long index = 0, start = 0; start < elements; index++, start += BlockElements)
            {
                blocks.Add(new Block(t, index, (int)Math.Min(BlockElements, elements - start), elementSize));
            }
        }

        return blocks;
    }

    /// <summary>
    /// Runs <paramref name="fill"/> over batches of 2 x cores blocks in parallel and writes each batch in
    /// order. With an input stream, each block's bytes are first read from it (blocks tile the data in order).
    /// </summary>
    private static void ProcessInBatches(List<Block> blocks, Stream output, Stream? input, Action<Block, Span<byte>, float[]> fill)
    {
        int slots = Math.Max(2, Environment.ProcessorCount * 2);
        var bytes = new byte[slots][];
        var scratch = new float[slots][];
        for (int s = 0; s < slots; s++)
        {
            bytes[s] = new byte[BlockElements * sizeof(float)];
            scratch[s] = new float[BlockElements];
        }

        for (int first = 0; first < blocks.Count; first += slots)
        {
            int count = Math.Min(slots, blocks.Count - first);
            if (input is not null)
            {
                for (int s = 0; s < count; s++)
                {
                    input.ReadExactly(bytes[s].AsSpan(0, blocks[first + s].ByteLength));
                }
            }

            int batchStart = first;
            Parallel.For(0, count, s => fill(blocks[batchStart + s], bytes[s].AsSpan(0, blocks[batchStart + s].ByteLength), scratch[s]));
            for (int s = 0; s < count; s++)
            {
                output.Write(bytes[s].AsSpan(0, blocks[first + s].ByteLength));
            }
        }
    }

    private static void Encode(ReadOnlySpan<float> values, Dtype dtype, Span<byte> destination)
    {
        if (dtype == Dtype.F32)
        {
            MemoryMarshal.AsBytes(values).CopyTo(destination);
            return;
        }

        var halves = MemoryMarshal.Cast<byte, ushort>(destination);
        for (int i = 0; i < values.Length; i++)
        {
            halves[i] = ToBFloat16(values[i]);
        }
    }

    /// <summary>Round to nearest even, as torch does when casting float32 to bfloat16 (inputs are finite).</summary>
    private static ushort ToBFloat16(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        return unchecked((ushort)((bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16));
    }

    private static float FromBFloat16(ushort value) => BitConverter.UInt32BitsToSingle((uint)value << 16);

    private static void WriteAtomically(string path, Action<FileStream> write)
    {
        string full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        string temp = full + ".partial";
        try
        {
            using (var output = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 1))
            {
                write(output);
            }

            File.Move(temp, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp))
            {
                File.Delete(temp);
            }
        }
    }

    private static void RequireLittleEndian()
    {
        if (!BitConverter.IsLittleEndian)
        {
            throw new BenchException("safetensors data is little-endian; this generator only runs on little-endian machines");
        }
    }
}
