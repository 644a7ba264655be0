package io.tessera.cli;

import io.tessera.engine.Tensor;
import io.tessera.engine.io.Safetensors;
import io.tessera.engine.io.SafetensorsFile;
import io.tessera.engine.nn.VisionTransformer;
import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** The demo's vision transformers on disk: safetensors weights with the model's shape in the metadata. */
final class VitFiles {
    private static final Pattern SHAPE =
            Pattern.compile("vit image (\\d+) patch (\\d+) dim (\\d+) heads (\\d+) layers (\\d+) classes (\\d+)");

    private VitFiles() {}

    /** The metadata entry that records {@code config}, with {@code extra} beside it. */
    static Map<String, String> metadata(VisionTransformer.Config config, Map<String, String> extra) {
        Map<String, String> metadata = new LinkedHashMap<>(extra);
        metadata.put(MlpFiles.ARCHITECTURE, String.format("vit image %d patch %d dim %d heads %d layers %d classes %d", config.image(),
                config.patch(), config.dim(), config.heads(), config.layers(), config.classes()));
        return metadata;
    }

    /** Writes float weights (a state dict) with the model's shape (atomically). */
    static void save(Path file, Map<String, Tensor> weights, VisionTransformer.Config config, Map<String, String> extra)
            throws IOException {
        Safetensors.write(file, weights, metadata(config, extra));
    }

    /** The model in {@code file}, float or int8 ({@link ClassifierFiles#load}). */
    static VisionTransformer load(Path file) throws IOException {
        return ClassifierFiles.load(file, weights -> new VisionTransformer(config(weights), 0));
    }

    /** The shape recorded in the file's metadata. */
    static VisionTransformer.Config config(SafetensorsFile weights) {
        String architecture = weights.metadata().get(MlpFiles.ARCHITECTURE);
        Matcher m = architecture == null ? null : SHAPE.matcher(architecture);
        if (m == null || !m.matches()) {
            throw new IllegalArgumentException(weights.path() + ": metadata '" + MlpFiles.ARCHITECTURE
                    + "' should be like 'vit image 28 patch 7 dim 64 heads 4 layers 2 classes 10', got " + architecture);
        }
        return new VisionTransformer.Config(Integer.parseInt(m.group(1)), Integer.parseInt(m.group(2)), Long.parseLong(m.group(3)),
                Long.parseLong(m.group(4)), Integer.parseInt(m.group(5)), Long.parseLong(m.group(6)));
    }
}
