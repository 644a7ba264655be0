package io.tessera.sparse;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tessera.engine.DType;
import java.lang.foreign.MemorySegment;
import java.math.BigDecimal;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** Elements' reads and stores of the 16-bit, unsigned and F64 dtypes, against exact decimal arithmetic. */
class ElementsTest {

    private static byte[] littleEndian(int size, long v) {
        byte[] b = new byte[size];
        for (int i = 0; i < size; i++) {
            b[i] = (byte) (v >>> (8 * i));
        }
        return b;
    }

    private static double get(DType dtype, long bits) {
        return Elements.get(MemorySegment.ofArray(littleEndian(dtype.byteSize(), bits)), dtype, 0);
    }

    private static String stored(DType dtype, double value) {
        byte[] b = new byte[dtype.byteSize()];
        Elements.set(MemorySegment.ofArray(b), dtype, 0, value);
        long bits = 0;
        for (int i = 0; i < b.length; i++) {
            bits |= (b[i] & 0xffL) << (8 * i);
        }
        return dtype == DType.F64 ? Double.toString(Double.longBitsToDouble(bits))
                : dtype == DType.I16 ? Short.toString((short) bits) : Long.toUnsignedString(bits);
    }

    @Test
    void readsUnsignedAndSixteenBitValues() {
        SplittableRandom rng = new SplittableRandom(3);
        for (int i = 0; i < 10_000; i++) {
            long bits = i < 4 ? new long[] {-1L, 1L << 63, (1L << 63) + 1025, 0}[i] : rng.nextLong();
            double exact = new BigDecimal(Long.toUnsignedString(bits)).doubleValue(); // correctly rounded
            assertEquals(exact, get(DType.U64, bits), Long.toUnsignedString(bits));
            assertEquals(bits & 0xffff_ffffL, get(DType.U32, bits));
            assertEquals(bits & 0xffff, get(DType.U16, bits));
            assertEquals((short) bits, get(DType.I16, bits));
            assertEquals(Double.longBitsToDouble(bits), get(DType.F64, bits), 0);
        }
    }

    @Test
    void storesRoundToTheNearestIntegerAndSaturate() {
        assertEquals("18446744073709551615", stored(DType.U64, 1e30));
        assertEquals("18446744073709551615", stored(DType.U64, 0x1p64));
        assertEquals("18446744073709549568", stored(DType.U64, 0x1p64 - 2048));
        assertEquals("9223372036854775808", stored(DType.U64, 0x1p63));
        assertEquals("10000000000000000000", stored(DType.U64, 1e19));
        assertEquals("2", stored(DType.U64, 2.5));
        assertEquals("0", stored(DType.U64, -7));
        assertEquals("0", stored(DType.U64, Double.NaN));
        assertEquals("4294967295", stored(DType.U32, 5e9));
        assertEquals("4", stored(DType.U32, 3.5));
        assertEquals("0", stored(DType.U32, -1));
        assertEquals("65535", stored(DType.U16, 70000));
        assertEquals("32767", stored(DType.I16, 40000));
        assertEquals("-32768", stored(DType.I16, -1e9));
        assertEquals("-3", stored(DType.I16, -2.7));
        assertEquals("0.1", stored(DType.F64, 0.1));
    }
}
