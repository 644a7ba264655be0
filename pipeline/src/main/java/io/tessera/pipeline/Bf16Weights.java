package io.tessera.pipeline;

import io.tessera.engine.nn.Embedding;
import io.tessera.engine.nn.Linear;
import io.tessera.engine.nn.Module;
import java.util.List;

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
}
