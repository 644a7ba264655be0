package io.tessera.cli;

import io.tessera.data.FashionMnist;
import io.tessera.engine.Tensor;
import io.tessera.engine.io.Safetensors;
import io.tessera.engine.io.SafetensorsFile;
import io.tessera.engine.nn.Mlp;
import io.tessera.pipeline.QuantizedCheckpoint;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;

/**
 * Saving and loading the CLI's MLP classifiers: safetensors weights plus the layer sizes in the metadata;
 * int8 models are {@link QuantizedCheckpoint}s with the same metadata.
 */
final class MlpFiles {
    static final String ARCHITECTURE = "architecture";

    private MlpFiles() {}

    /** Writes MLP weights (a state dict) with their layer sizes recorded in the metadata. */
    static void save(Path file, Map<String, Tensor> weights, long[] sizes, Map<String, String> extra) throws IOException {
        Map<String, String> metadata = new java.util.LinkedHashMap<>(extra);
        metadata.put(ARCHITECTURE, "mlp " + Arrays.toString(sizes));
        Safetensors.write(file, weights, metadata);
    }

    /** Writes an MLP whose layers {@link io.tessera.pipeline.Quantization} converted, with its layer sizes (atomically). */
    static void saveQuantized(Path file, Mlp model, long[] sizes, Map<String, String> extra) throws IOException {
        QuantizedCheckpoint.save(file, model, withSizes(extra, sizes));
    }

    private static Map<String, String> withSizes(Map<String, String> extra, long[] sizes) {
        Map<String, String> metadata = new java.util.LinkedHashMap<>(extra);
        metadata.put(ARCHITECTURE, "mlp " + Arrays.toString(sizes));
        return metadata;
    }

    /**
     * Writes an MLP whose layers {@link io.tessera.pipeline.Quantization} converted, with its layer sizes, and
     * returns the test accuracy of the written file loaded back ({@link ClassifierFiles#saveQuantizedAndTest}).
     */
    static double saveQuantizedAndTest(Path file, Mlp model, long[] sizes, Map<String, String> extra, FashionMnist.Split test)
            throws IOException {
        return ClassifierFiles.saveQuantizedAndTest(file, model, withSizes(extra, sizes), weights -> new Mlp(0, sizes(weights)), test);
    }

    /**
     * The model in {@code file} (float or int8), built from its recorded layer sizes and loaded strictly;
     * refused if a tensor holds NaN or infinite values.
     */
    static Mlp load(Path file) throws IOException {
        return ClassifierFiles.load(file, weights -> new Mlp(0, sizes(weights)));
    }

    /** The layer sizes recorded in {@code file}'s metadata. */
    static long[] sizes(Path file) throws IOException {
        try (SafetensorsFile weights = Safetensors.read(file)) {
            return sizes(weights);
        }
    }

    private static long[] sizes(SafetensorsFile weights) {
        String architecture = weights.metadata().get(ARCHITECTURE);
        if (architecture == null || !architecture.matches("mlp \\[[0-9, ]+\\]")) {
            throw new IllegalArgumentException(weights.path() + ": metadata '" + ARCHITECTURE
                    + "' should be like 'mlp [784, 256, 10]', got " + architecture);
        }
        return Arrays.stream(architecture.substring(5, architecture.length() - 1).split(",\\s*")).mapToLong(Long::parseLong).toArray();
    }

    static Tensor images(FashionMnist.Split split) {
        return Tensor.of(split.normalizedPixels(0, split.count()), split.count(), (long) split.rows() * split.cols());
    }
}
