package io.tessera.cli.experiments;

import io.tessera.data.FashionMnist;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.engine.autograd.GradMode;
import io.tessera.engine.nn.Layer;
import io.tessera.engine.nn.Mlp;
import io.tessera.engine.nn.Module;
import io.tessera.engine.nn.VisionTransformer;
import io.tessera.engine.optim.AdamW;
import io.tessera.engine.optim.Optimizer;
import io.tessera.fisher.DiagonalFisher;
import io.tessera.sparse.MaskedAdamW;
import io.tessera.sparse.SparseMask;
import io.tessera.train.ClassifierTraining;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.IntStream;

/**
 * What the experiments do to a Fashion-MNIST classifier (an {@link Architecture}): split the data, pretrain on
 * some classes, fine-tune all or a masked subset of the parameters with AdamW, and measure accuracy with the
 * prediction restricted to a set of labels.
 */
final class ClassifierBench {
    /** The models the experiments run on, each the same shape every time, initialised from a seed. */
    enum Architecture {
        /** The MLP 784-256-10; its output layer is {@code 2.}. */
        MLP("An MLP 784-256-10", "2.") {
            @Override
            Module create(long seed) {
                return new Mlp(seed, 784, 256, 10);
            }
        },
        /** The demo's vision transformer; its output layer is {@code head.}. */
        VIT("A ViT (28x28 images as 16 patches of 7x7, width 64, 4 heads, 2 pre-norm blocks, mean pooling)", "head.") {
            @Override
            Module create(long seed) {
                return new VisionTransformer(new VisionTransformer.Config(28, 7, 64, 4, 2, 10), seed);
            }
        };

        /** The model as the report's first sentence names it. */
        final String description;
        /** The name prefix of the output layer's parameters. */
        final String headPrefix;

        Architecture(String description, String headPrefix) {
            this.description = description;
            this.headPrefix = headPrefix;
        }

        /** A new model (a {@link Layer} from flat images [b, 784] to logits [b, 10]) initialised from {@code seed}. */
        abstract Module create(long seed);

        /** Which of {@link #PARTS} the parameter {@code name} of rank {@code rank} belongs to. */
        String part(String name, int rank) {
            if (name.startsWith(headPrefix)) {
                return PARTS.get(0);
            }
            if (name.contains("pos_embed")) {
                return PARTS.get(2);
            }
            return rank >= 2 ? PARTS.get(1) : name.endsWith("bias") ? PARTS.get(3) : PARTS.get(4);
        }
    }

    /** The parts of a model that a mask's entries are counted in (the rank-1 weights are the norms' gains). */
    static final List<String> PARTS = List.of("output layer", "other weight matrices", "position embeddings", "biases", "norm gains");

    static final Set<Integer> PRETRAIN_CLASSES = Set.of(0, 1, 2, 3, 4);
    static final Set<Integer> NEW_CLASSES = Set.of(5, 6, 7, 8, 9);
    private static final int BATCH = 64;

    private ClassifierBench() {}

    /**
     * Training examples, validation examples (the last {@code validation} of Fashion-MNIST's training file,
     * never trained on) and the test set.
     */
    record Splits(FashionMnist.Split train, FashionMnist.Split validation, FashionMnist.Split test) {
        static Splits load(Path dir, int validation) {
            FashionMnist.Split all = FashionMnist.train(dir);
            if (validation < 1 || validation >= all.count()) {
                throw new IllegalArgumentException("the validation split must hold 1.." + (all.count() - 1) + " of the "
                        + all.count() + " training examples, got " + validation);
            }
            int cut = all.count() - validation;
            return new Splits(all.range(0, cut), all.range(cut, all.count()), FashionMnist.test(dir));
        }
    }

    /** A new model (initialised from {@code seed}) trained with AdamW (rate 1e-3) on {@code data}. */
    static Module pretrain(Architecture architecture, FashionMnist.Split data, int epochs, long seed, Progress progress) {
        Module model = architecture.create(seed);
        try (AdamW optimizer = new AdamW(model.parameters(), 1e-3)) {
            train(model, optimizer, data, epochs, seed, progress);
        } catch (RuntimeException e) {
            model.close();
            throw e;
        }
        return model;
    }

    /**
     * A copy of {@code base} fine-tuned on {@code data} with AdamW at rate {@code lr}: every parameter if
     * {@code mask} is null, else only the masked entries (compact gradients).
     */
    static Module finetune(Architecture architecture, Module base, SparseMask mask, double lr, FashionMnist.Split data, int epochs,
                           long seed, Progress progress) {
        Module tuned = architecture.create(0);
        tuned.loadStateDict(base.stateDict(), true);
        try (Optimizer optimizer = mask == null ? new AdamW(tuned.parameters(), lr)
                : new MaskedAdamW(tuned.namedParameters(), mask, lr).compactGradients()) {
            train(tuned, optimizer, data, epochs, seed, progress);
        } catch (RuntimeException e) {
            tuned.close();
            throw e;
        }
        return tuned;
    }

    /** The diagonal Fisher of {@code model} over {@code data}'s images and labels, in batches of 256. */
    static Map<String, Tensor> fisher(Module model, FashionMnist.Split data, DiagonalFisher.Labels mode, long seed) {
        return DiagonalFisher.of(model, x -> logits(model, x), images(data), Tensor.of(labels(data), data.count()), mode, seed, 256);
    }

    /** The logits of {@code model} (a {@link Layer}) for {@code images}. */
    static Tensor logits(Module model, Tensor images) {
        return ((Layer) model).forward(images);
    }

    private static void train(Module model, Optimizer optimizer, FashionMnist.Split data, int epochs, long seed, Progress progress) {
        int steps = (data.count() + BATCH - 1) / BATCH;
        for (int epoch = 1; epoch <= epochs; epoch++) {
            int done = (epoch - 1) * steps;
            ClassifierTraining.trainEpoch(x -> logits(model, x), optimizer, data, BATCH, seed, epoch,
                    (e, step, n, loss) -> progress.advance(done + step, epochs * steps));
        }
    }

    /** Progress of one training run: steps done of the total. */
    @FunctionalInterface
    interface Progress {
        void advance(long done, long total);
    }

    /** The fraction of {@code data} whose label is the arg-max of the logits over {@code labels} only. */
    static double accuracy(Module model, FashionMnist.Split data, Set<Integer> labels) {
        if (data.count() == 0) {
            throw new IllegalArgumentException("accuracy over no examples");
        }
        int[] allowed = labels.stream().mapToInt(Integer::intValue).sorted().toArray();
        int[] order = IntStream.range(0, data.count()).toArray();
        long correct = 0;
        try (GradMode off = GradMode.noGrad()) {
            for (int from = 0; from < data.count(); from += 1000) {
                int to = Math.min(from + 1000, data.count());
                try (TensorScope scope = TensorScope.open()) {
                    Tensor[] batch = ClassifierTraining.batch(data, order, from, to);
                    Tensor logits = logits(model, batch[0]);
                    int classes = (int) logits.dim(1);
                    float[] values = logits.contiguous().toFloatArray();
                    for (int i = 0; i < to - from; i++) {
                        int best = allowed[0];
                        for (int c : allowed) {
                            best = values[i * classes + c] > values[i * classes + best] ? c : best;
                        }
                        correct += best == data.label(from + i) ? 1 : 0;
                    }
                }
            }
        }
        return (double) correct / data.count();
    }

    static int[] labels(FashionMnist.Split data) {
        return IntStream.range(0, data.count()).map(data::label).toArray();
    }

    static Tensor images(FashionMnist.Split data) {
        return Tensor.of(data.normalizedPixels(0, data.count()), data.count(), (long) data.rows() * data.cols());
    }
}
