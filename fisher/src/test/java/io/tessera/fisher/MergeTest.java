package io.tessera.fisher;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tessera.engine.DType;
import io.tessera.engine.HostStorage;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

class MergeTest {
    private static final long[][] SHAPES = {{3, 5}, {7}, {40_009}};

    @AfterAll
    static void noLeaks() {
        assertEquals(0, HostStorage.liveBytes(), "native bytes still allocated");
    }

    private static Map<String, float[]> random(SplittableRandom rng, double lo, double hi) {
        Map<String, float[]> out = new LinkedHashMap<>();
        for (int t = 0; t < SHAPES.length; t++) {
            float[] v = new float[(int) java.util.Arrays.stream(SHAPES[t]).reduce(1, (a, b) -> a * b)];
            for (int i = 0; i < v.length; i++) {
                v[i] = (float) (lo + (hi - lo) * rng.nextDouble());
            }
            out.put("t" + t, v);
        }
        return out;
    }

    private static Map<String, Tensor> tensors(Map<String, float[]> values) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        int t = 0;
        for (var entry : values.entrySet()) {
            out.put(entry.getKey(), Tensor.of(entry.getValue(), SHAPES[t++]));
        }
        return out;
    }

    private static void assertMerged(Map<String, Tensor> merged, java.util.function.BiFunction<String, Integer, Double> expected) {
        merged.forEach((name, t) -> {
            float[] v = t.toFloatArray();
            for (int i = 0; i < v.length; i++) {
                double e = expected.apply(name, i);
                assertEquals(e, v[i], 1e-5 * (1 + Math.abs(e)), name + "[" + i + "]");
            }
        });
    }

    @Test
    void fisherWeightedAverageMatchesFloat64WithFloorAndNormalisation() {
        SplittableRandom rng = new SplittableRandom(1);
        List<Map<String, float[]>> thetas = List.of(random(rng, -1, 1), random(rng, -1, 1), random(rng, -1, 1));
        List<Map<String, float[]>> fishers = List.of(random(rng, 0, 1e-5), random(rng, 0, 2), random(rng, 0, 3));
        double[] w = {0.5, 1.0, 2.0};
        double floor = 1e-6;
        for (boolean normalize : new boolean[] {false, true}) {
            double[] scale = new double[3];
            for (int m = 0; m < 3; m++) {
                double sq = 0;
                for (float[] f : fishers.get(m).values()) {
                    for (float v : f) {
                        sq += (double) v * v;
                    }
                }
                scale[m] = normalize ? 1 / Math.sqrt(sq) : 1;
            }
            try (TensorScope scope = TensorScope.open()) {
                Map<String, Tensor> merged = Merge.fisherWeighted(thetas.stream().map(MergeTest::tensors).toList(),
                        fishers.stream().map(MergeTest::tensors).toList(), w, floor, normalize);
                assertMerged(merged, (name, i) -> {
                    double num = 0;
                    double den = 0;
                    for (int m = 0; m < 3; m++) {
                        double d = Math.max(scale[m] * fishers.get(m).get(name)[i], floor);
                        num += w[m] * d * thetas.get(m).get(name)[i];
                        den += w[m] * d;
                    }
                    return num / den;
                });
            }
        }
    }

    @Test
    void averageAndTaskArithmetic() {
        SplittableRandom rng = new SplittableRandom(2);
        Map<String, float[]> base = random(rng, -1, 1);
        List<Map<String, float[]>> tuned = List.of(random(rng, -1, 1), random(rng, -1, 1));
        try (TensorScope scope = TensorScope.open()) {
            Map<String, Tensor> avg = Merge.average(tuned.stream().map(MergeTest::tensors).toList(), new double[] {1, 3});
            assertMerged(avg, (n, i) -> (1.0 * tuned.get(0).get(n)[i] + 3.0 * tuned.get(1).get(n)[i]) / 4);
            double[] lambdas = {0.7, 0.6};
            Map<String, Tensor> ta = Merge.taskArithmetic(tensors(base), tuned.stream().map(MergeTest::tensors).toList(), lambdas);
            assertMerged(ta, (n, i) -> base.get(n)[i] + lambdas[0] * (tuned.get(0).get(n)[i] - base.get(n)[i])
                    + lambdas[1] * (tuned.get(1).get(n)[i] - base.get(n)[i]));
        }
    }

    @Test
    void incompatibleModelsReportEveryMismatchAtOnce() {
        try (TensorScope scope = TensorScope.open()) {
            Map<String, Tensor> a = Map.of("x", Tensor.zeros(2, 3), "y", Tensor.zeros(4), "z", Tensor.zeros(1));
            Map<String, Tensor> b = new LinkedHashMap<>(Map.of("x", Tensor.zeros(3, 2), "y", Tensor.zeros(DType.BF16, 4), "w", Tensor.zeros(1)));
            var e = assertThrows(IllegalArgumentException.class, () -> Merge.average(List.of(a, b), new double[] {1, 1}));
            String m = e.getMessage();
            assertTrue(m.contains("4 mismatch(es)") && m.contains("x: model 0 has f32[2, 3]") && m.contains("y: model 0 has f32[4]")
                    && m.contains("model 1 lacks z") && m.contains("model 1 has w, which model 0 lacks"), m);
            assertThrows(IllegalArgumentException.class, () -> Merge.average(List.of(a), new double[] {0}), "weights sum to 0");
            assertThrows(IllegalArgumentException.class, () -> Merge.average(List.of(a, a), new double[] {1}));
        }
    }
}
