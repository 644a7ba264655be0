package io.tessera.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The strided copy kernels (kernels/cpu/copy.c, and kernels/cuda/copy.cu on the emulated driver) called
 * through {@link Backend#copy}: every dtype pair that involves F64, I16, U16, U32 or U64 converts bit for bit
 * as {@link ConversionReference} says, from a transposed, offset view into every other element of a
 * destination, whose elements in between stay untouched.
 */
class CopyConversionTest {
    private static final Set<DType> ADDED = EnumSet.of(DType.F64, DType.I16, DType.U16, DType.U32, DType.U64);

    /** rows x cols: empty, one element, primes, and over TS_PARALLEL_MIN (32768) elements for the OpenMP path. */
    private static final int[][] SHAPES = {{0, 5}, {1, 1}, {1, 13}, {7, 3}, {31, 37}, {2, 16411}};

    private static final byte SENTINEL = 0x5a;

    /** Values at the edges: rounding ties, integer bounds and just beyond, 2^53, 2^63, 2^64, non-finite. */
    private static final double[] FLOAT_SPECIALS = {0.0, -0.0, 0.1, 0.5, -0.5, 0.99999, -0.99999, 1.5, -1.5, 2.5, -2.5,
        127.9, -128.9, 255.5, 256.0, 32767.5, -32768.5, -32769.0, 65535.9, 65536.0, 2147483647.9, -2147483648.9, 4294967295.9,
        4294967296.0, 0x1p53 + 2, 0x1p63 - 1024, 0x1p63, -0x1p63, -0x1p63 - 2048, 0x1p64 - 2048, 0x1p64, 1e30, -1e30,
        1 + 0x1p-24, 1 + 0x1p-23 + 0x1p-24, 65519.0, 65520.0, Float.MAX_VALUE, 0x1.fffffefffffffp127, 0x1.ffffffp127,
        Double.MAX_VALUE, -Double.MAX_VALUE, Double.MIN_VALUE, 1e-310, Float.MIN_VALUE / 2,
        Double.POSITIVE_INFINITY, Double.NEGATIVE_INFINITY, Double.NaN};

    private static final long[] INTEGER_SPECIALS = {0, 1, -1, 2, -2, 127, 128, -128, -129, 255, 256, 32767, 32768, -32768,
        -32769, 65535, 65536, Integer.MAX_VALUE, 1L << 31, Integer.MIN_VALUE, (1L << 32) - 1, 1L << 32, (1 << 24) + 1,
        (1 << 24) + 3, (1L << 53) + 1, Long.MAX_VALUE, Long.MIN_VALUE, Long.MIN_VALUE + 1, (1L << 63) + (1L << 39) + 1,
        0xffff_ffff_ffff_ff00L, 0x7fff_ff80_0000_0001L};

    @AfterAll
    static void noLeaks() {
        assertEquals(0, HostStorage.liveBytes(), "native bytes still allocated");
    }

    static Stream<Arguments> targetsAndSources() {
        return ConformanceTargets.all().stream().flatMap(t -> Arrays.stream(DType.values()).map(from -> Arguments.of(t, from)));
    }

    @ParameterizedTest(name = "{0} from {1}")
    @MethodSource("targetsAndSources")
    void copyConvertsEveryPairWithAnAddedDtypeBitForBit(ConformanceTargets t, DType from) {
        t.run(() -> {
            SplittableRandom rng = new SplittableRandom(from.ordinal());
            for (int[] shape : SHAPES) {
                int rows = shape[0];
                int cols = shape[1];
                long[] values = samples(from, rows * cols, rng); // element (r, c) is values[r * cols + c]
                // the source: a [cols, rows + 1] tensor, transposed and without its first row: strides (1, rows + 1)
                long[] base = new long[(rows + 1) * cols];
                for (int r = 0; r < rows; r++) {
                    for (int c = 0; c < cols; c++) {
                        base[c * (rows + 1) + r + 1] = values[r * cols + c];
                    }
                }
                Tensor source = t.on(Tensor.ofBytes(bytes(from, base), from, cols, rows + 1)).t().slice(0, 1, rows + 1);
                for (DType to : DType.values()) {
                    if (ADDED.contains(from) || ADDED.contains(to)) {
                        checkCopy(t, source, values, to, from + " -> " + to + " [" + rows + ", " + cols + "]");
                    }
                }
            }
        });
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("io.tessera.engine.ConformanceTargets#all")
    void fillStoresTheValueAsConvertingAnF64ElementWould(ConformanceTargets t) {
        double[] values = {Double.NaN, -1, 0.5, 3.7, 300, -1e20, 1e20, 0x1p63, Double.NEGATIVE_INFINITY, 0.1};
        t.run(() -> {
            for (DType dtype : DType.values()) {
                for (double v : values) {
                    ByteBuffer got = ByteBuffer.wrap(Tensor.full(t.device(), v, dtype, 3).to(Device.CPU).toByteArray())
                            .order(ByteOrder.LITTLE_ENDIAN);
                    long expected = ConversionReference.convert(DType.F64, Double.doubleToRawLongBits(v), dtype);
                    for (int i = 0; i < 3; i++) {
                        long actual = element(got, i * dtype.byteSize(), dtype.byteSize());
                        assertTrue(ConversionReference.same(dtype, expected, actual), "fill " + dtype + " with " + v + " on " + t
                                + ": expected 0x" + Long.toHexString(expected) + " but got 0x" + Long.toHexString(actual));
                    }
                }
            }
        });
    }

    /** Copies source into every other element of a [rows, cols, 2] tensor of {@code to} filled with SENTINEL bytes. */
    private static void checkCopy(ConformanceTargets t, Tensor source, long[] values, DType to, String what) {
        long rows = source.dim(0);
        long cols = source.dim(1);
        byte[] sentinels = new byte[Math.toIntExact(rows * cols * 2 * to.byteSize())];
        Arrays.fill(sentinels, SENTINEL);
        Tensor target = t.on(Tensor.ofBytes(sentinels, to, rows, cols, 2));
        t.backend().copy(source, target.slice(2, 0, 1).squeeze(2));
        ByteBuffer got = ByteBuffer.wrap(target.to(Device.CPU).toByteArray()).order(ByteOrder.LITTLE_ENDIAN);
        int size = to.byteSize();
        for (int i = 0; i < values.length; i++) {
            long expected = ConversionReference.convert(source.dtype(), values[i], to);
            long actual = element(got, 2 * i * size, size);
            if (!ConversionReference.same(to, expected, actual)) {
                fail(what + " on " + t + ", element " + i + ": 0x" + Long.toHexString(values[i]) + " should give 0x"
                        + Long.toHexString(expected) + " but gave 0x" + Long.toHexString(actual));
            }
            for (int b = 0; b < size; b++) {
                assertEquals(SENTINEL, got.get((2 * i + 1) * size + b), what + ": wrote outside the view after element " + i);
            }
        }
    }

    private static long element(ByteBuffer data, int at, int size) {
        return switch (size) {
            case 1 -> data.get(at) & 0xffL;
            case 2 -> data.getShort(at) & 0xffffL;
            case 4 -> data.getInt(at) & 0xffff_ffffL;
            default -> data.getLong(at);
        };
    }

    private static byte[] bytes(DType dtype, long[] elements) {
        ByteBuffer out = ByteBuffer.allocate(elements.length * dtype.byteSize()).order(ByteOrder.LITTLE_ENDIAN);
        for (long e : elements) {
            for (int b = 0; b < dtype.byteSize(); b++) {
                out.put((byte) (e >>> (8 * b)));
            }
        }
        return out.array();
    }

    /** n elements of dtype as bits: edge values, random bit patterns and random values of any magnitude, mixed. */
    private static long[] samples(DType dtype, int n, SplittableRandom rng) {
        long[] out = new long[n];
        for (int i = 0; i < n; i++) {
            long bits = switch (rng.nextInt(3)) {
                case 0 -> dtype.isFloatingPoint() ? floatBits(dtype, FLOAT_SPECIALS[rng.nextInt(FLOAT_SPECIALS.length)])
                        : INTEGER_SPECIALS[rng.nextInt(INTEGER_SPECIALS.length)];
                case 1 -> rng.nextLong();
                default -> dtype.isFloatingPoint()
                        ? floatBits(dtype, (rng.nextBoolean() ? -1 : 1) * rng.nextDouble() * Math.scalb(1.0, rng.nextInt(0, 70)))
                        : rng.nextLong(-(1L << 40), 1L << 40) >> rng.nextInt(40);
            };
            out[i] = bits & (dtype == DType.BOOL ? 1 : ConversionReference.mask(dtype));
        }
        return out;
    }

    /** Some float dtype bits near v (no rounding rules needed: any bits are a valid source). */
    private static long floatBits(DType dtype, double v) {
        return switch (dtype) {
            case F64 -> Double.doubleToRawLongBits(v);
            case F32 -> Float.floatToRawIntBits((float) v);
            case BF16 -> Float.floatToRawIntBits((float) v) >>> 16;
            default -> Float.floatToFloat16((float) v);
        };
    }

    // ---- Tensor-level use of the added dtypes ---------------------------------------------------------

    @Test
    void f64TensorsConvertReadBackExactlyAndPrint() {
        double[] values = {0.1, -2.5, 1 + 0x1p-30, 1e300, -0.0, Double.MIN_VALUE};
        ByteBuffer data = ByteBuffer.allocate(8 * values.length).order(ByteOrder.LITTLE_ENDIAN);
        for (double v : values) {
            data.putDouble(v);
        }
        try (TensorScope scope = TensorScope.open()) {
            Tensor x = Tensor.ofBytes(data.array(), DType.F64, 2, 3);
            assertArrayEquals(values, x.toDoubleArray());
            float[] rounded = new float[values.length];
            for (int i = 0; i < values.length; i++) {
                rounded[i] = (float) values[i];
            }
            assertArrayEquals(rounded, x.to(DType.F32).toFloatArray());
            assertArrayEquals(rounded, x.toFloatArray());
            assertEquals(0.1, x.slice(1, 0, 1).slice(0, 0, 1).item(), 0, "item() reads an F64 without rounding to float");
            assertArrayEquals(new float[] {0.1f, Float.POSITIVE_INFINITY}, x.t().slice(0, 0, 1).to(DType.F32).toFloatArray(),
                    "a strided column; beyond the float range is infinity");
            assertEquals("tensor([[0.1000, -2.500, 1.000], [1.000e+300, -0.000, 4.900e-324]], f64, shape=[2, 3])", x.toString());
        }
    }

    @Test
    void unsignedAndSixteenBitTensorsReadBackAndPrintExactly() {
        try (TensorScope scope = TensorScope.open()) {
            Tensor u64 = Tensor.of(new long[] {-1L, 1L << 63, 7}, 3).to(DType.U64);
            assertArrayEquals(new long[] {-1L, 1L << 63, 7}, u64.toLongArray(), "int64 -> uint64 keeps the bits");
            assertArrayEquals(new double[] {0x1p64, 0x1p63, 7}, u64.toDoubleArray());
            assertEquals("tensor([18446744073709551615, 9223372036854775808, 7], u64, shape=[3])", u64.toString());
            Tensor u32 = Tensor.of(new long[] {-1L, 1L << 32, 70000}, 3).to(DType.U32);
            assertArrayEquals(new long[] {0xffff_ffffL, 0, 70000}, u32.toLongArray());
            Tensor i16 = Tensor.of(new int[] {-1, 40000, 70000}, 3).to(DType.I16);
            assertArrayEquals(new int[] {-1, 40000 - 65536, 70000 - 65536}, i16.toIntArray());
            Tensor u16 = Tensor.of(new float[] {-3.5f, 65535.9f, 1e6f, Float.NaN}, 4).to(DType.U16);
            assertArrayEquals(new int[] {0, 65535, 65535, 0}, u16.toIntArray(), "floats truncate and saturate");
            assertEquals(65535.0, u16.slice(0, 1, 2).item());
        }
    }

    @Test
    void computeOpsRefuseTheAddedDtypesByName() {
        try (TensorScope scope = TensorScope.open()) {
            for (DType dtype : ADDED) {
                Tensor x = Tensor.zeros(dtype, 3);
                Tensor f = Tensor.zeros(3);
                for (Runnable op : List.<Runnable>of(() -> x.exp(), () -> x.add(f), () -> f.mul(x), () -> x.sum())) {
                    String message = assertThrows(IllegalArgumentException.class, op::run).getMessage();
                    assertTrue(message.contains(dtype.toString()) && message.contains("f32"), message);
                }
                assertArrayEquals(new float[] {1, 1, 1}, x.to(DType.F32).exp().toFloatArray());
            }
        }
    }
}
