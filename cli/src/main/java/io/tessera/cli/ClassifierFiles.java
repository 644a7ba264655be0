package io.tessera.cli;

import io.tessera.data.FashionMnist;
import io.tessera.engine.NonFinite;
import io.tessera.engine.io.Safetensors;
import io.tessera.engine.io.SafetensorsFile;
import io.tessera.engine.nn.Layer;
import io.tessera.engine.nn.Module;
import io.tessera.pipeline.QuantizedCheckpoint;
import io.tessera.train.ClassifierTraining;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;
import java.util.function.Function;

/**
 * Loading an image classifier of any architecture from safetensors (float or int8) into a skeleton that its
 * metadata describes, and writing an int8 one only once the written file has been loaded back and evaluated.
 */
final class ClassifierFiles {
    private ClassifierFiles() {}

    /**
     * The model in {@code file} (float or int8): {@code skeleton} builds an untrained model from the file (e.g. from
     * its metadata), which is then loaded strictly; refused if a tensor holds NaN or infinite values.
     */
    static <M extends Module & Layer> M load(Path file, Function<SafetensorsFile, M> skeleton) throws IOException {
        try (SafetensorsFile weights = Safetensors.read(file)) {
            NonFinite.requireNone("model " + file, weights.tensors());
            M model = skeleton.apply(weights);
            try {
                if (QuantizedCheckpoint.isQuantized(weights)) {
                    QuantizedCheckpoint.load(weights, model); // its messages name the file
                } else {
                    loadFloat(weights, model);
                }
            } catch (RuntimeException e) {
                model.close();
                throw e;
            }
            return model;
        }
    }

    private static void loadFloat(SafetensorsFile weights, Module model) {
        try {
            model.loadStateDict(weights.tensors(), true);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(weights.path() + ": " + e.getMessage(), e);
        }
    }

    /**
     * Writes a model whose layers {@link io.tessera.pipeline.Quantization} converted and returns the accuracy on
     * {@code test} of the written file loaded back with {@code skeleton}. The file appears only once that evaluation
     * has succeeded: a failure leaves neither it nor a temporary file.
     */
    static <M extends Module & Layer> double saveQuantizedAndTest(Path file, Module model, Map<String, String> metadata,
                                                                 Function<SafetensorsFile, M> skeleton, FashionMnist.Split test)
            throws IOException {
        double[] accuracy = new double[1]; // set by the check, which runs on the written temporary file
        QuantizedCheckpoint.save(file, model, metadata, written -> {
            try (M reloaded = load(written, skeleton)) {
                accuracy[0] = ClassifierTraining.accuracy(reloaded::forward, test, 1000);
            }
        });
        return accuracy[0];
    }
}
