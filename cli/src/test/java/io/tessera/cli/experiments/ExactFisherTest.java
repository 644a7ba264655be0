package io.tessera.cli.experiments;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.engine.nn.Mlp;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

class ExactFisherTest {
    private static final int IN = 5;
    private static final int HIDDEN = 4;
    private static final int CLASSES = 3;

    @Test
    void matchesTheExpectationOverClassesComputedInDouble() {
        Random random = new Random(7);
        int n = 7;
        float[] x = new float[n * IN];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) random.nextGaussian();
        }
        try (Mlp model = new Mlp(3, IN, HIDDEN, CLASSES); TensorScope scope = TensorScope.open()) {
            Map<String, Tensor> state = model.stateDict();
            double[][] expected = reference(state.get("0.weight").toFloatArray(), state.get("0.bias").toFloatArray(),
                    state.get("2.weight").toFloatArray(), state.get("2.bias").toFloatArray(), x, n);
            // batches of 3 over 7 examples: a partial last batch too
            Map<String, Tensor> fisher = ExactFisher.ofMlp(model, Tensor.of(x, n, IN), 3);
            String[] names = {"0.weight", "0.bias", "2.weight", "2.bias"};
            for (int t = 0; t < names.length; t++) {
                float[] actual = fisher.get(names[t]).toFloatArray();
                assertEquals(expected[t].length, actual.length, names[t]);
                for (int i = 0; i < actual.length; i++) {
                    assertEquals(expected[t][i], actual[i], 1e-5 + 1e-4 * Math.abs(expected[t][i]), names[t] + "[" + i + "]");
                }
                assertTrue(java.util.Arrays.stream(expected[t]).sum() > 0, names[t] + " is informed by the data");
            }
            fisher.values().forEach(Tensor::close);
        }
    }

    /**
     * mean_i sum_c p_ic (d log p_ic / d theta)^2 by hand: z = W2 relu(W0 x + b0) + b2, and the gradient of
     * -log p_c at z is p - e_c, backpropagated through the ReLU.
     */
    private static double[][] reference(float[] w0, float[] b0, float[] w2, float[] b2, float[] x, int n) {
        double[][] f = {new double[HIDDEN * IN], new double[HIDDEN], new double[CLASSES * HIDDEN], new double[CLASSES]};
        for (int i = 0; i < n; i++) {
            double[] pre = new double[HIDDEN];
            double[] h = new double[HIDDEN];
            for (int j = 0; j < HIDDEN; j++) {
                pre[j] = b0[j];
                for (int k = 0; k < IN; k++) {
                    pre[j] += (double) w0[j * IN + k] * x[i * IN + k];
                }
                h[j] = Math.max(0, pre[j]);
            }
            double[] z = new double[CLASSES];
            double max = Double.NEGATIVE_INFINITY;
            for (int c = 0; c < CLASSES; c++) {
                z[c] = b2[c];
                for (int j = 0; j < HIDDEN; j++) {
                    z[c] += (double) w2[c * HIDDEN + j] * h[j];
                }
                max = Math.max(max, z[c]);
            }
            double sum = 0;
            double[] p = new double[CLASSES];
            for (int c = 0; c < CLASSES; c++) {
                p[c] = Math.exp(z[c] - max);
                sum += p[c];
            }
            for (int c = 0; c < CLASSES; c++) {
                p[c] /= sum;
            }
            for (int y = 0; y < CLASSES; y++) {
                double[] dz = new double[CLASSES];
                for (int c = 0; c < CLASSES; c++) {
                    dz[c] = p[c] - (c == y ? 1 : 0);
                }
                double[] dpre = new double[HIDDEN];
                for (int j = 0; j < HIDDEN; j++) {
                    double dh = 0;
                    for (int c = 0; c < CLASSES; c++) {
                        dh += dz[c] * w2[c * HIDDEN + j];
                    }
                    dpre[j] = pre[j] > 0 ? dh : 0;
                }
                double weight = p[y] / n;
                for (int j = 0; j < HIDDEN; j++) {
                    for (int k = 0; k < IN; k++) {
                        f[0][j * IN + k] += weight * sq(dpre[j] * x[i * IN + k]);
                    }
                    f[1][j] += weight * sq(dpre[j]);
                }
                for (int c = 0; c < CLASSES; c++) {
                    for (int j = 0; j < HIDDEN; j++) {
                        f[2][c * HIDDEN + j] += weight * sq(dz[c] * h[j]);
                    }
                    f[3][c] += weight * sq(dz[c]);
                }
            }
        }
        return f;
    }

    private static double sq(double v) {
        return v * v;
    }
}
