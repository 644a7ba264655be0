package io.tessera.cli;

import io.tessera.data.FashionMnist;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.engine.autograd.GradMode;
import io.tessera.engine.nn.VisionTransformer;
import io.tessera.engine.optim.AdamW;
import io.tessera.fisher.DiagonalFisher;
import io.tessera.fisher.FishMask;
import io.tessera.fisher.Merge;
import io.tessera.pipeline.Quantization;
import io.tessera.pipeline.QuantizationConfig;
import io.tessera.pipeline.QuantizedCheckpoint;
import io.tessera.sparse.Compression;
import io.tessera.sparse.MaskedAdamW;
import io.tessera.sparse.Patch;
import io.tessera.sparse.SparseMask;
import io.tessera.sparse.VetContext;
import io.tessera.sparse.VetPolicy;
import io.tessera.sparse.VetReport;
import io.tessera.sparse.Vetting;
import io.tessera.train.ClassifierTraining;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.function.Function;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * The end-to-end job of DESIGN.md on a small vision transformer over 7x7 patches of Fashion-MNIST: a base model,
 * each contributor's Fisher and FISH mask, sparse fine-tuning into a patch file, the vetting report, a Fisher-weighted
 * merge of the contributions next to a plain average, the merged model in int8, then a decoder served by three peers.
 * Every stage writes files a user can inspect into the work directory; the run ends with one table of what each
 * stage's model scores on each contributor's task and overall, its file size and the stage's time, all measured.
 */
@Command(name = "demo", description = {"Run the end-to-end demo on a small vision transformer (ViT over 7x7 patches of"
        + " Fashion-MNIST): base model, two contributors' Fisher + FISH mask + sparse fine-tuning into patch files, vetting,"
        + " Fisher merge next to average, int8, then a decoder served by 3 local peers; ends with one table.",
    "The defaults take a few minutes on 2 cores; smaller --train-examples / --width make a quick run."})
final class DemoCommand implements Callable<Integer> {
    private static final int IMAGE = 28;
    private static final int PATCH = 7;
    private static final long CLASSES = 10;
    /** The maintainer's clean root set for vetting: the first images of the base's training data. */
    private static final int ROOT_EXAMPLES = 256;
    /** Held-out images the vetting's per-class and trigger items look at. */
    private static final int VET_EXAMPLES = 500;
    /** Examples per Fisher batch: layer norms' per-example gradients cost a replay per example and batch row. */
    private static final int FISHER_BATCH = 32;
    private static final double BASE_LR = 2e-3;
    /** Sparse fine-tuning moves a few entries, each further: a larger rate than the base's. */
    private static final double FINETUNE_LR = 1e-2;

    @Option(names = "--data", description = "Directory of the Fashion-MNIST IDX files (default: ${DEFAULT-VALUE}).",
            defaultValue = "/usr/share/datasets/fashion-mnist")
    Path data;

    @Option(names = "--work-dir", description = "Where the demo writes its files (default: ${DEFAULT-VALUE}).",
            defaultValue = "target/demo")
    Path workDir;

    @Option(names = "--train-examples", description = "Training images of the base model; the contributors' data comes from"
            + " the rest of the training set (default: ${DEFAULT-VALUE}).", defaultValue = "15000")
    int trainExamples;

    @Option(names = "--epochs", description = "Epochs of base-model training (default: ${DEFAULT-VALUE}).", defaultValue = "1")
    int epochs;

    @Option(names = "--task-examples", description = "Images of their own classes each contributor fine-tunes on, with as many"
            + " general ones replayed (default: ${DEFAULT-VALUE}).", defaultValue = "3000")
    int taskExamples;

    @Option(names = "--finetune-epochs", description = "Epochs of each contributor's sparse fine-tuning (default: ${DEFAULT-VALUE}).",
            defaultValue = "1")
    int finetuneEpochs;

    @Option(names = "--fisher-examples", description = "Images of their classes each contributor's Fisher is taken over"
            + " (default: ${DEFAULT-VALUE}).", defaultValue = "512")
    int fisherExamples;

    @Option(names = "--mask", description = "Fraction of parameters each contributor trains (default: ${DEFAULT-VALUE}).",
            defaultValue = "0.005")
    double maskFraction;

    @Option(names = "--test-examples", description = "Test images every stage is scored on (default: ${DEFAULT-VALUE}).",
            defaultValue = "5000")
    int testExamples;

    @Option(names = "--width", description = "The transformer's width d (default: ${DEFAULT-VALUE}).", defaultValue = "64")
    long width;

    @Option(names = "--layers", description = "Transformer blocks (default: ${DEFAULT-VALUE}).", defaultValue = "2")
    int layers;

    @Option(names = "--heads", description = "Attention heads (default: ${DEFAULT-VALUE}).", defaultValue = "4")
    long heads;

    @Option(names = "--skip-peers", description = "Leave out stage 7 (the decoder served by three peers).")
    boolean skipPeers;

    @Spec
    CommandSpec spec;

    /** One row of the final table: a model's accuracy on each contributor's task and overall, its file and the stage's time. */
    private record Row(String stage, double[] taskAccuracy, double overall, Path file, long bytes, double seconds) {}

    /** The test images every stage is scored on: all of them, and each contributor's classes among them. */
    private record Scoring(FashionMnist.Split all, List<FashionMnist.Split> tasks) {
        /** Accuracy on each task's images, then on all, from one pass of predictions over the test images. */
        double[] score(Function<Tensor, Tensor> model) {
            int[] labels = HeldOutClassifier.labelsOf(all);
            long[] predicted = new long[labels.length];
            try (GradMode off = GradMode.noGrad()) {
                int[] order = java.util.stream.IntStream.range(0, labels.length).toArray();
                for (int from = 0; from < labels.length; from += 1000) {
                    int to = Math.min(labels.length, from + 1000);
                    try (TensorScope scope = TensorScope.open()) {
                        long[] part = model.apply(ClassifierTraining.batch(all, order, from, to)[0]).argmax(-1, false).toLongArray();
                        System.arraycopy(part, 0, predicted, from, part.length);
                    }
                }
            }
            double[] out = new double[Contributor.DEMO.size() + 1];
            for (int t = 0; t <= Contributor.DEMO.size(); t++) {
                Set<Integer> classes = t < Contributor.DEMO.size() ? Contributor.DEMO.get(t).classes() : null;
                long seen = 0;
                long correct = 0;
                for (int i = 0; i < labels.length; i++) {
                    if (classes == null || classes.contains(labels[i])) {
                        seen++;
                        correct += predicted[i] == labels[i] ? 1 : 0;
                    }
                }
                out[t] = seen == 0 ? Double.NaN : (double) correct / seen;
            }
            return out;
        }
    }

    /** What a contribution leaves for vetting and the merge. */
    private record Contribution(Contributor who, Path patchFile, Map<String, Tensor> fisher, VisionTransformer tuned, double seconds) {}

    @Override
    public Integer call() throws IOException {
        checkOptions();
        long begin = System.nanoTime();
        PrintWriter out = spec.commandLine().getOut();
        Files.createDirectories(workDir);
        FashionMnist.Split train = FashionMnist.train(data);
        if (train.count() <= trainExamples) {
            throw new IllegalArgumentException("--train-examples " + trainExamples + " leaves none of the " + train.count()
                    + " training images for the contributors");
        }
        FashionMnist.Split test = FashionMnist.test(data, testExamples);
        Scoring scoring = new Scoring(test, Contributor.DEMO.stream().map(who -> who.task(test, test.count())).toList());
        VisionTransformer.Config config = new VisionTransformer.Config(IMAGE, PATCH, width, heads, layers, CLASSES);
        FashionMnist.Split baseData = train.range(0, trainExamples);
        FashionMnist.Split contributorData = train.range(trainExamples, train.count());
        List<Row> rows = new ArrayList<>();
        List<Contribution> contributions = new ArrayList<>();
        try (VisionTransformer base = new VisionTransformer(config, 1)) {
            rows.add(trainBase(out, base, baseData, scoring));
            for (Contributor who : Contributor.DEMO) {
                contributions.add(contribute(out, base, who, contributorData));
            }
            rows.addAll(vet(out, base, contributions, baseData.range(0, Math.min(ROOT_EXAMPLES, baseData.count())), scoring));
            rows.addAll(merge(out, config, contributions, scoring));
        } finally {
            for (Contribution c : contributions) {
                c.tuned().close();
                c.fisher().values().forEach(Tensor::close);
            }
        }
        rows.add(quantizeMerged(out, scoring));
        table(out, rows);
        out.flush();
        if (!skipPeers) {
            long start = System.nanoTime();
            PeersDemo.run(out, workDir);
            out.printf("   stage 7 took %.1f s%n", seconds(start));
        }
        out.printf("== the whole demo took %.1f s%n", seconds(begin));
        out.flush();
        return 0;
    }

    private void checkOptions() {
        if (epochs < 1 || finetuneEpochs < 1 || trainExamples < 1 || taskExamples < 1 || fisherExamples < 1 || testExamples < 1) {
            throw new IllegalArgumentException("--epochs, --finetune-epochs, --train-examples, --task-examples, --fisher-examples and"
                    + " --test-examples must be >= 1");
        }
        if (!(maskFraction > 0 && maskFraction <= 1)) {
            throw new IllegalArgumentException("--mask must be in (0, 1], got " + maskFraction);
        }
        if (width < 1 || heads < 1 || width % heads != 0 || layers < 1) {
            throw new IllegalArgumentException("--width must be a positive multiple of --heads, and --layers >= 1; got width " + width
                    + ", heads " + heads + ", layers " + layers);
        }
    }

    private Row trainBase(PrintWriter out, VisionTransformer base, FashionMnist.Split train, Scoring scoring) throws IOException {
        VisionTransformer.Config c = base.config();
        out.printf("== stage 1: base model, a ViT (%dx%d images as %d patches of %dx%d, width %d, %d heads, %d pre-norm blocks,"
                        + " mean pooling; %,d parameters) trained with AdamW on %,d Fashion-MNIST images%n", c.image(), c.image(),
                c.patches(), c.patch(), c.patch(), c.dim(), c.heads(), c.layers(), base.parameterCount(), train.count());
        long start = System.nanoTime();
        try (AdamW optimizer = new AdamW(base.parameters(), BASE_LR)) {
            for (int epoch = 1; epoch <= epochs; epoch++) {
                ProgressBar bar = ProgressBar.onStderr(spec, String.format("   epoch %d/%d", epoch, epochs), (train.count() + 63) / 64);
                long epochStart = System.nanoTime();
                double loss = ClassifierTraining.trainEpoch(base::forward, optimizer, train, 64, 1, epoch,
                        (e, step, steps, stepLoss) -> bar.update(step, String.format("loss %.4f", stepLoss)));
                out.printf("   epoch %d: mean loss %.4f, %,.0f images/s%n", epoch, loss, train.count() / seconds(epochStart));
            }
        }
        Path file = workDir.resolve("base.safetensors");
        VitFiles.save(file, base.stateDict(), c, Map.of());
        double took = seconds(start);
        Row row = row("base", c, base.stateDict(), file, took, scoring);
        out.printf("   test accuracy %.2f%%; wrote %s%n", 100 * row.overall(), file);
        return row;
    }

    private Contribution contribute(PrintWriter out, VisionTransformer base, Contributor who, FashionMnist.Split data)
            throws IOException {
        out.printf("== stages 2-3 for %s (%s)%n", who.name(), who.description());
        FashionMnist.Split taskTrain = who.withReplay(data, taskExamples);
        FashionMnist.Split fisherData = who.task(data, fisherExamples);
        long start = System.nanoTime();
        Map<String, Tensor> fisher;
        try (TensorScope scope = TensorScope.open()) {
            fisher = DiagonalFisher.of(base, base::forward, MlpFiles.images(fisherData),
                    Tensor.of(HeldOutClassifier.labelsOf(fisherData), fisherData.count()), DiagonalFisher.Labels.EMPIRICAL, 0,
                    FISHER_BATCH);
        }
        VisionTransformer tuned = new VisionTransformer(base.config(), 0);
        try {
            SparseMask mask = FishMask.of(fisher, maskFraction, Set.of());
            mask.save(workDir.resolve(who.name() + ".mask.safetensors"));
            out.printf("   stage 2: Fisher over %,d of their images (per-example gradients, one batched backward pass per %d) and"
                            + " FISH mask in %.1f s: %,d of %,d parameters (%.2f%%) in %d of %d tensors, most in %s%n",
                    fisherData.count(), FISHER_BATCH, seconds(start), mask.count(), base.parameterCount(),
                    100.0 * mask.count() / base.parameterCount(), mask.tensors().values().stream().filter(t -> t.count() > 0).count(),
                    base.namedParameters().size(), busiest(mask));
            tuned.loadStateDict(base.stateDict(), true);
            long tuneStart = System.nanoTime();
            try (MaskedAdamW optimizer = new MaskedAdamW(tuned.namedParameters(), mask, FINETUNE_LR)) {
                optimizer.compactGradients(); // backward computes the masked weights' gradients at the masked entries only
                for (int epoch = 1; epoch <= finetuneEpochs; epoch++) {
                    ClassifierTraining.trainEpoch(tuned::forward, optimizer, taskTrain, 64, 2, epoch, (e, s, n, l) -> {});
                }
                out.printf("   stage 3: sparse fine-tuning (MaskedAdamW, lr %s, only the %,d masked entries move; compact"
                                + " gradients) on %,d images (theirs, plus as many general ones replayed), %d epoch(s) in %.1f s%n",
                        FINETUNE_LR, mask.count(), taskTrain.count(), finetuneEpochs, seconds(tuneStart));
            }
            Path patchFile = workDir.resolve(who.name() + ".patch.safetensors" + PatchFiles.ZSTD_SUFFIX);
            Patch.diff(base.stateDict(), tuned.stateDict(), mask, who.name() + ": " + who.description()).save(patchFile, Compression.ZSTD);
            out.printf("   wrote %s: %,d bytes%n", patchFile.getFileName(), Files.size(patchFile));
            return new Contribution(who, patchFile, fisher, tuned, seconds(start));
        } catch (IOException | RuntimeException e) {
            tuned.close();
            fisher.values().forEach(Tensor::close);
            throw e;
        }
    }

    /** Stage 4: each patch vetted against the base, with the other patches pending beside it; a table row per patch. */
    private List<Row> vet(PrintWriter out, VisionTransformer base, List<Contribution> contributions, FashionMnist.Split root,
                          Scoring scoring) throws IOException {
        out.printf("== stage 4: vetting, the maintainer's report per patch (root set: %d clean training images, held-out: %d test"
                + " images); never an automatic accept%n", root.count(), Math.min(VET_EXAMPLES, scoring.all().count()));
        VisionTransformer.Config config = base.config();
        List<Row> rows = new ArrayList<>();
        Map<String, Tensor> rootFisher = Map.of();
        try (TensorScope scope = TensorScope.open()) {
            long start = System.nanoTime();
            Map<String, Tensor> rootGradient = HeldOutClassifier.meanGradient(base, base, root);
            rootFisher = DiagonalFisher.of(base, base::forward, MlpFiles.images(root), Tensor.of(HeldOutClassifier.labelsOf(root),
                    root.count()), DiagonalFisher.Labels.EMPIRICAL, 0, FISHER_BATCH);
            double rootSeconds = seconds(start) / contributions.size(); // the root statistics serve every patch
            HeldOutClassifier<VisionTransformer> classifier = new HeldOutClassifier<>(() -> new VisionTransformer(config, 0),
                    (int) CLASSES, scoring.all().range(0, Math.min(VET_EXAMPLES, scoring.all().count())));
            for (int i = 0; i < contributions.size(); i++) {
                Contribution c = contributions.get(i);
                List<Path> pending = contributions.stream().filter(o -> o != c).map(Contribution::patchFile).toList();
                FashionMnist.Split theirs = scoring.tasks().get(i);
                long vetStart = System.nanoTime();
                VetReport report = Vetting.report(base.stateDict(), c.patchFile(), weights -> accuracy(config, weights, theirs),
                        VetPolicy.DEFAULT, new VetContext(List.of(), pending, rootGradient, rootFisher, classifier));
                double vetSeconds = seconds(vetStart) + rootSeconds;
                out.printf("   %s: %,d entries, %,d bytes; base matches %s; their accuracy %.2f%% -> %.2f%%; vetted in %.1f s%n",
                        c.patchFile().getFileName(), report.entries(), report.bytesOnDisk(), report.baseMatches(),
                        100 * report.metricBefore(), 100 * report.metricAfter(), vetSeconds);
                for (VetReport.Check check : report.checks()) {
                    out.printf(Locale.ROOT, "     %-8s %-22s %10.4g  %s%n", check.verdict(), check.item(), check.value(), check.detail());
                }
                out.printf("     overall: %s (a report, not a decision)%n", report.worst());
                try (TensorScope patched = TensorScope.open()) {
                    Map<String, Tensor> weights = Patch.load(c.patchFile()).apply(base.stateDict());
                    rows.add(row(c.who().name() + " patch", config, weights, c.patchFile(), c.seconds() + vetSeconds, scoring));
                }
            }
        } finally {
            rootFisher.values().forEach(Tensor::close);
        }
        return rows;
    }

    private List<Row> merge(PrintWriter out, VisionTransformer.Config config, List<Contribution> contributions, Scoring scoring)
            throws IOException {
        out.println("== stage 5: merge the contributions (Fisher-weighted, next to a plain average)");
        List<Map<String, Tensor>> models = contributions.stream().map(c -> c.tuned().stateDict()).toList();
        List<Map<String, Tensor>> fishers = contributions.stream().map(Contribution::fisher).toList();
        double[] equal = new double[models.size()];
        Arrays.fill(equal, 1);
        List<Row> rows = new ArrayList<>();
        try (TensorScope scope = TensorScope.open()) {
            long start = System.nanoTime();
            Map<String, Tensor> fisherMerged = Merge.fisherWeighted(models, fishers, equal, Merge.DEFAULT_FISHER_FLOOR, false);
            Path fisherFile = workDir.resolve("merged.safetensors");
            VitFiles.save(fisherFile, fisherMerged, config, Map.of("merge_method", "fisher"));
            double fisherSeconds = seconds(start);
            start = System.nanoTime();
            Map<String, Tensor> averaged = Merge.average(models, equal);
            Path averageFile = workDir.resolve("average.safetensors");
            VitFiles.save(averageFile, averaged, config, Map.of("merge_method", "average"));
            double averageSeconds = seconds(start);
            rows.add(row("fisher merge", config, fisherMerged, fisherFile, fisherSeconds, scoring));
            rows.add(row("average", config, averaged, averageFile, averageSeconds, scoring));
            out.printf("   wrote %s and %s%n", fisherFile, averageFile);
        }
        return rows;
    }

    private Row quantizeMerged(PrintWriter out, Scoring scoring) throws IOException {
        out.println("== stage 6: the Fisher-merged model in int8 (per-channel weights, LLM.int8 outlier columns in float)");
        Path merged = workDir.resolve("merged.safetensors");
        Path int8 = workDir.resolve("merged-int8.safetensors");
        long start = System.nanoTime();
        List<String> layers;
        try (VisionTransformer model = VitFiles.load(merged)) {
            layers = Quantization.quantize(model, QuantizationConfig.defaults());
            QuantizedCheckpoint.save(int8, model, VitFiles.metadata(model.config(), Map.of("merge_method", "fisher")));
        }
        double took = seconds(start);
        try (VisionTransformer reloaded = VitFiles.load(int8); TensorScope scope = TensorScope.open()) {
            out.printf("   %d Linear layers in int8; wrote %s (%,d bytes; float32: %,d), scored as loaded back from the file%n",
                    layers.size(), int8.getFileName(), Files.size(int8), Files.size(merged));
            return row("int8 (fisher merge)", reloaded, int8, took, scoring);
        }
    }

    private void table(PrintWriter out, List<Row> rows) {
        out.println("== the story in one table (test accuracy; time: the stage's own work, scoring for this table left out)");
        StringBuilder header = new StringBuilder("| stage |");
        StringBuilder rule = new StringBuilder("|---|");
        for (Contributor who : Contributor.DEMO) {
            header.append(' ').append(who.name()).append("'s task |");
            rule.append("---:|");
        }
        out.println(header.append(" all classes | file | bytes | seconds |"));
        out.println(rule.append("---:|---|---:|---:|"));
        for (Row r : rows) {
            StringBuilder line = new StringBuilder("| ").append(r.stage()).append(" |");
            for (double a : r.taskAccuracy()) {
                line.append(String.format(Locale.ROOT, " %.2f%% |", 100 * a));
            }
            line.append(String.format(Locale.ROOT, " %.2f%% | %s | %,d | %.1f |", 100 * r.overall(), r.file().getFileName(), r.bytes(),
                    r.seconds()));
            out.println(line);
        }
    }

    /** The table row of a model given by its weights: scored on every task and overall. */
    private static Row row(String stage, VisionTransformer.Config config, Map<String, Tensor> weights, Path file, double seconds,
                           Scoring scoring) throws IOException {
        try (VisionTransformer model = HeldOutClassifier.loaded(() -> new VisionTransformer(config, 0), weights)) {
            return row(stage, model, file, seconds, scoring);
        }
    }

    private static Row row(String stage, VisionTransformer model, Path file, double seconds, Scoring scoring) throws IOException {
        double[] scores = scoring.score(model::forward);
        return new Row(stage, Arrays.copyOf(scores, scores.length - 1), scores[scores.length - 1], file, Files.size(file), seconds);
    }

    /** Accuracy on {@code split} of ViT weights given as a state dict. */
    private static double accuracy(VisionTransformer.Config config, Map<String, Tensor> weights, FashionMnist.Split split) {
        try (VisionTransformer model = HeldOutClassifier.loaded(() -> new VisionTransformer(config, 0), weights)) {
            return ClassifierTraining.accuracy(model::forward, split, 1000);
        }
    }

    /** The tensor holding most of the mask's entries, with its count. */
    private static String busiest(SparseMask mask) {
        return mask.tensors().entrySet().stream().max((a, b) -> Long.compare(a.getValue().count(), b.getValue().count()))
                .map(e -> e.getKey() + " (" + e.getValue().count() + ")").orElse("none");
    }

    private static double seconds(long start) {
        return (System.nanoTime() - start) / 1e9;
    }
}
