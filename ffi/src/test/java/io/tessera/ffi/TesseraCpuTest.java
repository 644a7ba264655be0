package io.tessera.ffi;

import static java.lang.foreign.ValueLayout.JAVA_DOUBLE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** The first kernels, called through FFM on every ISA tier this CPU supports, against float64 Java references. */
class TesseraCpuTest {
    private static final long[] SIZES = {0, 1, 7, 1023, 1_000_003};

    static Stream<Arguments> tiersAndSizes() {
        List<Arguments> cases = new ArrayList<>();
        for (int tier : new int[] {TesseraCpu.ISA_BASE, TesseraCpu.ISA_AVX2, TesseraCpu.ISA_AVX512}) {
            if (TesseraCpu.ts_isa_supported(tier) == 1) {
                for (long n : SIZES) {
                    cases.add(Arguments.of(tier, n));
                }
            }
        }
        return cases.stream();
    }

    @AfterAll
    static void restoreBestTier() {
        for (int tier = TesseraCpu.ISA_AVX512; tier >= TesseraCpu.ISA_BASE; tier--) {
            if (TesseraCpu.ts_isa_select(tier) == TesseraCpu.TS_OK) {
                return;
            }
        }
    }

    private static MemorySegment randomFloats(Arena arena, long n, SplittableRandom random) {
        MemorySegment segment = arena.allocate(JAVA_FLOAT, Math.max(n, 1));
        for (long i = 0; i < n; i++) {
            segment.setAtIndex(JAVA_FLOAT, i, (float) (random.nextDouble() * 4 - 2));
        }
        return segment;
    }

    @ParameterizedTest(name = "tier {0}, n = {1}")
    @MethodSource("tiersAndSizes")
    void axpyMatchesFloat64Reference(int tier, long n) {
        assertEquals(TesseraCpu.TS_OK, TesseraCpu.ts_isa_select(tier));
        SplittableRandom random = new SplittableRandom(n * 31 + tier);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment x = randomFloats(arena, n, random);
            MemorySegment y = randomFloats(arena, n, random);
            float a = (float) (random.nextDouble() * 3 - 1.5);
            double[] expected = new double[(int) n];
            for (int i = 0; i < n; i++) {
                expected[i] = (double) a * x.getAtIndex(JAVA_FLOAT, i) + y.getAtIndex(JAVA_FLOAT, i);
            }
            assertEquals(TesseraCpu.TS_OK, TesseraCpu.ts_axpy_f32(n, a, x, y));
            for (int i = 0; i < n; i++) {
                float actual = y.getAtIndex(JAVA_FLOAT, i);
                // one float rounding of the exact result (fused) or two (unfused): within 1 ulp of |a*x| + |y|
                double bound = Math.ulp((float) (Math.abs(a * x.getAtIndex(JAVA_FLOAT, i)) + Math.abs(expected[i]))) * 1.0;
                assertEquals(expected[i], actual, bound, "element " + i);
            }
        }
    }

    @ParameterizedTest(name = "tier {0}, n = {1}")
    @MethodSource("tiersAndSizes")
    void sumMatchesFloat64Reference(int tier, long n) {
        assertEquals(TesseraCpu.TS_OK, TesseraCpu.ts_isa_select(tier));
        SplittableRandom random = new SplittableRandom(n * 17 + tier);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment x = randomFloats(arena, n, random);
            double expected = 0;
            double absSum = 0;
            for (long i = 0; i < n; i++) {
                expected += x.getAtIndex(JAVA_FLOAT, i);
                absSum += Math.abs(x.getAtIndex(JAVA_FLOAT, i));
            }
            MemorySegment out = arena.allocate(JAVA_DOUBLE);
            out.set(JAVA_DOUBLE, 0, Double.NaN);
            assertEquals(TesseraCpu.TS_OK, TesseraCpu.ts_sum_f32(n, x, out));
            // both sums are float64 over the same float32 values, in different orders
            assertEquals(expected, out.get(JAVA_DOUBLE, 0), 4 * n * Math.ulp(1.0) * absSum + 0.0);
        }
    }

    @ParameterizedTest(name = "tier {0}, n = {1}")
    @MethodSource("tiersAndSizes")
    void copyIsExact(int tier, long n) {
        assertEquals(TesseraCpu.TS_OK, TesseraCpu.ts_isa_select(tier));
        SplittableRandom random = new SplittableRandom(n * 13 + tier);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment x = randomFloats(arena, n, random);
            MemorySegment y = randomFloats(arena, n + 1, random);
            float sentinel = y.getAtIndex(JAVA_FLOAT, n);
            assertEquals(TesseraCpu.TS_OK, TesseraCpu.ts_copy_f32(n, x, y));
            assertEquals(-1L, x.asSlice(0, n * 4).mismatch(y.asSlice(0, n * 4)));
            assertEquals(sentinel, y.getAtIndex(JAVA_FLOAT, n), "wrote past the end");
        }
    }

    @Test
    void sumIsNotLimitedToFloatPrecision() {
        // 2^24 + 1 is not a float: a float accumulator would lose the trailing ones
        int n = (1 << 24) + 1;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment ones = arena.allocate(JAVA_FLOAT, n);
            ones.fill((byte) 0);
            for (int i = 0; i < n; i++) {
                ones.setAtIndex(JAVA_FLOAT, i, 1f);
            }
            MemorySegment out = arena.allocate(JAVA_DOUBLE);
            assertEquals(TesseraCpu.TS_OK, TesseraCpu.ts_sum_f32(n, ones, out));
            assertEquals(n, out.get(JAVA_DOUBLE, 0));
        }
    }

    @Test
    void bestTierIsChosenAtLoadAndUnsupportedTiersAreRefused() {
        int best = TesseraCpu.ts_isa_supported(TesseraCpu.ISA_AVX512) == 1 ? TesseraCpu.ISA_AVX512
                : TesseraCpu.ts_isa_supported(TesseraCpu.ISA_AVX2) == 1 ? TesseraCpu.ISA_AVX2 : TesseraCpu.ISA_BASE;
        restoreBestTier();
        assertEquals(best, TesseraCpu.ts_isa_active());
        assertEquals(1, TesseraCpu.ts_isa_supported(TesseraCpu.ISA_BASE));
        assertEquals(0, TesseraCpu.ts_isa_supported(7));
        assertTrue(TesseraCpu.ts_isa_select(7) != TesseraCpu.TS_OK);
        assertEquals(best, TesseraCpu.ts_isa_active());
    }

    @Test
    void libraryComesFromTheVerifiedCache() {
        assertEquals(1, TesseraCpu.ts_abi_version());
        String origin = TesseraCpu.LIBRARY.origin().orElseThrow();
        assertTrue(origin.startsWith(NativeLibrary.cacheRoot().toString()), origin);
        assertTrue(TesseraCpu.ts_omp_max_threads() >= 1);
    }
}
