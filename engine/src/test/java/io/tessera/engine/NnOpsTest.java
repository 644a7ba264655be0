package io.tessera.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** softmax, norms, cross-entropy, embedding, causal mask: forward vs float64 and gradients vs finite differences. */
class NnOpsTest {

    @AfterAll
    static void noLeaks() {
        assertEquals(0, HostStorage.liveBytes(), "native bytes still allocated");
    }

    /** Softmax (or log-softmax) of one row in float64: the reference the nn tests share. */
    static double[] softmaxRow(double[] row, boolean log) {
        double max = Double.NEGATIVE_INFINITY;
        for (double v : row) {
            max = Math.max(max, v);
        }
        double sum = 0;
        for (double v : row) {
            sum += Math.exp(v - max);
        }
        double[] out = new double[row.length];
        for (int i = 0; i < row.length; i++) {
            out[i] = log ? row[i] - max - Math.log(sum) : Math.exp(row[i] - max) / sum;
        }
        return out;
    }

    static double[] layerNormRow(double[] row, double[] w, double[] b, double eps) {
        double mean = 0;
        for (double v : row) {
            mean += v;
        }
        mean /= row.length;
        double var = 0;
        for (double v : row) {
            var += (v - mean) * (v - mean);
        }
        var /= row.length;
        double[] out = new double[row.length];
        for (int i = 0; i < row.length; i++) {
            out[i] = (row[i] - mean) / Math.sqrt(var + eps) * w[i] + b[i];
        }
        return out;
    }

    static double[] rmsNormRow(double[] row, double[] w, double eps) {
        double sq = 0;
        for (double v : row) {
            sq += v * v;
        }
        double r = 1 / Math.sqrt(sq / row.length + eps);
        double[] out = new double[row.length];
        for (int i = 0; i < row.length; i++) {
            out[i] = row[i] * r * w[i];
        }
        return out;
    }

    static Stream<Arguments> rowShapes() {
        return Stream.of(Arguments.of((Object) new long[] {1, 1}), Arguments.of((Object) new long[] {7}),
                Arguments.of((Object) new long[] {3, 13}), Arguments.of((Object) new long[] {2, 5, 8}),
                Arguments.of((Object) new long[] {67, 1031}), Arguments.of((Object) new long[] {0, 5}));
    }

    @ParameterizedTest(name = "softmax {0}")
    @MethodSource("rowShapes")
    void softmaxForward(long[] shape) {
        SplittableRandom rng = new SplittableRandom(shape.length);
        Ref x = Ref.random(rng, -8, 8, shape);
        for (boolean log : new boolean[] {false, true}) {
            OpCheck.forward(log ? "logSoftmax" : "softmax", new Ref[] {x}, t -> log ? t[0].logSoftmax(-1) : t[0].softmax(-1),
                    r -> r[0].rows(row -> softmaxRow(row, log)), 2e-6);
        }
    }

    @Test
    void softmaxGradientsAndOtherDims() {
        SplittableRandom rng = new SplittableRandom(4);
        Ref x = Ref.random(rng, -3, 3, 3, 6);
        OpCheck.gradient("softmax", new Ref[] {x}, t -> t[0].softmax(-1), r -> r[0].rows(row -> softmaxRow(row, false)), 1e-4, rng);
        OpCheck.gradient("logSoftmax", new Ref[] {x}, t -> t[0].logSoftmax(1), r -> r[0].rows(row -> softmaxRow(row, true)), 1e-4, rng);
        // softmax over dim 0 equals softmax over the last dim of the transpose
        OpCheck.gradient("softmax dim 0", new Ref[] {x}, t -> t[0].softmax(0).t(),
                r -> transpose(r[0]).rows(row -> softmaxRow(row, false)), 1e-4, rng);
    }

    private static Ref transpose(Ref r) {
        int rows = (int) r.shape()[0];
        int cols = (int) r.shape()[1];
        double[] out = new double[r.size()];
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < cols; j++) {
                out[j * rows + i] = r.data()[i * cols + j];
            }
        }
        return new Ref(new long[] {cols, rows}, out);
    }

    @ParameterizedTest(name = "layerNorm {0}")
    @MethodSource("rowShapes")
    void normsForward(long[] shape) {
        SplittableRandom rng = new SplittableRandom(shape.length + 10);
        long c = shape[shape.length - 1];
        Ref x = Ref.random(rng, -3, 3, shape);
        Ref w = Ref.random(rng, 0.5, 1.5, c);
        Ref b = Ref.random(rng, -1, 1, c);
        OpCheck.forward("layerNorm", new Ref[] {x, w, b}, t -> t[0].layerNorm(t[1], t[2], 1e-5),
                r -> r[0].rows(row -> layerNormRow(row, r[1].data(), r[2].data(), 1e-5)), 1e-5);
        OpCheck.forward("rmsNorm", new Ref[] {x, w}, t -> t[0].rmsNorm(t[1], 1e-6),
                r -> r[0].rows(row -> rmsNormRow(row, r[1].data(), 1e-6)), 1e-5);
    }

    @Test
    void normGradients() {
        SplittableRandom rng = new SplittableRandom(12);
        Ref x = Ref.random(rng, -2, 2, 4, 7);
        Ref w = Ref.random(rng, 0.5, 1.5, 7);
        Ref b = Ref.random(rng, -1, 1, 7);
        OpCheck.gradient("layerNorm", new Ref[] {x, w, b}, t -> t[0].layerNorm(t[1], t[2], 1e-5),
                r -> r[0].rows(row -> layerNormRow(row, r[1].data(), r[2].data(), 1e-5)), 2e-4, rng);
        OpCheck.gradient("rmsNorm", new Ref[] {x, w}, t -> t[0].rmsNorm(t[1], 1e-6),
                r -> r[0].rows(row -> rmsNormRow(row, r[1].data(), 1e-6)), 2e-4, rng);
    }

    @Test
    void crossEntropyMatchesReferenceWithBothLabelTypes() {
        SplittableRandom rng = new SplittableRandom(9);
        int rows = 37;
        int classes = 11;
        int[] labels = new int[rows];
        for (int i = 0; i < rows; i++) {
            labels[i] = rng.nextInt(classes);
        }
        java.util.function.Function<Ref[], Ref> reference = r -> {
            double total = 0;
            for (int i = 0; i < rows; i++) {
                double[] row = java.util.Arrays.copyOfRange(r[0].data(), i * classes, (i + 1) * classes);
                total -= softmaxRow(row, true)[labels[i]];
            }
            return new Ref(new long[] {}, new double[] {total / rows});
        };
        Ref logits = Ref.random(rng, -5, 5, rows, classes);
        OpCheck.forward("crossEntropy i32", new Ref[] {logits}, t -> t[0].crossEntropy(Tensor.of(labels, rows)), reference, 1e-5);
        long[] wide = java.util.Arrays.stream(labels).asLongStream().toArray();
        OpCheck.forward("crossEntropy i64", new Ref[] {logits}, t -> t[0].crossEntropy(Tensor.of(wide, rows)), reference, 1e-5);
        OpCheck.gradient("crossEntropy", new Ref[] {logits}, t -> t[0].crossEntropy(Tensor.of(labels, rows)), reference, 1e-4, rng);
    }

    @Test
    void crossEntropyRejectsBadLabels() {
        try (TensorScope scope = TensorScope.open()) {
            Tensor logits = Tensor.zeros(2, 3);
            var e = assertThrows(IllegalArgumentException.class, () -> logits.crossEntropy(Tensor.of(new int[] {0, 3}, 2)));
            assertTrue(e.getMessage().contains("labels[1] = 3 is outside [0, 3)"), e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> logits.crossEntropy(Tensor.of(new int[] {0, 1, 2}, 3)));
            assertThrows(IllegalArgumentException.class, () -> logits.crossEntropy(Tensor.of(new float[] {0, 1}, 2)));
        }
    }

    @Test
    void embeddingGathersAndScattersWithRepeats() {
        SplittableRandom rng = new SplittableRandom(14);
        long[] idx = {3, 0, 3, 3, 1, 4, 0};
        java.util.function.Function<Ref[], Ref> reference = r -> {
            double[] out = new double[idx.length * 5];
            for (int i = 0; i < idx.length; i++) {
                System.arraycopy(r[0].data(), (int) idx[i] * 5, out, i * 5, 5);
            }
            return new Ref(new long[] {7, 5}, out);
        };
        Ref weight = Ref.random(rng, -1, 1, 6, 5);
        OpCheck.forward("embedding", new Ref[] {weight}, t -> Tensor.embedding(t[0], Tensor.of(idx, 7)), reference, 0);
        OpCheck.gradient("embedding", new Ref[] {weight}, t -> Tensor.embedding(t[0], Tensor.of(idx, 7)), reference, 1e-4, rng);
        try (TensorScope scope = TensorScope.open()) {
            var e = assertThrows(IllegalArgumentException.class, () -> Tensor.embedding(Tensor.zeros(6, 5), Tensor.of(new long[] {6}, 1)));
            assertTrue(e.getMessage().contains("idx[0] = 6 is outside [0, 6)"), e.getMessage());
        }
    }

    @Test
    void causalMaskHidesTheFuture() {
        SplittableRandom rng = new SplittableRandom(15);
        long past = 2;
        java.util.function.Function<Ref[], Ref> reference = r -> {
            double[] out = r[0].data().clone();
            for (int b = 0; b < 2; b++) {
                for (int i = 0; i < 3; i++) {
                    for (int j = 0; j < 6; j++) {
                        if (j > i + past) {
                            out[b * 18 + i * 6 + j] = -7;
                        }
                    }
                }
            }
            return new Ref(r[0].shape(), out);
        };
        OpCheck.forward("causalMask", new Ref[] {Ref.random(rng, -1, 1, 2, 3, 6)}, t -> t[0].causalMask(past, -7), reference, 0);
        OpCheck.gradient("causalMask", new Ref[] {Ref.random(rng, -1, 1, 2, 3, 6)}, t -> t[0].causalMask(past, -7), reference, 1e-4, rng);
    }

    /**
     * softmax(scale q k^T) v over keys j <= i + tk - tq, float64, for q [b, h, tq, d], k and v [b, kvh, tk, d] (query
     * head i on key head i / (h / kvh)); out [b, tq, h, d].
     */
    static Ref attentionReference(Ref q, Ref k, Ref v, double scale) {
        return attentionReference(q, k, v, scale, new long[(int) q.shape()[0]]);
    }

    /** Row b's keys before firstKeys[b] hidden; a query that sees no key gives zeros. */
    static Ref attentionReference(Ref q, Ref k, Ref v, double scale, long[] firstKeys) {
        int batch = (int) q.shape()[0];
        int heads = (int) q.shape()[1];
        int tq = (int) q.shape()[2];
        int d = (int) q.shape()[3];
        int tk = (int) k.shape()[2];
        int kvHeads = (int) k.shape()[1];
        int group = heads / kvHeads;
        double[] out = new double[batch * tq * heads * d];
        for (int b = 0; b < batch; b++) {
            for (int h = 0; h < heads; h++) {
                for (int i = 0; i < tq; i++) {
                    int visible = i + tk - tq + 1;
                    int first = (int) firstKeys[b];
                    double[] p = new double[visible];
                    double max = Double.NEGATIVE_INFINITY;
                    for (int j = first; j < visible; j++) {
                        for (int c = 0; c < d; c++) {
                            p[j] += q.data()[((b * heads + h) * tq + i) * d + c] * k.data()[((b * kvHeads + h / group) * tk + j) * d + c];
                        }
                        p[j] *= scale;
                        max = Math.max(max, p[j]);
                    }
                    double sum = 0;
                    for (int j = first; j < visible; j++) {
                        p[j] = Math.exp(p[j] - max);
                        sum += p[j];
                    }
                    for (int j = first; j < visible; j++) {
                        for (int c = 0; c < d; c++) {
                            out[((b * tq + i) * heads + h) * d + c] += p[j] / sum * v.data()[((b * kvHeads + h / group) * tk + j) * d + c];
                        }
                    }
                }
            }
        }
        return new Ref(new long[] {batch, tq, heads, d}, out);
    }

    @Test
    void causalAttentionFusedAndDifferentiableAgreeWithTheReference() {
        SplittableRandom rng = new SplittableRandom(16);
        double scale = 0.37;
        // batch, heads, tq, tk, d, key heads (fewer: grouped-query attention, each key head's gradient summed over its group)
        for (long[] s : new long[][] {{1, 1, 1, 1, 1, 1}, {2, 3, 5, 5, 7, 3}, {1, 2, 3, 8, 4, 2}, {2, 4, 3, 6, 5, 2}, {1, 6, 1, 7, 4, 1}}) {
            Ref[] inputs = {Ref.random(rng, -2, 2, s[0], s[1], s[2], s[4]), Ref.random(rng, -2, 2, s[0], s[5], s[3], s[4]),
                Ref.random(rng, -2, 2, s[0], s[5], s[3], s[4])};
            java.util.function.Function<Ref[], Ref> reference = r -> attentionReference(r[0], r[1], r[2], scale);
            // no gradient needed: the fused kernel; inputs that need one: the differentiable ops, checked by finite differences
            OpCheck.forward("causalAttention", inputs, t -> Tensor.causalAttention(t[0], t[1], t[2], scale), reference, 1e-5);
            OpCheck.gradient("causalAttention", inputs, t -> Tensor.causalAttention(t[0], t[1], t[2], scale), reference, 2e-3, rng);
        }
    }

    /**
     * F16 keys and values (a half-precision KV cache) attend exactly as their F32 widening does: the fused kernel (prefill
     * blocks, decoding steps, grouped heads, a padded batch) and, when q needs a gradient, the differentiable ops.
     */
    @Test
    void causalAttentionOverF16KeysAndValuesEqualsItsF32Widening() {
        SplittableRandom rng = new SplittableRandom(18);
        double scale = 0.29;
        // batch, heads, tq, tk, d, key heads
        long[][] shapes = {{1, 1, 1, 1, 1, 1}, {2, 3, 5, 5, 7, 3}, {1, 8, 1, 37, 64, 2}, {2, 4, 3, 70, 16, 4}, {1, 6, 1, 300, 32, 1}};
        for (long[] s : shapes) {
            try (TensorScope scope = TensorScope.open()) {
                Tensor q = Tensor.randn(rng.nextLong(), 0, s[0], s[1], s[2], s[4]);
                Tensor k = Tensor.randn(rng.nextLong(), 0, s[0], s[5], s[3], s[4]).to(DType.F16);
                Tensor v = Tensor.randn(rng.nextLong(), 0, s[0], s[5], s[3], s[4]).to(DType.F16);
                Tensor widened = Tensor.causalAttention(q, k.to(DType.F32), v.to(DType.F32), scale);
                assertArrayEquals(widened.toFloatArray(), Tensor.causalAttention(q, k, v, scale).toFloatArray(), 1e-6f,
                        Arrays.toString(s));
                long[] firstKeys = new long[(int) s[0]];
                firstKeys[0] = s[3] / 2;
                assertArrayEquals(Tensor.causalAttention(q, k.to(DType.F32), v.to(DType.F32), scale, firstKeys).toFloatArray(),
                        Tensor.causalAttention(q, k, v, scale, firstKeys).toFloatArray(), 1e-6f, "padded " + Arrays.toString(s));
                Tensor trained = q.detach().requiresGrad(true);
                Tensor y = Tensor.causalAttention(trained, k, v, scale);
                assertArrayEquals(widened.toFloatArray(), y.toFloatArray(), 1e-5f, "differentiable " + Arrays.toString(s));
                y.sumSquares(false).backward();
                Tensor reference = q.detach().requiresGrad(true);
                Tensor.causalAttention(reference, k.to(DType.F32), v.to(DType.F32), scale).sumSquares(false).backward();
                assertArrayEquals(reference.grad().toFloatArray(), trained.grad().toFloatArray(), 1e-5f,
                        "q's gradient " + Arrays.toString(s));
            }
        }
        try (TensorScope scope = TensorScope.open()) {
            Tensor q = Tensor.zeros(1, 2, 3, 4);
            Tensor half = Tensor.zeros(1, 2, 3, 4).to(DType.F16);
            String m = assertThrows(IllegalArgumentException.class, () -> Tensor.causalAttention(q, half, q, 1)).getMessage();
            assertTrue(m.contains("k and v both F32 or both F16"), m);
            Tensor bf16 = half.to(DType.BF16);
            m = assertThrows(IllegalArgumentException.class, () -> Tensor.causalAttention(q, bf16, bf16, 1)).getMessage();
            assertTrue(m.contains("k and v both F32 or both F16"), m);
            m = assertThrows(IllegalArgumentException.class, () -> Tensor.causalAttention(half, half, half, 1)).getMessage();
            assertTrue(m.contains("needs f32"), m);
        }
    }

    @Test
    void leftPaddedAttentionHidesEachRowsPaddingKeys() {
        SplittableRandom rng = new SplittableRandom(17);
        double scale = 0.41;
        // batch, heads, tq, tk, d, key heads; first keys: none padded, all padded, some rows padded past the first queries
        long[][] shapes = {{1, 1, 1, 1, 1, 1}, {3, 2, 5, 5, 7, 2}, {3, 3, 1, 9, 4, 3}, {2, 2, 3, 8, 5, 2}, {2, 4, 3, 8, 5, 2}};
        long[][] firstKeys = {{1}, {0, 2, 5}, {0, 4, 9}, {6, 3}, {6, 3}};
        for (int c = 0; c < shapes.length; c++) {
            long[] s = shapes[c];
            long[] first = firstKeys[c];
            Ref[] inputs = {Ref.random(rng, -2, 2, s[0], s[1], s[2], s[4]), Ref.random(rng, -2, 2, s[0], s[5], s[3], s[4]),
                Ref.random(rng, -2, 2, s[0], s[5], s[3], s[4])};
            java.util.function.Function<Ref[], Ref> reference = r -> attentionReference(r[0], r[1], r[2], scale, first);
            OpCheck.forward("padded causalAttention", inputs, t -> Tensor.causalAttention(t[0], t[1], t[2], scale, first), reference,
                    1e-5);
            OpCheck.gradient("padded causalAttention", inputs, t -> Tensor.causalAttention(t[0], t[1], t[2], scale, first), reference,
                    2e-3, rng);
        }
        try (TensorScope scope = TensorScope.open()) {
            Tensor q = Tensor.zeros(2, 1, 2, 3);
            Tensor kv = Tensor.zeros(2, 1, 4, 3);
            String m = assertThrows(IllegalArgumentException.class, () -> Tensor.causalAttention(q, kv, kv, 1, new long[] {0, 5}))
                    .getMessage();
            assertTrue(m.contains("first key 5 of row 1 outside [0, 4]"), m);
            m = assertThrows(IllegalArgumentException.class, () -> Tensor.causalAttention(q, kv, kv, 1, new long[] {0})).getMessage();
            assertTrue(m.contains("one first key per row"), m);
            Tensor q3 = Tensor.zeros(2, 3, 2, 3);
            Tensor kv2 = Tensor.zeros(2, 2, 4, 3);
            m = assertThrows(IllegalArgumentException.class, () -> Tensor.causalAttention(q3, kv2, kv2, 1)).getMessage();
            assertTrue(m.contains("one number of heads that divides q's"), m);
            m = assertThrows(IllegalArgumentException.class, () -> q3.backend().causalAttention(q3, kv2, kv2, 1,
                    Tensor.empty(DType.F32, 2, 2, 3, 3))).getMessage();
            assertTrue(m.contains("key and value heads that divide the query heads"), m);
        }
    }
}
