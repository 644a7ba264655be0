package io.tessera.fisher;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tessera.engine.HostStorage;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.engine.nn.Embedding;
import io.tessera.engine.nn.Layer;
import io.tessera.engine.nn.Linear;
import io.tessera.engine.nn.Module;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/**
 * The per-example Fisher of a sequence model with every kind of parameter use the tap splits (a Linear over tokens,
 * its bias, a token embedding that is also a tied head, a position embedding shared by the batch) against plain
 * float64 backpropagation written out by hand.
 */
class SequenceFisherTest {
    private static final int VOCAB = 6;
    private static final int DIM = 4;
    private static final int LENGTH = 3;
    private static final int EXAMPLES = 5;

    @AfterAll
    static void noLeaks() {
        assertEquals(0, HostStorage.liveBytes(), "native bytes still allocated");
    }

    /** h_t = E[x_t] + P[t]; logits_t = W h_t + b + E h_t. */
    static final class TinyLm extends Module {
        TinyLm(long seed) {
            child("tok", new Embedding(VOCAB, DIM, 0.5, seed));
            child("pos", new Embedding(LENGTH, DIM, 0.5, seed + 1));
            child("out", Linear.of(DIM, VOCAB, true, seed + 2));
        }

        Tensor forward(Tensor ids) {
            Tensor h = hidden(ids);
            return child("out", Layer.class).forward(h).add(h.linear(child("tok", Embedding.class).weight(), false));
        }

        /** W h_t + b with the Linear applied to the batch's rows flattened into [examples * length, dim]. */
        Tensor forwardFlattened(Tensor ids) {
            return child("out", Layer.class).forward(hidden(ids).reshape(-1, DIM)).reshape(ids.dim(0), LENGTH, VOCAB);
        }

        private Tensor hidden(Tensor ids) {
            Tensor positions = child("pos", Embedding.class).forward(Tensor.of(new long[] {0, 1, 2}, LENGTH));
            return Tensor.embedding(child("tok", Embedding.class).weight(), ids).add(positions);
        }
    }

    @Test
    void matchesFloat64PerExampleReference() {
        SplittableRandom rng = new SplittableRandom(5);
        long[] ids = new long[EXAMPLES * LENGTH];
        long[] targets = new long[EXAMPLES * LENGTH];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = rng.nextInt(VOCAB);
            targets[i] = rng.nextInt(VOCAB);
        }
        try (TinyLm model = new TinyLm(3); TensorScope scope = TensorScope.open()) {
            Map<String, double[]> expected = reference(model, ids, targets);
            Tensor inputs = Tensor.of(ids, EXAMPLES, LENGTH);
            Tensor labels = Tensor.of(targets, EXAMPLES, LENGTH);
            for (int batch : new int[] {1, 2, EXAMPLES}) {
                Map<String, Tensor> fisher = DiagonalFisher.of(model, model::forward, inputs, labels, DiagonalFisher.Labels.EMPIRICAL,
                        0, batch);
                assertEquals(expected.keySet(), fisher.keySet());
                expected.forEach((name, values) -> {
                    float[] actual = fisher.get(name).toFloatArray();
                    for (int i = 0; i < values.length; i++) {
                        String what = "batch " + batch + " " + name + "[" + i + "]";
                        assertEquals(values[i], actual[i], 1e-6 + 1e-5 * Math.abs(values[i]), what);
                    }
                });
                fisher.values().forEach(Tensor::close);
            }
        }
    }

    @Test
    void aParameterUsedOnFlattenedExamplesIsRefusedByName() {
        try (TinyLm model = new TinyLm(3); TensorScope scope = TensorScope.open()) {
            Tensor inputs = Tensor.of(new long[] {1, 2, 3, 4, 5, 0}, 2, LENGTH);
            Tensor labels = Tensor.of(new long[] {1, 2, 3, 4, 5, 0}, 2, LENGTH);
            // rows of several examples in one dim: which example a row belongs to is not known
            var e = assertThrows(IllegalArgumentException.class, () -> DiagonalFisher.of(model, model::forwardFlattened, inputs, labels,
                    DiagonalFisher.Labels.EMPIRICAL, 0, 2));
            String message = e.getMessage();
            assertTrue(message.contains("out.bias is used by add, whose output f32[6, 6]") && message.contains("2 examples along dim 0"),
                    message);
            model.zeroGrad();
        }
    }

    /** Per example: the gradient of the mean over positions of -log softmax(logits_t)[y_t], summed over uses, squared. */
    private static Map<String, double[]> reference(TinyLm model, long[] ids, long[] targets) {
        Map<String, Tensor> state = model.stateDict();
        float[] e = state.get("tok.weight").toFloatArray();
        float[] p = state.get("pos.weight").toFloatArray();
        float[] w = state.get("out.weight").toFloatArray();
        float[] b = state.get("out.bias").toFloatArray();
        Map<String, double[]> fisher = new LinkedHashMap<>();
        fisher.put("tok.weight", new double[e.length]);
        fisher.put("pos.weight", new double[p.length]);
        fisher.put("out.weight", new double[w.length]);
        fisher.put("out.bias", new double[b.length]);
        for (int n = 0; n < EXAMPLES; n++) {
            double[] ge = new double[e.length];
            double[] gp = new double[p.length];
            double[] gw = new double[w.length];
            double[] gb = new double[b.length];
            for (int t = 0; t < LENGTH; t++) {
                int x = (int) ids[n * LENGTH + t];
                int y = (int) targets[n * LENGTH + t];
                double[] h = new double[DIM];
                for (int d = 0; d < DIM; d++) {
                    h[d] = (double) e[x * DIM + d] + p[t * DIM + d];
                }
                double[] z = new double[VOCAB];
                double max = Double.NEGATIVE_INFINITY;
                for (int v = 0; v < VOCAB; v++) {
                    z[v] = b[v];
                    for (int d = 0; d < DIM; d++) {
                        z[v] += ((double) w[v * DIM + d] + e[v * DIM + d]) * h[d];
                    }
                    max = Math.max(max, z[v]);
                }
                double sum = 0;
                for (int v = 0; v < VOCAB; v++) {
                    sum += Math.exp(z[v] - max);
                }
                double[] gh = new double[DIM];
                for (int v = 0; v < VOCAB; v++) {
                    double gz = (Math.exp(z[v] - max) / sum - (v == y ? 1 : 0)) / LENGTH;
                    gb[v] += gz;
                    for (int d = 0; d < DIM; d++) {
                        gw[v * DIM + d] += gz * h[d];
                        ge[v * DIM + d] += gz * h[d]; // the tied head
                        gh[d] += gz * ((double) w[v * DIM + d] + e[v * DIM + d]);
                    }
                }
                for (int d = 0; d < DIM; d++) {
                    ge[x * DIM + d] += gh[d];
                    gp[t * DIM + d] += gh[d];
                }
            }
            addSquares(fisher.get("tok.weight"), ge);
            addSquares(fisher.get("pos.weight"), gp);
            addSquares(fisher.get("out.weight"), gw);
            addSquares(fisher.get("out.bias"), gb);
        }
        return fisher;
    }

    private static void addSquares(double[] sum, double[] gradient) {
        for (int i = 0; i < sum.length; i++) {
            sum[i] += gradient[i] * gradient[i] / EXAMPLES;
        }
    }
}
