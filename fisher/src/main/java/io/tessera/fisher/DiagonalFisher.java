package io.tessera.fisher;

import io.tessera.engine.DType;
import io.tessera.engine.InPlace;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.engine.autograd.GradMode;
import io.tessera.engine.nn.Mlp;
import io.tessera.engine.nn.Module;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Function;

/**
 * The diagonal of the Fisher information of a model of any architecture: the mean over examples of the squared
 * per-example gradient of the example's loss, never the square of a batch-mean gradient. An example is a row of
 * the inputs with its targets: a class (a classifier) or one target per position (a causal LM: the next tokens),
 * and its loss is the mean cross entropy over its positions. Targets are the true ones (empirical Fisher, as the
 * FISH-mask paper uses), drawn from the model's own predictive distribution at each position (seeded), or, for
 * one prediction per example, the exact expectation over that distribution (the Fisher-merging paper's choice):
 * F = mean_i sum_c p(c | x_i) (d log p(c | x_i))^2.
 *
 * <p>{@link #of} runs one batched forward and backward pass per batch and splits the gradients by example around
 * each op that uses a parameter ({@link ExampleGradients}); {@link #perExample} (one backward pass per example)
 * is the reference it is tested against.
 */
public final class DiagonalFisher {
    private DiagonalFisher() {}

    public enum Labels {
        /** The data set's labels. */
        EMPIRICAL,
        /** Labels sampled from the model's softmax, seeded. */
        SAMPLED,
        /**
         * Every label, weighed by the model's probability of it (the targets' values are not used): one backward pass
         * per class of sum_i sqrt(p_ic) (-log p_ic), p held constant, whose squared per-example gradients are
         * p_ic (d log p_ic)^2. For models with one prediction per example (logits [b, classes]).
         */
        EXACT
    }

    /**
     * Fisher of every MLP parameter over the examples of {@code inputs} [n, features] with true labels
     * {@code labels}; result names and shapes are the model's (stateDict) names.
     */
    public static Map<String, Tensor> ofMlp(Mlp model, Tensor inputs, int[] labels, Labels mode, long seed, int batchSize) {
        return of(model, model::forward, inputs, Tensor.of(labels, labels.length), mode, seed, batchSize);
    }

    /**
     * Fisher of every parameter of {@code model} over the examples of {@code inputs} [n, ...], whose
     * {@code forward} maps a batch [b, ...] to logits [b, ..., classes] without mixing examples; {@code targets}
     * (I32 or I64) are [n] (a class per example) or [n, ...] (one per position of the logits). Batches of
     * {@code batchSize} examples.
     */
    public static Map<String, Tensor> of(Module model, Function<Tensor, Tensor> forward, Tensor inputs, Tensor targets,
                                         Labels mode, long seed, int batchSize) {
        checkData(inputs, targets, batchSize);
        Map<Tensor, String> names = new IdentityHashMap<>();
        model.namedParameters().forEach((name, p) -> names.put(p, name));
        SplittableRandom rng = new SplittableRandom(seed);
        long n = inputs.dim(0);
        Accumulator acc = new Accumulator(model);
        try {
            model.zeroGrad();
            for (long from = 0; from < n; from += batchSize) {
                long to = Math.min(n, from + batchSize);
                try (TensorScope scope = TensorScope.open()) {
                    Tensor batch = inputs.slice(0, from, to).contiguous(); // the tensor the model sees, as the tap knows it
                    if (batch.dtype().isFloatingPoint()) {
                        // every op on the input then records a node, so the tap follows the data through ops that use no
                        // parameter before any that does (e.g. a vision transformer cutting its images into patches)
                        batch.requiresGrad(true);
                    }
                    Tensor batchTargets = targets.slice(0, from, to);
                    float[][] p = new float[1][];
                    long classes = 1;
                    for (int c = 0; c < classes; c++) { // one pass, or one per class for EXACT
                        try (TensorScope pass = TensorScope.open()) {
                            ExampleGradients tap = new ExampleGradients(batch, names);
                            Tensor logits = forward.apply(batch);
                            classes = mode == Labels.EXACT ? logits.dim(-1) : 1;
                            Tensor loss = mode == Labels.EXACT ? exactLoss(logits, batchTargets, c, p)
                                    : lossOf(logits, batchTargets, mode, rng);
                            loss.backward(tap);
                            batch.zeroGrad();
                            checkEveryUseTaken(model);
                            try (GradMode off = GradMode.noGrad()) {
                                tap.sumSquares(acc::add);
                            }
                        }
                    }
                }
            }
        } catch (RuntimeException e) {
            acc.close();
            model.zeroGrad();
            throw e;
        }
        return acc.mean(n);
    }

    /** A parameter that still got a (batch-summed) gradient was reached by a use the tap could not split by example. */
    private static void checkEveryUseTaken(Module model) {
        model.namedParameters().forEach((name, p) -> {
            if (p.grad() != null) {
                throw new IllegalArgumentException("Fisher: the gradient of " + name + " cannot be split by example (the"
                        + " forward uses it in an op whose output does not depend on the batch's input)");
            }
        });
    }

    /**
     * Fisher of every parameter of {@code model} by one backward pass per example: works for any model
     * whose {@code forward} maps [1, ...] inputs to [1, classes] logits.
     */
    public static Map<String, Tensor> perExample(Module model, Function<Tensor, Tensor> forward, Tensor inputs, int[] labels,
                                                 Labels mode, long seed) {
        return perExample(model, forward, inputs, Tensor.of(labels, labels.length), mode, seed);
    }

    /** {@link #of} by one backward pass per example: the reference for any model, slow. */
    public static Map<String, Tensor> perExample(Module model, Function<Tensor, Tensor> forward, Tensor inputs, Tensor targets,
                                                 Labels mode, long seed) {
        checkData(inputs, targets, 1);
        Accumulator acc = new Accumulator(model);
        SplittableRandom rng = new SplittableRandom(seed);
        try {
            for (long i = 0; i < inputs.dim(0); i++) {
                float[][] p = new float[1][];
                long classes = 1;
                for (int c = 0; c < classes; c++) { // one pass, or one per class for EXACT
                    try (TensorScope scope = TensorScope.open()) {
                        Tensor logits = forward.apply(inputs.slice(0, i, i + 1));
                        classes = mode == Labels.EXACT ? logits.dim(-1) : 1;
                        Tensor example = targets.slice(0, i, i + 1);
                        (mode == Labels.EXACT ? exactLoss(logits, example, c, p) : lossOf(logits, example, mode, rng)).backward();
                        try (GradMode off = GradMode.noGrad()) {
                            model.namedParameters().forEach((name, param) -> acc.addSquared(name, param.grad()));
                        }
                        model.zeroGrad();
                    }
                }
            }
        } catch (RuntimeException e) {
            acc.close();
            model.zeroGrad();
            throw e;
        }
        return acc.mean(inputs.dim(0));
    }

    /** The sum over the batch's examples of each one's mean cross entropy over its positions. */
    private static Tensor lossOf(Tensor logits, Tensor targets, Labels mode, SplittableRandom rng) {
        long classes = logits.dim(-1);
        long rows = logits.numel() / classes;
        if (targets.numel() != rows || targets.dim(0) != logits.dim(0)) {
            throw new IllegalArgumentException("Fisher: targets " + targets.describe() + " do not match the logits "
                    + logits.describe() + " (one target per example and position)");
        }
        Tensor flat = logits.reshape(rows, classes);
        return flat.crossEntropy(labels(flat, targets, mode, rng)).mul(logits.dim(0));
    }

    /**
     * Class {@code c}'s term of the exact Fisher's loss: sum_i sqrt(p_ic) (-log p_ic), with p the batch's predictive
     * distribution, computed once (at class 0) into {@code p[0]} and held constant.
     */
    private static Tensor exactLoss(Tensor logits, Tensor targets, int c, float[][] p) {
        if (logits.rank() != 2 || targets.numel() != logits.dim(0)) {
            throw new IllegalArgumentException("Fisher: exact labels need one prediction per example (logits [b, classes] for"
                    + " targets [b]), got logits " + logits.describe() + " for targets " + targets.describe());
        }
        int rows = (int) logits.dim(0);
        int classes = (int) logits.dim(1);
        if (c == 0) {
            try (GradMode off = GradMode.noGrad()) {
                p[0] = logits.softmax(-1).toFloatArray();
            }
        }
        float[] weights = new float[rows * classes];
        for (int i = 0; i < rows; i++) {
            weights[i * classes + c] = (float) Math.sqrt(p[0][i * classes + c]);
        }
        return logits.logSoftmax(-1).mul(Tensor.of(weights, rows, classes).to(logits.device())).sum().neg();
    }

    private static void checkData(Tensor inputs, Tensor targets, int batchSize) {
        if (inputs.rank() < 2 || targets.rank() < 1 || inputs.dim(0) != targets.dim(0)) {
            throw new IllegalArgumentException("Fisher: inputs " + inputs.describe() + " must be [n, ...] with n = "
                    + (targets.rank() < 1 ? "?" : targets.dim(0)) + " as the targets " + targets.describe());
        }
        if (targets.dtype() != DType.I32 && targets.dtype() != DType.I64) {
            throw new IllegalArgumentException("Fisher: targets must be I32 or I64 class ids, got " + targets.describe());
        }
        if (batchSize < 1) {
            throw new IllegalArgumentException("Fisher: batch size must be positive, got " + batchSize);
        }
        if (inputs.dim(0) == 0) {
            throw new IllegalArgumentException("Fisher: no examples");
        }
    }

    /** The true targets [rows], or targets drawn from softmax(logits) row by row. */
    private static Tensor labels(Tensor logits, Tensor targets, Labels mode, SplittableRandom rng) {
        if (mode == Labels.EMPIRICAL) {
            return targets.reshape(targets.numel()).to(logits.device());
        }
        long classes = logits.dim(-1);
        int rows = (int) logits.dim(0);
        float[] p;
        try (GradMode off = GradMode.noGrad()) {
            p = logits.softmax(-1).toFloatArray();
        }
        int[] chosen = new int[rows];
        for (int i = 0; i < rows; i++) {
            double u = rng.nextDouble();
            int c = 0;
            double cumulative = p[(int) (i * classes)];
            while (cumulative <= u && c < classes - 1) {
                cumulative += p[(int) (i * classes + ++c)];
            }
            chosen[i] = c;
        }
        return Tensor.of(chosen, rows).to(logits.device());
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
