package io.tessera.cli;

import io.tessera.data.FashionMnist;
import io.tessera.engine.NonFinite;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.engine.io.AtomicFiles;
import io.tessera.engine.io.Safetensors;
import io.tessera.engine.nn.Mlp;
import io.tessera.fisher.DiagonalFisher;
import io.tessera.fisher.Grams;
import io.tessera.pipeline.models.CausalLm;
import io.tessera.pipeline.models.CausalLmTraining;
import io.tessera.pipeline.models.HfCheckpoint;
import io.tessera.pipeline.models.TokenSequences;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * Computes the diagonal Fisher of a trained MLP on Fashion-MNIST training images, or of a causal LM (a Hugging Face
 * directory) on token sequences of a text or token-id file, and writes it as safetensors; for the MLP optionally also
 * the input Gram matrices of its Linear layers over the same images (what a regmean merge reads).
 */
@Command(name = "fisher", description = {"Diagonal Fisher information of a model, written as safetensors with the model's tensor"
        + " names: an MLP on Fashion-MNIST, or a causal LM (a Hugging Face directory: GPT-2, LLaMA, Mistral, Qwen2) on the"
        + " next-token loss of sequences cut from --data (UTF-8 text encoded with the model's tokenizer.json, or token ids in"
        + " a file ending in " + TokenSequences.IDS_SUFFIX + ")."})
final class FisherCommand implements Callable<Integer> {

    @Option(names = "--model", required = true, description = "MLP weights written by `tessera train --out`, or a Hugging Face"
            + " model directory.")
    Path modelFile;

    @Option(names = {"-o", "--out"}, required = true, description = "Where to write the Fisher diagonal (same tensor names as"
            + " the model).")
    Path outFile;

    @Option(names = "--grams", description = "Also write each Linear layer's input Gram matrix X^T X over the same examples"
            + " (tensor <layer>.weight, [in, in]), for a regmean merge.")
    Path gramsFile;

    @Option(names = "--data", description = "Fashion-MNIST directory (default: " + FASHION_MNIST + "), or for a causal LM a text"
            + " or token-id file (required).")
    Path data;

    @Option(names = "--seq-len", defaultValue = "128", description = "Causal LM: tokens per sequence (default: ${DEFAULT-VALUE}).")
    int seqLen;

    private static final String FASHION_MNIST = "/usr/share/datasets/fashion-mnist";

    @Option(names = "--examples", defaultValue = "1024",
            description = "Training examples to average over (default: ${DEFAULT-VALUE}, as the FISH paper).")
    int examples;

    @Option(names = "--labels", defaultValue = "EMPIRICAL",
            description = "empirical (true labels or next tokens) or sampled (from the model; default: ${DEFAULT-VALUE}).")
    DiagonalFisher.Labels labels;

    @Option(names = "--seed", defaultValue = "0", description = "Seed for sampled labels (default: ${DEFAULT-VALUE}).")
    long seed;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws IOException {
        if (examples < 1) {
            throw new IllegalArgumentException("--examples must be >= 1, got " + examples);
        }
        AtomicFiles.requireWritable(outFile);
        if (gramsFile != null) {
            AtomicFiles.requireWritable(gramsFile);
        }
        PrintWriter out = spec.commandLine().getOut();
        if (Files.isDirectory(modelFile)) {
            return causalLm(out);
        }
        try (Mlp model = MlpFiles.load(modelFile); TensorScope scope = TensorScope.open()) {
            FashionMnist.Split split = FashionMnist.train(data == null ? Path.of(FASHION_MNIST) : data, examples);
            long start = System.nanoTime();
            int[] labelArray = new int[split.count()];
            for (int i = 0; i < labelArray.length; i++) {
                labelArray[i] = split.label(i);
            }
            Tensor images = MlpFiles.images(split);
            Map<String, Tensor> fisher = DiagonalFisher.ofMlp(model, images, labelArray, labels, seed, 1024);
            double seconds = (System.nanoTime() - start) / 1e9;
            Map<String, Tensor> grams = gramsFile == null ? Map.of() : Grams.ofMlp(model, images, 1024);
            // finite weights can still overflow these: both are checked before either file is written
            NonFinite.requireNone("the Fisher of model " + modelFile, fisher);
            NonFinite.requireNone("the input Gram matrices of model " + modelFile, grams);
            Safetensors.write(outFile, fisher, Map.of("kind", "diagonal fisher", "labels", labels.name(),
                    "examples", String.valueOf(split.count()), "model", modelFile.getFileName().toString()));
            out.printf("Fisher over %,d examples (%s labels) in %.2f s (%,.0f examples/s) -> %s%n", split.count(), labels, seconds,
                    split.count() / seconds, outFile);
            fisher.forEach((name, f) -> out.printf("  %-10s %-12s mean %.3e  max %.3e%n", name, java.util.Arrays.toString(f.shape()),
                    f.mean().item(), f.max(false).item()));
            fisher.values().forEach(Tensor::close);
            if (gramsFile != null) {
                Safetensors.write(gramsFile, grams, Map.of("kind", "input gram", "examples", String.valueOf(split.count()),
                        "model", modelFile.getFileName().toString()));
                out.printf("Input Gram matrices of %d layers -> %s%n", grams.size(), gramsFile);
                grams.values().forEach(Tensor::close);
            }
        }
        return 0;
    }

    private int causalLm(PrintWriter out) throws IOException {
        if (data == null) {
            throw new ParameterException(spec.commandLine(), "--data is required for a causal LM (a text or token-id file)");
        }
        try (CausalLm model = HfCheckpoint.load(modelFile)) {
            long vocab = model.config().vocabSize();
            TokenSequences sequences = TokenSequences.of(TokenSequences.read(data, modelFile), seqLen, examples, vocab, data.toString());
            long start = System.nanoTime();
            Map<String, Tensor> fisher = CausalLmTraining.fisher(model, sequences, labels, seed, 8);
            Map<String, Tensor> grams = gramsFile == null ? Map.of() : CausalLmTraining.grams(model, sequences, 8);
            try {
                double seconds = (System.nanoTime() - start) / 1e9;
                NonFinite.requireNone("the Fisher of model " + modelFile, fisher);
                NonFinite.requireNone("the input Gram matrices of model " + modelFile, grams);
                Safetensors.write(outFile, fisher, Map.of("kind", "diagonal fisher", "labels", labels.name(), "examples",
                        String.valueOf(sequences.count()), "sequence length", String.valueOf(seqLen), "model",
                        modelFile.getFileName().toString()));
                out.printf("Fisher over %,d sequences of %d tokens (%s labels) in %.2f s -> %s%n", sequences.count(), seqLen, labels,
                        seconds, outFile);
                if (gramsFile != null) {
                    Safetensors.write(gramsFile, grams, Map.of("kind", "input gram", "examples", String.valueOf(sequences.count()),
                            "model", modelFile.getFileName().toString()));
                    out.printf("Input Gram matrices of %d Linear weights -> %s%n", grams.size(), gramsFile);
                }
            } finally {
                fisher.values().forEach(Tensor::close);
                grams.values().forEach(Tensor::close);
            }
        }
        return 0;
    }
}
