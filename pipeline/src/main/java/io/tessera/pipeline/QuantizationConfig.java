package io.tessera.pipeline;

import java.util.Set;

/**
 * How {@link Quantization#quantize} converts a model: the LLM.int8 outlier threshold of every quantized
 * layer ({@link Float#POSITIVE_INFINITY} for plain int8), the dotted paths of layers to keep in float32 (e.g. a small
 * classification head, or a transformer's {@code lm_head}), and whether embedding tables are quantized too (and with
 * them a LM head tied to one); by default they stay in float, as bitsandbytes leaves them.
 */
public record QuantizationConfig(float outlierThreshold, Set<String> keepFloat, boolean embeddings) {
    /** bitsandbytes' default: input features with any |x| above 6.0 run in float. */
    public static final float DEFAULT_OUTLIER_THRESHOLD = 6.0f;

    public QuantizationConfig {
        keepFloat = Set.copyOf(keepFloat);
    }

    /** Linear layers only: embeddings stay in float. */
    public QuantizationConfig(float outlierThreshold, Set<String> keepFloat) {
        this(outlierThreshold, keepFloat, false);
    }

    public static QuantizationConfig defaults() {
        return new QuantizationConfig(DEFAULT_OUTLIER_THRESHOLD, Set.of());
    }

    /** Plain int8 everywhere, without the float outlier columns. */
    public QuantizationConfig withoutOutliers() {
        return new QuantizationConfig(Float.POSITIVE_INFINITY, keepFloat, embeddings);
    }

    public QuantizationConfig keeping(String... paths) {
        return new QuantizationConfig(outlierThreshold, Set.of(paths), embeddings);
    }

    /** Embedding tables (and the LM heads tied to them) quantized too, except those kept in float. */
    public QuantizationConfig withEmbeddings() {
        return new QuantizationConfig(outlierThreshold, keepFloat, true);
    }
}
