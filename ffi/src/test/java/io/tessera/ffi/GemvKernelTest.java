package io.tessera.ffi;

import static io.tessera.ffi.KernelTestSupport.assertAllClose;
import static io.tessera.ffi.KernelTestSupport.get;
import static io.tessera.ffi.KernelTestSupport.put;
import static io.tessera.ffi.KernelTestSupport.select;
import static io.tessera.ffi.KernelTestSupport.uniform;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * ts_gemv_f32, ts_gemv_bf16 and ts_gemv_f16 (x W for up to 16 rows of x, W output-major [n, k] or input-major [k,
 * n], f32, bfloat16 or IEEE half bits, a tenth of the halves subnormal) on every ISA tier against float64 sums written
 * from the definition: row strides wider than the rows, sizes off the 4-row tiles, the vector width and the
 * input-major row chunks (k / 8 rows, in 4-row groups), empty products, and products large enough to run on the
 * thread pool (from 2^16 multiply-adds), with a guard element after y that must stay untouched. k a multiple of 32
 * takes AVX-512's bf16 path over x's even and odd elements.
 */
class GemvKernelTest {
    /** m, n, k. */
    private static final long[][] SHAPES = {
        {1, 1, 1}, {0, 3, 5}, {2, 0, 5}, {3, 5, 0}, {1, 7, 3}, {2, 13, 17}, {5, 31, 33}, {8, 9, 4}, {1, 1031, 263},
        {3, 4099, 61}, {8, 257, 131}, {7, 523, 521}, {1, 5, 13_001}, {16, 9, 4}, {13, 37, 33}, {11, 523, 521},
        // k a multiple of 32: bf16 output-major on AVX-512 splits x into even and odd elements (gemv.c); one row of x
        // reads rows of W up to 4 KiB (1024 f32, 2048 bf16) one at a time, longer ones in four-row tiles, and bf16 and
        // f16 rows up to 2 KiB (1024) twelve at a time, the rest of a chunk in four-row tiles; input-major rows are n long
        {1, 7, 32}, {3, 1031, 96}, {8, 259, 2048}, {16, 259, 2048}, {9, 31, 96}, {14, 7, 64}, {1, 13, 96}, {1, 9, 1024},
        {1, 11, 1056}, {1, 9, 2048}, {1, 5, 2080},
        {1, 2048, 9}, {1, 2080, 33}, {1, 12, 1024}, {1, 1031, 96}, {1, 2053, 768},
    };

    static Stream<Arguments> cases() {
        List<Object[]> cases = new ArrayList<>();
        for (long[] s : SHAPES) {
            for (boolean inputMajor : new boolean[] {false, true}) {
                for (String weights : new String[] {"f32", "bf16", "f16"}) {
                    cases.add(new Object[] {s[0], s[1], s[2], inputMajor, weights});
                }
            }
        }
        return KernelTestSupport.withTiers(cases);
    }

    @AfterAll
    static void restoreBestTier() {
        KernelTestSupport.restoreBestTier();
    }

    @ParameterizedTest(name = "tier {0}, m {1}, n {2}, k {3}, input-major {4}, {5} weights")
    @MethodSource("cases")
    void rowsTimesWeightMatchTheDefinition(int tier, long m, long n, long k, boolean inputMajor, String weights) {
        select(tier);
        long ldx = k + 3;
        long ldw = (inputMajor ? n : k) + 5;
        long ldy = n + 2;
        SplittableRandom rng = new SplittableRandom(m * 31 + n * 7 + k + (inputMajor ? 1 : 0));
        float[] x = uniform(rng, m * ldx, -1, 1);
        float[] w = uniform(rng, (inputMajor ? k : n) * ldw, -1, 1);
        short[] wBits = new short[w.length];
        for (int i = 0; i < w.length; i++) { // the reference sees the values the kernel reads
            if (weights.equals("bf16")) { // truncated to bfloat16
                wBits[i] = (short) (Float.floatToRawIntBits(w[i]) >>> 16);
                w[i] = Float.intBitsToFloat(wBits[i] << 16);
            } else if (weights.equals("f16")) { // rounded to a half by the JDK; |w| < 0.1 scaled into the subnormals
                wBits[i] = Float.floatToFloat16(Math.abs(w[i]) < 0.1f ? w[i] * 1e-4f : w[i]);
                w[i] = Float.float16ToFloat(wBits[i]);
            }
        }
        float[] initial = uniform(rng, m * ldy + 1, -1, 1); // gaps between rows and one element past y keep these
        double[] expected = new double[initial.length];
        double[] magnitude = new double[initial.length]; // sum of |products|: what float32 rounding scales with
        for (int i = 0; i < expected.length; i++) {
            expected[i] = initial[i];
        }
        for (int r = 0; r < m; r++) {
            for (int o = 0; o < n; o++) {
                double sum = 0;
                double abs = 0;
                for (int i = 0; i < k; i++) {
                    double weight = w[(int) (inputMajor ? i * ldw + o : o * ldw + i)];
                    double product = x[(int) (r * ldx + i)] * weight;
                    sum += product;
                    abs += Math.abs(product);
                }
                expected[(int) (r * ldy + o)] = sum;
                magnitude[(int) (r * ldy + o)] = abs;
            }
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment y = put(arena, initial);
            MemorySegment xs = put(arena, x);
            if (!weights.equals("f32")) {
                MemorySegment ws = arena.allocate(JAVA_SHORT, Math.max(wBits.length, 1));
                MemorySegment.copy(wBits, 0, ws, JAVA_SHORT, 0, wBits.length);
                int layout = inputMajor ? 1 : 0;
                assertEquals(TesseraCpu.TS_OK, weights.equals("bf16") ? TesseraCpu.ts_gemv_bf16(m, n, k, xs, ldx, ws, ldw, layout, y, ldy)
                        : TesseraCpu.ts_gemv_f16(m, n, k, xs, ldx, ws, ldw, layout, y, ldy));
            } else {
                assertEquals(TesseraCpu.TS_OK, TesseraCpu.ts_gemv_f32(m, n, k, xs, ldx, put(arena, w), ldw, inputMajor ? 1 : 0, y, ldy));
            }
            assertAllClose(expected, get(y, expected.length), i -> 1e-6 + 2e-7 * magnitude[i], "x W");
        }
    }

    /** m, n, k for bf16 rows read from whole 64-byte blocks: twelve-row and four-row tiles, 1-16 rows of x, pooled. */
    private static final long[][] BLOCK_SHAPES = {
        {1, 29, 64}, {1, 37, 2048}, {3, 259, 96}, {5, 67, 1024}, {16, 9, 32}, {1, 131, 1056}, {2, 41, 1024},
    };

    static Stream<Arguments> blockCases() {
        List<Object[]> cases = new ArrayList<>();
        for (long[] s : BLOCK_SHAPES) {
            for (long offset : new long[] {0, 2, 6, 24, 40, 62}) {
                for (long gap : new long[] {0, 32}) {
                    cases.add(new Object[] {s[0], s[1], s[2], offset, gap});
                }
            }
        }
        return KernelTestSupport.withTiers(cases);
    }

    /**
     * Output-major bf16 W whose rows start {@code offset} bytes past a cache line, rows whole 64-byte blocks apart
     * ({@code gap} elements between them): AVX-512 reads each row from the block it starts in, its first and last
     * blocks with the weights outside it masked out. Every bf16 around and between the rows is a NaN, which must not
     * reach y.
     */
    @ParameterizedTest(name = "tier {0}, m {1}, n {2}, k {3}, W {4} bytes past a cache line, gap {5}")
    @MethodSource("blockCases")
    void bf16RowsOffACacheLineReadOnlyTheirOwnWeights(int tier, long m, long n, long k, long offset, long gap) {
        select(tier);
        long ldw = k + gap;
        SplittableRandom rng = new SplittableRandom(m * 31 + n * 7 + k + offset * 3 + gap);
        float[] x = uniform(rng, m * k, -1, 1);
        float[] w = uniform(rng, n * k, -1, 1);
        short nan = (short) 0x7FC0;
        try (Arena arena = Arena.ofConfined()) {
            long elements = (offset + 128) / 2 + n * ldw; // a cache line of NaNs after the last row too
            MemorySegment region = arena.allocate(2 * elements, 64);
            for (long e = 0; e < elements; e++) {
                region.setAtIndex(JAVA_SHORT, e, nan);
            }
            MemorySegment ws = region.asSlice(offset);
            double[] expected = new double[(int) (m * n)];
            double[] magnitude = new double[expected.length];
            for (int o = 0; o < n; o++) {
                for (int i = 0; i < k; i++) {
                    short bits = (short) (Float.floatToRawIntBits(w[(int) (o * k + i)]) >>> 16);
                    ws.setAtIndex(JAVA_SHORT, o * ldw + i, bits);
                    double weight = Float.intBitsToFloat(bits << 16);
                    for (int r = 0; r < m; r++) {
                        double product = x[(int) (r * k + i)] * weight;
                        expected[(int) (r * n + o)] += product;
                        magnitude[(int) (r * n + o)] += Math.abs(product);
                    }
                }
            }
            MemorySegment y = arena.allocate(JAVA_FLOAT, expected.length);
            assertEquals(TesseraCpu.TS_OK, TesseraCpu.ts_gemv_bf16(m, n, k, put(arena, x), k, ws, ldw, 0, y, n));
            assertAllClose(expected, get(y, expected.length), i -> 1e-6 + 2e-7 * magnitude[i], "x W, W " + offset + " bytes past a line");
        }
    }
}
