package io.tessera.fisher;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
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

    /**
     * The float64 TIES reference: per model, keep exactly k = (long) (density * n) entries of largest |tau|
     * (n per tensor, or over the model), ties going to the earlier tensor and the lower index; elect the sign
     * of the sum (negative when 0); average the agreeing trimmed entries.
     */
    private static Map<String, double[]> tiesReference(Map<String, float[]> base, List<Map<String, float[]>> tuned, double density,
                                                       double lambda, Merge.TrimScope scope) {
        List<Map<String, double[]>> trimmed = new java.util.ArrayList<>();
        for (Map<String, float[]> model : tuned) {
            Map<String, double[]> tau = new LinkedHashMap<>();
            model.forEach((n, v) -> {
                double[] t = new double[v.length];
                for (int i = 0; i < v.length; i++) {
                    t[i] = (float) ((double) v[i] - base.get(n)[i]); // as f32 subtraction gives it: correctly rounded
                }
                tau.put(n, t);
            });
            List<List<String>> groups = scope == Merge.TrimScope.TENSOR ? tau.keySet().stream().map(List::of).toList()
                    : List.of(List.copyOf(tau.keySet()));
            Map<String, double[]> kept = new LinkedHashMap<>();
            tau.forEach((n, t) -> kept.put(n, new double[t.length]));
            for (List<String> group : groups) {
                List<Object[]> entries = new java.util.ArrayList<>(); // {tensor position, index, magnitude}
                for (int g = 0; g < group.size(); g++) {
                    double[] t = tau.get(group.get(g));
                    for (int i = 0; i < t.length; i++) {
                        entries.add(new Object[] {g, i, Math.abs(t[i])});
                    }
                }
                entries.sort(java.util.Comparator.<Object[]>comparingDouble(e -> -(double) e[2]).thenComparingInt(e -> (int) e[0])
                        .thenComparingInt(e -> (int) e[1]));
                long k = (long) (density * entries.size());
                for (int j = 0; j < k; j++) {
                    String n = group.get((int) entries.get(j)[0]);
                    int i = (int) entries.get(j)[1];
                    kept.get(n)[i] = tau.get(n)[i];
                }
            }
            trimmed.add(kept);
        }
        Map<String, double[]> out = new LinkedHashMap<>();
        base.forEach((n, b) -> {
            double[] merged = new double[b.length];
            for (int i = 0; i < b.length; i++) {
                double sum = 0;
                for (Map<String, double[]> t : trimmed) {
                    sum += t.get(n)[i];
                }
                double agreeing = 0;
                int count = 0;
                for (Map<String, double[]> t : trimmed) {
                    double v = t.get(n)[i];
                    if (sum > 0 ? v > 0 : v < 0) {
                        agreeing += v;
                        count++;
                    }
                }
                merged[i] = b[i] + lambda * (count == 0 ? 0 : agreeing / count);
            }
            out.put(n, merged);
        });
        return out;
    }

    @Test
    void tiesTrimsPerTensorOrPerModelElectsAndAveragesTheAgreeingSigns() {
        SplittableRandom rng = new SplittableRandom(3);
        Map<String, float[]> base = random(rng, -1, 1);
        List<Map<String, float[]>> tuned = List.of(random(rng, -1, 1), random(rng, -1, 1), random(rng, -1, 1));
        // integer task vectors from {-3..3}: thousands of ties at every threshold
        Map<String, float[]> zero = random(rng, 0, 0);
        List<Map<String, float[]>> tied = List.of(integers(rng), integers(rng), integers(rng));
        for (Merge.TrimScope scope : Merge.TrimScope.values()) {
            // 0.37 * 7 < 3: the [7] tensor keeps 2 entries per tensor; 0.05 * 15 < 1: the [3, 5] tensor keeps none
            for (double density : new double[] {0.05, 0.37, 1}) {
                try (TensorScope s = TensorScope.open()) {
                    Map<String, double[]> expected = tiesReference(base, tuned, density, 0.9, scope);
                    assertMerged(Merge.ties(tensors(base), tuned.stream().map(MergeTest::tensors).toList(), density, 0.9, scope),
                            (n, i) -> expected.get(n)[i]);
                    Map<String, double[]> expectedTied = tiesReference(zero, tied, density, 1, scope);
                    Map<String, Tensor> mergedTied = Merge.ties(tensors(zero), tied.stream().map(MergeTest::tensors).toList(), density, 1,
                            scope);
                    mergedTied.forEach((n, t) -> assertArrayEquals(expectedTied.get(n), toDoubles(t.toFloatArray()), 1e-6, scope + " "
                            + density + " " + n));
                }
            }
        }
    }

    private static Map<String, float[]> integers(SplittableRandom rng) {
        Map<String, float[]> out = random(rng, 0, 0);
        out.values().forEach(v -> {
            for (int i = 0; i < v.length; i++) {
                v[i] = rng.nextInt(-3, 4);
            }
        });
        return out;
    }

    private static double[] toDoubles(float[] v) {
        double[] out = new double[v.length];
        for (int i = 0; i < v.length; i++) {
            out[i] = v[i];
        }
        return out;
    }

    /** One unit in the last place of {@code dtype} at {@code x} (f16 and bf16 subnormals share the smallest exponent). */
    static double ulp(DType dtype, double x) {
        int exponent = Math.getExponent((float) x);
        return switch (dtype) {
            case F32 -> Math.ulp((float) x);
            case BF16 -> Math.scalb(1.0, Math.max(exponent, -126) - 7);
            case F16 -> Math.scalb(1.0, Math.max(exponent, -14) - 10);
            default -> throw new IllegalArgumentException(dtype.toString());
        };
    }

    /**
     * The tolerance of a merge of inputs within [-1, 1] against its float64 reference, rounded to
     * {@code dtype}: one ulp of that dtype at the reference (correct rounding is within half an ulp; the f32
     * arithmetic before it can push a value across a rounding boundary), plus 4e-6 for the f32 rounding of a
     * few terms of magnitude up to 3.
     */
    static double tolerance(DType dtype, double reference) {
        return ulp(dtype, reference) + 4e-6;
    }

    private static Map<String, float[]> values(Map<String, Tensor> model) {
        Map<String, float[]> out = new LinkedHashMap<>();
        model.forEach((n, t) -> out.put(n, t.toFloatArray())); // bf16 and f16 widen exactly
        return out;
    }

    private static Map<String, Tensor> stored(Map<String, float[]> values, DType dtype) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        tensors(values).forEach((n, t) -> out.put(n, t.to(dtype)));
        return out;
    }

    private static void assertNear(Map<String, Tensor> merged, java.util.function.BiFunction<String, Integer, Double> expected,
                                   String what) {
        merged.forEach((name, t) -> {
            assertEquals(DType.F32, t.dtype(), what + " " + name);
            float[] v = t.toFloatArray();
            for (int i = 0; i < v.length; i++) {
                double e = expected.apply(name, i);
                assertEquals(e, v[i], tolerance(DType.F32, e), what + " " + name + "[" + i + "]");
            }
        });
    }

    @Test
    void halfPrecisionAndMixedModelsAreMergedInFloat32() {
        SplittableRandom rng = new SplittableRandom(8);
        // {base, model 1, model 2, Fisher 1, Fisher 2}
        DType[][] cases = {{DType.BF16, DType.BF16, DType.BF16, DType.BF16, DType.BF16}, {DType.F16, DType.F16, DType.F16, DType.F16,
            DType.F16}, {DType.BF16, DType.F16, DType.F32, DType.F32, DType.BF16}};
        for (DType[] dtypes : cases) {
            try (TensorScope scope = TensorScope.open()) {
                Map<String, Tensor> base = stored(random(rng, -1, 1), dtypes[0]);
                List<Map<String, Tensor>> models = List.of(stored(random(rng, -1, 1), dtypes[1]), stored(random(rng, -1, 1), dtypes[2]));
                List<Map<String, Tensor>> fishers = List.of(stored(random(rng, 0.01, 1), dtypes[3]), stored(random(rng, 0.01, 1),
                        dtypes[4]));
                // the reference reads the stored (rounded) values and computes in float64
                Map<String, float[]> b = values(base);
                List<Map<String, float[]>> m = models.stream().map(MergeTest::values).toList();
                List<Map<String, float[]>> f = fishers.stream().map(MergeTest::values).toList();
                String what = java.util.Arrays.toString(dtypes);
                assertNear(Merge.average(models, new double[] {1, 3}), (n, i) -> (m.get(0).get(n)[i] + 3.0 * m.get(1).get(n)[i]) / 4,
                        what + " average");
                assertNear(Merge.taskArithmetic(base, models, new double[] {0.7, 0.6}), (n, i) -> b.get(n)[i]
                        + 0.7 * (m.get(0).get(n)[i] - (double) b.get(n)[i]) + 0.6 * (m.get(1).get(n)[i] - (double) b.get(n)[i]),
                        what + " task arithmetic");
                assertNear(Merge.fisherWeighted(models, fishers, new double[] {1, 2}, 0, false), (n, i) -> {
                    double f0 = f.get(0).get(n)[i];
                    double f1 = 2.0 * f.get(1).get(n)[i];
                    return (f0 * m.get(0).get(n)[i] + f1 * m.get(1).get(n)[i]) / (f0 + f1);
                }, what + " fisher");
                for (Merge.TrimScope trim : Merge.TrimScope.values()) {
                    Map<String, double[]> ties = tiesReference(b, m, 0.3, 0.8, trim);
                    assertNear(Merge.ties(base, models, 0.3, 0.8, trim), (n, i) -> ties.get(n)[i], what + " ties " + trim);
                }
                assertNear(Merge.dare(base, models, 0, new double[] {0.7, 0.6}, 5), (n, i) -> b.get(n)[i]
                        + 0.7 * (m.get(0).get(n)[i] - (double) b.get(n)[i]) + 0.6 * (m.get(1).get(n)[i] - (double) b.get(n)[i]),
                        what + " dare without drops");
                // with drops: exactly the merge of the f32 widening, since widening is exact
                Map<String, Tensor> dropped = Merge.dare(base, models, 0.5, new double[] {1, 1}, 5);
                Map<String, Tensor> widened = Merge.dare(tensors(b), m.stream().map(MergeTest::tensors).toList(), 0.5, new double[] {1, 1},
                        5);
                dropped.forEach((n, t) -> assertArrayEquals(widened.get(n).toFloatArray(), t.toFloatArray(), what + " dare " + n));
            }
        }
    }

    @Test
    void dareDropsAndRescalesReproducibly() {
        SplittableRandom rng = new SplittableRandom(4);
        Map<String, float[]> base = random(rng, -1, 1);
        List<Map<String, float[]>> tuned = List.of(random(rng, -1, 1), random(rng, -1, 1));
        try (TensorScope scope = TensorScope.open()) {
            List<Map<String, Tensor>> models = tuned.stream().map(MergeTest::tensors).toList();
            double p = 0.9;
            Map<String, Tensor> a = Merge.dare(tensors(base), models, p, new double[] {1, 1}, 11);
            Map<String, Tensor> b = Merge.dare(tensors(base), models, p, new double[] {1, 1}, 11);
            Map<String, Tensor> none = Merge.dare(tensors(base), models, 0, new double[] {0.5, 0.25}, 11);
            assertMerged(none, (n, i) -> base.get(n)[i] + 0.5 * (tuned.get(0).get(n)[i] - base.get(n)[i])
                    + 0.25 * (tuned.get(1).get(n)[i] - base.get(n)[i]));
            float[] big = a.get("t2").toFloatArray();
            assertTrue(java.util.Arrays.equals(big, b.get("t2").toFloatArray()), "same seed, same drops");
            // each entry is base + sum of kept (tau / (1 - p)): count how often both task vectors were dropped
            float[] b0 = base.get("t2");
            int unchanged = 0;
            for (int i = 0; i < big.length; i++) {
                unchanged += big[i] == b0[i] ? 1 : 0;
            }
            double expectedUnchanged = p * p * big.length;
            assertTrue(Math.abs(unchanged - expectedUnchanged) < 5 * Math.sqrt(expectedUnchanged), unchanged + " vs " + expectedUnchanged);
            // the rescaling keeps the expected task vector: the mean change matches the mean tau sum
            double meanChange = 0;
            double meanTau = 0;
            for (int i = 0; i < big.length; i++) {
                meanChange += big[i] - b0[i];
                meanTau += tuned.get(0).get("t2")[i] + tuned.get(1).get("t2")[i] - 2.0 * b0[i];
            }
            assertEquals(meanTau / big.length, meanChange / big.length, 0.05);
        }
    }

    @Test
    void mergeInvariants() {
        SplittableRandom rng = new SplittableRandom(5);
        Map<String, float[]> a = random(rng, -1, 1);
        Map<String, float[]> b = random(rng, -1, 1);
        Map<String, float[]> f = random(rng, 0, 1);
        Map<String, float[]> zero = random(rng, 0, 0);
        try (TensorScope scope = TensorScope.open()) {
            Map<String, Tensor> ta = tensors(a);
            Map<String, Tensor> tb = tensors(b);
            // one model with weight 1 comes back bit for bit, from every method
            assertBits(a, Merge.average(List.of(ta), new double[] {1}));
            assertBits(a, Merge.fisherWeighted(List.of(ta), List.of(tensors(f)), new double[] {1}, 1e-6, false));
            assertBits(a, Merge.taskArithmetic(ta, List.of(tb), new double[] {0}));
            assertBits(a, Merge.dare(ta, List.of(tb), 0.5, new double[] {0}, 1));
            // identical Fishers: the plain average
            Map<String, Tensor> equalFisher = Merge.fisherWeighted(List.of(ta, tb), List.of(tensors(f), tensors(f)), new double[] {1, 1},
                    0, false);
            assertMerged(equalFisher, (n, i) -> (a.get(n)[i] + (double) b.get(n)[i]) / 2);
            // one Fisher zero: the other model, up to the floor
            Map<String, Tensor> oneZero = Merge.fisherWeighted(List.of(ta, tb), List.of(tensors(f), tensors(zero)), new double[] {1, 1},
                    1e-9, false);
            merged(oneZero).forEach((n, v) -> {
                for (int i = 0; i < v.length; i++) {
                    double d = Math.max(f.get(n)[i], 1e-9);
                    assertEquals((d * a.get(n)[i] + 1e-9 * b.get(n)[i]) / (d + 1e-9), v[i], 1e-5, n);
                    assertEquals(a.get(n)[i], v[i], 2e-9 / d + 1e-6, n);
                }
            });
        }
    }

    @Test
    void regMeanSolvesTheLeastSquaresMergeAndReducesToTheAverage() {
        SplittableRandom rng = new SplittableRandom(6);
        int in = 6;
        int outs = 4;
        int examples = 20;
        double alpha = 0.9;
        float[][] weights = new float[2][];
        float[][] inputs = new float[2][];
        for (int m = 0; m < 2; m++) {
            weights[m] = new float[outs * in];
            inputs[m] = new float[examples * in];
            for (int i = 0; i < weights[m].length; i++) {
                weights[m][i] = (float) (rng.nextDouble() * 2 - 1);
            }
            for (int i = 0; i < inputs[m].length; i++) {
                inputs[m][i] = (float) (rng.nextDouble() * 2 - 1);
            }
        }
        // float64 reference: G_i = X_i^T X_i with off-diagonal * alpha; solve (sum G) W^T = sum G W_i^T by elimination
        double[][] a = new double[in][in];
        double[][] b = new double[in][outs];
        for (int m = 0; m < 2; m++) {
            double[][] g = new double[in][in];
            for (int r = 0; r < in; r++) {
                for (int c = 0; c < in; c++) {
                    for (int e = 0; e < examples; e++) {
                        g[r][c] += (double) inputs[m][e * in + r] * inputs[m][e * in + c];
                    }
                    g[r][c] = (float) g[r][c]; // the engine's Gram is float32
                    g[r][c] *= r == c ? 1 : alpha;
                    a[r][c] += g[r][c];
                }
            }
            for (int r = 0; r < in; r++) {
                for (int o = 0; o < outs; o++) {
                    for (int c = 0; c < in; c++) {
                        b[r][o] += g[r][c] * weights[m][o * in + c];
                    }
                }
            }
        }
        double[][] x = solve(a, b);
        try (TensorScope scope = TensorScope.open()) {
            List<Map<String, Tensor>> models = List.of(Map.of("w", Tensor.of(weights[0], outs, in), "b", Tensor.of(new float[] {1, 2}, 2)),
                    Map.of("w", Tensor.of(weights[1], outs, in), "b", Tensor.of(new float[] {3, 6}, 2)));
            List<Map<String, Tensor>> grams = new java.util.ArrayList<>();
            for (int m = 0; m < 2; m++) {
                Tensor xm = Tensor.of(inputs[m], examples, in);
                grams.add(Map.of("w", xm.t().matmul(xm)));
            }
            Map<String, Tensor> merged = Merge.regMean(models, grams, alpha);
            float[] w = merged.get("w").toFloatArray();
            for (int o = 0; o < outs; o++) {
                for (int c = 0; c < in; c++) {
                    assertEquals(x[c][o], w[o * in + c], 1e-4 * (1 + Math.abs(x[c][o])), "w[" + o + "][" + c + "]");
                }
            }
            assertEquals(2f, merged.get("b").toFloatArray()[0], "no Gram: averaged");
            // an input both models only ever see as 0: its weight column is free and gets the average
            float[] blind = inputs[0].clone();
            for (int e = 0; e < examples; e++) {
                blind[e * in + 2] = 0;
            }
            Tensor xb = Tensor.of(blind, examples, in);
            Map<String, Tensor> blindGram = Map.of("w", xb.t().matmul(xb));
            float[] withBlind = Merge.regMean(models, List.of(blindGram, blindGram), alpha).get("w").toFloatArray();
            for (int o = 0; o < outs; o++) {
                assertEquals((weights[0][o * in + 2] + (double) weights[1][o * in + 2]) / 2, withBlind[o * in + 2], 1e-5);
                assertTrue(Float.isFinite(withBlind[o * in]), "the other columns are solved");
            }
            // identical Gram matrices: the plain average of the weights
            Map<String, Tensor> same = Merge.regMean(models, List.of(grams.get(0), grams.get(0)), alpha);
            float[] avg = same.get("w").toFloatArray();
            for (int i = 0; i < avg.length; i++) {
                assertEquals((weights[0][i] + (double) weights[1][i]) / 2, avg[i], 1e-4);
            }
        }
    }

    /** Gaussian elimination with partial pivoting, float64. */
    private static double[][] solve(double[][] a, double[][] b) {
        int n = a.length;
        int k = b[0].length;
        double[][] m = new double[n][];
        double[][] r = new double[n][];
        for (int i = 0; i < n; i++) {
            m[i] = a[i].clone();
            r[i] = b[i].clone();
        }
        for (int col = 0; col < n; col++) {
            int pivot = col;
            for (int i = col + 1; i < n; i++) {
                if (Math.abs(m[i][col]) > Math.abs(m[pivot][col])) {
                    pivot = i;
                }
            }
            double[] t = m[col];
            m[col] = m[pivot];
            m[pivot] = t;
            t = r[col];
            r[col] = r[pivot];
            r[pivot] = t;
            for (int i = 0; i < n; i++) {
                if (i != col) {
                    double f = m[i][col] / m[col][col];
                    for (int j = col; j < n; j++) {
                        m[i][j] -= f * m[col][j];
                    }
                    for (int j = 0; j < k; j++) {
                        r[i][j] -= f * r[col][j];
                    }
                }
            }
        }
        double[][] x = new double[n][k];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < k; j++) {
                x[i][j] = r[i][j] / m[i][i];
            }
        }
        return x;
    }

    private static Map<String, float[]> merged(Map<String, Tensor> m) {
        Map<String, float[]> out = new LinkedHashMap<>();
        m.forEach((n, t) -> out.put(n, t.toFloatArray()));
        return out;
    }

    private static void assertBits(Map<String, float[]> expected, Map<String, Tensor> actual) {
        expected.forEach((n, v) -> assertTrue(java.util.Arrays.equals(v, actual.get(n).toFloatArray()), n + " not bit-identical"));
    }

    @Test
    void incompatibleModelsReportEveryMismatchAtOnce() {
        try (TensorScope scope = TensorScope.open()) {
            Map<String, Tensor> a = Map.of("x", Tensor.zeros(2, 3), "y", Tensor.zeros(4), "z", Tensor.zeros(1));
            Map<String, Tensor> b = new LinkedHashMap<>(Map.of("x", Tensor.zeros(3, 2), "y", Tensor.zeros(DType.I64, 4),
                    "w", Tensor.zeros(1)));
            var e = assertThrows(IllegalArgumentException.class, () -> Merge.average(List.of(a, b), new double[] {1, 1}));
            String m = e.getMessage();
            assertTrue(m.contains("4 mismatch(es)") && m.contains("x: model 0 has f32[2, 3]")
                    && m.contains("y: model 1 has i64[4] on cpu, not floating point") && m.contains("model 1 lacks z")
                    && m.contains("model 1 has w, which model 0 lacks"), m);
            // dtypes may differ: a bf16 model merges with an f32 one
            Map<String, Tensor> half = Map.of("x", Tensor.zeros(DType.BF16, 2, 3), "y", Tensor.zeros(DType.F16, 4), "z", Tensor.ones(1));
            assertEquals(0.5, Merge.average(List.of(a, half), new double[] {1, 1}).get("z").item());
            assertThrows(IllegalArgumentException.class, () -> Merge.average(List.of(a), new double[] {0}), "weights sum to 0");
            assertThrows(IllegalArgumentException.class, () -> Merge.average(List.of(a, a), new double[] {1}));
        }
    }
}
