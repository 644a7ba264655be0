package io.tessera.engine.nn;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tessera.engine.HostStorage;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/**
 * The ViT against a plain float64 implementation written from the architecture's definition (not from the module):
 * logits on random images, and every parameter's gradient against central differences of the reference's loss.
 */
class VisionTransformerTest {
    /** 9 x 9 images in 3 x 3 patches (9 patches), width 6 over 2 heads, 2 blocks, 5 classes: odd sizes everywhere. */
    private static final VisionTransformer.Config TINY = new VisionTransformer.Config(9, 3, 6, 2, 2, 5);
    private static final int BATCH = 3;

    @AfterAll
    static void noLeaks() {
        assertEquals(0, HostStorage.liveBytes(), "native bytes still allocated");
    }

    @Test
    void logitsMatchAFloat64Reference() {
        float[] images = images(BATCH, 11);
        try (VisionTransformer vit = new VisionTransformer(TINY, 5); TensorScope scope = TensorScope.open()) {
            perturbNorms(vit);
            float[] logits = vit.forward(Tensor.of(images, BATCH, TINY.pixels())).toFloatArray();
            double[][] expected = new Reference(TINY, weights(vit)).logits(images, BATCH);
            for (int b = 0; b < BATCH; b++) {
                for (int c = 0; c < TINY.classes(); c++) {
                    assertEquals(expected[b][c], logits[(int) (b * TINY.classes() + c)], 2e-5, "logit " + b + "," + c);
                }
            }
        }
    }

    @Test
    void gradientsMatchFiniteDifferencesOfTheReference() {
        float[] images = images(BATCH, 12);
        int[] labels = {4, 0, 2};
        try (VisionTransformer vit = new VisionTransformer(TINY, 6); TensorScope scope = TensorScope.open()) {
            perturbNorms(vit);
            vit.forward(Tensor.of(images, BATCH, TINY.pixels())).crossEntropy(Tensor.of(labels, BATCH)).backward();
            Map<String, double[]> weights = weights(vit);
            SplittableRandom rng = new SplittableRandom(3);
            double h = 1e-5;
            for (var entry : vit.namedParameters().entrySet()) {
                float[] grad = entry.getValue().grad().toFloatArray();
                double[] w = weights.get(entry.getKey());
                double scale = 0;
                for (float g : grad) {
                    scale = Math.max(scale, Math.abs(g));
                }
                assertTrue(scale > 0, entry.getKey() + " gets no gradient");
                for (int k = 0; k < 4; k++) {
                    int i = rng.nextInt(w.length);
                    double saved = w[i];
                    w[i] = saved + h;
                    double up = new Reference(TINY, weights).loss(images, labels);
                    w[i] = saved - h;
                    double down = new Reference(TINY, weights).loss(images, labels);
                    w[i] = saved;
                    assertEquals((up - down) / (2 * h), grad[i], 1e-3 * scale + 1e-6, entry.getKey() + "[" + i + "]");
                }
            }
            vit.zeroGrad();
        }
    }

    @Test
    void badInputIsRefusedByShape() {
        try (VisionTransformer vit = new VisionTransformer(TINY, 1); TensorScope scope = TensorScope.open()) {
            var e = assertThrows(IllegalArgumentException.class, () -> vit.forward(Tensor.zeros(2, 80)));
            assertTrue(e.getMessage().contains("[batch, 81]"), e.getMessage());
            var attention = vit.child("h.0", TransformerBlock.class).attention();
            assertTrue(!attention.causal());
            try (KvCache kv = new KvCache(1, 2, 4, 3)) {
                var cache = assertThrows(IllegalArgumentException.class, () -> attention.forward(Tensor.zeros(1, 2, 6), kv));
                assertTrue(cache.getMessage().contains("bidirectional"), cache.getMessage());
            }
        }
        assertThrows(IllegalArgumentException.class, () -> new VisionTransformer.Config(28, 5, 64, 4, 2, 10));
        assertThrows(IllegalArgumentException.class, () -> new VisionTransformer.Config(28, 7, 64, 5, 2, 10));
        try (VisionTransformer vit = new VisionTransformer(new VisionTransformer.Config(28, 7, 64, 4, 2, 10), 1)) {
            List<String> names = List.copyOf(vit.stateDict().keySet());
            assertEquals(List.of("pos_embed", "patch_embed.weight", "patch_embed.bias"), names.subList(0, 3), "own parameters first");
            assertTrue(vit.stateDict().containsKey("h.1.attn.c_attn.weight") && vit.stateDict().containsKey("head.bias"));
        }
    }

    private static float[] images(int n, long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        float[] out = new float[(int) (n * TINY.pixels())];
        for (int i = 0; i < out.length; i++) {
            out[i] = (float) rng.nextDouble();
        }
        return out;
    }

    /** Layer norms start at 1 and 0; random values make the test see their scale and shift at work. */
    private static void perturbNorms(VisionTransformer vit) {
        SplittableRandom rng = new SplittableRandom(9);
        vit.namedParameters().forEach((name, p) -> {
            if (name.contains("ln_")) {
                float[] values = new float[(int) p.numel()];
                for (int i = 0; i < values.length; i++) {
                    values[i] = (float) (name.endsWith("weight") ? 0.5 + rng.nextDouble() : rng.nextDouble() - 0.5);
                }
                io.tessera.engine.InPlace.copy(Tensor.of(values, p.shape()), p);
            }
        });
    }

    private static Map<String, double[]> weights(VisionTransformer vit) {
        Map<String, double[]> out = new LinkedHashMap<>();
        vit.stateDict().forEach((name, t) -> out.put(name, t.toDoubleArray()));
        return out;
    }

    /**
     * The model in float64 loops: linear maps y = W x + b with W [out, in] (torch.nn.Linear) or [in, out] (GPT-2's
     * Conv1D), layer norm with eps 1e-5, tanh GELU, softmax attention over all patches.
     */
    private record Reference(VisionTransformer.Config c, Map<String, double[]> w) {
        double loss(float[] images, int[] labels) {
            double[][] logits = logits(images, labels.length);
            double total = 0;
            for (int b = 0; b < labels.length; b++) {
                double max = Double.NEGATIVE_INFINITY;
                for (double v : logits[b]) {
                    max = Math.max(max, v);
                }
                double sum = 0;
                for (double v : logits[b]) {
                    sum += Math.exp(v - max);
                }
                total += max + Math.log(sum) - logits[b][labels[b]];
            }
            return total / labels.length;
        }

        double[][] logits(float[] images, int n) {
            double[][] out = new double[n][];
            for (int b = 0; b < n; b++) {
                out[b] = one(images, b);
            }
            return out;
        }

        private double[] one(float[] images, int b) {
            int t = (int) c.patches();
            int d = (int) c.dim();
            int p = c.patch();
            double[][] h = new double[t][];
            for (int pr = 0; pr < c.grid(); pr++) {
                for (int pc = 0; pc < c.grid(); pc++) {
                    double[] patch = new double[p * p];
                    for (int r = 0; r < p; r++) {
                        for (int q = 0; q < p; q++) {
                            patch[r * p + q] = images[(int) (b * c.pixels() + (pr * p + r) * c.image() + pc * p + q)];
                        }
                    }
                    int token = pr * c.grid() + pc;
                    h[token] = linear(patch, "patch_embed", d, false);
                    for (int j = 0; j < d; j++) {
                        h[token][j] += w.get("pos_embed")[token * d + j];
                    }
                }
            }
            for (int layer = 0; layer < c.layers(); layer++) {
                String prefix = "h." + layer + ".";
                double[][] attended = attention(norm(h, prefix + "ln_1"), prefix);
                for (int i = 0; i < t; i++) {
                    h[i] = plus(h[i], linear(attended[i], prefix + "attn.c_proj", d, true));
                }
                double[][] normed = norm(h, prefix + "ln_2");
                for (int i = 0; i < t; i++) {
                    double[] hidden = linear(normed[i], prefix + "mlp.c_fc", 4 * d, true);
                    for (int j = 0; j < hidden.length; j++) {
                        double x = hidden[j];
                        hidden[j] = 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
                    }
                    h[i] = plus(h[i], linear(hidden, prefix + "mlp.c_proj", d, true));
                }
            }
            double[][] last = norm(h, "ln_f");
            double[] pooled = new double[d];
            for (double[] row : last) {
                for (int j = 0; j < d; j++) {
                    pooled[j] += row[j] / t;
                }
            }
            return linear(pooled, "head", (int) c.classes(), false);
        }

        private double[][] attention(double[][] x, String prefix) {
            int t = x.length;
            int d = (int) c.dim();
            int hd = (int) (c.dim() / c.heads());
            double[][] qkv = new double[t][];
            for (int i = 0; i < t; i++) {
                qkv[i] = linear(x[i], prefix + "attn.c_attn", 3 * d, true);
            }
            double[][] out = new double[t][d];
            for (int head = 0; head < c.heads(); head++) {
                for (int i = 0; i < t; i++) {
                    double[] scores = new double[t];
                    double max = Double.NEGATIVE_INFINITY;
                    for (int j = 0; j < t; j++) {
                        for (int k = 0; k < hd; k++) {
                            scores[j] += qkv[i][head * hd + k] * qkv[j][d + head * hd + k];
                        }
                        scores[j] /= Math.sqrt(hd);
                        max = Math.max(max, scores[j]);
                    }
                    double sum = 0;
                    for (int j = 0; j < t; j++) {
                        scores[j] = Math.exp(scores[j] - max);
                        sum += scores[j];
                    }
                    for (int j = 0; j < t; j++) {
                        for (int k = 0; k < hd; k++) {
                            out[i][head * hd + k] += scores[j] / sum * qkv[j][2 * d + head * hd + k];
                        }
                    }
                }
            }
            return out;
        }

        private double[][] norm(double[][] x, String name) {
            double[] gamma = w.get(name + ".weight");
            double[] beta = w.get(name + ".bias");
            double[][] out = new double[x.length][];
            for (int i = 0; i < x.length; i++) {
                double mean = 0;
                for (double v : x[i]) {
                    mean += v / x[i].length;
                }
                double var = 0;
                for (double v : x[i]) {
                    var += (v - mean) * (v - mean) / x[i].length;
                }
                out[i] = new double[x[i].length];
                for (int j = 0; j < x[i].length; j++) {
                    out[i][j] = (x[i][j] - mean) / Math.sqrt(var + 1e-5) * gamma[j] + beta[j];
                }
            }
            return out;
        }

        /** y = W x + b; {@code inputMajor}: W stored [in, out]. */
        private double[] linear(double[] x, String name, int outs, boolean inputMajor) {
            double[] weight = w.get(name + ".weight");
            double[] y = w.get(name + ".bias").clone();
            for (int o = 0; o < outs; o++) {
                for (int i = 0; i < x.length; i++) {
                    y[o] += x[i] * weight[inputMajor ? i * outs + o : o * x.length + i];
                }
            }
            return y;
        }

        private static double[] plus(double[] a, double[] b) {
            double[] out = new double[a.length];
            for (int i = 0; i < a.length; i++) {
                out[i] = a[i] + b[i];
            }
            return out;
        }
    }
}
