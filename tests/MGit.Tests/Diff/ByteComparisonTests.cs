using MGit.Diff;

namespace MGit.Tests.Diff;

public sealed class ByteComparisonTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(15)]
    [InlineData(16)]
    [InlineData(1000)]
    public void Counts_every_differing_byte_whatever_the_length(int length)
    {
        var random = new Random(length);
        var a = new byte[length];
        random.NextBytes(a);
        var b = (byte[])a.Clone();
        int expected = 0;
        for (int i = 0; i < length; i += 1 + random.Next(7))
        {
            b[i] ^= (byte)(1 + random.Next(255));
            expected++;
        }

        Assert.Equal(expected, ByteComparison.CountDifferent(a, b));
        Assert.Equal(0, ByteComparison.CountDifferent(a, a));
    }
}
