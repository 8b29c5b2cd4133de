using System.Buffers.Binary;
using MGit.Formats.Gguf;

namespace MGit.Tests.Diff;

/// <summary>
/// ggml block types decoded against values worked out by hand from the block layouts (ggml-common.h)
/// and the reference dequantisation (ggml-quants.c), one block at a time.
/// </summary>
public sealed class GgmlDequantizerTests
{
    private static GgmlType Type(string name) => GgmlTypes.FromName(name)!;

    private static double[] Decode(string name, byte[] block)
    {
        var type = Type(name);
        Assert.Equal(type.BlockBytes, block.Length);
        var values = new double[type.BlockElements];
        GgmlDequantizer.Dequantize(type, block, values);
        return values;
    }

    private static void Half(byte[] block, int offset, float value) => BinaryPrimitives.WriteHalfLittleEndian(block.AsSpan(offset), (Half)value);

    [Fact]
    public void Q8_0_is_the_signed_bytes_times_the_scale()
    {
        var block = new byte[34];
        Half(block, 0, 0.5f);
        block[2] = 0x80; // -128
        block[3] = 7;
        block[33] = 0xFF; // -1
        var y = Decode("Q8_0", block);
        Assert.Equal(-64, y[0]);
        Assert.Equal(3.5, y[1]);
        Assert.Equal(-0.5, y[31]);
        Assert.Equal(0, y[2]);
    }

    [Fact]
    public void Q8_1_skips_its_sum_field()
    {
        var block = new byte[36];
        Half(block, 0, 2f);
        Half(block, 2, 1000f); // the block sum: not a value
        block[4] = 3;
        var y = Decode("Q8_1", block);
        Assert.Equal(6, y[0]);
        Assert.Equal(0, y[1]);
    }

    [Fact]
    public void Q4_0_puts_low_nibbles_first_and_offsets_by_8()
    {
        var block = new byte[18];
        Half(block, 0, 2f);
        block[2] = 0x9F; // element 0: 15 - 8 = 7; element 16: 9 - 8 = 1
        block[17] = 0x08; // element 15: 8 - 8 = 0; element 31: 0 - 8 = -8
        var y = Decode("Q4_0", block);
        Assert.Equal(14, y[0]);
        Assert.Equal(2, y[16]);
        Assert.Equal(0, y[15]);
        Assert.Equal(-16, y[31]);
        Assert.Equal(-16, y[1]); // a zero nibble is -8
    }

    [Fact]
    public void Q4_1_adds_the_minimum()
    {
        var block = new byte[20];
        Half(block, 0, 0.5f);
        Half(block, 2, -1f);
        block[4 + 3] = 0x2A; // element 3: 10; element 19: 2
        var y = Decode("Q4_1", block);
        Assert.Equal(4, y[3]);
        Assert.Equal(0, y[19]);
        Assert.Equal(-1, y[0]);
    }

    [Fact]
    public void Q5_0_takes_the_fifth_bit_of_element_j_from_bit_j()
    {
        var block = new byte[22];
        Half(block, 0, 1f);
        BinaryPrimitives.WriteUInt32LittleEndian(block.AsSpan(2), (1u << 0) | (1u << 17)); // elements 0 and 17
        block[6] = 0x03;
        block[7] = 0x50;
        var y = Decode("Q5_0", block);
        Assert.Equal(3, y[0]); // (3 | 16) - 16
        Assert.Equal(-16, y[16]); // 0 - 16
        Assert.Equal(-16, y[1]);
        Assert.Equal(5, y[17]); // (5 | 16) - 16
    }

    [Fact]
    public void Q5_1_is_unsigned_with_a_minimum()
    {
        var block = new byte[24];
        Half(block, 0, 1f);
        Half(block, 2, 0.5f);
        BinaryPrimitives.WriteUInt32LittleEndian(block.AsSpan(4), 1u << 31); // element 31
        block[8 + 15] = 0xF0;
        var y = Decode("Q5_1", block);
        Assert.Equal(31.5, y[31]); // (15 | 16) * 1 + 0.5
        Assert.Equal(0.5, y[15]);
    }

    [Fact]
    public void K_quant_scale_packing_reads_6_bit_pairs_from_12_bytes()
    {
        var packed = new byte[12];
        packed[1] = 0b10_000011; // pair 1: scale 3; top bits 2 go to pair 5's scale
        packed[5] = 0b01_000111; // pair 1: min 7; top bits 1 go to pair 5's min
        packed[9] = 0x4B; // pair 5: low scale bits 0xB, low min bits 4
        Assert.Equal((3, 7), GgmlDequantizer.ScaleMinK4(1, packed));
        Assert.Equal((0x2B, 0x14), GgmlDequantizer.ScaleMinK4(5, packed));
        Assert.Equal((0, 0), GgmlDequantizer.ScaleMinK4(4, packed));
    }

    [Fact]
    public void Q4_K_uses_the_scale_and_min_of_each_32_values()
    {
        var block = new byte[144];
        Half(block, 0, 1f);
        Half(block, 2, 0.5f);
        var scales = block.AsSpan(4, 12);
        scales[1] = 0b10_000011;
        scales[5] = 0b01_000111;
        scales[9] = 0x4B;
        var qs = block.AsSpan(16, 128);
        qs[2] = 0x50; // element 34 (pair 1, high nibble 5); element 2 (pair 0, nibble 0)
        qs[64 + 3] = 0x70; // element 163 (pair 5, high nibble 7); element 131 (pair 4)
        var y = Decode("Q4_K", block);
        Assert.Equal((3 * 5) - (0.5 * 7), y[34]);
        Assert.Equal(0, y[2]);
        Assert.Equal((43 * 7) - (0.5 * 20), y[163]);
        Assert.Equal(0, y[131]);
        Assert.Equal(-(0.5 * 7), y[32]); // pair 1, nibble 0: only the minimum
    }

    [Fact]
    public void Q5_K_adds_16_from_the_high_bit_plane()
    {
        var block = new byte[176];
        Half(block, 0, 1f);
        Half(block, 2, 1f);
        var scales = block.AsSpan(4, 12);
        scales[0] = 2; // pair 0: scale 2, min 0
        scales[3] = 1; // pair 3: scale 1
        scales[7] = 3; // pair 3: min 3
        var qh = block.AsSpan(16, 32);
        var qs = block.AsSpan(48, 128);
        qh[4] = 0b1000_0001; // bit 0: element 4 (pair 0); bit 7: element 228 (pair 7)
        qs[4] = 0x01;
        qh[5] = 0b0000_1000; // bit 3: pair 3 (elements 96..127), element 96 + 5
        qs[32 + 5] = 0x20; // pair 3 reads the high nibbles of bytes 32..63: 2
        var y = Decode("Q5_K", block);
        Assert.Equal(2 * (1 + 16), y[4]);
        Assert.Equal((1 * (2 + 16)) - 3, y[101]);
    }

    [Fact]
    public void Q6_K_combines_low_nibbles_and_high_pairs_with_signed_scales()
    {
        var block = new byte[210];
        Half(block, 208, 0.25f);
        block[192 + 0] = 2; // scale of elements 0..15
        block[192 + 2] = unchecked((byte)-3); // scale of elements 32..47
        block[192 + 4] = 1; // scale of elements 64..79
        block[0] = 0x21; // ql[0]: element 0 low 1, element 64 low 2
        block[32] = 0x0F; // ql[32]: element 32 low 15
        block[128] = 0b00_00_01_10; // qh[0]: element 0 high 2, element 32 high 1, element 64 high 0
        var y = Decode("Q6_K", block);
        Assert.Equal(0.25 * 2 * ((1 | (2 << 4)) - 32), y[0]);
        Assert.Equal(0.25 * -3 * ((15 | (1 << 4)) - 32), y[32]);
        Assert.Equal(0.25 * 1 * (2 - 32), y[64]);
    }

    [Fact]
    public void Q8_K_has_a_float_scale_and_ignores_its_block_sums()
    {
        var block = new byte[292];
        BinaryPrimitives.WriteSingleLittleEndian(block, 0.125f);
        block[4 + 255] = 0x80;
        block[4 + 1] = 8;
        var y = Decode("Q8_K", block);
        Assert.Equal(-16, y[255]);
        Assert.Equal(1, y[1]);
        block[290] = 0x7F; // a block sum
        Assert.Equal(y, Decode("Q8_K", block));
    }

    [Fact]
    public void Q3_K_scales_unpack_from_nibbles_and_shared_high_bits()
    {
        var packed = new byte[12];
        packed[0] = 0x21; // scale 0 low 1, scale 8 low 2
        packed[4] = 0x9C; // scale 4 low 0xC, scale 12 low 9
        packed[8] = 0b11_10_01_00; // high bits: scale 0 -> 0, scale 4 -> 1, scale 8 -> 2, scale 12 -> 3
        var scales = new int[16];
        GgmlDequantizer.UnpackQ3Scales(packed, scales);
        Assert.Equal(1, scales[0]);
        Assert.Equal(0xC | (1 << 4), scales[4]);
        Assert.Equal(2 | (2 << 4), scales[8]);
        Assert.Equal(9 | (3 << 4), scales[12]);
        Assert.Equal(0, scales[1]);
    }

    [Fact]
    public void Q3_K_subtracts_4_where_the_high_bit_is_clear()
    {
        var block = new byte[110];
        Half(block, 108, 1f);
        var packed = block.AsSpan(96, 12);
        packed[0] = 0x21;
        packed[8] = 0b00_10_00_00; // scale 8 high bits 2: scale 8 = 34, scale 0 = 1
        block[32 + 0] = 0b11; // element 0: quant 3, high bit 0 clear -> 3 - 4
        block[32 + 32] = 0b10; // element 128: quant 2 (second half, shift 0)
        block[0] = 0b1_0000; // hmask[0] bit 4: element 128's high bit set
        var y = Decode("Q3_K", block);
        Assert.Equal((1 - 32) * (3 - 4), y[0]);
        Assert.Equal((34 - 32) * 2, y[128]);
    }

    [Fact]
    public void Q2_K_reads_four_2_bit_planes_with_4_bit_scales_and_mins()
    {
        var block = new byte[84];
        Half(block, 80, 1f);
        Half(block, 82, 0.5f);
        block[0] = 0x21; // scale 0: d 1, min 2
        block[3] = 0x04; // scale 3 (elements 48..63): d 4, min 0
        block[16 + 0] = 0b11; // element 0: 3
        block[16 + 16] = 0b0100; // element 48: bits 2-3 of byte 16 = 1
        var y = Decode("Q2_K", block);
        Assert.Equal(3 - (0.5 * 2), y[0]);
        Assert.Equal(4, y[48]);
        Assert.Equal(-(0.5 * 2), y[1]);
    }

    [Fact]
    public void Several_blocks_decode_in_order_and_i_quants_are_refused()
    {
        var type = Type("Q8_0");
        var blocks = new byte[34 * 2];
        Half(blocks, 0, 1f);
        Half(blocks, 34, 3f);
        blocks[34 + 2] = 2;
        var y = new double[64];
        GgmlDequantizer.Dequantize(type, blocks, y);
        Assert.Equal(6, y[32]);
        Assert.False(GgmlDequantizer.Supports(Type("IQ2_XXS")));
        Assert.Throws<ArgumentException>(() => GgmlDequantizer.Dequantize(Type("IQ2_XXS"), new byte[66], new double[256]));
    }
}
