package io.tessera.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

class NonFiniteTest {
    @AfterAll
    static void noLeaks() {
        assertEquals(0, HostStorage.liveBytes(), "native bytes still allocated");
    }

    /** Random finite values with NaN, +inf and -inf planted at random places; the reference counts them in plain Java. */
    private static float[] planted(SplittableRandom rng, int n, int nan, int inf) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) (rng.nextDouble() * 2e4 - 1e4);
        }
        for (int i = 0; i < nan + inf; i++) {
            v[rng.nextInt(n)] = i < nan ? Float.NaN : rng.nextBoolean() ? Float.POSITIVE_INFINITY : Float.NEGATIVE_INFINITY;
        }
        return v;
    }

    private static NonFinite reference(float[] v) {
        long nan = 0;
        long inf = 0;
        for (float x : v) {
            nan += Float.isNaN(x) ? 1 : 0;
            inf += Float.isInfinite(x) ? 1 : 0;
        }
        return new NonFinite(nan, inf);
    }

    @Test
    void countsNanAndInfinitiesInEveryFloatingDtype() {
        SplittableRandom rng = new SplittableRandom(7);
        for (int[] c : new int[][] {{0, 0}, {3, 0}, {0, 2}, {5, 9}, {1000, 1000}}) {
            float[] v = planted(rng, 10_010, c[0], c[1]);
            NonFinite expected = reference(v);
            try (TensorScope scope = TensorScope.open()) {
                Tensor f32 = Tensor.of(v, 10_010);
                for (DType dtype : new DType[] {DType.F32, DType.BF16, DType.F16}) {
                    // values of 1e4 stay finite in f16 (max 65504), so the counts carry over
                    assertEquals(expected, NonFinite.count(f32.to(dtype)), dtype + " " + java.util.Arrays.toString(c));
                }
                assertEquals(expected, NonFinite.count(f32.reshape(91, 110).t()), "a strided view");
            }
        }
        try (TensorScope scope = TensorScope.open()) {
            assertEquals(new NonFinite(0, 0), NonFinite.count(Tensor.of(new int[] {1, 2}, 2)), "integers are always finite");
            assertEquals(new NonFinite(0, 0), NonFinite.count(Tensor.zeros(0)), "empty");
        }
    }

    @Test
    void requireNoneNamesTheSourceAndTheTensor() {
        try (TensorScope scope = TensorScope.open()) {
            Map<String, Tensor> model = new LinkedHashMap<>();
            model.put("fc0.weight", Tensor.of(new float[] {1, 2}, 2));
            model.put("fc1.weight", Tensor.of(new float[] {Float.NaN, 1, Float.NaN, Float.NEGATIVE_INFINITY, Float.NaN}, 5).to(DType.BF16));
            model.put("fc2.weight", Tensor.of(new float[] {Float.NaN}, 1));
            var e = assertThrows(IllegalArgumentException.class, () -> NonFinite.requireNone("model b.safetensors", model));
            assertEquals("model b.safetensors: tensor 'fc1.weight' holds 3 NaN and 1 infinite values", e.getMessage());
            model.remove("fc1.weight");
            model.remove("fc2.weight");
            NonFinite.requireNone("model b.safetensors", model);
        }
    }
}
