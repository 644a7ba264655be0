package io.tessera.pipeline;

import io.tessera.engine.nn.Embedding;
import io.tessera.engine.nn.Linear;
import io.tessera.engine.nn.Module;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;
import java.util.function.BiFunction;

/** Converts a loaded float model to int8 in place, as torch.ao.quantization.quantize_dynamic does for Linear. */
public final class Quantization {
    private Quantization() {}

    /**
     * Replaces every {@link Linear} of {@code model} (and every {@link Embedding} if {@code config} says so), except
     * those {@code config} keeps in float, by a {@link QuantizedLinear} and frees the float layer. Returns the dotted
     * paths it quantized.
     */
    public static List<String> quantize(Module model, QuantizationConfig config) {
        return quantize(model, config, (path, layer) -> layer instanceof Linear linear
                ? QuantizedLinear.of(linear, config.outlierThreshold())
                : QuantizedLinear.of(((Embedding) layer).weight(), false, null, config.outlierThreshold()));
    }

    /**
     * {@link #quantize(Module, QuantizationConfig)} with each int8 layer made by {@code quantizer} from the layer's
     * path and float layer (a {@link Linear}, or an {@link Embedding} read as [vocab, dim] = [out, in]), e.g. from a
     * checkpoint's tensor rather than the layer's own weight, so that a model loads tensor by tensor straight into int8.
     */
    public static List<String> quantize(Module model, QuantizationConfig config, BiFunction<String, Module, QuantizedLinear> quantizer) {
        List<String> candidates = paths(model, config.embeddings());
        TreeSet<String> unknown = new TreeSet<>(config.keepFloat());
        candidates.forEach(unknown::remove);
        if (!unknown.isEmpty()) {
            throw new IllegalArgumentException("keepFloat names no " + (config.embeddings() ? "Linear or Embedding" : "Linear")
                    + " layer of " + model.getClass().getSimpleName() + ": " + unknown + " (its layers: " + candidates + ")");
        }
        return replace(model, (path, layer) -> quantizable(layer, config.embeddings()) && !config.keepFloat().contains(path)
                ? quantizer.apply(path, layer) : null);
    }

    private static boolean quantizable(Module layer, boolean embeddings) {
        return layer instanceof Linear || embeddings && layer instanceof Embedding;
    }

    /**
     * Puts {@code make}'s layer (int8, BF16) in place of each module for which it returns one (null keeps the module and
     * walks into it) and frees the float module; returns the dotted paths replaced.
     */
    static List<String> replace(Module model, BiFunction<String, Module, ? extends Module> make) {
        List<String> replaced = new ArrayList<>();
        model.transform((path, child) -> {
            Module replacement = make.apply(path, child);
            if (replacement == null) {
                return child;
            }
            child.close();
            replaced.add(path);
            return replacement;
        });
        return replaced;
    }

    /** The dotted paths of every Linear (and Embedding, with {@code embeddings}) layer, depth first. */
    private static List<String> paths(Module model, boolean embeddings) {
        List<String> found = new ArrayList<>();
        model.transform((path, child) -> {
            if (quantizable(child, embeddings)) {
                found.add(path);
            }
            return child;
        });
        return found;
    }
}
