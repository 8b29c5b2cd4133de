using System.Buffers.Binary;
using MGit.Formats.Safetensors;
using MGit.Quickstart;

namespace MGit.Bench;

/// <summary>A TinyMlp's tensors as float arrays by name, and back: what the studies measure and the merges average.</summary>
internal static class MlpWeights
{
    /// <summary>Every tensor of <paramref name="model"/> as F32 values, by name.</summary>
    public static Dictionary<string, float[]> Of(TinyMlp model) => Decode(model.Export());

    /// <summary>F32 or BF16 tensors decoded to floats, by name.</summary>
    public static Dictionary<string, float[]> Decode(IReadOnlyList<TensorData> tensors)
    {
        var result = new Dictionary<string, float[]>(StringComparer.Ordinal);
        foreach (var t in tensors)
        {
            int size = t.Dtype == "BF16" ? 2 : 4;
            var values = new float[t.Data.Length / size];
            for (int i = 0; i < values.Length; i++)
            {
                values[i] = size == 4
                    ? BinaryPrimitives.ReadSingleLittleEndian(t.Data.AsSpan(i * 4))
                    : TinyMlp.FromBFloat16(BinaryPrimitives.ReadUInt16LittleEndian(t.Data.AsSpan(i * 2)));
            }

            result[t.Name] = values;
        }

        return result;
    }

    /// <summary>The element-wise mean of two models of one shape (a uniform "model soup" merge).</summary>
    public static TinyMlp Average(TinyMlp a, TinyMlp b)
    {
        var left = a.Export();
        var right = b.Export().ToDictionary(t => t.Name, StringComparer.Ordinal);
        var merged = new List<TensorData>();
        foreach (var t in left)
        {
            var x = Decode([t])[t.Name];
            var y = Decode([right[t.Name]])[t.Name];
            var mean = new float[x.Length];
            for (int i = 0; i < mean.Length; i++)
            {
                mean[i] = (x[i] + y[i]) / 2;
            }

            merged.Add(t with { Data = SafetensorsWriter.ToBytes(mean) });
        }

        return TinyMlp.FromTensors(merged);
    }
}
