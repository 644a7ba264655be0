package io.tessera.cli;

import io.tessera.data.FashionMnist;
import io.tessera.engine.NonFinite;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.engine.io.InputFiles;
import io.tessera.engine.io.Safetensors;
import io.tessera.engine.io.SafetensorsFile;
import io.tessera.engine.nn.Mlp;
import io.tessera.fisher.DiagonalFisher;
import io.tessera.sparse.VetContext;
import io.tessera.sparse.VetPolicy;
import io.tessera.sparse.VetReport;
import io.tessera.sparse.Vetting;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** A maintainer's report on a contributed patch: integrity, then evidence items with a verdict each; never a decision. */
@Command(name = "vet", description = {"Report on PATCH against BASE: integrity (right base, fits, finite), then evidence, each"
        + " item PASS / WARN / FAIL / SKIPPED with the number behind it: robust z-scores of the per-tensor L2 and max changes"
        + " against --accepted patches, the largest cosine to --pending patches, int8 survival (any model); the cosine to the"
        + " root set's descent direction, the Fisher footprint and the predicted loss change (root statistics from --data, or"
        + " the Fisher from --root-fisher); per-class accuracy and trigger probes (--data, for the Fashion-MNIST MLP).",
    "Exit code 0 whenever the report was produced, whatever it says: accepting a patch is the maintainer's call."})
final class VetCommand implements Callable<Integer> {

    @Parameters(index = "0", paramLabel = "BASE", description = "The model the patch is meant for (safetensors).")
    Path base;

    @Parameters(index = "1", paramLabel = "PATCH", description = "The patch to vet (plain or " + PatchFiles.ZSTD_SUFFIX + ").")
    Path patch;

    @Option(names = "--data", paramLabel = "D", description = "Fashion-MNIST directory: the first --root-examples training images"
            + " are the clean root set, the first --examples test images the held-out set (BASE must be a tessera MLP).")
    Path data;

    @Option(names = "--root-fisher", paramLabel = "F", description = "The Fisher diagonal of BASE on the maintainer's root set"
            + " (tessera fisher), for any model; with --data it replaces the one computed there.")
    Path rootFisher;

    @Option(names = "--accepted", split = ",", paramLabel = "P", description = "Patches accepted before: the history z-scores use.")
    List<Path> accepted = new ArrayList<>();

    @Option(names = "--pending", split = ",", paramLabel = "Q", description = "Other patches awaiting review (duplicates, sybils).")
    List<Path> pending = new ArrayList<>();

    @Option(names = "--root-examples", defaultValue = "256", description = "Root-set size with --data (default: ${DEFAULT-VALUE}).")
    int rootExamples;

    @Option(names = "--examples", defaultValue = "1000", description = "Held-out test images with --data (default: ${DEFAULT-VALUE}).")
    int examples;

    @Option(names = "--json", description = "Print the report as JSON (non-finite numbers as null).")
    boolean json;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws IOException {
        if (rootExamples < 1 || examples < 1) {
            throw new IllegalArgumentException("--root-examples and --examples must be >= 1, got " + rootExamples + " and " + examples);
        }
        List<Path> inputs = new ArrayList<>(List.of(base, patch));
        inputs.addAll(accepted);
        inputs.addAll(pending);
        if (rootFisher != null) {
            inputs.add(rootFisher);
        }
        for (Path input : inputs) {
            InputFiles.requireFile(input); // all checked before any is read
        }
        Map<String, Tensor> computedFisher = Map.of(); // DiagonalFisher's result lives outside any scope
        try (TensorScope scope = TensorScope.open(); SafetensorsFile model = Safetensors.read(base)) {
            NonFinite.requireNone("base " + base, model.tensors());
            Map<String, Tensor> fisher = rootFisher == null ? null : readFisher();
            Map<String, Tensor> gradient = null;
            VetContext.Classifier classifier = null;
            if (data != null) {
                long[] sizes = MlpFiles.sizes(base);
                FashionMnist.Split root = FashionMnist.train(data, rootExamples);
                try (Mlp mlp = HeldOutClassifier.loaded(() -> new Mlp(0, sizes), model.tensors())) {
                    gradient = HeldOutClassifier.meanGradient(mlp, mlp, root);
                    if (fisher == null) {
                        computedFisher = DiagonalFisher.ofMlp(mlp, MlpFiles.images(root), HeldOutClassifier.labelsOf(root),
                                DiagonalFisher.Labels.EMPIRICAL, 0, 256);
                        fisher = computedFisher;
                    }
                }
                classifier = new HeldOutClassifier<>(() -> new Mlp(0, sizes), (int) sizes[sizes.length - 1],
                        FashionMnist.test(data, examples));
            }
            VetReport report;
            try {
                report = Vetting.report(model.tensors(), patch, null, VetPolicy.DEFAULT, new VetContext(accepted, pending, gradient,
                        fisher, classifier));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("vetting " + patch + " against " + base + ": " + e.getMessage(), e);
            }
            if (json) {
                Json.print(spec.commandLine().getOut(), toJson(report));
            } else {
                spec.commandLine().getOut().print(report.format());
                spec.commandLine().getOut().flush();
            }
        } finally {
            computedFisher.values().forEach(Tensor::close);
        }
        return 0;
    }

    private Map<String, Tensor> readFisher() throws IOException {
        SafetensorsFile file = Safetensors.read(rootFisher);
        Map<String, Tensor> copies = new LinkedHashMap<>(); // in the command's scope: the file closes here
        try (file) {
            NonFinite.requireNone("root Fisher " + rootFisher, file.tensors());
            file.tensors().forEach((name, t) -> copies.put(name, t.to(io.tessera.engine.DType.F32).contiguous()));
        }
        return copies;
    }

    private static Map<String, Object> toJson(VetReport r) {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("patch", r.file().toString());
        out.put("description", r.description());
        out.put("bytes", r.bytesOnDisk());
        out.put("base_matches", r.baseMatches());
        out.put("entries", r.entries());
        List<Map<String, Object>> tensors = new ArrayList<>();
        for (VetReport.TensorChange t : r.tensors()) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("name", t.name());
            m.put("entries", t.entries());
            m.put("numel", t.numel());
            m.put("l2", number(t.l2()));
            m.put("z_l2", number(t.zL2()));
            m.put("max_abs", number(t.maxAbs()));
            m.put("z_max", number(t.zMax()));
            m.put("non_finite", t.nonFinite());
            tensors.add(m);
        }
        out.put("tensors", tensors);
        out.put("flags", r.flags().stream().map(f -> Map.of("kind", f.kind().name(), "message", f.message())).toList());
        List<Map<String, Object>> checks = new ArrayList<>();
        for (VetReport.Check c : r.checks()) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("item", c.item());
            m.put("verdict", c.verdict().name());
            m.put("value", number(c.value()));
            m.put("detail", c.detail());
            checks.add(m);
        }
        out.put("checks", checks);
        out.put("worst", r.worst().name());
        return out;
    }

    private static Double number(double v) {
        return Double.isFinite(v) ? v : null;
    }
}
