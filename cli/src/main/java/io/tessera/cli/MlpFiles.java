package io.tessera.cli;

import io.tessera.engine.Tensor;
import io.tessera.engine.io.Safetensors;
import io.tessera.engine.io.SafetensorsFile;
import io.tessera.engine.nn.Mlp;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;

/** Saving and loading the CLI's MLP classifiers: safetensors weights plus the layer sizes in the metadata. */
final class MlpFiles {
    static final String ARCHITECTURE = "architecture";

    private MlpFiles() {}

    /** Writes MLP weights (a state dict) with their layer sizes recorded in the metadata. */
    static void save(Path file, Map<String, Tensor> weights, long[] sizes, Map<String, String> extra) throws IOException {
        Map<String, String> metadata = new java.util.LinkedHashMap<>(extra);
        metadata.put(ARCHITECTURE, "mlp " + Arrays.toString(sizes));
        Safetensors.write(file, weights, metadata);
    }

    /** The model in {@code file}, built from its recorded layer sizes and loaded strictly. */
    static Mlp load(Path file) throws IOException {
        try (SafetensorsFile weights = Safetensors.read(file)) {
            String architecture = weights.metadata().get(ARCHITECTURE);
            if (architecture == null || !architecture.matches("mlp \\[[0-9, ]+\\]")) {
                throw new IllegalArgumentException(file + ": metadata '" + ARCHITECTURE + "' should be like 'mlp [784, 256, 10]', got "
                        + architecture);
            }
            long[] sizes = Arrays.stream(architecture.substring(5, architecture.length() - 1).split(",\\s*"))
                    .mapToLong(Long::parseLong).toArray();
            Mlp model = new Mlp(0, sizes);
            try {
                model.loadStateDict(weights.tensors(), true);
            } catch (RuntimeException e) {
                model.close();
                throw new IllegalArgumentException(file + ": " + e.getMessage(), e);
            }
            return model;
        }
    }

    static long[] sizes(Mlp model) {
        long[] sizes = new long[model.layers().size() + 1];
        sizes[0] = model.layers().get(0).inFeatures();
        for (int i = 0; i < model.layers().size(); i++) {
            sizes[i + 1] = model.layers().get(i).outFeatures();
        }
        return sizes;
    }

    static Tensor images(io.tessera.engine.data.FashionMnist.Split split) {
        return Tensor.of(split.normalizedPixels(0, split.count()), split.count(), (long) split.rows() * split.cols());
    }
}
