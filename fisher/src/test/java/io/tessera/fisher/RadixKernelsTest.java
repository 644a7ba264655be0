package io.tessera.fisher;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tessera.engine.Backend;
import io.tessera.engine.DType;
import io.tessera.engine.HostStorage;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/** The two radix-select kernels behind {@link TopK} against plain loops, on sizes around the parallel cut-over. */
class RadixKernelsTest {
    private static final int[] SIZES = {0, 1, 2, 31, 1031, 40_009, 100_003};

    @AfterAll
    static void noLeaks() {
        assertEquals(0, HostStorage.liveBytes(), "native bytes still allocated");
    }

    /** Ties on a coarse grid, zeros of both signs, tiny and huge values; {@code invalid} NaN/infinite/negative ones. */
    private static float[] scores(SplittableRandom rng, int n, int invalid) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = switch (rng.nextInt(8)) {
                case 0 -> 0f;
                case 1 -> -0f;
                case 2 -> Float.MIN_VALUE * rng.nextInt(3);
                case 3 -> Float.MAX_VALUE;
                default -> (float) (rng.nextInt(300) * Math.pow(2, rng.nextInt(-20, 20)));
            };
        }
        float[] bad = {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, -1f, -Float.MIN_VALUE};
        for (int j = 0; j < invalid; j++) {
            v[rng.nextInt(n)] = bad[j % bad.length]; // may overwrite an earlier bad one: count afterwards
        }
        return v;
    }

    private static boolean valid(float v) {
        return v >= 0 && v < Float.POSITIVE_INFINITY;
    }

    private static int key(float v) {
        return v == 0 ? 0 : Float.floatToRawIntBits(v);
    }

    @Test
    void histogramCountsDigitsUnderAPrefixAndReportsInvalidEntries() {
        SplittableRandom rng = new SplittableRandom(11);
        for (int n : SIZES) {
            float[] v = scores(rng, n, n < 2 ? n : rng.nextInt(4));
            long invalid = 0;
            for (float x : v) {
                invalid += valid(x) ? 0 : 1;
            }
            int someKey = n == 0 || !valid(v[0]) ? 0 : key(v[0]);
            // {prefix, prefix bits, digit shift, digit bits}: TopK's two passes, and a one-bin validation
            long[][] passes = {{0, 1, 15, 16}, {someKey >>> 15, 17, 0, 15}, {0, 1, 0, 0}};
            try (TensorScope scope = TensorScope.open()) {
                Tensor t = Tensor.of(v, n);
                for (long[] p : passes) {
                    long[] expected = new long[1 << p[3]];
                    Arrays.fill(expected, 5); // the kernel adds to what is there
                    for (float x : v) {
                        if (valid(x) && key(x) >>> (32 - p[1]) == p[0]) {
                            expected[(int) (key(x) >>> p[2] & (1 << p[3]) - 1)]++;
                        }
                    }
                    long[] actual = new long[expected.length];
                    Arrays.fill(actual, 5);
                    assertEquals(invalid, t.backend().radixHistogram(t, p[0], (int) p[1], (int) p[2], (int) p[3], actual), "n=" + n);
                    assertArrayEquals(expected, actual, "n=" + n + " pass " + Arrays.toString(p));
                }
            }
        }
    }

    @Test
    void selectAboveKeepsIndexOrderTheEqualQuotaAndTheRoom() {
        SplittableRandom rng = new SplittableRandom(12);
        for (int n : SIZES) {
            float[] v = scores(rng, n, n < 2 ? 0 : rng.nextInt(3));
            long invalid = 0;
            for (float x : v) {
                invalid += valid(x) ? 0 : 1;
            }
            float at = n == 0 ? 0 : v[rng.nextInt(n)]; // a threshold that occurs, so there are ties at it
            int threshold = valid(at) ? key(at) : 0;
            for (long quota : new long[] {0, 3, Long.MAX_VALUE}) {
                long[] idx = new long[n];
                int[] keys = new int[n];
                int qualifying = 0;
                long equal = 0;
                for (int i = 0; i < n; i++) {
                    if (valid(v[i]) && (key(v[i]) > threshold || (key(v[i]) == threshold && equal++ < quota))) {
                        idx[qualifying] = i;
                        keys[qualifying++] = key(v[i]);
                    }
                }
                for (int room : new int[] {qualifying, qualifying / 2}) {
                    try (TensorScope scope = TensorScope.open()) {
                        Tensor t = Tensor.of(v, n);
                        Tensor indices = Tensor.empty(DType.I64, room + 2);
                        Tensor keyOut = Tensor.empty(DType.I32, room + 2);
                        // views with an offset, as TopK passes for every tensor after the first
                        var found = t.backend().selectAbove(t, threshold, quota, indices.slice(0, 2, room + 2),
                                keyOut.slice(0, 2, room + 2));
                        String where = "n=" + n + " quota=" + quota + " room=" + room;
                        assertEquals(new Backend.Selected(room, qualifying, invalid), found, where);
                        assertArrayEquals(Arrays.copyOf(idx, room), indices.slice(0, 2, room + 2).toLongArray(), where);
                        assertArrayEquals(Arrays.copyOf(keys, room), keyOut.slice(0, 2, room + 2).toIntArray(), where);
                    }
                }
            }
        }
    }
}
