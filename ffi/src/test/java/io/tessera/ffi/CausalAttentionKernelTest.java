package io.tessera.ffi;

import static io.tessera.ffi.KernelTestSupport.assertAllClose;
import static io.tessera.ffi.KernelTestSupport.get;
import static io.tessera.ffi.KernelTestSupport.put;
import static io.tessera.ffi.KernelTestSupport.putLongs;
import static io.tessera.ffi.KernelTestSupport.select;
import static io.tessera.ffi.KernelTestSupport.uniform;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

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
 * ts_causal_attention_f32 on every ISA tier against a float64 softmax(scale q k^T) v over the keys each query
 * sees (j <= i + tk - tq): q, k and v stored as [batch, position, heads, padded d] (strides as a slice of a wider
 * projection gives them), y [batch, tq, heads, d]; empty, single, prime sizes, a cache longer than the block,
 * one large enough for the OpenMP path, and grouped-query attention (fewer key heads than query heads). The element
 * after y must stay untouched. Each case also runs on ts_causal_attention_f16kv, whose keys and values are f16 (a
 * half-precision KV cache): the reference takes the same values rounded to f16 by the JDK's Float.floatToFloat16.
 */
class CausalAttentionKernelTest {
    /**
     * batch, heads, tq, tk, d, and how the heads find their keys and values: 0 one key head each, -1 all one key head
     * passed at stride 0, g > 1 grouped-query attention (heads / g key heads, query head h on key head h / g)
     */
    private static final long[][] SHAPES = {
        {1, 1, 0, 3, 5, 0}, {1, 1, 1, 1, 1, 0}, {2, 3, 7, 7, 13, 0}, {1, 2, 1, 17, 8, 0}, {3, 2, 5, 11, 3, 0}, {1, 5, 67, 67, 64, 0},
        // whole tiles of 4 queries x 16 keys / dims, and partial ones after a cache: d 16, 80 (a partial tile), 64
        {2, 2, 8, 8, 16, 0}, {1, 1, 19, 19, 80, 0}, {1, 2, 33, 40, 64, 0}, {1, 4, 9, 20, 16, -1},
        // decoding steps: blocks of 16 keys and a tail, d a multiple of 16 or not, heads sharing their keys or not
        {1, 8, 1, 37, 64, -1}, {2, 3, 1, 48, 32, 0}, {1, 5, 1, 16, 16, -1}, {1, 6, 1, 1, 64, -1}, {2, 2, 1, 33, 20, -1},
        // fewer (sequence, key head) pairs than threads: the keys split into runs (uneven, a partial block last)
        {1, 8, 1, 300, 64, -1}, {1, 1, 1, 131, 16, 0}, {1, 3, 1, 1000, 24, -1},
        // grouped-query attention: prefill blocks and a cache, decoding steps with groups of 2, 3, 8 and 12 (tasks of
        // a divisor of the group: 6 of 12), split runs
        {2, 8, 9, 20, 16, 4}, {1, 6, 33, 40, 64, 3}, {2, 8, 1, 37, 64, 2}, {1, 6, 1, 17, 8, 3}, {1, 32, 1, 300, 64, 8},
        {1, 12, 1, 50, 16, 12},
    };

    static Stream<Arguments> cases() {
        List<Object[]> cases = new ArrayList<>();
        for (long[] s : SHAPES) {
            for (String kv : new String[] {"f32", "f16"}) {
                cases.add(new Object[] {s[0], s[1], s[2], s[3], s[4], s[5], kv});
            }
        }
        return KernelTestSupport.withTiers(cases);
    }

    @AfterAll
    static void restoreBestTier() {
        KernelTestSupport.restoreBestTier();
    }

    @ParameterizedTest(name = "tier {0}, batch {1}, heads {2}, tq {3}, tk {4}, d {5}, key heads {6}, keys and values {7}")
    @MethodSource("cases")
    void attendsToTheVisibleKeys(int tier, long batch, long heads, long tq, long tk, long d, long keys, String kv) {
        select(tier);
        long pad = d + 2; // row of one head inside a wider row
        SplittableRandom rng = new SplittableRandom(tq * 131 + tk * 7 + d);
        boolean shared = keys == -1;
        long group = keys > 1 ? keys : 1;
        long keyHeads = shared ? 1 : heads / group;
        float[] q = uniform(rng, batch * tq * heads * pad, -2, 2);
        float[] k = uniform(rng, batch * tk * keyHeads * pad, -2, 2);
        float[] v = uniform(rng, batch * tk * keyHeads * pad, -2, 2);
        boolean half = kv.equals("f16");
        if (half) {
            roundToHalf(k);
            roundToHalf(v);
        }
        long[] qs = {tq * heads * pad, pad, heads * pad};
        long[] ks = {tk * keyHeads * pad, shared ? 0 : pad, keyHeads * pad};
        float scale = (float) (1 / Math.sqrt(d));
        double[] expected = new double[(int) (batch * tq * heads * d + 1)];
        for (int b = 0; b < batch; b++) {
            for (int h = 0; h < heads; h++) {
                for (int i = 0; i < tq; i++) {
                    int visible = (int) (i + tk - tq + 1);
                    double[] p = new double[visible];
                    double max = Double.NEGATIVE_INFINITY;
                    for (int j = 0; j < visible; j++) {
                        for (int c = 0; c < d; c++) {
                            double qc = q[(int) (b * qs[0] + h * qs[1] + i * qs[2] + c)];
                            p[j] += qc * k[(int) (b * ks[0] + h / group * ks[1] + j * ks[2] + c)];
                        }
                        p[j] *= scale;
                        max = Math.max(max, p[j]);
                    }
                    double sum = 0;
                    for (int j = 0; j < visible; j++) {
                        p[j] = Math.exp(p[j] - max);
                        sum += p[j];
                    }
                    for (int j = 0; j < visible; j++) {
                        for (int c = 0; c < d; c++) {
                            expected[(int) (((b * tq + i) * heads + h) * d + c)] +=
                                    p[j] / sum * v[(int) (b * ks[0] + h / group * ks[1] + j * ks[2] + c)];
                        }
                    }
                }
            }
        }
        int n = expected.length - 1;
        expected[n] = 42; // the guard after y
        float[] actual;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment ys = put(arena, new float[n + 1]);
            ys.setAtIndex(JAVA_FLOAT, n, 42f);
            int rc = half
                    ? TesseraCpu.ts_causal_attention_f16kv(batch, heads, group, tq, tk, d, scale, put(arena, q), putLongs(arena, qs),
                            putHalves(arena, k), putLongs(arena, ks), putHalves(arena, v), putLongs(arena, ks), ys)
                    : TesseraCpu.ts_causal_attention_f32(batch, heads, group, tq, tk, d, scale, put(arena, q), putLongs(arena, qs),
                            put(arena, k), putLongs(arena, ks), put(arena, v), putLongs(arena, ks), ys);
            assertEquals(TesseraCpu.TS_OK, rc);
            actual = get(ys, n + 1);
        }
        assertAllClose(expected, actual, 1e-5, 1e-5, "causal attention");
    }

    /** A NaN or infinity in a later position's key or value reaches no earlier query (masked keys are left out, not weighted 0). */
    @ParameterizedTest(name = "tier {0}")
    @MethodSource("io.tessera.ffi.KernelTestSupport#tierArguments")
    void aLaterPositionsNonFiniteValuesStayOutOfEarlierQueries(int tier) {
        select(tier);
        long tq = 11;
        long d = 20;
        SplittableRandom rng = new SplittableRandom(5);
        float[] q = uniform(rng, tq * d, -2, 2);
        float[] k = uniform(rng, tq * d, -2, 2);
        float[] v = uniform(rng, tq * d, -2, 2);
        k[(int) ((tq - 1) * d)] = Float.POSITIVE_INFINITY;
        v[(int) ((tq - 1) * d + 3)] = Float.NaN;
        long[] strides = {tq * d, d, d};
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment ys = put(arena, new float[(int) (tq * d)]);
            assertEquals(TesseraCpu.TS_OK, TesseraCpu.ts_causal_attention_f32(1, 1, 1, tq, tq, d, 0.3f, put(arena, q),
                    putLongs(arena, strides), put(arena, k), putLongs(arena, strides), put(arena, v), putLongs(arena, strides), ys));
            float[] y = get(ys, tq * d);
            for (int i = 0; i < (tq - 1) * d; i++) {
                assertTrue(Float.isFinite(y[i]), "y[" + i / d + "][" + i % d + "] = " + y[i]);
            }
            assertTrue(Float.isNaN(y[(int) ((tq - 1) * d + 3)]), "the last query sees the NaN value"); // as in PyTorch
        }
    }

    private static void roundToHalf(float[] values) {
        for (int i = 0; i < values.length; i++) {
            values[i] = Float.float16ToFloat(Float.floatToFloat16(values[i]));
        }
    }

    /** values (already f16-exact) as f16 bits. */
    private static MemorySegment putHalves(Arena arena, float[] values) {
        MemorySegment s = arena.allocate(JAVA_SHORT, Math.max(1, values.length));
        for (int i = 0; i < values.length; i++) {
            s.setAtIndex(JAVA_SHORT, i, Float.floatToFloat16(values[i]));
        }
        return s;
    }
}
