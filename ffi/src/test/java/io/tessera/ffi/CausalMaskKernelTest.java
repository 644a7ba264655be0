package io.tessera.ffi;

import static io.tessera.ffi.KernelTestSupport.get;
import static io.tessera.ffi.KernelTestSupport.put;
import static io.tessera.ffi.KernelTestSupport.select;
import static io.tessera.ffi.KernelTestSupport.uniform;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
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
 * ts_causal_mask_f32 on every ISA tier: exactly the scores of keys after the query's absolute position
 * (j > i + past) take the value, everything else (and anything past the block) is untouched; covers no
 * KV cache (square), a cache (past > 0, one query as in generation), a cache longer than the block
 * (nothing masked), an empty batch, and blocks large enough for the OpenMP path.
 */
class CausalMaskKernelTest {

    /** batch, tq, tk, past */
    private static final long[][] SHAPES = {
        {0, 7, 7, 0}, {1, 1, 1, 0}, {1, 7, 7, 0}, {3, 13, 13, 0}, {2, 7, 13, 6}, {4, 1, 1024, 1023},
        {2, 13, 1023, 5000}, {2, 1023, 1023, 0}, {3, 13, 4099, 4086}, {1, 4099, 13, 0},
    };

    static Stream<Arguments> cases() {
        List<Object[]> cases = new ArrayList<>();
        for (long[] s : SHAPES) {
            cases.add(new Object[] {s[0], s[1], s[2], s[3], Float.NEGATIVE_INFINITY});
            cases.add(new Object[] {s[0], s[1], s[2], s[3], -1e9f});
        }
        return KernelTestSupport.withTiers(cases);
    }

    @AfterAll
    static void restoreBestTier() {
        KernelTestSupport.restoreBestTier();
    }

    @ParameterizedTest(name = "tier {0}, batch {1}, tq {2}, tk {3}, past {4}, value {5}")
    @MethodSource("cases")
    void masksExactlyTheFuture(int tier, long batch, long tq, long tk, long past, float value) {
        select(tier);
        long n = batch * tq * tk;
        float[] x = uniform(new SplittableRandom(n + past), n + 1, -3, 3); // one guard element past the block
        float[] expected = x.clone();
        long masked = 0;
        for (int b = 0; b < batch; b++) {
            for (int i = 0; i < tq; i++) {
                for (int j = 0; j < tk; j++) {
                    if (j > i + past) {
                        expected[(int) ((b * tq + i) * tk + j)] = value;
                        masked++;
                    }
                }
            }
        }
        float[] actual;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment xs = put(arena, x);
            assertEquals(TesseraCpu.TS_OK, TesseraCpu.ts_causal_mask_f32(batch, tq, tk, past, value, xs));
            actual = get(xs, n + 1);
        }
        assertArrayEquals(expected, actual);
        if (tq == tk && past == 0) {
            assertEquals(batch * tq * (tq - 1) / 2, masked, "a square block masks its strict upper triangle");
        }
    }
}
