package io.tessera.fisher;

import io.tessera.engine.InPlace;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.engine.autograd.GradMode;
import io.tessera.engine.nn.Linear;
import io.tessera.engine.nn.Mlp;
import io.tessera.engine.nn.Module;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Function;

/**
 * The diagonal of the Fisher information of a classifier: the mean over examples of the squared
 * per-example gradient of log p(y | x), never the square of a batch-mean gradient. Labels are the true
 * ones (empirical Fisher, as the FISH-mask paper uses) or drawn from the model's own predictive
 * distribution (the Fisher-merging paper's choice).
 *
 * <p>For an MLP the per-example squares of every Linear layer come from one GEMM per batch:
 * sum_i (g_i x_i^T)∘(g_i x_i^T) = (G∘G)^T (X∘X), with G the output gradients and X the inputs of the
 * layer, so a batch costs about one extra backward pass. {@link #perExample} is the general fallback
 * (one backward per example) for any model, and the reference the fast path is tested against.
 */
public final class DiagonalFisher {
    private DiagonalFisher() {}

    public enum Labels {
        /** The data set's labels. */
        EMPIRICAL,
        /** Labels sampled from the model's softmax, seeded. */
        SAMPLED
    }

    /**
     * Fisher of every MLP parameter over the examples of {@code inputs} [n, features] with true labels
     * {@code labels}; result names and shapes are the model's (stateDict) names.
     */
    public static Map<String, Tensor> ofMlp(Mlp model, Tensor inputs, int[] labels, Labels mode, long seed, int batchSize) {
        checkData(inputs, labels, batchSize);
        List<Linear> layers = model.layers();
        SplittableRandom rng = new SplittableRandom(seed);
        int n = labels.length;
        Accumulator acc = new Accumulator(model);
        try {
            accumulateMlp(layers, inputs, labels, mode, rng, batchSize, acc);
        } catch (RuntimeException e) {
            acc.close();
            throw e;
        }
        return acc.mean(n);
    }

    private static void accumulateMlp(List<Linear> layers, Tensor inputs, int[] labels, Labels mode,
                                      SplittableRandom rng, int batchSize, Accumulator acc) {
        int n = labels.length;
        for (int from = 0; from < n; from += batchSize) {
            int to = Math.min(n, from + batchSize);
            try (TensorScope scope = TensorScope.open()) {
                Tensor[] layerInputs = new Tensor[layers.size()];
                Tensor[] layerOutputs = new Tensor[layers.size()];
                Tensor h = inputs.slice(0, from, to);
                for (int l = 0; l < layers.size(); l++) {
                    layerInputs[l] = h;
                    // weights cut from the tape: backward then computes only the output gradients it needs,
                    // not weight gradients (the GEMM below replaces them) nor the input gradient of layer 0
                    Linear layer = layers.get(l);
                    Tensor z = h.matmul(layer.weight().detach().t()).add(layer.bias().detach());
                    layerOutputs[l] = l == 0 ? z.detach().requiresGrad(true) : z.retainGrad();
                    h = l + 1 < layers.size() ? layerOutputs[l].relu() : layerOutputs[l];
                }
                // the summed loss: its gradient at each layer output is every example's own gradient
                h.crossEntropy(batchLabels(h, labels, from, to, mode, rng)).mul(to - from).backward();
                try (GradMode off = GradMode.noGrad()) {
                    for (int l = 0; l < layers.size(); l++) {
                        Tensor g = layerOutputs[l].grad();
                        Tensor x = layerInputs[l];
                        String prefix = 2 * l + ".";
                        acc.add(prefix + "weight", g.mul(g).t().matmul(x.mul(x)));
                        acc.add(prefix + "bias", g.sumSquares(false, 0));
                        layerOutputs[l].zeroGrad();
                    }
                }
            }
        }
    }

    /**
     * Fisher of every parameter of {@code model} by one backward pass per example: works for any model
     * whose {@code forward} maps [1, ...] inputs to [1, classes] logits.
     */
    public static Map<String, Tensor> perExample(Module model, Function<Tensor, Tensor> forward, Tensor inputs, int[] labels,
                                                 Labels mode, long seed) {
        checkData(inputs, labels, 1);
        Accumulator acc = new Accumulator(model);
        SplittableRandom rng = new SplittableRandom(seed);
        try {
            for (int i = 0; i < labels.length; i++) {
                try (TensorScope scope = TensorScope.open()) {
                    Tensor logits = forward.apply(inputs.slice(0, i, i + 1));
                    logits.crossEntropy(batchLabels(logits, labels, i, i + 1, mode, rng)).backward();
                    try (GradMode off = GradMode.noGrad()) {
                        model.namedParameters().forEach((name, p) -> acc.addSquared(name, p.grad()));
                    }
                    model.zeroGrad();
                }
            }
        } catch (RuntimeException e) {
            acc.close();
            model.zeroGrad();
            throw e;
        }
        return acc.mean(labels.length);
    }

    private static void checkData(Tensor inputs, int[] labels, int batchSize) {
        if (inputs.rank() < 2 || inputs.dim(0) != labels.length) {
            throw new IllegalArgumentException("Fisher: inputs " + inputs.describe() + " must be [n, ...] with n = "
                    + labels.length + " labels");
        }
        if (batchSize < 1) {
            throw new IllegalArgumentException("Fisher: batch size must be positive, got " + batchSize);
        }
        if (labels.length == 0) {
            throw new IllegalArgumentException("Fisher: no examples");
        }
    }

    /** True labels, or labels drawn from softmax(logits) row by row. */
    private static Tensor batchLabels(Tensor logits, int[] labels, int from, int to, Labels mode, SplittableRandom rng) {
        int[] chosen = java.util.Arrays.copyOfRange(labels, from, to);
        if (mode == Labels.SAMPLED) {
            long classes = logits.dim(-1);
            float[] p;
            try (GradMode off = GradMode.noGrad()) {
                p = logits.softmax(-1).toFloatArray();
            }
            for (int i = 0; i < chosen.length; i++) {
                double u = rng.nextDouble();
                int c = 0;
                double cumulative = p[(int) (i * classes)];
                while (cumulative <= u && c < classes - 1) {
                    cumulative += p[(int) (i * classes + ++c)];
                }
                chosen[i] = c;
            }
        }
        return Tensor.of(chosen, chosen.length);
    }

    /** Per-parameter float32 sums with Kahan compensation, outside any scope until {@link #mean}. */
    private static final class Accumulator implements AutoCloseable {
        private final Map<String, Tensor[]> sums = new LinkedHashMap<>();

        Accumulator(Module model) {
            model.namedParameters().forEach((name, p) -> sums.put(name, TensorScope.outside(
                    () -> new Tensor[] {Tensor.zeros(p.shape()), Tensor.zeros(p.shape())})));
        }

        void add(String name, Tensor value) {
            accumulate(name, value, false);
        }

        void addSquared(String name, Tensor grad) {
            accumulate(name, grad, true);
        }

        private void accumulate(String name, Tensor value, boolean square) {
            Tensor[] state = sums.get(name);
            InPlace.kahanAccumulate(value.contiguous(), square, state[0], state[1]);
        }

        @Override
        public void close() {
            sums.values().forEach(state -> {
                state[0].close();
                state[1].close();
            });
        }

        Map<String, Tensor> mean(long count) {
            Map<String, Tensor> out = new LinkedHashMap<>();
            sums.forEach((name, state) -> {
                InPlace.scale(state[0], 1.0 / count);
                state[1].close();
                out.put(name, state[0]);
            });
            return out;
        }
    }
}
