package io.tessera.cli;

import io.tessera.data.FashionMnist;
import io.tessera.engine.io.AtomicFiles;
import io.tessera.engine.nn.Mlp;
import io.tessera.pipeline.Quantization;
import io.tessera.pipeline.QuantizationConfig;
import io.tessera.train.ClassifierTraining;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** Converts an MLP checkpoint to int8 and reports the test accuracy of both, measured on Fashion-MNIST. */
@Command(name = "quantize", description = "Quantize an MLP's Linear layers to int8 (LLM.int8 style) and compare test accuracy.")
final class QuantizeCommand implements Callable<Integer> {

    @Option(names = "--model", required = true, description = "Float MLP weights (e.g. from `tessera train --out`).")
    Path modelFile;

    @Option(names = "--out", required = true, description = "Where to write the int8 checkpoint (safetensors).")
    Path outFile;

    @Option(names = "--threshold", defaultValue = "6.0", converter = ThresholdConverter.class,
            description = "Input magnitude above which a feature column runs in float (default: ${DEFAULT-VALUE}; 'inf' for plain int8).")
    float threshold;

    /** A positive float, or inf / infinity for no outlier columns. */
    static final class ThresholdConverter implements picocli.CommandLine.ITypeConverter<Float> {
        @Override
        public Float convert(String value) {
            if (value.equalsIgnoreCase("inf") || value.equalsIgnoreCase("infinity")) {
                return Float.POSITIVE_INFINITY;
            }
            float parsed = Float.parseFloat(value);
            if (!(parsed > 0) || Float.isInfinite(parsed)) {
                throw new picocli.CommandLine.TypeConversionException("'" + value + "' is not a positive number or inf");
            }
            return parsed;
        }
    }

    @Option(names = "--keep-float", split = ",", description = "Layers to keep in float, by name (e.g. 2 for the head of 784-256-10).")
    List<String> keepFloat = List.of();

    @Option(names = "--data", defaultValue = "/usr/share/datasets/fashion-mnist",
            description = "Fashion-MNIST directory (default: ${DEFAULT-VALUE}).")
    Path data;

    @Option(names = "--test-images", defaultValue = "10000", description = "Test images to evaluate on (default: ${DEFAULT-VALUE}).")
    int testImages;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws IOException {
        if (testImages < 1) {
            throw new IllegalArgumentException("--test-images must be >= 1, got " + testImages);
        }
        AtomicFiles.requireWritable(outFile);
        PrintWriter out = spec.commandLine().getOut();
        QuantizationConfig config = new QuantizationConfig(threshold, java.util.Set.copyOf(keepFloat));
        try (Mlp model = MlpFiles.load(modelFile)) {
            FashionMnist.Split test = FashionMnist.test(data, testImages);
            double floatAccuracy = ClassifierTraining.accuracy(model::forward, test, 1000);
            List<String> layers = Quantization.quantize(model, config);
            double int8Accuracy = MlpFiles.saveQuantizedAndTest(outFile, model, MlpFiles.sizes(modelFile),
                    Map.of("source", modelFile.getFileName().toString()), test);
            out.printf("quantized layers %s to int8 (outlier threshold %s) -> %s%n", layers, threshold, outFile);
            out.printf("  size: %,d bytes (float: %,d bytes)%n", Files.size(outFile), Files.size(modelFile));
            out.printf("  test accuracy on %,d images: float32 %.2f%%, int8 %.2f%% (%+.2f points)%n", test.count(),
                    100 * floatAccuracy, 100 * int8Accuracy, 100 * (int8Accuracy - floatAccuracy));
        }
        return 0;
    }
}
