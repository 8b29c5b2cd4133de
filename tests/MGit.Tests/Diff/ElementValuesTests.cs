using MGit.Diff;

namespace MGit.Tests.Diff;

public sealed class ElementValuesTests
{
    [Theory]
    [InlineData("I8", new byte[] { 0xFF }, -1.0)]
    [InlineData("U8", new byte[] { 0xFF }, 255.0)]
    [InlineData("I16", new byte[] { 0x00, 0x80 }, -32768.0)]
    [InlineData("U64", new byte[] { 0, 0, 0, 0, 0, 0, 0, 0x80 }, 9223372036854775808.0)]
    [InlineData("BF16", new byte[] { 0x80, 0x3F }, 1.0)] // 0x3F80
    [InlineData("BF16", new byte[] { 0x49, 0xC0 }, -3.140625)] // 0xC049
    [InlineData("F16", new byte[] { 0x00, 0x3C }, 1.0)]
    [InlineData("F16", new byte[] { 0x00, 0xC0 }, -2.0)]
    [InlineData("F8_E5M2", new byte[] { 0x3C }, 1.0)] // the top byte of half 1.0
    [InlineData("F8_E4M3", new byte[] { 0x38 }, 1.0)] // exponent 7 (bias 7), mantissa 0
    [InlineData("F8_E4M3", new byte[] { 0x7E }, 448.0)] // the largest finite E4M3
    [InlineData("F8_E4M3", new byte[] { 0x01 }, 0.001953125)] // smallest subnormal: 2^-9
    [InlineData("BOOL", new byte[] { 1 }, 1.0)]
    public void Decodes_each_dtype_to_its_value(string dtype, byte[] bytes, double expected) =>
        Assert.Equal(expected, ElementValues.DecodeOne(dtype, bytes));

    [Fact]
    public void E4M3_nan_and_unsupported_dtypes()
    {
        Assert.True(double.IsNaN(ElementValues.DecodeOne("F8_E4M3", [0x7F])));
        Assert.False(ElementValues.IsNumeric("F4"));
        Assert.False(ElementValues.IsNumeric("C64"));
    }
}
