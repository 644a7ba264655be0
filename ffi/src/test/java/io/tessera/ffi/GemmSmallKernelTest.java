package io.tessera.ffi;

import static io.tessera.ffi.KernelTestSupport.assertAllClose;
import static io.tessera.ffi.KernelTestSupport.get;
import static io.tessera.ffi.KernelTestSupport.put;
import static io.tessera.ffi.KernelTestSupport.putIndices;
import static io.tessera.ffi.KernelTestSupport.select;
import static io.tessera.ffi.KernelTestSupport.uniform;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.LongStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The product kernels written for Linear layers outside OpenBLAS, on every ISA tier against float64 sums written from
 * their definitions: ts_gemm_small_m_nt_f32 (x W^T for a few rows) and ts_gemm_panels_f32, ts_gemm_panels_bf16_f32 and
 * ts_gemm_panels_bf16_rounded_f32 (x W^T and, for an input-major W, x W, for prefill-sized x; F32 and BF16 W, and x
 * rounded to BF16 first), with row strides wider than the rows,
 * sizes off their tiles, panels, k blocks and vector width, and a guard element after y that must stay untouched; and
 * ts_sampled_matmul_f32 (entries of a^T b at listed places, int32 and int64 lists).
 */
class GemmSmallKernelTest {
    /** m, n, k: one row, tile tails in m and n, k below, at and off the 4/8/16-float vector widths, a wide layer. */
    private static final long[][] SHAPES = {
        {1, 1, 1}, {2, 3, 5}, {4, 4, 16}, {5, 7, 17}, {7, 9, 33}, {16, 13, 64}, {3, 1031, 7}, {9, 37, 1031}, {8, 257, 4099},
        {33, 6, 19}, {64, 129, 257},
    };
    /**
     * Also: no rows, no k, every row-tile tail (8, 4, 2, 1) after full tiles, a partial last panel, k past the 256-input
     * block, an odd k past the 512-input block of BF16 pairs.
     */
    private static final long[][] PANEL_SHAPES = {{0, 5, 7}, {3, 5, 0}, {65, 97, 131}, {130, 47, 1}, {79, 49, 257}, {41, 96, 300},
        {19, 50, 1031}};

    /** A kernel, how its W is stored (F32 or BF16, output-major [n, k] or input-major [k, n]), whether it rounds x to BF16. */
    enum Product {
        SMALL(false, false, false), PANELS(false, false, false), PANELS_INPUT_MAJOR(false, true, false),
        PANELS_BF16(true, false, false), PANELS_BF16_INPUT_MAJOR(true, true, false), PANELS_BF16_ROUNDED(true, false, true),
        PANELS_BF16_ROUNDED_INPUT_MAJOR(true, true, true);

        final boolean bf16;
        final boolean inputMajor;
        final boolean roundsX;

        Product(boolean bf16, boolean inputMajor, boolean roundsX) {
            this.bf16 = bf16;
            this.inputMajor = inputMajor;
            this.roundsX = roundsX;
        }

        /** x W into y [m, n] with row strides ldx, ldw (W as stored), ldy. */
        int run(long m, long n, long k, MemorySegment x, long ldx, MemorySegment w, long ldw, MemorySegment y, long ldy) {
            if (this == SMALL) {
                return TesseraCpu.ts_gemm_small_m_nt_f32(m, n, k, x, ldx, w, ldw, y, ldy);
            }
            int layout = inputMajor ? 1 : 0;
            if (roundsX) {
                return TesseraCpu.ts_gemm_panels_bf16_rounded_f32(m, n, k, x, ldx, w, ldw, layout, y, ldy);
            }
            return bf16 ? TesseraCpu.ts_gemm_panels_bf16_f32(m, n, k, x, ldx, w, ldw, layout, y, ldy)
                    : TesseraCpu.ts_gemm_panels_f32(m, n, k, x, ldx, w, ldw, layout, y, ldy);
        }
    }

    static Stream<Arguments> cases() {
        List<Object[]> cases = new ArrayList<>();
        for (long[] s : SHAPES) {
            cases.add(new Object[] {s[0], s[1], s[2]});
        }
        return KernelTestSupport.withTiers(cases);
    }

    static Stream<Arguments> productCases() {
        List<Object[]> cases = new ArrayList<>();
        for (long[] s : SHAPES) {
            cases.add(new Object[] {Product.SMALL, s[0], s[1], s[2]});
            cases.add(new Object[] {Product.PANELS, s[0], s[1], s[2]});
        }
        for (long[] s : PANEL_SHAPES) {
            for (Product product : Product.values()) {
                if (product != Product.SMALL) {
                    cases.add(new Object[] {product, s[0], s[1], s[2]});
                }
            }
        }
        return KernelTestSupport.withTiers(cases);
    }

    @AfterAll
    static void restoreBestTier() {
        KernelTestSupport.restoreBestTier();
    }

    @ParameterizedTest(name = "tier {0}, {1}, m {2}, n {3}, k {4}")
    @MethodSource("productCases")
    void timesWeightMatchesTheDefinition(int tier, Product product, long m, long n, long k) {
        select(tier);
        long ldx = k + 3;
        long ldw = k + 5;
        long ldy = n + 2;
        SplittableRandom rng = new SplittableRandom(m * 31 + n * 7 + k);
        float[] x = uniform(rng, m * ldx, -1, 1);
        float[] w = uniform(rng, n * ldw, -1, 1);
        if (product.bf16) {
            for (int i = 0; i < w.length; i++) {
                w[i] = Float.intBitsToFloat(Float.floatToRawIntBits(w[i]) & 0xffff0000); // a BF16 value: its top 16 bits
            }
        }
        double[] expected = new double[(int) (m * ldy + 1)];
        double[] magnitude = new double[expected.length]; // sum of |products|: what float32 rounding scales with
        float[] initial = uniform(rng, m * ldy + 1, -1, 1); // gaps between rows and one element past y keep these
        for (int i = 0; i < expected.length; i++) {
            expected[i] = initial[i];
        }
        for (int r = 0; r < m; r++) {
            for (int o = 0; o < n; o++) {
                double sum = 0;
                double abs = 0;
                for (int i = 0; i < k; i++) {
                    float xi = x[(int) (r * ldx + i)];
                    double term = (product.roundsX ? bf16Nearest(xi) : xi) * (double) w[(int) (o * ldw + i)];
                    sum += term;
                    abs += Math.abs(term);
                }
                expected[(int) (r * ldy + o)] = sum;
                magnitude[(int) (r * ldy + o)] = abs;
            }
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment y = put(arena, initial);
            float[] stored = product.inputMajor ? inputMajor(w, n, k, ldw, n + 4) : w;
            MemorySegment weight = product.bf16 ? putBf16(arena, stored) : put(arena, stored);
            long weightStride = product.inputMajor ? n + 4 : ldw;
            assertEquals(TesseraCpu.TS_OK, product.run(m, n, k, put(arena, x), ldx, weight, weightStride, y, ldy));
            // a float32 sum of k products errs by a few ulps of the sum of their magnitudes; untouched elements not at all
            assertAllClose(expected, get(y, expected.length), i -> 1e-6 + 2e-7 * magnitude[i], "x W^T");
        }
    }

    /** vdpbf16ps is used on the AVX-512 tier exactly when the CPU has AVX-512 BF16 (the kernel's flag in /proc/cpuinfo). */
    @ParameterizedTest(name = "tier {0}")
    @MethodSource("io.tessera.ffi.KernelTestSupport#tierArguments")
    void bf16DotIsUsedWhereTheCpuHasIt(int tier) throws IOException {
        select(tier);
        Path cpuinfo = Path.of("/proc/cpuinfo");
        boolean cpuHasIt = Files.isReadable(cpuinfo) && Files.readString(cpuinfo).contains(" avx512_bf16");
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment on = arena.allocate(ValueLayout.JAVA_INT);
            assertEquals(TesseraCpu.TS_OK, TesseraCpu.ts_bf16_dot_enabled(on));
            assertEquals(tier == TesseraCpu.ISA_AVX512 && cpuHasIt, on.get(ValueLayout.JAVA_INT, 0) == 1, "tier " + tier);
        }
    }

    /** Finite v rounded to the nearest bfloat16 value, ties to even (torch's tensor.to(torch.bfloat16)). */
    private static float bf16Nearest(float v) {
        int bits = Float.floatToRawIntBits(v);
        return Float.intBitsToFloat((bits + 0x7fff + ((bits >>> 16) & 1)) & 0xffff0000);
    }

    /** BF16-valued floats as BF16 (their top 16 bits). */
    private static MemorySegment putBf16(Arena arena, float[] values) {
        MemorySegment s = arena.allocate(ValueLayout.JAVA_SHORT, Math.max(values.length, 1));
        for (int i = 0; i < values.length; i++) {
            s.setAtIndex(ValueLayout.JAVA_SHORT, i, (short) (Float.floatToRawIntBits(values[i]) >>> 16));
        }
        return s;
    }

    /** W [n, k] (row stride ldw) stored input-major, as [k, n] with row stride ld. */
    private static float[] inputMajor(float[] w, long n, long k, long ldw, long ld) {
        float[] stored = new float[(int) (k * ld)];
        for (int o = 0; o < n; o++) {
            for (int i = 0; i < k; i++) {
                stored[(int) (i * ld + o)] = w[(int) (o * ldw + i)];
            }
        }
        return stored;
    }

    @ParameterizedTest(name = "tier {0}, r {1}, m {2}, n {3}")
    @MethodSource("cases")
    void sampledMatmulGivesTheListedEntriesOfATransposedTimesB(int tier, long r, long m, long n) {
        select(tier);
        SplittableRandom rng = new SplittableRandom(r + m + n);
        float[] a = uniform(rng, r * m, -1, 1);
        float[] b = uniform(rng, r * n, -1, 1);
        long[] entries = LongStream.range(0, m * n).filter(i -> rng.nextDouble() < 0.3).toArray();
        double[] expected = new double[entries.length];
        for (int j = 0; j < entries.length; j++) {
            for (int t = 0; t < r; t++) {
                expected[j] += (double) a[(int) (t * m + entries[j] / n)] * b[(int) (t * n + entries[j] % n)];
            }
        }
        for (int bytes : new int[] {4, 8}) {
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment y = put(arena, new float[entries.length]);
                assertEquals(TesseraCpu.TS_OK, TesseraCpu.ts_sampled_matmul_f32(r, m, n, put(arena, a), put(arena, b),
                        entries.length, putIndices(arena, entries, bytes), bytes, y));
                assertAllClose(expected, get(y, entries.length), 1e-5, 1e-5, "sampled a^T b, " + bytes + "-byte indices");
            }
        }
    }
}
