package io.tessera.pipeline;

import java.util.Set;

/**
 * How {@link Quantization#quantize} converts a model: the LLM.int8 outlier threshold of every quantized
 * layer ({@link Float#POSITIVE_INFINITY} for plain int8) and the dotted paths of Linear layers to keep in
 * float32 (e.g. a small classification head).
 */
public record QuantizationConfig(float outlierThreshold, Set<String> keepFloat) {
    /** bitsandbytes' default: input features with any |x| above 6.0 run in float. */
    public static final float DEFAULT_OUTLIER_THRESHOLD = 6.0f;

    public QuantizationConfig {
        keepFloat = Set.copyOf(keepFloat);
    }

    public static QuantizationConfig defaults() {
        return new QuantizationConfig(DEFAULT_OUTLIER_THRESHOLD, Set.of());
    }

    /** Plain int8 everywhere, without the float outlier columns. */
    public QuantizationConfig withoutOutliers() {
        return new QuantizationConfig(Float.POSITIVE_INFINITY, keepFloat);
    }

    public QuantizationConfig keeping(String... paths) {
        return new QuantizationConfig(outlierThreshold, Set.of(paths));
    }
}
