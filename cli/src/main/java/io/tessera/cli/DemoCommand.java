package io.tessera.cli;

import io.tessera.data.FashionMnist;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.engine.nn.Mlp;
import io.tessera.engine.optim.AdamW;
import io.tessera.fisher.DiagonalFisher;
import io.tessera.fisher.FishMask;
import io.tessera.fisher.Merge;
import io.tessera.pipeline.Quantization;
import io.tessera.pipeline.QuantizationConfig;
import io.tessera.sparse.Compression;
import io.tessera.sparse.MaskedAdamW;
import io.tessera.sparse.Patch;
import io.tessera.sparse.SparseMask;
import io.tessera.sparse.VetReport;
import io.tessera.sparse.Vetting;
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
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * The end-to-end job of DESIGN.md, as far as it is built: a base model, each contributor's Fisher and FISH
 * mask, sparse fine-tuning into a patch file, vetting, a Fisher-weighted merge of the contributions, and the
 * merged model in int8, then a decoder served by three peers. Every stage writes files a user can inspect into the
 * work directory.
 */
@Command(name = "demo", description = "Run the end-to-end demo (the stages built so far).")
final class DemoCommand implements Callable<Integer> {
    private static final long[] SIZES = {784, 256, 10};

    @Option(names = "--data", description = "Directory of the Fashion-MNIST IDX files (default: ${DEFAULT-VALUE}).",
            defaultValue = "/usr/share/datasets/fashion-mnist")
    Path data;

    @Option(names = "--epochs", description = "Epochs of base-model training (default: ${DEFAULT-VALUE}).", defaultValue = "2")
    int epochs;

    @Option(names = "--work-dir", description = "Where the demo writes its files (default: ${DEFAULT-VALUE}).",
            defaultValue = "target/demo")
    Path workDir;

    @Option(names = "--mask", description = "Fraction of parameters each contributor trains (default: ${DEFAULT-VALUE}).",
            defaultValue = "0.005")
    double maskFraction;

    @Spec
    CommandSpec spec;

    /** What a contribution leaves for the merge: their test data, Fisher and fine-tuned weights. */
    private record Contribution(Contributor who, FashionMnist.Split test, Map<String, Tensor> fisher, Mlp tuned) {}

    @Override
    public Integer call() throws IOException {
        if (epochs < 1 || !(maskFraction > 0 && maskFraction <= 1)) {
            throw new IllegalArgumentException("--epochs must be >= 1 and --mask in (0, 1]");
        }
        PrintWriter out = spec.commandLine().getOut();
        Files.createDirectories(workDir);
        FashionMnist.Split train = FashionMnist.train(data);
        FashionMnist.Split test = FashionMnist.test(data);
        List<Contribution> contributions = new ArrayList<>();
        try (Mlp base = new Mlp(1, SIZES)) {
            trainBase(out, base, train, test);
            for (Contributor who : Contributor.DEMO) {
                contributions.add(contribute(out, base, who, train, test));
            }
            merge(out, base, contributions, test);
        } finally {
            for (Contribution c : contributions) {
                c.tuned().close();
                c.fisher().values().forEach(Tensor::close);
            }
        }
        quantizeMerged(out, test);
        out.flush();
        PeersDemo.run(out, workDir);
        out.flush();
        return 0;
    }

    private void trainBase(PrintWriter out, Mlp base, FashionMnist.Split train, FashionMnist.Split test) throws IOException {
        out.printf("== stage 1: base model, MLP 784-256-10 trained with AdamW on %,d Fashion-MNIST images%n", train.count());
        try (AdamW optimizer = new AdamW(base.parameters(), 1e-3)) {
            for (int epoch = 1; epoch <= epochs; epoch++) {
                ProgressBar bar = ProgressBar.onStderr(spec, String.format("   epoch %d/%d", epoch, epochs), (train.count() + 63) / 64);
                long start = System.nanoTime();
                double loss = ClassifierTraining.trainEpoch(base::forward, optimizer, train, 64, 1, epoch,
                        (e, step, steps, stepLoss) -> bar.update(step, String.format("loss %.4f", stepLoss)));
                out.printf("   epoch %d: mean loss %.4f, %,.0f images/s%n", epoch, loss,
                        train.count() / ((System.nanoTime() - start) / 1e9));
            }
        }
        Path file = workDir.resolve("base.safetensors");
        MlpFiles.save(file, base.stateDict(), SIZES, Map.of());
        out.printf("   test accuracy %.2f%%; wrote %s%n", 100 * ClassifierTraining.accuracy(base::forward, test, 1000), file);
    }

    private Contribution contribute(PrintWriter out, Mlp base, Contributor who, FashionMnist.Split train, FashionMnist.Split test)
            throws IOException {
        out.printf("== stages 2-4 for %s (%s)%n", who.name(), who.description());
        FashionMnist.Split taskTrain = who.withReplay(train, 6000);
        FashionMnist.Split taskTest = who.task(test, 4000);
        long start = System.nanoTime();
        Map<String, Tensor> fisher;
        try (TensorScope scope = TensorScope.open()) {
            fisher = DiagonalFisher.ofMlp(base, MlpFiles.images(who.task(train, 1024)), who.labels(who.task(train, 1024)),
                    DiagonalFisher.Labels.EMPIRICAL, 0, 1024);
        }
        SparseMask mask = FishMask.of(fisher, maskFraction, Set.of());
        mask.save(workDir.resolve(who.name() + ".mask.safetensors"));
        out.printf("   Fisher over 1,024 of their images and FISH mask in %.0f ms: %,d of %,d parameters (%s)%n",
                (System.nanoTime() - start) / 1e6, mask.count(), base.parameterCount(), perTensor(mask));
        Mlp tuned = new Mlp(1, SIZES);
        tuned.loadStateDict(base.stateDict(), true);
        double before = ClassifierTraining.accuracy(tuned::forward, taskTest, 1000);
        try (MaskedAdamW optimizer = new MaskedAdamW(tuned.namedParameters(), mask, 3e-3)) {
            optimizer.compactGradients(); // backward computes the masked weights' gradients at the masked entries only
            for (int epoch = 1; epoch <= 2; epoch++) {
                ClassifierTraining.trainEpoch(tuned::forward, optimizer, taskTrain, 64, 2, epoch, (e, s, n, l) -> {});
            }
            out.printf("   sparse fine-tuning (%s) on %,d images (theirs, plus as many general ones replayed): "
                            + "their test accuracy %.2f%% -> %.2f%%%n",
                    optimizer.describe(), taskTrain.count(), 100 * before,
                    100 * ClassifierTraining.accuracy(tuned::forward, taskTest, 1000));
        }
        Path patchFile = workDir.resolve(who.name() + ".patch.safetensors");
        Patch.diff(base.stateDict(), tuned.stateDict(), mask, who.name() + ": " + who.description()).save(patchFile, Compression.ZSTD);
        VetReport report = Vetting.report(base.stateDict(), patchFile, weights -> accuracy(weights, taskTest));
        out.printf("   patch %s: %,d bytes (the model is %,d bytes); vet: base matches %s, finite %s, %,d entries, "
                        + "their accuracy %.2f%% -> %.2f%%, %s%n", patchFile.getFileName(), report.bytesOnDisk(),
                Files.size(workDir.resolve("base.safetensors")), report.baseMatches(), report.allFinite(), report.entries(),
                100 * report.metricBefore(), 100 * report.metricAfter(), report.clean() ? "no flags" : "flagged");
        return new Contribution(who, taskTest, fisher, tuned);
    }

    private void merge(PrintWriter out, Mlp base, List<Contribution> contributions, FashionMnist.Split test) throws IOException {
        out.println("== stage 5: merge the contributions (Fisher-weighted, next to a plain average)");
        List<Map<String, Tensor>> models = contributions.stream().map(c -> c.tuned().stateDict()).toList();
        List<Map<String, Tensor>> fishers = contributions.stream().map(Contribution::fisher).toList();
        double[] equal = new double[models.size()];
        java.util.Arrays.fill(equal, 1);
        try (TensorScope scope = TensorScope.open()) {
            Map<String, Tensor> fisherMerged = Merge.fisherWeighted(models, fishers, equal, Merge.DEFAULT_FISHER_FLOOR, false);
            Map<String, Tensor> averaged = Merge.average(models, equal);
            Path file = workDir.resolve("merged.safetensors");
            MlpFiles.save(file, fisherMerged, SIZES, Map.of("merge_method", "fisher"));
            out.printf("   %-16s all %.2f%%", "base", 100 * accuracy(base.stateDict(), test));
            contributions.forEach(c -> out.printf(", %s's %.2f%%", c.who().name(), 100 * accuracy(base.stateDict(), c.test())));
            out.println();
            Map<String, Map<String, Tensor>> results = new java.util.LinkedHashMap<>();
            results.put("fisher merge", fisherMerged);
            results.put("plain average", averaged);
            for (var entry : results.entrySet()) {
                out.printf("   %-16s all %.2f%%", entry.getKey(), 100 * accuracy(entry.getValue(), test));
                contributions.forEach(c -> out.printf(", %s's %.2f%%", c.who().name(), 100 * accuracy(entry.getValue(), c.test())));
                out.println();
            }
            out.printf("   wrote %s%n", file);
        }
    }

    private void quantizeMerged(PrintWriter out, FashionMnist.Split test) throws IOException {
        out.println("== stage 6: the merged model in int8 (per-channel weights, LLM.int8 outlier columns in float)");
        Path merged = workDir.resolve("merged.safetensors");
        Path int8 = workDir.resolve("merged-int8.safetensors");
        try (Mlp model = MlpFiles.load(merged)) {
            double floatAccuracy = ClassifierTraining.accuracy(model::forward, test, 1000);
            Quantization.quantize(model, QuantizationConfig.defaults());
            double int8Accuracy = MlpFiles.saveQuantizedAndTest(int8, model, SIZES, Map.of("merge_method", "fisher"), test);
            out.printf("   test accuracy float32 %.2f%%, int8 %.2f%%; %s is %,d bytes (float32: %,d)%n", 100 * floatAccuracy,
                    100 * int8Accuracy, int8.getFileName(), Files.size(int8), Files.size(merged));
        }
    }

    /** Test accuracy of MLP weights given as a state dict. */
    private static double accuracy(Map<String, Tensor> weights, FashionMnist.Split test) {
        try (Mlp model = new Mlp(0, SIZES)) {
            model.loadStateDict(weights, true);
            return ClassifierTraining.accuracy(model::forward, test, 1000);
        }
    }

    private static String perTensor(SparseMask mask) {
        StringBuilder s = new StringBuilder();
        mask.tensors().forEach((name, t) -> s.append(s.isEmpty() ? "" : ", ").append(name).append(' ').append(t.count()));
        return s.toString();
    }
}
