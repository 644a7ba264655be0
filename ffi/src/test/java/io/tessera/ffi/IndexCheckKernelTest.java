package io.tessera.ffi;

import static io.tessera.ffi.KernelTestSupport.putIndices;
import static io.tessera.ffi.KernelTestSupport.select;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
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
 * ts_index_check on every ISA tier, int32 and int64 lists, sorted or not: the first failing position equals
 * a plain Java scan's, for valid lists (-1) and for lists with one planted fault (out of range below or
 * above, a duplicate, a step down) at the first, a middle or the last position, and with several faults.
 */
class IndexCheckKernelTest {
    private static final long[] SIZES = {0, 1, 2, 7, 13, 1023, 4099, 65537};

    static Stream<Arguments> cases() {
        List<Object[]> cases = new ArrayList<>();
        for (long n : SIZES) {
            for (int bytes : new int[] {4, 8}) {
                for (boolean increasing : new boolean[] {false, true}) {
                    cases.add(new Object[] {n, bytes, increasing});
                }
            }
        }
        return KernelTestSupport.withTiers(cases);
    }

    @AfterAll
    static void restoreBestTier() {
        KernelTestSupport.restoreBestTier();
    }

    private static long reference(long[] v, long bound, boolean increasing) {
        for (int i = 0; i < v.length; i++) {
            if (v[i] < 0 || v[i] >= bound || increasing && i > 0 && v[i] <= v[i - 1]) {
                return i;
            }
        }
        return -1;
    }

    private static long kernel(long[] v, int bytes, long bound, boolean increasing) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(JAVA_LONG);
            out.set(JAVA_LONG, 0, 12345);
            assertEquals(TesseraCpu.TS_OK, TesseraCpu.ts_index_check(v.length, putIndices(arena, v, bytes), bytes, bound,
                    increasing ? 1 : 0, out));
            return out.get(JAVA_LONG, 0);
        }
    }

    @ParameterizedTest(name = "tier {0}, n {1}, int{2}, increasing {3}")
    @MethodSource("cases")
    void firstFaultMatchesAPlainScan(int tier, long n, int bytes, boolean increasing) {
        select(tier);
        SplittableRandom random = new SplittableRandom(n * 31 + bytes + (increasing ? 1 : 0));
        long bound = increasing ? 3 * n + 5 : n + 3;
        long[] valid = new long[(int) n];
        for (int i = 0, next = 0; i < n; i++) {
            next += increasing ? 1 + random.nextInt(3) : 0;
            valid[i] = increasing ? next - 1 : random.nextLong(bound);
        }
        assertEquals(-1, kernel(valid, bytes, bound, increasing), "a valid list");
        assertEquals(-1, reference(valid, bound, increasing));
        long maxValue = bytes == 4 ? Integer.MAX_VALUE : Long.MAX_VALUE;
        long minValue = bytes == 4 ? Integer.MIN_VALUE : Long.MIN_VALUE;
        for (int at : new int[] {0, (int) n / 2, (int) n - 1}) {
            if (at < 0 || at >= n) {
                continue;
            }
            List<Long> faults = new ArrayList<>(List.of(-1L, bound, maxValue, minValue));
            if (increasing && at > 0) {
                faults.add(valid[at - 1]); // a duplicate
                faults.add(valid[at - 1] - 1); // a step down
            }
            for (long fault : faults) {
                long[] v = valid.clone();
                v[at] = fault;
                long expected = reference(v, bound, increasing);
                assertEquals(expected, kernel(v, bytes, bound, increasing), "fault " + fault + " at " + at);
            }
        }
        if (n > 3) {
            long[] v = valid.clone();
            v[(int) n - 1] = -5;
            v[(int) n / 3] = bound + 7;
            assertEquals(reference(v, bound, increasing), kernel(v, bytes, bound, increasing), "two faults");
        }
    }
}
