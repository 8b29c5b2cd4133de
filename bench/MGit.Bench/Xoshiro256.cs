using System.Numerics;

namespace MGit.Bench;

/// <summary>
/// xoshiro256** (Blackman and Vigna), seeded through SplitMix64, with Box-Muller normals. Fast,
/// deterministic across platforms and thread counts: every block of every tensor gets its own
/// generator from (seed, stream, block), so parallel generation writes the same bytes as serial.
/// </summary>
internal struct Xoshiro256
{
    private ulong _s0, _s1, _s2, _s3;

    public Xoshiro256(ulong seed, ulong stream, ulong block)
    {
        ulong state = unchecked(Mix(Mix(seed) ^ Mix(stream + 0x632BE59BD9B4E019UL) ^ Mix(block + 0x9E3779B97F4A7C15UL)));
        _s0 = SplitMix(ref state);
        _s1 = SplitMix(ref state);
        _s2 = SplitMix(ref state);
        _s3 = SplitMix(ref state);
    }

    public ulong Next()
    {
        unchecked
        {
            ulong result = BitOperations.RotateLeft(_s1 * 5, 7) * 9;
            ulong t = _s1 << 17;
            _s2 ^= _s0;
            _s3 ^= _s1;
            _s1 ^= _s2;
            _s0 ^= _s3;
            _s2 ^= t;
            _s3 = BitOperations.RotateLeft(_s3, 45);
            return result;
        }
    }

    /// <summary>A uniform double in [0, 1).</summary>
    public double NextDouble() => (Next() >> 11) * (1.0 / (1UL << 53));

    /// <summary>An integer in [0, bound).</summary>
    public int NextInt(int bound)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(bound);
        return (int)(NextDouble() * bound);
    }

    /// <summary>
    /// Fills <paramref name="destination"/> with N(mean, std^2) samples: one 64-bit draw gives two
    /// 24-bit uniforms, and Box-Muller turns them into two normals (tails cut near 5.8 sigma).
    /// </summary>
    public void FillNormal(Span<float> destination, float mean, float std)
    {
        const float Scale = 1.0f / (1 << 24);
        int i = 0;
        for (; i + 1 < destination.Length; i += 2)
        {
            var (z0, z1) = NormalPair(Scale);
            destination[i] = mean + (std * z0);
            destination[i + 1] = mean + (std * z1);
        }

        if (i < destination.Length)
        {
            destination[i] = mean + (std * NormalPair(Scale).Z0);
        }
    }

    private (float Z0, float Z1) NormalPair(float scale)
    {
        ulong bits = Next();
        float u1 = ((bits >> 40) + 1) * scale; // (0, 1]: the log below stays finite
        float u2 = (bits & 0xFFFFFF) * scale;
        float radius = MathF.Sqrt(-2.0f * MathF.Log(u1));
        var (sin, cos) = MathF.SinCos(2.0f * MathF.PI * u2);
        return (radius * cos, radius * sin);
    }

    private static ulong SplitMix(ref ulong state)
    {
        unchecked
        {
            state += 0x9E3779B97F4A7C15UL;
            return Mix(state);
        }
    }

    private static ulong Mix(ulong z)
    {
        unchecked
        {
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            return z ^ (z >> 31);
        }
    }
}
