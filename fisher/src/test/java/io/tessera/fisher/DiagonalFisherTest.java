package io.tessera.fisher;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tessera.engine.HostStorage;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.engine.nn.Mlp;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

class DiagonalFisherTest {
    private static final int N = 7;
    private static final int IN = 5;
    private static final int HIDDEN = 4;
    private static final int CLASSES = 3;

    @AfterAll
    static void noLeaks() {
        assertEquals(0, HostStorage.liveBytes(), "native bytes still allocated");
    }

    private static float[] randomInputs() {
        SplittableRandom rng = new SplittableRandom(3);
        float[] x = new float[N * IN];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) (rng.nextDouble() * 2 - 1);
        }
        return x;
    }

    private static final int[] LABELS = {0, 2, 1, 1, 0, 2, 2};

    /**
     * Per-example gradients of -log softmax(W2 relu(W1 x + b1) + b2)[y], squared and averaged, by plain
     * float64 backpropagation written out by hand.
     */
    private static Map<String, double[]> reference(Mlp model, float[] x, int[] labels) {
        return reference(model, x, labels, false);
    }

    /**
     * With {@code exact}, the squares are summed over every class y weighed by the model's probability p(y | x)
     * (the labels are not used): the exact Fisher.
     */
    private static Map<String, double[]> reference(Mlp model, float[] x, int[] labels, boolean exact) {
        float[] w1 = model.stateDict().get("0.weight").toFloatArray();
        float[] b1 = model.stateDict().get("0.bias").toFloatArray();
        float[] w2 = model.stateDict().get("2.weight").toFloatArray();
        float[] b2 = model.stateDict().get("2.bias").toFloatArray();
        double[] fw1 = new double[w1.length];
        double[] fb1 = new double[b1.length];
        double[] fw2 = new double[w2.length];
        double[] fb2 = new double[b2.length];
        for (int n = 0; n < labels.length; n++) {
            double[] z1 = new double[HIDDEN];
            double[] h = new double[HIDDEN];
            for (int j = 0; j < HIDDEN; j++) {
                z1[j] = b1[j];
                for (int i = 0; i < IN; i++) {
                    z1[j] += (double) w1[j * IN + i] * x[n * IN + i];
                }
                h[j] = Math.max(z1[j], 0);
            }
            double[] z2 = new double[CLASSES];
            double max = Double.NEGATIVE_INFINITY;
            for (int c = 0; c < CLASSES; c++) {
                z2[c] = b2[c];
                for (int j = 0; j < HIDDEN; j++) {
                    z2[c] += (double) w2[c * HIDDEN + j] * h[j];
                }
                max = Math.max(max, z2[c]);
            }
            double sum = 0;
            for (int c = 0; c < CLASSES; c++) {
                sum += Math.exp(z2[c] - max);
            }
            for (int y = 0; y < CLASSES; y++) {
                double weight = exact ? Math.exp(z2[y] - max) / sum : y == labels[n] ? 1 : 0;
                double[] g2 = new double[CLASSES];
                for (int c = 0; c < CLASSES; c++) {
                    g2[c] = Math.exp(z2[c] - max) / sum - (c == y ? 1 : 0);
                    fb2[c] += weight * g2[c] * g2[c] / labels.length;
                    for (int j = 0; j < HIDDEN; j++) {
                        double g = g2[c] * h[j];
                        fw2[c * HIDDEN + j] += weight * g * g / labels.length;
                    }
                }
                for (int j = 0; j < HIDDEN; j++) {
                    double g1 = 0;
                    for (int c = 0; c < CLASSES; c++) {
                        g1 += g2[c] * w2[c * HIDDEN + j];
                    }
                    g1 = z1[j] > 0 ? g1 : 0;
                    fb1[j] += weight * g1 * g1 / labels.length;
                    for (int i = 0; i < IN; i++) {
                        double g = g1 * x[n * IN + i];
                        fw1[j * IN + i] += weight * g * g / labels.length;
                    }
                }
            }
        }
        return Map.of("0.weight", fw1, "0.bias", fb1, "2.weight", fw2, "2.bias", fb2);
    }

    private static void assertClose(double[] expected, Tensor actual, String what) {
        float[] values = actual.toFloatArray();
        assertEquals(expected.length, values.length, what);
        for (int i = 0; i < values.length; i++) {
            assertEquals(expected[i], values[i], 1e-5 + 1e-4 * Math.abs(expected[i]), what + "[" + i + "]");
        }
    }

    private static void closeAll(Map<String, Tensor> tensors) {
        tensors.values().forEach(Tensor::close);
    }

    @Test
    void fastPathMatchesFloat64PerExampleReference() {
        float[] x = randomInputs();
        try (Mlp model = new Mlp(9, IN, HIDDEN, CLASSES); TensorScope scope = TensorScope.open()) {
            Tensor inputs = Tensor.of(x, N, IN);
            Map<String, double[]> expected = reference(model, x, LABELS);
            for (int batch : new int[] {1, 3, N}) {
                Map<String, Tensor> fisher = DiagonalFisher.ofMlp(model, inputs, LABELS, DiagonalFisher.Labels.EMPIRICAL, 0, batch);
                expected.forEach((name, values) -> assertClose(values, fisher.get(name), "batch " + batch + " " + name));
                closeAll(fisher);
            }
            Map<String, Tensor> slow = DiagonalFisher.perExample(model, model::forward, inputs, LABELS, DiagonalFisher.Labels.EMPIRICAL, 0);
            expected.forEach((name, values) -> assertClose(values, slow.get(name), "per-example " + name));
            closeAll(slow);
        }
    }

    /** The exact Fisher (every class weighed by its probability) on both paths against the float64 reference. */
    @Test
    void exactLabelsMatchFloat64Reference() {
        float[] x = randomInputs();
        try (Mlp model = new Mlp(11, IN, HIDDEN, CLASSES); TensorScope scope = TensorScope.open()) {
            Tensor inputs = Tensor.of(x, N, IN);
            Map<String, double[]> expected = reference(model, x, LABELS, true);
            Map<String, double[]> empirical = reference(model, x, LABELS, false);
            assertTrue(Math.abs(expected.get("2.bias")[0] - empirical.get("2.bias")[0]) > 1e-3, "exact and empirical should differ");
            for (int batch : new int[] {1, 2, N}) {
                Map<String, Tensor> fisher = DiagonalFisher.ofMlp(model, inputs, LABELS, DiagonalFisher.Labels.EXACT, 0, batch);
                expected.forEach((name, values) -> assertClose(values, fisher.get(name), "exact, batch " + batch + " " + name));
                closeAll(fisher);
            }
            Map<String, Tensor> slow = DiagonalFisher.perExample(model, model::forward, inputs, LABELS, DiagonalFisher.Labels.EXACT, 0);
            expected.forEach((name, values) -> assertClose(values, slow.get(name), "exact, per-example " + name));
            closeAll(slow);
        }
    }

    @Test
    void isTheMeanOfSquaresNotTheSquareOfTheMean() {
        float[] x = randomInputs();
        try (Mlp model = new Mlp(9, IN, HIDDEN, CLASSES); TensorScope scope = TensorScope.open()) {
            Tensor inputs = Tensor.of(x, N, IN);
            Map<String, Tensor> fisher = DiagonalFisher.ofMlp(model, inputs, LABELS, DiagonalFisher.Labels.EMPIRICAL, 0, N);
            model.forward(inputs).crossEntropy(Tensor.of(LABELS, N)).backward();
            double squareOfMean = model.stateDict().get("2.bias").grad().sumSquares(false).item();
            double meanOfSquares = fisher.get("2.bias").sum().item();
            assertTrue(meanOfSquares > squareOfMean * 1.5, meanOfSquares + " vs " + squareOfMean);
            model.zeroGrad();
            closeAll(fisher);
        }
    }

    @Test
    void sampledLabelsAreSeededAndAgreeBetweenPaths() {
        float[] x = randomInputs();
        try (Mlp model = new Mlp(4, IN, HIDDEN, CLASSES); TensorScope scope = TensorScope.open()) {
            Tensor inputs = Tensor.of(x, N, IN);
            Map<String, Tensor> fast = DiagonalFisher.ofMlp(model, inputs, LABELS, DiagonalFisher.Labels.SAMPLED, 42, 2);
            Map<String, Tensor> slow = DiagonalFisher.perExample(model, model::forward, inputs, LABELS, DiagonalFisher.Labels.SAMPLED, 42);
            Map<String, Tensor> again = DiagonalFisher.ofMlp(model, inputs, LABELS, DiagonalFisher.Labels.SAMPLED, 42, 5);
            Map<String, Tensor> empirical = DiagonalFisher.ofMlp(model, inputs, LABELS, DiagonalFisher.Labels.EMPIRICAL, 42, 5);
            boolean differsFromEmpirical = false;
            for (String name : fast.keySet()) {
                float[] a = fast.get(name).toFloatArray();
                float[] b = slow.get(name).toFloatArray();
                float[] c = again.get(name).toFloatArray();
                float[] e = empirical.get(name).toFloatArray();
                for (int i = 0; i < a.length; i++) {
                    assertEquals(b[i], a[i], 1e-6 + 1e-4 * Math.abs(b[i]), name);
                    assertEquals(c[i], a[i], 1e-6 + 1e-4 * Math.abs(c[i]), name);
                    differsFromEmpirical |= Math.abs(e[i] - a[i]) > 1e-4;
                }
            }
            assertTrue(differsFromEmpirical, "sampled labels should change the Fisher");
            for (var m : new Map[] {fast, slow, again, empirical}) {
                closeAll(m);
            }
        }
    }

    @Test
    void badInputsAreClearErrors() {
        try (Mlp model = new Mlp(1, IN, HIDDEN, CLASSES); TensorScope scope = TensorScope.open()) {
            var e = assertThrows(IllegalArgumentException.class,
                    () -> DiagonalFisher.ofMlp(model, Tensor.zeros(3, IN), LABELS, DiagonalFisher.Labels.EMPIRICAL, 0, 2));
            assertTrue(e.getMessage().contains("with n = 7 as the targets"), e.getMessage());
            assertThrows(IllegalArgumentException.class,
                    () -> DiagonalFisher.ofMlp(model, Tensor.zeros(N, IN), LABELS, DiagonalFisher.Labels.EMPIRICAL, 0, 0));
            assertThrows(IllegalArgumentException.class, () -> DiagonalFisher.ofMlp(model, Tensor.zeros(N, IN),
                    new int[] {0, 1, 2, 3, 0, 1, 2}, DiagonalFisher.Labels.EMPIRICAL, 0, 2), "label 3 of 3 classes");
        }
    }
}
