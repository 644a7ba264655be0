package io.tessera.cli;

import io.tessera.data.FashionMnist;
import io.tessera.engine.io.AtomicFiles;
import io.tessera.engine.io.InputFiles;
import io.tessera.engine.io.Safetensors;
import io.tessera.engine.io.SafetensorsFile;
import io.tessera.engine.nn.Mlp;
import io.tessera.pipeline.Quantization;
import io.tessera.pipeline.QuantizationConfig;
import io.tessera.pipeline.QuantizedLinear;
import io.tessera.pipeline.models.CausalLm;
import io.tessera.pipeline.models.HfCheckpoint;
import io.tessera.pipeline.models.HfCheckpointWriter;
import io.tessera.train.ClassifierTraining;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * Converts a model's Linear / Conv1D layers to int8: an MLP checkpoint (a safetensors file with its layer sizes in the
 * metadata), reporting the test accuracy of both when Fashion-MNIST is given, or a Hugging Face model directory (GPT-2,
 * LLaMA, Mistral, Qwen2), quantized tensor by tensor as it loads and written as a directory that {@code tessera
 * generate} reads.
 */
@Command(name = "quantize", description = {"Quantize a model's Linear / Conv1D layers to int8 (LLM.int8 style).",
    "M is an MLP checkpoint (from `tessera train`; OUT a safetensors file) or a Hugging Face model directory, or the"
        + " model.safetensors inside one (OUT a directory: config and tokenizer files copied, one int8 model.safetensors)."})
final class QuantizeCommand implements Callable<Integer> {

    @Option(names = "--model", required = true, paramLabel = "M", description = "The float model: an MLP checkpoint or a Hugging"
            + " Face model directory.")
    Path modelPath;

    @Option(names = {"-o", "--out"}, required = true, paramLabel = "OUT", description = "Where to write the int8 model"
            + " (written whole or not at all).")
    Path outPath;

    @Option(names = "--threshold", defaultValue = "6.0", converter = ThresholdConverter.class, paramLabel = "T",
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

    @Option(names = "--keep-float", split = ",", paramLabel = "NAMES", description = "Layers to keep in float, by path (e.g. 2"
            + " for the head of an MLP 784-256-10, lm_head or h.0.mlp.c_fc for a transformer).")
    List<String> keepFloat = List.of();

    @Option(names = "--embeddings", description = "Quantize embedding tables too (and a LM head tied to one), except those"
            + " named by --keep-float; by default they stay in float.")
    boolean embeddings;

    @Option(names = "--data", paramLabel = "DIR", description = "Fashion-MNIST directory: report the test accuracy of the float and"
            + " the int8 MLP (MLPs only; e.g. /usr/share/datasets/fashion-mnist).")
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
        QuantizationConfig config = new QuantizationConfig(threshold, Set.copyOf(keepFloat), embeddings);
        Path hfDirectory = hfDirectory();
        if (hfDirectory == null) {
            quantizeMlp(config);
            return 0;
        }
        if (data != null) {
            throw new ParameterException(spec.commandLine(), "--data (an accuracy comparison on Fashion-MNIST) is for MLPs only,"
                    + " and " + modelPath + " is a Hugging Face model");
        }
        if (Files.isDirectory(outPath) && Files.isSameFile(outPath, hfDirectory)) {
            throw new IllegalArgumentException("-o " + outPath + " is the model directory itself: write the int8 model elsewhere");
        }
        quantizeHf(hfDirectory, config);
        return 0;
    }

    /** The Hugging Face directory M is or whose model.safetensors it is, or null for an MLP checkpoint (checked later). */
    private Path hfDirectory() throws IOException {
        if (Files.isDirectory(modelPath)) {
            return modelPath;
        }
        InputFiles.requireFile(modelPath);
        try (SafetensorsFile file = Safetensors.read(modelPath)) {
            if (file.metadata().containsKey(MlpFiles.ARCHITECTURE)) {
                return null;
            }
        }
        Path dir = modelPath.toAbsolutePath().getParent();
        if (!Files.isRegularFile(dir.resolve("config.json"))) {
            throw new IllegalArgumentException(modelPath + " is neither an MLP checkpoint (no '" + MlpFiles.ARCHITECTURE
                    + "' metadata) nor inside a Hugging Face model directory (no config.json beside it)");
        }
        return dir;
    }

    private void quantizeMlp(QuantizationConfig config) throws IOException {
        AtomicFiles.requireWritable(outPath);
        PrintWriter out = spec.commandLine().getOut();
        try (Mlp model = MlpFiles.load(modelPath)) {
            FashionMnist.Split test = data == null ? null : FashionMnist.test(data, testImages);
            double floatAccuracy = test == null ? 0 : ClassifierTraining.accuracy(model::forward, test, 1000);
            List<String> layers = Quantization.quantize(model, config);
            Map<String, String> metadata = Map.of("source", modelPath.getFileName().toString());
            long[] sizes = MlpFiles.sizes(modelPath);
            out.printf("quantized layers %s to int8 (outlier threshold %s) -> %s%n", layers, threshold, outPath);
            if (test == null) {
                MlpFiles.saveQuantized(outPath, model, sizes, metadata);
            } else {
                double int8Accuracy = MlpFiles.saveQuantizedAndTest(outPath, model, sizes, metadata, test);
                out.printf("  test accuracy on %,d images: float32 %.2f%%, int8 %.2f%% (%+.2f points)%n", test.count(),
                        100 * floatAccuracy, 100 * int8Accuracy, 100 * (int8Accuracy - floatAccuracy));
            }
            out.printf("  size: %,d bytes (float: %,d bytes)%n", Files.size(outPath), Files.size(modelPath));
        }
    }

    private void quantizeHf(Path dir, QuantizationConfig config) throws IOException {
        PrintWriter out = spec.commandLine().getOut();
        try (CausalLm model = HfCheckpoint.load(dir, config)) {
            List<String> layers = new ArrayList<>();
            model.transform((path, child) -> {
                if (child instanceof QuantizedLinear) {
                    layers.add(path);
                }
                return child;
            });
            HfCheckpointWriter.saveQuantized(model, dir, outPath);
            out.printf("quantized %d layers to int8 (outlier threshold %s), kept in float: %s -> %s%n", layers.size(), threshold,
                    keepFloat, outPath);
            out.printf("  size: %,d bytes (float: %,d bytes)%n", weightBytes(outPath), weightBytes(dir));
        }
    }

    private static long weightBytes(Path dir) throws IOException {
        try (Stream<Path> files = Files.list(dir)) {
            long total = 0;
            for (Path file : files.filter(f -> f.getFileName().toString().endsWith(".safetensors")).toList()) {
                total += Files.size(file);
            }
            return total;
        }
    }
}
