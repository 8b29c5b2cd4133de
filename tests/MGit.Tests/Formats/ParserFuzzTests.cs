using MGit.Errors;
using MGit.Formats;
using MGit.Formats.Gguf;
using MGit.Formats.PyTorch;
using MGit.Formats.Safetensors;
using MGit.Tests.TestSupport;

namespace MGit.Tests.Formats;

/// <summary>
/// A seeded mutation fuzzer over every format reader: many mutations of valid files, each of which
/// must either parse into a layout that tiles the file or be refused with
/// <see cref="InvalidModelFileException"/>, quickly and without a large allocation. Crashes it
/// found are kept as regression cases in the format tests and Fixtures/malformed.
/// </summary>
public sealed class ParserFuzzTests
{
    /// <summary>Per format; MGIT_FUZZ_MUTATIONS runs a longer pass by hand (and MGIT_FUZZ_SEED another sequence).</summary>
    private static readonly int Mutations = int.TryParse(Environment.GetEnvironmentVariable("MGIT_FUZZ_MUTATIONS"), out int n) ? n : 3000;

    private static readonly int Seed = int.TryParse(Environment.GetEnvironmentVariable("MGIT_FUZZ_SEED"), out int s) ? s : 20261127;

    public static TheoryData<string> Formats() => new("safetensors", "gguf", "pytorch");

    private static (IModelFormat Format, byte[][] Seeds) Subject(string name)
    {
        switch (name)
        {
            case "safetensors":
                var tensors = new[] { RawSafetensors.Random("a", "F32", [4, 3], 1), RawSafetensors.Random("b", "BF16", [5], 2), RawSafetensors.Random("c", "U8", [0], 3) };
                using (var dir = new TempDirectory())
                {
                    return (new SafetensorsFormat(), [File.ReadAllBytes(RawSafetensors.Write(dir.File("m.safetensors"), tensors, metadata: new Dictionary<string, string> { ["k"] = "v" }))]);
                }

            case "gguf":
                var q = GgmlTypes.All.Single(t => t.Name == "Q4_K");
                return (new GgufFormat(),
                [
                    RawGguf.Build(RawGguf.EveryValueType().Take(12), [RawGguf.Random("q", q, 1, 2, 1), RawGguf.Random("f", GgmlTypes.All[0], 8, 2, 2)]),
                    RawGguf.Build([RawGguf.U32("general.alignment", 64)], [RawGguf.Random("f", GgmlTypes.All[1], 8, 1, 3)], alignment: 64, version: 2),
                ]);
            default:
                var shared = new RawPyTorch.TorchStorage("0", "FloatStorage", 4, new byte[96]);
                var half = new RawPyTorch.TorchStorage("1", "HalfStorage", 2, new byte[20]);
                return (new PyTorchFormat(),
                [
                    RawPyTorch.StateDict([new("w", shared, 0, [4, 6], [6, 1]), new("t", shared, 2, [6, 3], [1, 6]), new("h", half, 0, [10], [1])]),
                    File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Fixtures", "pytorch", "state-dict.pt")),
                ]);
        }
    }

    [Theory]
    [MemberData(nameof(Formats))]
    public void Mutated_files_parse_or_are_refused_cleanly(string formatName)
    {
        var (format, seeds) = Subject(formatName);
        var random = new Random(Seed);
        var failures = new List<string>();
        int parsed = 0, refused = 0;
        for (int i = 0; i < Mutations; i++)
        {
            byte[] seed = seeds[i % seeds.Length];
            byte[] mutated = Mutate(seed, random);
            long allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
            var clock = System.Diagnostics.Stopwatch.StartNew();
            try
            {
                using var stream = new MemoryStream(mutated, writable: false);
                var layout = format.ReadLayout(stream, mutated.Length, "fuzz");
                Assert.Equal(mutated.Length, layout.Segments.Sum(s => s.Length));
                parsed++;
            }
            catch (InvalidModelFileException e)
            {
                refused++;
                if (e.Message.Contains('\n', StringComparison.Ordinal))
                {
                    failures.Add($"#{i}: multi-line message: {e.Message}");
                }
            }
            catch (Exception e)
            {
                failures.Add($"#{i}: {e.GetType().Name}: {e.Message} [{Convert.ToHexString(mutated)}]");
            }

            long allocated = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;
            if (allocated > 16 * 1024 * 1024)
            {
                failures.Add($"#{i}: allocated {allocated} bytes for a {mutated.Length}-byte file");
            }

            if (clock.Elapsed > TimeSpan.FromSeconds(2))
            {
                failures.Add($"#{i}: took {clock.Elapsed}");
            }
        }

        Assert.True(failures.Count == 0, string.Join("\n", failures.Take(5)));
        // Both outcomes must occur, or the mutations are not exercising the reader.
        Assert.True(parsed > Mutations / 50 && refused > Mutations / 2, $"{parsed} parsed, {refused} refused");
    }

    /// <summary>Byte flips, interesting integers written over lengths and offsets, truncation, insertion and deletion.</summary>
    private static byte[] Mutate(byte[] seed, Random random)
    {
        var bytes = new List<byte>(seed);
        int edits = random.Next(1, 4);
        for (int e = 0; e < edits && bytes.Count > 0; e++)
        {
            int at = random.Next(bytes.Count);
            switch (random.Next(6))
            {
                case 0:
                    bytes[at] ^= (byte)(1 << random.Next(8));
                    break;
                case 1:
                    bytes[at] = (byte)random.Next(256);
                    break;
                case 2:
                    ulong[] interesting = [0, 1, 0x7F, 0x80, 0xFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF, 1UL << 32, 1UL << 40, long.MaxValue, ulong.MaxValue, (ulong)seed.Length, (ulong)seed.Length + 1];
                    byte[] value = BitConverter.GetBytes(interesting[random.Next(interesting.Length)]);
                    int width = new[] { 1, 2, 4, 8 }[random.Next(4)];
                    for (int k = 0; k < width && at + k < bytes.Count; k++) bytes[at + k] = value[k];
                    break;
                case 3:
                    bytes.RemoveRange(at, bytes.Count - at);
                    break;
                case 4:
                    bytes.InsertRange(at, Enumerable.Range(0, random.Next(1, 9)).Select(_ => (byte)random.Next(256)));
                    break;
                default:
                    bytes.RemoveRange(at, Math.Min(bytes.Count - at, random.Next(1, 9)));
                    break;
            }
        }

        return [.. bytes];
    }
}
