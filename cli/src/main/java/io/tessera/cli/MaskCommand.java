package io.tessera.cli;

import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.engine.io.AtomicFiles;
import io.tessera.engine.io.Safetensors;
import io.tessera.engine.io.SafetensorsFile;
import io.tessera.fisher.TopK;
import io.tessera.sparse.SparseMask;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/** A FISH mask: the entries with the largest Fisher scores, exactly K of them. */
@Command(name = "mask", description = {"Make a FISH mask: keep the K entries with the largest Fisher scores (f32 tensors of a"
        + " safetensors file). Every kept score is >= every dropped one; ties go to the tensor earlier in the file, then to the"
        + " lower flat index."})
final class MaskCommand implements Callable<Integer> {

    @Option(names = "--fisher", required = true, paramLabel = "F", description = "The Fisher file (from tessera fisher).")
    Path fisher;

    @ArgGroup(multiplicity = "1")
    Budget budget;

    static final class Budget {
        @Option(names = "--keep", paramLabel = "FRACTION", description = "Keep floor(FRACTION x entries), FRACTION in [0, 1].")
        Double keep;

        @Option(names = "--count", paramLabel = "K", description = "Keep exactly K entries.")
        Long count;
    }

    @Option(names = "--per-tensor", description = "With --keep: keep that fraction of each tensor separately (rounded down).")
    boolean perTensor;

    @Option(names = {"-o", "--out"}, required = true, paramLabel = "MASK", description = "The mask file to write.")
    Path out;

    @Option(names = "--json", description = "Print the report as JSON.")
    boolean json;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws IOException {
        if (budget.keep != null && !(budget.keep >= 0 && budget.keep <= 1)) {
            throw new ParameterException(spec.commandLine(), "--keep must be a fraction in [0, 1], got " + budget.keep);
        }
        if (budget.count != null && budget.count < 0) {
            throw new ParameterException(spec.commandLine(), "--count must be >= 0, got " + budget.count);
        }
        if (perTensor && budget.count != null) {
            throw new ParameterException(spec.commandLine(), "--per-tensor takes --keep FRACTION, not --count");
        }
        AtomicFiles.requireWritable(out);
        try (TensorScope scope = TensorScope.open(); SafetensorsFile f = Safetensors.read(fisher)) {
            Map<String, Tensor> scores = f.tensors(); // in file order, which breaks ties between tensors
            long total = scores.values().stream().mapToLong(Tensor::numel).sum();
            if (budget.count != null && budget.count > total) {
                throw new IllegalArgumentException("--count " + budget.count + " exceeds the " + total + " entries of " + fisher);
            }
            Map<String, long[]> kept;
            try {
                kept = perTensor ? TopK.perTensor(scores, budget.keep)
                        : TopK.global(scores, budget.count != null ? budget.count : (long) Math.floor(budget.keep * total));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(fisher + ": " + e.getMessage(), e);
            }
            Map<String, long[]> shapes = new LinkedHashMap<>();
            scores.forEach((name, t) -> shapes.put(name, t.shape()));
            SparseMask mask = SparseMask.fromIndices(shapes, kept);
            mask.save(out);
            report(mask, kept);
        }
        return 0;
    }

    private void report(SparseMask mask, Map<String, long[]> kept) throws IOException {
        PrintWriter stdout = spec.commandLine().getOut();
        if (json) {
            Map<String, Object> report = new LinkedHashMap<>();
            report.put("mask", out.toString());
            report.put("kept", mask.count());
            report.put("total", mask.numel());
            Map<String, Integer> perTensorCounts = new LinkedHashMap<>();
            kept.forEach((name, indices) -> perTensorCounts.put(name, indices.length));
            report.put("tensors", perTensorCounts);
            Json.print(stdout, report);
        } else {
            stdout.printf(Locale.ROOT, "kept %d of %d entries (%.4f%%) in %d tensors -> %s%n", mask.count(), mask.numel(),
                    100 * mask.density(), kept.size(), out);
            stdout.flush();
        }
    }
}
