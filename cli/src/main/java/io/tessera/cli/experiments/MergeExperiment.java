package io.tessera.cli.experiments;

import io.tessera.cli.ProgressBar;
import io.tessera.data.FashionMnist;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.engine.nn.Module;
import io.tessera.fisher.CoefficientSearch;
import io.tessera.fisher.DiagonalFisher;
import io.tessera.fisher.FishMask;
import io.tessera.fisher.Grams;
import io.tessera.fisher.Merge;
import io.tessera.sparse.SparseMask;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.function.Function;
import java.util.stream.Collectors;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * Which merge combines two fine-tuned contributions best? From one model pretrained on classes 0-4, model A
 * is fine-tuned on classes {5, 6, 7} and model B on {8, 9} (the same 10-way head); they are merged by
 * averaging, Fisher merging, task arithmetic, TIES, DARE and RegMean, each with its coefficients chosen on a
 * validation split, next to A alone, B alone and one model fine-tuned on all five classes. Then the same
 * with sparse contributions: A and B trained only on their FISH mask's entries.
 */
@Command(name = "merge",
        description = {"Merging methods compared: A fine-tuned on classes 5-7 and B on 8-9 from one model pretrained on 0-4,",
            "merged six ways (fully fine-tuned, then as FISH patches); writes merge.md (table) and merge.png into --out-dir."})
final class MergeExperiment implements Callable<Integer> {
    /** The model merged: the MLP (the ViT's merges are in the demo). */
    private static final ClassifierBench.Architecture MODEL = ClassifierBench.Architecture.MLP;
    private static final Set<Integer> TASK_A = Set.of(5, 6, 7);
    private static final Set<Integer> TASK_B = Set.of(8, 9);
    private static final List<String> METRICS = List.of("task A (5, 6, 7)", "task B (8, 9)", "overall (5-9)");
    private static final double TIES_DENSITY = 0.2; // the TIES paper's k = 20%
    private static final double DARE_DROP = 0.9; // the DARE paper's usual drop rate
    private static final double[] SCALES = {0.25, 0.5, 0.75, 1, 1.25, 1.5};

    @Mixin
    PretrainOptions pretrain = new PretrainOptions();

    @Option(names = "--out-dir", description = "Where merge.md and merge.png go (default: ${DEFAULT-VALUE}).",
            defaultValue = "docs/results")
    Path outDir;

    @Option(names = "--seeds", description = "Seeds 1..N, each a pretrained model, contributions and merges (default: ${DEFAULT-VALUE}).",
            defaultValue = "3")
    int seeds;

    @Option(names = "--epochs", description = "Epochs of each fine-tuning (default: ${DEFAULT-VALUE}).", defaultValue = "2")
    int epochs;

    @Option(names = "--examples", description = "Training examples of classes 5-9, split between A and B by label "
            + "(default: ${DEFAULT-VALUE}).", defaultValue = "5000")
    int examples;

    @Option(names = "--validation", description = "Examples held out of the training file to choose rates and coefficients on "
            + "(default: ${DEFAULT-VALUE}).", defaultValue = "5000")
    int validation;

    @Option(names = "--fisher-examples", description = "Examples of its own data each model's Fisher, Gram matrices and FISH mask "
            + "use (default: ${DEFAULT-VALUE}).", defaultValue = "1024")
    int fisherExamples;

    @Option(names = "--fish-density", description = "Density of the FISH masks of the sparse contributions (default: ${DEFAULT-VALUE}).",
            defaultValue = "0.005")
    double fishDensity;

    @Option(names = "--rates", split = ",", description = "Fine-tuning learning rates chosen from on validation "
            + "(default: ${DEFAULT-VALUE}).",
            defaultValue = "1e-4,3e-4,1e-3,3e-3,1e-2,3e-2,1e-1,3e-1,1")
    double[] rates;

    @Spec
    CommandSpec spec;

    /** How the contributions are trained. */
    private enum Style {
        FULL, FISH
    }

    /** One row of a table: test accuracies per seed for each metric, and the coefficients chosen per seed. */
    private record Row(double[][] accuracies, List<String> choices) {
        Row(int seeds) {
            this(new double[METRICS.size()][seeds], new ArrayList<>());
        }
    }

    /** A data set of a task: its training examples, validation and test examples, and its label set. */
    private record Task(String name, Set<Integer> labels, FashionMnist.Split train, FashionMnist.Split validation,
                        FashionMnist.Split test) {}

    private final Map<Style, Map<String, Row>> results = new LinkedHashMap<>();
    private final Map<Style, Map<String, Double>> chosenRates = new LinkedHashMap<>();

    @Override
    public Integer call() throws IOException {
        checkOptions();
        PrintWriter out = spec.commandLine().getOut();
        String command = Report.command(spec);
        long start = System.nanoTime();
        ClassifierBench.Splits splits = ClassifierBench.Splits.load(pretrain.data, validation);
        FashionMnist.Split pretrainSet = splits.train().withLabels(ClassifierBench.PRETRAIN_CLASSES, pretrain.pretrainExamples);
        FashionMnist.Split tuneSet = splits.train().withLabels(ClassifierBench.NEW_CLASSES, examples);
        Task a = task("A", TASK_A, tuneSet, splits);
        Task b = task("B", TASK_B, tuneSet, splits);
        Task all = task("A+B", ClassifierBench.NEW_CLASSES, tuneSet, splits);
        for (Task t : List.of(a, b, all)) {
            if (t.train().count() == 0 || t.validation().count() == 0 || pretrainSet.count() == 0) {
                throw new IllegalArgumentException("the splits of " + pretrain.data + " hold no examples of task " + t.name()
                        + " (training " + t.train().count() + ", validation " + t.validation().count() + ") or of classes 0-4");
            }
        }
        for (int s = 0; s < seeds; s++) {
            long seed = s + 1;
            try (Module base = ClassifierBench.pretrain(MODEL, pretrainSet, pretrain.pretrainEpochs, seed,
                    progress("seed " + seed + " pretraining"))) {
                for (Style style : Style.values()) {
                    runStyle(base, style, seed, s, a, b, all);
                    int column = s;
                    out.printf(Locale.ROOT, "seed %d, %s contributions, overall test accuracy: %s%n", seed, title(style),
                            results.get(style).entrySet().stream().map(e -> String.format(Locale.ROOT, "%s %.2f%%", e.getKey(),
                                    100 * e.getValue().accuracies()[2][column])).collect(Collectors.joining(", ")));
                    out.flush();
                }
            }
        }
        String minutes = String.format(Locale.ROOT, "%.1f", (System.nanoTime() - start) / 6e10);
        Map<String, List<Plots.Bars>> panels = new LinkedHashMap<>();
        results.forEach((style, rows) -> panels.put(title(style) + " contributions: test accuracy (mean of " + seeds + " seed(s))",
                rows.entrySet().stream().map(e -> new Plots.Bars(e.getKey(), means(e.getValue()))).toList()));
        Report.write(outDir, "merge", markdown(command, a, b, all, minutes), Plots.groupedBars(panels));
        out.printf("wrote %s and %s%n", outDir.resolve("merge.md"), outDir.resolve("merge.png"));
        return 0;
    }

    private void checkOptions() {
        if (seeds < 1 || pretrain.pretrainEpochs < 1 || epochs < 1 || examples < 1 || pretrain.pretrainExamples < 1
                || fisherExamples < 1 || validation < 1) {
            throw new ParameterException(spec.commandLine(), "--seeds, --pretrain-epochs, --epochs, --examples, --pretrain-examples, "
                    + "--fisher-examples and --validation must be >= 1");
        }
        if (!(fishDensity > 0 && fishDensity < 1)) {
            throw new ParameterException(spec.commandLine(), "--fish-density must be a fraction in (0, 1), got " + fishDensity);
        }
        for (double r : rates) {
            if (!(r > 0 && Double.isFinite(r))) {
                throw new ParameterException(spec.commandLine(), "--rates must be positive, got " + r);
            }
        }
    }

    private static Task task(String name, Set<Integer> labels, FashionMnist.Split tuneSet, ClassifierBench.Splits splits) {
        return new Task(name, labels, tuneSet.withLabels(labels, Integer.MAX_VALUE), splits.validation().withLabels(labels,
                Integer.MAX_VALUE), splits.test().withLabels(labels, Integer.MAX_VALUE));
    }

    /** Trains A, B and the joint model in one style from {@code base}, merges A and B every way, and records the test accuracies. */
    private void runStyle(Module base, Style style, long seed, int s, Task a, Task b, Task all) {
        Map<String, Row> rows = results.computeIfAbsent(style, k -> new LinkedHashMap<>());
        Map<String, Double> rates = chosenRates.computeIfAbsent(style, k -> new LinkedHashMap<>());
        try (Module modelA = contribute(base, style, seed, a, rates); Module modelB = contribute(base, style, seed, b, rates);
             TensorScope scope = TensorScope.open()) {
            record(rows, "A alone", "-", s, modelA.stateDict(), a, b, all);
            record(rows, "B alone", "-", s, modelB.stateDict(), a, b, all);
            try (Module joint = contribute(base, style, seed, all, rates)) {
                record(rows, "one model on A+B", "-", s, joint.stateDict(), a, b, all);
            }
            Map<String, Tensor> theta0 = base.stateDict();
            List<Map<String, Tensor>> models = List.of(modelA.stateDict(), modelB.stateDict());
            // the Fishers and Grams are allocated outside the scope: closed in the finally block
            List<Map<String, Tensor>> fishers = new ArrayList<>();
            List<Map<String, Tensor>> grams = new ArrayList<>();
            try {
                for (Module model : List.of(modelA, modelB)) {
                    FashionMnist.Split examples = first((model == modelA ? a : b).train());
                    // the exact Fisher, as the Fisher-merging paper: the labels are not used
                    fishers.add(ClassifierBench.fisher(model, examples, DiagonalFisher.Labels.EXACT, seed));
                    grams.add(Grams.of(model, x -> ClassifierBench.logits(model, x), ClassifierBench.images(examples), 256));
                }
                mergeAll(rows, theta0, models, fishers, grams, seed, s, a, b, all);
            } finally {
                fishers.forEach(MergeExperiment::close);
                grams.forEach(MergeExperiment::close);
            }
        }
    }

    private static void close(Map<String, Tensor> tensors) {
        tensors.values().forEach(Tensor::close);
    }

    /** Every merge of A and B with its coefficients chosen on validation. */
    private void mergeAll(Map<String, Row> rows, Map<String, Tensor> theta0, List<Map<String, Tensor>> models,
                          List<Map<String, Tensor>> fishers, List<Map<String, Tensor>> grams, long seed, int s, Task a, Task b,
                          Task all) {
        List<double[]> pairs = new ArrayList<>();
        for (double x : SCALES) {
            for (double y : SCALES) {
                pairs.add(new double[] {x, y});
            }
        }
        List<double[]> single = Arrays.stream(new double[] {0.5, 0.75, 1, 1.25, 1.5, 1.75, 2}).mapToObj(l -> new double[] {l}).toList();
        List<double[]> alphas = Arrays.stream(new double[] {0.1, 0.3, 0.5, 0.7, 0.9}).mapToObj(l -> new double[] {l}).toList();
        merge(rows, "average", "weights", CoefficientSearch.grid(10), w -> Merge.average(models, w), s, a, b, all);
        merge(rows, "Fisher", "weights", CoefficientSearch.grid(10),
                w -> Merge.fisherWeighted(models, fishers, w, Merge.DEFAULT_FISHER_FLOOR, true), s, a, b, all);
        merge(rows, "task arithmetic", "lambdas", pairs, l -> Merge.taskArithmetic(theta0, models, l), s, a, b, all);
        merge(rows, "TIES (density 0.2)", "lambda", single,
                l -> Merge.ties(theta0, models, TIES_DENSITY, l[0], Merge.TrimScope.TENSOR), s, a, b, all);
        merge(rows, "DARE (drop 0.9)", "lambdas", pairs, l -> Merge.dare(theta0, models, DARE_DROP, l, seed), s, a, b, all);
        merge(rows, "RegMean", "alpha", alphas, al -> Merge.regMean(models, grams, al[0]), s, a, b, all);
    }

    private FashionMnist.Split first(FashionMnist.Split data) {
        return data.range(0, Math.min(fisherExamples, data.count()));
    }

    /**
     * {@code base} fine-tuned on the task in the style (all parameters, or a FISH mask from the empirical
     * Fisher of the base over the task's examples), at the rate chosen for it on the first seed: the one
     * whose model scores best on the task's validation examples.
     */
    private Module contribute(Module base, Style style, long seed, Task task, Map<String, Double> rates) {
        SparseMask mask = null;
        if (style == Style.FISH) {
            FashionMnist.Split examples = first(task.train());
            Map<String, Tensor> fisher;
            try (TensorScope scope = TensorScope.open()) {
                fisher = ClassifierBench.fisher(base, examples, DiagonalFisher.Labels.EMPIRICAL, seed);
            }
            try {
                mask = FishMask.of(fisher, fishDensity, Set.of());
            } finally {
                close(fisher);
            }
        }
        String label = "seed " + seed + " " + title(style) + " " + task.name();
        Double rate = rates.get(task.name());
        if (rate != null) {
            return ClassifierBench.finetune(MODEL, base, mask, rate, task.train(), epochs, seed,
                    progress(label + " lr " + Report.rate(rate)));
        }
        Module best = null;
        double bestScore = -1;
        for (double r : this.rates) {
            Module tuned = ClassifierBench.finetune(MODEL, base, mask, r, task.train(), epochs, seed,
                    progress(label + " lr " + Report.rate(r)));
            double score = ClassifierBench.accuracy(tuned, task.validation(), task.labels());
            if (score > bestScore) {
                if (best != null) {
                    best.close();
                }
                best = tuned;
                bestScore = score;
                rates.put(task.name(), r);
            } else {
                tuned.close();
            }
        }
        return best;
    }

    /** Merges with every candidate, keeps the best on validation (overall accuracy on 5-9), and records its test accuracies. */
    private void merge(Map<String, Row> rows, String method, String coefficient, List<double[]> candidates,
                       Function<double[], Map<String, Tensor>> merge, int s, Task a, Task b, Task all) {
        CoefficientSearch.Table table = CoefficientSearch.search(candidates, merge, weights -> accuracy(weights, all.validation(),
                all.labels()));
        double[] chosen = table.best().lambdas();
        String shown = coefficient + " " + Arrays.stream(chosen).mapToObj(v -> String.format(Locale.ROOT, "%.2f", v))
                .collect(Collectors.joining(", "));
        try (TensorScope scope = TensorScope.open()) {
            record(rows, method, shown, s, merge.apply(chosen), a, b, all);
        }
    }

    private void record(Map<String, Row> rows, String name, String choice, int s, Map<String, Tensor> weights, Task a, Task b,
                        Task all) {
        Row row = rows.computeIfAbsent(name, k -> new Row(seeds));
        row.accuracies()[0][s] = accuracy(weights, a.test(), a.labels());
        row.accuracies()[1][s] = accuracy(weights, b.test(), b.labels());
        row.accuracies()[2][s] = accuracy(weights, all.test(), all.labels());
        row.choices().add(choice);
    }

    private static double accuracy(Map<String, Tensor> weights, FashionMnist.Split data, Set<Integer> labels) {
        try (Module model = MODEL.create(0)) {
            model.loadStateDict(weights, true);
            return ClassifierBench.accuracy(model, data, labels);
        }
    }

    private Map<String, Double> means(Row row) {
        Map<String, Double> out = new LinkedHashMap<>();
        for (int m = 0; m < METRICS.size(); m++) {
            out.put(METRICS.get(m), 100 * Report.mean(row.accuracies()[m]));
        }
        return out;
    }

    private String title(Style style) {
        return style == Style.FULL ? "fully fine-tuned" : FishExperiment.percent(fishDensity) + " FISH-mask";
    }

    private ClassifierBench.Progress progress(String label) {
        ProgressBar[] bar = new ProgressBar[1];
        return (done, total) -> {
            bar[0] = bar[0] != null ? bar[0] : ProgressBar.onStderr(spec, label, total);
            bar[0].update(done, "");
        };
    }

    private String markdown(String command, Task a, Task b, Task all, String minutes) {
        StringBuilder md = new StringBuilder("# Merging two fine-tuned contributions\n\n");
        md.append(String.format(Locale.ROOT, """
                An MLP 784-256-10 is pretrained with AdamW on Fashion-MNIST classes 0-4 (%d epochs). Model A is fine-tuned \
                on the %,d training examples of classes 5, 6, 7 among the first %,d of classes 5-9, model B on the %,d of \
                classes 8, 9, and a reference model on all %,d (%d epochs, AdamW, batch 64, each one's rate chosen from %s on \
                its own validation examples with seed 1). All share the 10-way head. Accuracy is measured on each task's own \
                labels (the arg-max over 5, 6, 7 for task A's test examples, over 8, 9 for task B's) and overall (over 5-9, on \
                the test examples of classes 5-9). Each merge's coefficients are chosen by overall accuracy on %,d validation \
                examples of classes 5-9 (held out of the training file, never the test set): weights on an 11-point grid for \
                averaging and Fisher merging, scales %s per model for task arithmetic and DARE (drop probability 0.9, \
                rescaled), one scale for TIES (top 20%% of each tensor's task vector, elected signs), alpha for RegMean (Gram \
                matrices of each model's inputs over %,d of its examples). Fisher merging uses the exact diagonal Fisher of \
                each fine-tuned model over %,d of its own examples (the expectation over the model's predicted classes), \
                floored at 1e-6 and normalised to unit global norm per model, as Matena and Raffel do. The second table \
                repeats everything with sparse contributions: A, B and the reference model trained only on a %s FISH mask \
                (empirical Fisher of the pretrained model over their own examples). %d seed(s) (each its own pretrained model \
                and contributions), mean ± sample standard deviation; run time %s minutes.

                """, pretrain.pretrainEpochs, a.train().count(), examples, b.train().count(), all.train().count(), epochs,
                String.join(", ", Arrays.stream(rates).mapToObj(Report::rate).toList()), all.validation().count(),
                Arrays.stream(SCALES).mapToObj(v -> String.format(Locale.ROOT, "%.2f", v)).collect(Collectors.joining(", ")),
                Math.min(fisherExamples, a.train().count()), Math.min(fisherExamples, a.train().count()),
                FishExperiment.percent(fishDensity), seeds, minutes));
        md.append(command);
        results.forEach((style, rows) -> {
            md.append("\n## ").append(Character.toUpperCase(title(style).charAt(0))).append(title(style).substring(1))
                    .append(" contributions (learning rates: ").append(chosenRates.get(style).entrySet().stream()
                            .map(e -> e.getKey() + " " + Report.rate(e.getValue())).collect(Collectors.joining(", "))).append(")\n\n");
            List<String> header = new ArrayList<>(List.of("model", "coefficients chosen (per seed)"));
            METRICS.forEach(m -> header.add(m + ", %"));
            List<List<String>> table = new ArrayList<>();
            rows.forEach((name, row) -> {
                List<String> cells = new ArrayList<>(List.of(name, row.choices().stream().distinct().count() == 1 ? row.choices().get(0)
                        : String.join("; ", row.choices())));
                for (double[] values : row.accuracies()) {
                    cells.add(Report.percent(values));
                }
                table.add(cells);
            });
            md.append(Report.table(header, table));
        });
        md.append("\n## What this shows\n\n").append(findings()).append("\n\n![merges](merge.png)\n");
        return md.toString();
    }

    /** The claims checked against the numbers, in both styles: Fisher merging vs averaging, and the best merge vs the joint model. */
    private String findings() {
        List<String> lines = new ArrayList<>();
        results.forEach((style, rows) -> {
            double[] fisherRuns = rows.get("Fisher").accuracies()[2];
            double[] averageRuns = rows.get("average").accuracies()[2];
            double fisher = 100 * Report.mean(fisherRuns);
            double average = 100 * Report.mean(averageRuns);
            double noise = 200 * Math.max(Report.std(fisherRuns), Report.std(averageRuns));
            double joint = 100 * Report.mean(rows.get("one model on A+B").accuracies()[2]);
            Map.Entry<String, Row> best = rows.entrySet().stream().skip(3)
                    .max((x, y) -> Double.compare(Report.mean(x.getValue().accuracies()[2]), Report.mean(y.getValue().accuracies()[2])))
                    .orElseThrow();
            double bestOverall = 100 * Report.mean(best.getValue().accuracies()[2]);
            lines.add(String.format(Locale.ROOT, "With %s contributions, Fisher merging reaches %.2f%% overall and averaging %.2f%%: "
                            + "Fisher merging is %s (%+.2f points; %s). The best merge is %s at %.2f%%, %.2f points %s the model "
                            + "trained on all five classes (%.2f%%).", title(style), fisher, average,
                    fisher >= average ? "at least as good as averaging" : "worse than averaging", fisher - average,
                    seeds == 1 ? "one seed, no spread" : Math.abs(fisher - average) > noise ? "more than twice the larger standard "
                            + "deviation over seeds" : String.format(Locale.ROOT, "within twice the larger standard deviation over seeds, "
                            + "%.2f points, so not a clear difference", noise), best.getKey(),
                    bestOverall, Math.abs(joint - bestOverall), bestOverall <= joint ? "below" : "above", joint));
        });
        return String.join(" ", lines);
    }
}
