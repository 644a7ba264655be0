package io.tessera.fisher;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tessera.engine.HostStorage;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.engine.nn.Mlp;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

class GramsTest {
    private static final long[] SIZES = {5, 6, 4, 3};

    @AfterAll
    static void noLeaks() {
        assertEquals(0, HostStorage.liveBytes(), "native bytes still allocated");
    }

    /** Batches of 4 over 11 rows, so the last batch is short. */
    @Test
    void gramsSumEveryLayerInputsOuterProducts() {
        int n = 11;
        SplittableRandom rng = new SplittableRandom(2);
        float[] x = new float[n * (int) SIZES[0]];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) (rng.nextDouble() * 2 - 1);
        }
        try (Mlp model = new Mlp(3, SIZES); TensorScope scope = TensorScope.open()) {
            Map<String, double[][]> expected = reference(model, x, n);
            Map<String, Tensor> grams = Grams.ofMlp(model, Tensor.of(x, n, SIZES[0]), 4);
            try {
                assertEquals(expected.keySet(), grams.keySet());
                expected.forEach((name, gram) -> {
                    float[] got = grams.get(name).toFloatArray();
                    assertEquals(gram.length * gram.length, got.length, name);
                    for (int r = 0; r < gram.length; r++) {
                        for (int c = 0; c < gram.length; c++) {
                            double e = gram[r][c];
                            assertEquals(e, got[r * gram.length + c], 1e-5 * (1 + Math.abs(e)), name + "[" + r + ", " + c + "]");
                        }
                    }
                });
            } finally {
                grams.values().forEach(Tensor::close);
            }
        }
    }

    /**
     * A sequence model: the Linear's Gram sums h_t h_t^T over every token of every example; the token embedding, also
     * used as the tied head, and the position embedding get none.
     */
    @Test
    void sequenceModelGramsSumOverEveryToken() {
        long[] ids = {0, 5, 2, 3, 3, 1, 4, 0, 2};
        try (SequenceFisherTest.TinyLm model = new SequenceFisherTest.TinyLm(4); TensorScope scope = TensorScope.open()) {
            Map<String, Tensor> grams = Grams.of(model, model::forward, Tensor.of(ids, 3, 3), 2);
            try {
                assertEquals(List.of("out.weight"), List.copyOf(grams.keySet()));
                float[] e = model.stateDict().get("tok.weight").toFloatArray();
                float[] p = model.stateDict().get("pos.weight").toFloatArray();
                int dim = (int) model.stateDict().get("pos.weight").dim(1);
                float[] got = grams.get("out.weight").toFloatArray();
                for (int r = 0; r < dim; r++) {
                    for (int c = 0; c < dim; c++) {
                        double expected = 0;
                        for (int i = 0; i < ids.length; i++) {
                            int t = i % 3;
                            int x = (int) ids[i];
                            expected += ((double) e[x * dim + r] + p[t * dim + r]) * ((double) e[x * dim + c] + p[t * dim + c]);
                        }
                        assertEquals(expected, got[r * dim + c], 1e-5 * (1 + Math.abs(expected)), "[" + r + ", " + c + "]");
                    }
                }
            } finally {
                grams.values().forEach(Tensor::close);
            }
        }
    }

    /**
     * Per layer l, the sum over examples of h h^T, where h is the layer's input: x for the first layer,
     * relu(W h + b) of the layer before for the others; in float64 from the model's weights.
     */
    private static Map<String, double[][]> reference(Mlp model, float[] x, int n) {
        Map<String, Tensor> state = model.stateDict();
        Map<String, double[][]> grams = new LinkedHashMap<>();
        List<double[]> inputs = new ArrayList<>();
        for (int e = 0; e < n; e++) {
            double[] row = new double[(int) SIZES[0]];
            for (int i = 0; i < row.length; i++) {
                row[i] = x[e * row.length + i];
            }
            inputs.add(row);
        }
        for (int l = 0; l + 1 < SIZES.length; l++) {
            int in = (int) SIZES[l];
            int out = (int) SIZES[l + 1];
            double[][] gram = new double[in][in];
            for (double[] h : inputs) {
                for (int r = 0; r < in; r++) {
                    for (int c = 0; c < in; c++) {
                        gram[r][c] += h[r] * h[c];
                    }
                }
            }
            grams.put(2 * l + ".weight", gram);
            if (l + 2 < SIZES.length) { // the next layer's inputs
                inputs = relu(inputs, state.get(2 * l + ".weight").toFloatArray(), state.get(2 * l + ".bias").toFloatArray(), out);
            }
        }
        return grams;
    }

    /** relu(W h + b) for each h, W [out, in] row-major. */
    private static List<double[]> relu(List<double[]> inputs, float[] w, float[] b, int out) {
        List<double[]> next = new ArrayList<>();
        for (double[] h : inputs) {
            double[] z = new double[out];
            for (int j = 0; j < out; j++) {
                z[j] = b[j];
                for (int i = 0; i < h.length; i++) {
                    z[j] += w[j * h.length + i] * h[i];
                }
                z[j] = Math.max(z[j], 0);
            }
            next.add(z);
        }
        return next;
    }
}
