package io.tessera.train;

import io.tessera.data.FashionMnist;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.engine.autograd.GradMode;
import io.tessera.engine.optim.Optimizer;
import java.util.SplittableRandom;
import java.util.function.Function;

/**
 * Minibatch training and evaluation of a classifier on an image data set (Fashion-MNIST's layout:
 * rows x cols uint8 pixels scaled to [0, 1], integer labels). Each step runs in its own
 * {@link TensorScope}, so activations and intermediate gradients are freed as soon as the step ends.
 */
public final class ClassifierTraining {
    private ClassifierTraining() {}

    /** Called after every step with the 1-based epoch, the step within it, the steps per epoch and the loss. */
    @FunctionalInterface
    public interface Progress {
        void step(int epoch, int step, int stepsPerEpoch, double loss);
    }

    /** One epoch over {@code data} in an order shuffled by (seed, epoch); returns the mean loss. */
    public static double trainEpoch(Function<Tensor, Tensor> model, Optimizer optimizer, FashionMnist.Split data,
                                    int batchSize, long seed, int epoch, Progress progress) {
        if (batchSize <= 0) {
            throw new IllegalArgumentException("batch size must be positive, got " + batchSize);
        }
        int[] order = shuffled(data.count(), new SplittableRandom(seed * 1_000_003L + epoch));
        int steps = (data.count() + batchSize - 1) / batchSize;
        double total = 0;
        for (int step = 0; step < steps; step++) {
            int from = step * batchSize;
            int to = Math.min(from + batchSize, data.count());
            double loss;
            try (TensorScope scope = TensorScope.open()) {
                Tensor[] batch = batch(data, order, from, to);
                Tensor lossTensor = model.apply(batch[0]).crossEntropy(batch[1]);
                optimizer.zeroGrad();
                lossTensor.backward();
                optimizer.step();
                loss = lossTensor.item();
            }
            total += loss * (to - from);
            progress.step(epoch, step + 1, steps, loss);
        }
        return total / data.count();
    }

    /** Fraction of {@code data} whose arg-max prediction equals the label. */
    public static double accuracy(Function<Tensor, Tensor> model, FashionMnist.Split data, int batchSize) {
        int[] order = new int[data.count()];
        for (int i = 0; i < order.length; i++) {
            order[i] = i;
        }
        long correct = 0;
        try (GradMode off = GradMode.noGrad()) {
            for (int from = 0; from < data.count(); from += batchSize) {
                int to = Math.min(from + batchSize, data.count());
                try (TensorScope scope = TensorScope.open()) {
                    Tensor[] batch = batch(data, order, from, to);
                    long[] predicted = model.apply(batch[0]).argmax(-1, false).toLongArray();
                    int[] labels = batch[1].toIntArray();
                    for (int i = 0; i < predicted.length; i++) {
                        correct += predicted[i] == labels[i] ? 1 : 0;
                    }
                }
            }
        }
        return data.count() == 0 ? 0 : (double) correct / data.count();
    }

    /** Images [n, rows*cols] in [0, 1] and I32 labels [n] of the examples order[from..to). */
    public static Tensor[] batch(FashionMnist.Split data, int[] order, int from, int to) {
        int pixels = data.rows() * data.cols();
        int n = to - from;
        float[] images = new float[n * pixels];
        int[] labels = new int[n];
        byte[] source = data.pixels();
        for (int i = 0; i < n; i++) {
            int example = order[from + i];
            int base = example * pixels;
            for (int p = 0; p < pixels; p++) {
                images[i * pixels + p] = (source[base + p] & 0xff) / 255f;
            }
            labels[i] = data.label(example);
        }
        return new Tensor[] {Tensor.of(images, n, pixels), Tensor.of(labels, n)};
    }

    private static int[] shuffled(int n, SplittableRandom rng) {
        int[] order = new int[n];
        for (int i = 0; i < n; i++) {
            order[i] = i;
        }
        for (int i = n - 1; i > 0; i--) {
            int j = rng.nextInt(i + 1);
            int tmp = order[i];
            order[i] = order[j];
            order[j] = tmp;
        }
        return order;
    }
}
