package io.tessera.pipeline;

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
     * Replaces every {@link Linear} of {@code model}, except those {@code config} keeps in float, by a
     * {@link QuantizedLinear} and frees the float layer. Returns the dotted paths it quantized.
     */
    public static List<String> quantize(Module model, QuantizationConfig config) {
        return quantize(model, config, (path, linear) -> QuantizedLinear.of(linear, config.outlierThreshold()));
    }

    /**
     * {@link #quantize(Module, QuantizationConfig)} with each int8 layer made by {@code quantizer} from the layer's
     * path and float layer, e.g. from a checkpoint's tensor rather than the layer's own weight, so that a model
     * loads tensor by tensor straight into int8.
     */
    public static List<String> quantize(Module model, QuantizationConfig config, BiFunction<String, Linear, QuantizedLinear> quantizer) {
        List<String> linears = paths(model, Linear.class);
        TreeSet<String> unknown = new TreeSet<>(config.keepFloat());
        linears.forEach(unknown::remove);
        if (!unknown.isEmpty()) {
            throw new IllegalArgumentException("keepFloat names no Linear layer of " + model.getClass().getSimpleName() + ": "
                    + unknown + " (its Linear layers: " + linears + ")");
        }
        return replaceLinears(model, (path, linear) -> config.keepFloat().contains(path) ? null : quantizer.apply(path, linear));
    }

    /**
     * Puts {@code make}'s int8 layer in place of each {@link Linear} for which it returns one (null keeps the
     * layer) and frees the float layer; returns the dotted paths replaced.
     */
    static List<String> replaceLinears(Module model, BiFunction<String, Linear, QuantizedLinear> make) {
        List<String> replaced = new ArrayList<>();
        model.transform((path, child) -> {
            QuantizedLinear replacement = child instanceof Linear linear ? make.apply(path, linear) : null;
            if (replacement == null) {
                return child;
            }
            child.close();
            replaced.add(path);
            return replacement;
        });
        return replaced;
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
