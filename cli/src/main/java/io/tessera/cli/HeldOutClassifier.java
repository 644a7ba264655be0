package io.tessera.cli;

import io.tessera.data.FashionMnist;
import io.tessera.data.TriggerStamps;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.engine.autograd.GradMode;
import io.tessera.engine.nn.Layer;
import io.tessera.engine.nn.Module;
import io.tessera.sparse.VetContext;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Supplier;

/**
 * An image classifier's predictions on held-out images, clean and stamped with each trigger pattern, for vetting's
 * per-class and trigger items; {@code skeleton} builds an untrained model of the architecture to load weights into.
 */
record HeldOutClassifier<M extends Module & Layer>(Supplier<M> skeleton, int classes, FashionMnist.Split heldOut)
        implements VetContext.Classifier {

    @Override
    public int[] labels() {
        return labelsOf(heldOut);
    }

    @Override
    public Map<String, int[]> predict(Map<String, Tensor> weights) {
        Map<String, FashionMnist.Split> inputs = new LinkedHashMap<>();
        inputs.put(CLEAN, heldOut);
        inputs.putAll(TriggerStamps.stampAll(heldOut));
        Map<String, int[]> out = new LinkedHashMap<>();
        try (M model = loaded(skeleton, weights); GradMode off = GradMode.noGrad(); TensorScope scope = TensorScope.open()) {
            inputs.forEach((name, split) -> out.put(name, toInts(model.forward(MlpFiles.images(split)).argmax(-1, false).toLongArray())));
        }
        return out;
    }

    /** A model from {@code skeleton} with {@code weights} loaded strictly (freed if they do not fit). */
    static <M extends Module> M loaded(Supplier<M> skeleton, Map<String, Tensor> weights) {
        M model = skeleton.get();
        try {
            model.loadStateDict(weights, true);
        } catch (RuntimeException e) {
            model.close();
            throw e;
        }
        return model;
    }

    static int[] labelsOf(FashionMnist.Split split) {
        int[] out = new int[split.count()];
        for (int i = 0; i < out.length; i++) {
            out[i] = split.label(i);
        }
        return out;
    }

    /**
     * The gradient of the mean cross-entropy over {@code root} at {@code model}'s weights (the maintainer's reference
     * update, negated), copied out of the model, whose gradients are cleared again.
     */
    static Map<String, Tensor> meanGradient(Module model, Layer forward, FashionMnist.Split root) {
        forward.forward(MlpFiles.images(root)).crossEntropy(Tensor.of(labelsOf(root), root.count())).backward();
        Map<String, Tensor> out = new LinkedHashMap<>();
        model.namedParameters().forEach((name, p) -> out.put(name, Tensor.of(p.grad().toFloatArray(), p.shape())));
        model.zeroGrad();
        return out;
    }

    private static int[] toInts(long[] values) {
        int[] out = new int[values.length];
        for (int i = 0; i < out.length; i++) {
            out[i] = (int) values[i];
        }
        return out;
    }
}
