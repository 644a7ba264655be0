package io.tessera.pipeline;

import io.tessera.engine.Backend;
import io.tessera.engine.DType;
import io.tessera.engine.Tensor;
import io.tessera.engine.nn.Embedding;
import io.tessera.engine.nn.Linear;
import io.tessera.engine.nn.Module;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** Keeps a model's weights in half precision ({@link HalfLinear}), for inference: rounded to BF16, or as a checkpoint stores them. */
public final class HalfWeights {
    private HalfWeights() {}

    /**
     * Replaces every {@link Linear} of {@code model} (and, with {@code embeddings}, every {@link Embedding}, so a tied LM
     * head reads BF16 too) by a {@link HalfLinear} with its weight rounded to BF16 and exact products, and frees the float
     * layer. Returns the dotted
     * paths converted.
     */
    public static List<String> convert(Module model, boolean embeddings) {
        return convert(model, embeddings, Bf16Products.EXACT);
    }

    /** {@link #convert(Module, boolean)} with products as {@code products} says. */
    public static List<String> convert(Module model, boolean embeddings, Bf16Products products) {
        return convert(model, DType.BF16, embeddings, products);
    }

    /** {@link #convert(Module, boolean)} with the weights rounded to {@code half}, BF16 or F16. */
    public static List<String> convert(Module model, DType half, boolean embeddings) {
        return convert(model, half, embeddings, Bf16Products.EXACT);
    }

    private static List<String> convert(Module model, DType half, boolean embeddings, Bf16Products products) {
        return Quantization.replace(model, (path, layer) -> layer instanceof Linear linear ? HalfLinear.of(linear, half, products)
                : embeddings && layer instanceof Embedding embedding ? HalfLinear.of(embedding, half, products) : null);
    }

    /**
     * Replaces each {@link Linear} and {@link Embedding} of {@code model} whose weight in {@code state} (state-dict
     * names) is BF16 or F16 by a {@link HalfLinear} that reads that tensor as it is, with products as {@code products} says: a
     * view of a mapped checkpoint stays one, which does not own the mapping (an output-major weight is not copied;
     * GPT-2's [in, out] one is copied transposed). The weights (and biases) used are removed from {@code state}; the
     * weights are returned, for the caller to keep their files open as long as the model.
     */
    public static List<Tensor> adopt(Module model, Map<String, Tensor> state, Bf16Products products) {
        List<Tensor> adopted = new ArrayList<>();
        Quantization.replace(model, (path, layer) -> {
            Tensor weight = state.get(path + ".weight");
            if (!(layer instanceof Linear || layer instanceof Embedding) || weight == null
                    || !Backend.HALF_WEIGHT_TYPES.contains(weight.dtype())) {
                return null;
            }
            state.remove(path + ".weight");
            adopted.add(weight);
            boolean inputMajor = layer instanceof Linear linear && linear.inputMajor();
            return HalfLinear.of(weight, inputMajor, state.remove(path + ".bias"), products);
        });
        return adopted;
    }
}
