using System.Diagnostics;
using MGit.Formats;
using MGit.Storage;

namespace MGit.Tests.Storage;

/// <summary>
/// Matching a new model's tensors to its parent's is part of every add with a parent: it must
/// grow linearly with the tensor count. It scanned every parent tensor for every new one, so a
/// child of a 300,000-tensor model spent many minutes there before storing a byte.
/// </summary>
public sealed class DeltaBasesScaleTests
{
    private static ManifestSegment Segment(string name, long[] shape, string chunk) => new()
    {
        Offset = 0,
        Length = 4,
        Tensor = new ManifestTensor { Name = name, Dtype = "F32", Shape = shape },
        Chunks = [chunk],
    };

    [Fact]
    public void Bases_for_100k_tensors_are_found_by_name_and_by_shape_quickly()
    {
        const int count = 100_000;
        static long[] ShapeOf(int i) => [1 + (i % 7)];
        static string ChunkOf(int i) => i.ToString("x64", System.Globalization.CultureInfo.InvariantCulture);
        var parent = new Manifest
        {
            Kind = "file",
            Files =
            [
                new ManifestFile
                {
                    Path = "m.safetensors",
                    Format = "safetensors",
                    Length = count * 4L,
                    ChunkSize = 1 << 22,
                    Segments = Enumerable.Range(0, count).Select(i => Segment($"t{i}", ShapeOf(i), ChunkOf(i))).ToList(),
                },
            ],
        };

        // The first half keeps its names; the second half is renamed, so it pairs by shape, in order.
        var layout = new FileLayout("safetensors", count * 4L, Enumerable.Range(0, count)
            .Select(i => new Segment(i * 4L, 4, new TensorInfo(i < count / 2 ? $"t{i}" : $"renamed{i}", "F32", ShapeOf(i))))
            .ToList());

        var clock = Stopwatch.StartNew();
        var bases = new DeltaBases([parent]).For(layout);
        clock.Stop();

        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"matching {count} tensors took {clock.Elapsed}");
        for (int i = 0; i < count; i++)
        {
            // Renamed tensors of one shape take the spare parent tensors of that shape in order: here the same index.
            Assert.Equal(ChunkOf(i), Assert.Single(bases[i]).Chunks.Single());
        }
    }
}
