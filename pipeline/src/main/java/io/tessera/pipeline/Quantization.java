package io.tessera.pipeline;

import io.tessera.engine.nn.Linear;
import io.tessera.engine.nn.Module;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;

/** Converts a loaded float model to int8 in place, as torch.ao.quantization.quantize_dynamic does for Linear. */
public final class Quantization {
    private Quantization() {}

    /**
     * Replaces every {@link Linear} of {@code model}, except those {@code config} keeps in float, by a
     * {@link QuantizedLinear} and frees the float layer. Returns the dotted paths it quantized.
     */
    public static List<String> quantize(Module model, QuantizationConfig config) {
        List<String> linears = paths(model, Linear.class);
        TreeSet<String> unknown = new TreeSet<>(config.keepFloat());
        linears.forEach(unknown::remove);
        if (!unknown.isEmpty()) {
            throw new IllegalArgumentException("keepFloat names no Linear layer of " + model.getClass().getSimpleName() + ": "
                    + unknown + " (its Linear layers: " + linears + ")");
        }
        List<String> quantized = new ArrayList<>();
        model.transform((path, child) -> {
            if (child instanceof Linear linear && !config.keepFloat().contains(path)) {
                QuantizedLinear replacement = QuantizedLinear.of(linear, config.outlierThreshold());
                linear.close();
                quantized.add(path);
                return replacement;
            }
            return child;
        });
        return quantized;
    }

    /** The dotted paths of every module of the given kind, depth first. */
    static List<String> paths(Module model, Class<? extends Module> kind) {
        List<String> found = new ArrayList<>();
        model.transform((path, child) -> {
            if (kind.isInstance(child)) {
                found.add(path);
            }
            return child;
        });
        return found;
    }
}
