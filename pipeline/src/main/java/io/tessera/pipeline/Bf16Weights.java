package io.tessera.pipeline;

import io.tessera.engine.DType;
import io.tessera.engine.Tensor;
import io.tessera.engine.nn.Embedding;
import io.tessera.engine.nn.Linear;
import io.tessera.engine.nn.Module;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** Converts a float model's weights to BF16 kept in memory as BF16 ({@link Bf16Linear}), for inference. */
public final class Bf16Weights {
    private Bf16Weights() {}

    /**
     * Replaces every {@link Linear} of {@code model} (and, with {@code embeddings}, every {@link Embedding}, so a tied LM
     * head reads BF16 too) by a {@link Bf16Linear} with exact products and frees the float layer. Returns the dotted
     * paths converted.
     */
    public static List<String> convert(Module model, boolean embeddings) {
        return convert(model, embeddings, Bf16Products.EXACT);
    }

    /** {@link #convert(Module, boolean)} with products as {@code products} says. */
    public static List<String> convert(Module model, boolean embeddings, Bf16Products products) {
        return Quantization.replace(model, (path, layer) -> layer instanceof Linear linear ? Bf16Linear.of(linear, products)
                : embeddings && layer instanceof Embedding embedding ? Bf16Linear.of(embedding, products) : null);
    }

    /**
     * Replaces each {@link Linear} and {@link Embedding} of {@code model} whose weight in {@code state} (state-dict
     * names) is BF16 by a {@link Bf16Linear} that reads that tensor as it is, with products as {@code products} says: a
     * view of a mapped checkpoint stays one, which does not own the mapping (an output-major weight is not copied;
     * GPT-2's [in, out] one is copied transposed). The weights (and biases) used are removed from {@code state}; the
     * weights are returned, for the caller to keep their files open as long as the model.
     */
    public static List<Tensor> adopt(Module model, Map<String, Tensor> state, Bf16Products products) {
        List<Tensor> adopted = new ArrayList<>();
        Quantization.replace(model, (path, layer) -> {
            Tensor weight = state.get(path + ".weight");
            if (!(layer instanceof Linear || layer instanceof Embedding) || weight == null || weight.dtype() != DType.BF16) {
                return null;
            }
            state.remove(path + ".weight");
            adopted.add(weight);
            boolean inputMajor = layer instanceof Linear linear && linear.inputMajor();
            return Bf16Linear.of(weight, inputMajor, state.remove(path + ".bias"), products);
        });
        return adopted;
    }
}
