package io.tessera.ffi;

import static io.tessera.ffi.KernelTestSupport.put;
import static io.tessera.ffi.KernelTestSupport.select;
import static io.tessera.ffi.KernelTestSupport.uniform;
import static java.lang.foreign.ValueLayout.JAVA_DOUBLE;
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
 * ts_sum_f32 on every ISA tier against a float64 sum of the same floats: lengths around its lane count (32),
 * primes, below and above the OpenMP threshold (32768), a slice starting off alignment; values of both signs
 * and very different magnitudes, so a float32 accumulator would be visibly off.
 */
class SumKernelTest {
    private static final long[] LENGTHS = {0, 1, 7, 31, 32, 33, 1031, 32767, 32768, 32769, 1_000_003};

    static Stream<Arguments> cases() {
        List<Object[]> cases = new ArrayList<>();
        for (long n : LENGTHS) {
            cases.add(new Object[] {n, 0L});
            cases.add(new Object[] {n, 3L});
        }
        return KernelTestSupport.withTiers(cases);
    }

    @AfterAll
    static void restoreBestTier() {
        KernelTestSupport.restoreBestTier();
    }

    @ParameterizedTest(name = "tier {0}, n {1}, starting at element {2}")
    @MethodSource("cases")
    void sumsAsFloat64Would(int tier, long n, long start) {
        select(tier);
        SplittableRandom rng = new SplittableRandom(n * 7 + start);
        float[] x = uniform(rng, n + start, -1, 1);
        for (int i = 0; i < x.length; i += 97) {
            x[i] *= 1e6f; // a few large entries: float32 accumulation would lose the small ones
        }
        double expected = 0;
        for (int i = (int) start; i < x.length; i++) {
            expected += x[i];
        }
        double sum;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment xs = put(arena, x);
            MemorySegment out = arena.allocate(JAVA_DOUBLE);
            assertEquals(TesseraCpu.TS_OK, TesseraCpu.ts_sum_f32(n, xs.asSlice(start * Float.BYTES), out));
            sum = out.get(JAVA_DOUBLE, 0);
        }
        double magnitude = 0;
        for (int i = (int) start; i < x.length; i++) {
            magnitude += Math.abs(x[i]);
        }
        // float64 reassociation only: a few ulps of the sum of magnitudes
        assertEquals(expected, sum, 1e-14 * magnitude + 1e-300, "sum of " + n + " floats");
    }
}
