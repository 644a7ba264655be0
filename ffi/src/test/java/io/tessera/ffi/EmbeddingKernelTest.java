package io.tessera.ffi;

import static io.tessera.ffi.KernelTestSupport.assertAllClose;
import static io.tessera.ffi.KernelTestSupport.filled;
import static io.tessera.ffi.KernelTestSupport.get;
import static io.tessera.ffi.KernelTestSupport.put;
import static io.tessera.ffi.KernelTestSupport.putIndices;
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
 * ts_embedding_f32 / ts_embedding_backward_f32 on every ISA tier, int32 and int64 indices: the lookup is
 * an exact gather; backward adds into gweight and, with many duplicate indices (a vocabulary of a few
 * rows, or every index the same), equals bit for bit the serial float sum in index order (no race, no
 * reordering, on the OpenMP path too) and a float64 reference within the serial sum's rounding.
 */
class EmbeddingKernelTest {

    /** (n indices, dim, vocabulary size): small vocabularies force duplicates; several take the OpenMP path. */
    private static final long[][] SHAPES = {
        {0, 7, 5}, {1, 1, 1}, {7, 13, 3}, {13, 1023, 50}, {1023, 7, 13}, {4099, 13, 7}, {13, 4099, 5},
        {4099, 64, 11}, {1023, 1023, 1}, {257, 4099, 3},
    };

    static Stream<Arguments> cases() {
        List<Object[]> cases = new ArrayList<>();
        for (long[] s : SHAPES) {
            cases.add(new Object[] {s[0], s[1], s[2], 4});
            cases.add(new Object[] {s[0], s[1], s[2], 8});
        }
        return KernelTestSupport.withTiers(cases);
    }

    @AfterAll
    static void restoreBestTier() {
        KernelTestSupport.restoreBestTier();
    }

    private static long[] indices(SplittableRandom random, long n, long vocab) {
        long[] idx = new long[(int) n];
        for (int i = 0; i < n; i++) {
            idx[i] = random.nextLong(vocab);
        }
        return idx;
    }

    @ParameterizedTest(name = "tier {0}, n {1}, dim {2}, vocab {3}, int{4}")
    @MethodSource("cases")
    void lookupIsAnExactGather(int tier, long n, long dim, long vocab, int idxBytes) {
        select(tier);
        SplittableRandom random = new SplittableRandom(61 * n + dim + vocab);
        float[] weight = uniform(random, vocab * dim, -1, 1);
        long[] idx = indices(random, n, vocab);
        float[] out;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment o = filled(arena, n * dim, Float.NaN);
            assertEquals(TesseraCpu.TS_OK, TesseraCpu.ts_embedding_f32(n, dim, put(arena, weight),
                    putIndices(arena, idx, idxBytes), idxBytes, o));
            out = get(o, n * dim);
        }
        float[] expected = new float[(int) (n * dim)];
        for (int i = 0; i < n; i++) {
            System.arraycopy(weight, (int) (idx[i] * dim), expected, (int) (i * dim), (int) dim);
        }
        assertArrayEquals(expected, out);
    }

    @ParameterizedTest(name = "tier {0}, n {1}, dim {2}, vocab {3}, int{4}")
    @MethodSource("cases")
    void backwardAddsEveryDuplicateInIndexOrder(int tier, long n, long dim, long vocab, int idxBytes) {
        select(tier);
        SplittableRandom random = new SplittableRandom(67 * n + dim + vocab);
        float[] gout = uniform(random, n * dim, -1, 1);
        long[] idx = indices(random, n, vocab);
        // gweight starts non-zero: the kernel adds, it does not overwrite
        float[] start = uniform(random, vocab * dim, -1, 1);
        float[] gw = runBackward(n, dim, gout, idx, idxBytes, start);

        float[] serial = start.clone();
        double[] exact = new double[start.length];
        double[] absSum = new double[start.length];
        int[] count = new int[(int) vocab];
        for (int k = 0; k < start.length; k++) {
            exact[k] = start[k];
            absSum[k] = Math.abs(start[k]);
        }
        for (int i = 0; i < n; i++) {
            count[(int) idx[i]]++;
            for (int d = 0; d < dim; d++) {
                int k = (int) (idx[i] * dim + d);
                serial[k] += gout[(int) (i * dim + d)];
                exact[k] += gout[(int) (i * dim + d)];
                absSum[k] += Math.abs(gout[(int) (i * dim + d)]);
            }
        }
        assertArrayEquals(serial, gw, "the serial float sum in index order, bit for bit");
        // and that sum is within twice its worst-case rounding (count additions, each <= 2^-24 of the
        // partial sum) of the float64 one
        assertAllClose(exact, gw, k -> 2 * count[(int) (k / dim)] * 0x1p-24 * absSum[k] + 1e-30, "gweight");
    }

    @ParameterizedTest(name = "tier {0}, int{1}")
    @MethodSource("tiersAndIndexBytes")
    void backwardWithOneIndexRepeatedEverywhere(int tier, int idxBytes) {
        select(tier);
        long n = 4099;
        long dim = 96;
        long[] idx = new long[(int) n];
        java.util.Arrays.fill(idx, 2);
        float[] gout = new float[(int) (n * dim)];
        for (int i = 0; i < n; i++) {
            for (int d = 0; d < dim; d++) {
                gout[(int) (i * dim + d)] = d + 1; // small integers: every partial sum is exact in float
            }
        }
        float[] gw = runBackward(n, dim, gout, idx, idxBytes, new float[(int) (3 * dim)]);
        for (int d = 0; d < dim; d++) {
            assertEquals(0f, gw[d]);
            assertEquals((float) (n * (d + 1)), gw[(int) (2 * dim + d)], "column " + d);
        }
    }

    static Stream<Arguments> tiersAndIndexBytes() {
        return KernelTestSupport.withTiers(List.of(new Object[] {4}, new Object[] {8}));
    }

    private static float[] runBackward(long n, long dim, float[] gout, long[] idx, int idxBytes, float[] start) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment gw = put(arena, start);
            assertEquals(TesseraCpu.TS_OK, TesseraCpu.ts_embedding_backward_f32(n, dim, put(arena, gout),
                    putIndices(arena, idx, idxBytes), idxBytes, gw));
            return get(gw, start.length);
        }
    }
}
