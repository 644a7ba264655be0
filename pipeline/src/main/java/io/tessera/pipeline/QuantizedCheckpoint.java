package io.tessera.pipeline;

import io.tessera.engine.Tensor;
import io.tessera.engine.io.AtomicFiles;
import io.tessera.engine.io.Safetensors;
import io.tessera.engine.io.SafetensorsFile;
import io.tessera.engine.nn.Embedding;
import io.tessera.engine.nn.Linear;
import io.tessera.engine.nn.Module;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

/**
 * Quantized models as plain safetensors: the state dict (each {@link QuantizedLinear} as {@code <path>.weight}
 * I8, {@code <path>.weight_scale} F32 and {@code <path>.bias} F32; float layers as they are) and, in the
 * metadata, {@value #LAYERS}: which layers are int8 and their outlier thresholds, as
 * {@code path=threshold,path=threshold} (threshold {@code inf} for plain int8).
 */
public final class QuantizedCheckpoint {
    public static final String LAYERS = "tessera.int8.layers";

    private QuantizedCheckpoint() {}

    /** Writes the model atomically; {@code extra} metadata (e.g. the architecture) is kept beside the layer list. */
    public static void save(Path file, Module model, Map<String, String> extra) throws IOException {
        save(file, model, extra, written -> {});
    }

    /**
     * {@link #save(Path, Module, Map)}, with {@code check} run on the written temporary file (e.g. load it
     * back and evaluate it) before it replaces {@code file}: a failing check leaves no new file behind.
     */
    public static void save(Path file, Module model, Map<String, String> extra, AtomicFiles.Check check) throws IOException {
        Safetensors.write(file, model.stateDict(), metadata(model, extra), check);
    }

    /** {@code extra} and the {@value #LAYERS} entry that lists {@code model}'s int8 layers: a quantized checkpoint's metadata. */
    public static Map<String, String> metadata(Module model, Map<String, String> extra) {
        List<String> layers = new ArrayList<>();
        model.transform((path, child) -> {
            if (child instanceof QuantizedLinear q) {
                layers.add(path + "=" + (Float.isInfinite(q.outlierThreshold()) ? "inf" : Float.toString(q.outlierThreshold())));
            }
            return child;
        });
        Map<String, String> metadata = new LinkedHashMap<>(extra);
        metadata.put(LAYERS, String.join(",", layers));
        return metadata;
    }

    /** Whether {@code file}'s metadata marks it as a quantized checkpoint. */
    public static boolean isQuantized(SafetensorsFile file) {
        return file.metadata().containsKey(LAYERS);
    }

    /**
     * Loads a quantized checkpoint into {@code skeleton}, a float model of the same architecture: the layers
     * the file lists are replaced by int8 layers first, then every tensor is loaded strictly.
     */
    public static void load(SafetensorsFile file, Module skeleton) {
        Path name = file.path();
        prepare(skeleton, parseLayers(file.metadata().get(LAYERS), name), name);
        try {
            skeleton.loadStateDict(file.tensors(), true);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(name + ": " + e.getMessage(), e);
        }
    }

    /** The int8 layers {@code file}'s metadata lists, with their outlier thresholds (empty for a float checkpoint). */
    public static Map<String, Float> layers(SafetensorsFile file) {
        return isQuantized(file) ? parseLayers(file.metadata().get(LAYERS), file.path()) : Map.of();
    }

    /**
     * Replaces the Linear and Embedding layers of {@code skeleton} named in {@code thresholds} by empty int8 layers of
     * the same shape, to be filled from a quantized checkpoint ({@code source} names it in messages).
     */
    public static void prepare(Module skeleton, Map<String, Float> thresholds, Path source) {
        TreeSet<String> missing = new TreeSet<>(thresholds.keySet());
        missing.removeAll(Quantization.replace(skeleton, (path, layer) -> !thresholds.containsKey(path) ? null : empty(layer,
                thresholds.get(path))));
        if (!missing.isEmpty()) {
            throw new IllegalArgumentException(source + ": metadata " + LAYERS + " names layers that are not Linear or Embedding"
                    + " layers of " + skeleton.getClass().getSimpleName() + ": " + missing);
        }
    }

    /** An empty int8 layer in the shape of {@code layer} (an Embedding [vocab, dim] as out = vocab, in = dim), or null. */
    private static QuantizedLinear empty(Module layer, float threshold) {
        if (layer instanceof Linear linear) {
            return Module.on(linear.weight().device(), () -> QuantizedLinear.empty(linear.inFeatures(), linear.outFeatures(),
                    linear.bias() != null, threshold));
        }
        if (layer instanceof Embedding embedding) {
            Tensor w = embedding.weight();
            return Module.on(w.device(), () -> QuantizedLinear.empty(w.dim(1), w.dim(0), false, threshold));
        }
        return null;
    }

    private static Map<String, Float> parseLayers(String value, Path name) {
        if (value == null) {
            throw new IllegalArgumentException(name + ": not a quantized checkpoint (no '" + LAYERS + "' in its metadata)");
        }
        Map<String, Float> thresholds = new LinkedHashMap<>();
        for (String entry : value.isEmpty() ? new String[0] : value.split(",")) {
            int eq = entry.lastIndexOf('=');
            try {
                float threshold = eq < 0 ? Float.NaN
                        : entry.endsWith("=inf") ? Float.POSITIVE_INFINITY : Float.parseFloat(entry.substring(eq + 1));
                if (!(threshold > 0) || thresholds.put(entry.substring(0, eq), threshold) != null) {
                    throw new NumberFormatException();
                }
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException(name + ": metadata " + LAYERS + " entry '" + entry
                        + "' should be path=threshold (a positive number or inf), each path once");
            }
        }
        return thresholds;
    }
}
