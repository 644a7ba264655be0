package io.tessera.cli;

import io.tessera.engine.io.InputFiles;
import io.tessera.pipeline.models.CausalLm;
import io.tessera.pipeline.models.CausalLmTraining;
import io.tessera.pipeline.models.HfCheckpoint;
import io.tessera.pipeline.models.HfCheckpointWriter;
import io.tessera.pipeline.models.TokenSequences;
import io.tessera.sparse.SparseMask;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/** Masked fine-tuning of a causal LM: only the entries of a mask move, with gradients computed there only. */
@Command(name = "finetune", description = {"Fine-tune the entries of MASK (tessera mask, e.g. a FISH mask) of a causal LM (a Hugging"
        + " Face directory) with AdamW on the next-token loss of sequences cut from --data (UTF-8 text encoded with the model's"
        + " tokenizer.json, or token ids in a file ending in " + TokenSequences.IDS_SUFFIX + "); every other bit stays as it is.",
    "TUNED is written as a copy of the model directory: the same files, tensor names and dtypes."})
final class FinetuneCommand implements Callable<Integer> {

    @Option(names = "--model", required = true, description = "The Hugging Face model directory.")
    Path model;

    @Option(names = "--mask", required = true, paramLabel = "MASK", description = "The entries to train (tessera mask).")
    Path mask;

    @Option(names = "--data", required = true, description = "Text or token-id file.")
    Path data;

    @Option(names = "--steps", defaultValue = "100", description = "Optimizer steps (default: ${DEFAULT-VALUE}).")
    int steps;

    @Option(names = "--lr", defaultValue = "1e-3", description = "AdamW learning rate (default: ${DEFAULT-VALUE}).")
    double lr;

    @Option(names = "--seq-len", defaultValue = "128", description = "Tokens per sequence (default: ${DEFAULT-VALUE}).")
    int seqLen;

    @Option(names = "--batch", defaultValue = "8", description = "Sequences per step (default: ${DEFAULT-VALUE}).")
    int batch;

    @Option(names = "--seed", defaultValue = "0", description = "Seed for drawing the batches (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = {"-o", "--out"}, required = true, paramLabel = "TUNED", description = "The directory to write (must not exist).")
    Path out;

    @Option(names = "--json", description = "Print the report as JSON.")
    boolean json;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws IOException {
        if (steps < 1 || batch < 1 || seqLen < 1 || !(lr > 0)) {
            throw new ParameterException(spec.commandLine(), "--steps, --batch and --seq-len must be >= 1 and --lr > 0");
        }
        if (!Files.isDirectory(model)) {
            throw new IllegalArgumentException(model + " is not a Hugging Face model directory");
        }
        if (Files.exists(out)) {
            throw new IllegalArgumentException(out + " already exists; choose a new directory for the fine-tuned model");
        }
        InputFiles.requireFile(mask);
        try (CausalLm lm = HfCheckpoint.load(model, true)) {
            long vocab = lm.config().vocabSize();
            TokenSequences sequences = TokenSequences.of(TokenSequences.read(data, model), seqLen, Integer.MAX_VALUE, vocab,
                    data.toString());
            SparseMask selected = SparseMask.load(mask);
            double before = CausalLmTraining.meanLoss(lm, sequences, batch);
            long start = System.nanoTime();
            CausalLmTraining.maskedFineTune(lm, selected, sequences, steps, lr, batch, seed);
            double seconds = (System.nanoTime() - start) / 1e9;
            double after = CausalLmTraining.meanLoss(lm, sequences, batch);
            HfCheckpointWriter.saveLike(lm, model, out);
            report(spec.commandLine().getOut(), selected, sequences, before, after, seconds);
        }
        return 0;
    }

    private void report(PrintWriter w, SparseMask selected, TokenSequences sequences, double before, double after, double seconds)
            throws IOException {
        if (json) {
            Map<String, Object> report = new LinkedHashMap<>();
            report.put("model", model.toString());
            report.put("out", out.toString());
            report.put("masked", selected.count());
            report.put("sequences", sequences.count());
            report.put("steps", steps);
            report.put("loss_before", before);
            report.put("loss_after", after);
            report.put("seconds", seconds);
            Json.print(w, report);
        } else {
            w.printf("fine-tuned %,d masked entries for %d steps on %,d sequences of %d tokens in %.2f s: loss %.4f -> %.4f -> %s%n",
                    selected.count(), steps, sequences.count(), seqLen, seconds, before, after, out);
        }
    }
}
