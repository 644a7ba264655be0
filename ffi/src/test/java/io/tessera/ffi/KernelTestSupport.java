package io.tessera.ffi;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.params.provider.Arguments;

/**
 * Shared by the *KernelTest classes: the ISA tiers this CPU runs, native buffers from Java arrays and
 * back, and a tolerance assertion that reports the worst element rather than the first.
 */
final class KernelTestSupport {
    private KernelTestSupport() {}

    /**
     * rows x cols shapes for the row-wise kernels: empty, single element, awkward sizes, and three with at
     * least TS_PARALLEL_MIN (32768) elements and more than one row, so the OpenMP path runs; one long row.
     */
    static final long[][] ROW_SHAPES = {
        {0, 7}, {1, 1}, {1, 7}, {7, 13}, {13, 1}, {13, 1023}, {1023, 7}, {4099, 13}, {13, 4099}, {1, 10007},
    };

    /** Small shapes for the finite-difference checks (O(rows * cols^2) reference forwards). */
    static final long[][] SMALL_SHAPES = {{1, 1}, {1, 7}, {3, 13}, {7, 5}};

    static List<Integer> tiers() {
        List<Integer> tiers = new ArrayList<>();
        for (int tier : new int[] {TesseraCpu.ISA_BASE, TesseraCpu.ISA_AVX2, TesseraCpu.ISA_AVX512}) {
            if (TesseraCpu.ts_isa_supported(tier) == 1) {
                tiers.add(tier);
            }
        }
        return tiers;
    }

    /** Every supported tier crossed with every case: (tier, case...). */
    static Stream<Arguments> withTiers(List<Object[]> cases) {
        List<Arguments> result = new ArrayList<>();
        for (int tier : tiers()) {
            for (Object[] c : cases) {
                Object[] args = new Object[c.length + 1];
                args[0] = tier;
                System.arraycopy(c, 0, args, 1, c.length);
                result.add(Arguments.of(args));
            }
        }
        return result.stream();
    }

    static Stream<Arguments> withTiers(long[][] shapes) {
        List<Object[]> cases = new ArrayList<>();
        for (long[] s : shapes) {
            cases.add(new Object[] {s[0], s[1]});
        }
        return withTiers(cases);
    }

    /** (tier) for every supported tier. */
    static Stream<Arguments> tierArguments() {
        return tiers().stream().map(Arguments::of);
    }

    /** (tier, rows, cols) for every supported tier and every shape of {@link #ROW_SHAPES}. */
    static Stream<Arguments> shapesWithTiers() {
        return withTiers(ROW_SHAPES);
    }

    static void select(int tier) {
        assertEquals(TesseraCpu.TS_OK, TesseraCpu.ts_isa_select(tier));
    }

    static void restoreBestTier() {
        for (int tier = TesseraCpu.ISA_AVX512; tier >= TesseraCpu.ISA_BASE; tier--) {
            if (TesseraCpu.ts_isa_select(tier) == TesseraCpu.TS_OK) {
                return;
            }
        }
    }

    static float[] uniform(SplittableRandom random, long n, double lo, double hi) {
        float[] v = new float[Math.toIntExact(n)];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) (lo + (hi - lo) * random.nextDouble());
        }
        return v;
    }

    /** A native copy of v (at least one element long, so empty arrays still get a real address). */
    static MemorySegment put(Arena arena, float[] v) {
        MemorySegment s = arena.allocate(JAVA_FLOAT, Math.max(v.length, 1));
        MemorySegment.copy(v, 0, s, JAVA_FLOAT, 0, v.length);
        return s;
    }

    static MemorySegment filled(Arena arena, long n, float value) {
        float[] v = new float[Math.toIntExact(n)];
        java.util.Arrays.fill(v, value);
        return put(arena, v);
    }

    static MemorySegment putInts(Arena arena, long[] v) {
        MemorySegment s = arena.allocate(JAVA_INT, Math.max(v.length, 1));
        for (int i = 0; i < v.length; i++) {
            s.setAtIndex(JAVA_INT, i, Math.toIntExact(v[i]));
        }
        return s;
    }

    static MemorySegment putLongs(Arena arena, long[] v) {
        MemorySegment s = arena.allocate(JAVA_LONG, Math.max(v.length, 1));
        MemorySegment.copy(v, 0, s, JAVA_LONG, 0, v.length);
        return s;
    }

    /** Integer indices as int32 (bytes == 4) or int64 (bytes == 8). */
    static MemorySegment putIndices(Arena arena, long[] v, int bytes) {
        return bytes == 4 ? putInts(arena, v) : putLongs(arena, v);
    }

    static float[] get(MemorySegment s, long n) {
        float[] v = new float[Math.toIntExact(n)];
        MemorySegment.copy(s, JAVA_FLOAT, 0, v, 0, v.length);
        return v;
    }

    static double[] toDouble(float[] v) {
        double[] d = new double[v.length];
        for (int i = 0; i < v.length; i++) {
            d[i] = v[i];
        }
        return d;
    }

    /** Per-element bound on |actual - expected|. */
    @FunctionalInterface
    interface Tolerance {
        double at(int i);
    }

    /**
     * Asserts |actual[i] - expected[i]| <= tol.at(i) for every i (non-finite values must match exactly),
     * naming the worst element relative to its tolerance.
     */
    static void assertAllClose(double[] expected, float[] actual, Tolerance tol, String what) {
        assertEquals(expected.length, actual.length, what + ": length");
        int worst = -1;
        double worstRatio = 0;
        for (int i = 0; i < expected.length; i++) {
            double e = expected[i];
            double a = actual[i];
            if (!Double.isFinite(e) || !Double.isFinite(a)) {
                if (Double.compare(e, a) != 0 && !(Double.isNaN(e) && Double.isNaN(a))) {
                    fail(what + "[" + i + "]: expected " + e + " but was " + a);
                }
                continue;
            }
            if (a == e) {
                continue;
            }
            double ratio = Math.abs(a - e) / tol.at(i);
            if (!(ratio <= 1.0) && (worst < 0 || ratio > worstRatio)) {
                worstRatio = ratio;
                worst = i;
            }
        }
        if (worst >= 0) {
            fail(String.format("%s[%d]: expected %.9g but was %.9g (error %.3g, tolerance %.3g, %.1fx over)", what,
                    worst, expected[worst], (double) actual[worst], Math.abs(actual[worst] - expected[worst]),
                    tol.at(worst), worstRatio));
        }
    }

    static void assertAllClose(double[] expected, float[] actual, double atol, double rtol, String what) {
        assertAllClose(expected, actual, i -> atol + rtol * Math.abs(expected[i]), what);
    }

    /** Same as {@link #assertAllClose(double[], float[], Tolerance, String)} for a float64 candidate. */
    static void assertAllCloseD(double[] expected, double[] actual, Tolerance tol, String what) {
        assertEquals(expected.length, actual.length, what + ": length");
        for (int i = 0; i < expected.length; i++) {
            double bound = tol.at(i);
            if (!(Math.abs(actual[i] - expected[i]) <= bound)) {
                fail(String.format("%s[%d]: expected %.12g but was %.12g (tolerance %.3g)", what, i, expected[i],
                        actual[i], bound));
            }
        }
    }
}
