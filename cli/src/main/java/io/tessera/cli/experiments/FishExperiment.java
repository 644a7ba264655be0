package io.tessera.cli.experiments;

import io.tessera.cli.ProgressBar;
import io.tessera.data.FashionMnist;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.engine.nn.Module;
import io.tessera.fisher.DiagonalFisher;
import io.tessera.fisher.FishMask;
import io.tessera.sparse.SparseMask;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * Is a FISH mask close to full fine-tuning and clearly above a random mask? Pretrains a model (the MLP, or with
 * {@code --model vit} a small vision transformer) on classes 0-4 and fine-tunes it on classes 5-9: all parameters,
 * or only those of a FISH, random or largest-magnitude mask of each density, each arm at the learning rate that
 * scores best on a validation split (chosen with the first seed), over several seeds (each its own pretrained
 * model, shuffling and random mask).
 */
@Command(name = "fish",
        description = {"FISH mask vs random and largest-magnitude masks vs full fine-tuning: pretrain on Fashion-MNIST classes 0-4,",
            "fine-tune on 5-9; writes fish.md and fish.png (fish-vit.md and fish-vit.png with --model vit) into --out-dir."})
final class FishExperiment implements Callable<Integer> {
    @Mixin
    PretrainOptions pretrain = new PretrainOptions();

    /** The ways of fine-tuning compared. */
    enum Arm {
        FULL("full fine-tuning"), FISH("FISH mask"), RANDOM("random mask"), MAGNITUDE("largest-magnitude mask");

        final String label;

        Arm(String label) {
            this.label = label;
        }
    }

    @Option(names = "--model", description = "The model: mlp (784-256-10) or vit (a small vision transformer, the demo's); "
            + "default: ${DEFAULT-VALUE}.", defaultValue = "mlp", converter = ModelConverter.class)
    ClassifierBench.Architecture model;

    @Option(names = "--out-dir", description = "Where fish.md and fish.png go (default: ${DEFAULT-VALUE}).", defaultValue = "docs/results")
    Path outDir;

    @Option(names = "--seeds", description = "Seeds 1..N, each a pretrained model and fine-tuning runs (default: ${DEFAULT-VALUE}).",
            defaultValue = "3")
    int seeds;

    @Option(names = "--epochs", description = "Epochs of fine-tuning on classes 5-9 (default: ${DEFAULT-VALUE}).", defaultValue = "4")
    int epochs;

    @Option(names = "--examples", description = "Training examples of classes 5-9 to fine-tune on (default: ${DEFAULT-VALUE}).",
            defaultValue = "8000")
    int examples;

    @Option(names = "--validation", description = "Examples held out of the training file to choose rates on (default: ${DEFAULT-VALUE}).",
            defaultValue = "5000")
    int validation;

    @Option(names = "--fisher-examples", description = "Fine-tuning examples the FISH mask's Fisher is computed over "
            + "(default: ${DEFAULT-VALUE}).", defaultValue = "1024")
    int fisherExamples;

    @Option(names = "--densities", split = ",", description = "Mask densities, fractions of all parameters (default: ${DEFAULT-VALUE}).",
            defaultValue = "0.001,0.005,0.02")
    double[] densities;

    @Option(names = "--rates", split = ",", description = "Learning rates each arm chooses from on validation (default: ${DEFAULT-VALUE}).",
            defaultValue = "1e-4,3e-4,1e-3,3e-3,1e-2,3e-2,1e-1,3e-1,1")
    double[] rates;

    @Spec
    CommandSpec spec;

    /** One arm at one density (FULL: density 1). */
    record Config(Arm arm, double density) {
        String label() {
            return arm == Arm.FULL ? arm.label : arm.label + " " + percent(density);
        }
    }

    /** Per config: the rate chosen, validation accuracy per rate (first seed), test accuracies per seed, parameters trained. */
    private static final class Outcome {
        double rate;
        final double[] validation;
        final double[] newClasses;
        final double[] oldClasses;
        long trained;
        /** Per seed, the share of the trained entries in the output layer. */
        final double[] inHead;
        /** Seed 1's mask entries per part of the model ({@link ClassifierBench#PARTS}; empty for full fine-tuning). */
        final Map<String, Long> placement = new LinkedHashMap<>();

        Outcome(int rates, int seeds) {
            validation = new double[rates];
            newClasses = new double[seeds];
            inHead = new double[seeds];
            oldClasses = new double[seeds];
        }
    }

    @Override
    public Integer call() throws IOException {
        checkOptions();
        PrintWriter out = spec.commandLine().getOut();
        String command = Report.command(spec);
        long start = System.nanoTime();
        ClassifierBench.Splits splits = ClassifierBench.Splits.load(pretrain.data, validation);
        FashionMnist.Split pretrainSet = splits.train().withLabels(ClassifierBench.PRETRAIN_CLASSES, pretrain.pretrainExamples);
        FashionMnist.Split tuneSet = splits.train().withLabels(ClassifierBench.NEW_CLASSES, examples);
        FashionMnist.Split validationSet = splits.validation().withLabels(ClassifierBench.NEW_CLASSES, Integer.MAX_VALUE);
        FashionMnist.Split testNew = splits.test().withLabels(ClassifierBench.NEW_CLASSES, Integer.MAX_VALUE);
        FashionMnist.Split testOld = splits.test().withLabels(ClassifierBench.PRETRAIN_CLASSES, Integer.MAX_VALUE);
        if (tuneSet.count() == 0 || validationSet.count() == 0 || pretrainSet.count() == 0) {
            throw new IllegalArgumentException("the splits of " + pretrain.data + " hold no examples of some classes (pretraining "
                    + pretrainSet.count() + ", fine-tuning " + tuneSet.count() + ", validation " + validationSet.count() + ")");
        }
        List<Config> configs = configs();
        Map<Config, Outcome> outcomes = new LinkedHashMap<>();
        configs.forEach(c -> outcomes.put(c, new Outcome(rates.length, seeds)));
        double[][] pretrained = new double[2][seeds];
        long parameters = 0;
        for (int s = 0; s < seeds; s++) {
            long seed = s + 1;
            try (Module base = ClassifierBench.pretrain(model, pretrainSet, pretrain.pretrainEpochs, seed,
                    progress("seed " + seed + " pretraining"))) {
                parameters = base.parameterCount();
                Map<String, Tensor> named = base.namedParameters();
                long headParameters = named.entrySet().stream().filter(e -> e.getKey().startsWith(model.headPrefix))
                        .mapToLong(e -> e.getValue().numel()).sum();
                pretrained[0][s] = ClassifierBench.accuracy(base, testNew, allClasses());
                pretrained[1][s] = ClassifierBench.accuracy(base, testOld, allClasses());
                Map<Config, SparseMask> masks = masks(base, tuneSet, configs, seed);
                for (Config config : configs) {
                    Outcome o = outcomes.get(config);
                    SparseMask mask = masks.get(config);
                    o.trained = mask == null ? parameters : mask.count();
                    o.inHead[s] = mask == null ? (double) headParameters / parameters : (double) mask.tensors().entrySet().stream()
                            .filter(e -> e.getKey().startsWith(model.headPrefix)).mapToLong(e -> e.getValue().count()).sum()
                            / mask.count();
                    String label = String.format(Locale.ROOT, "seed %d %s", seed, config.label());
                    if (s == 0 && mask != null) {
                        ClassifierBench.PARTS.forEach(part -> o.placement.put(part, 0L));
                        mask.tensors().forEach((name, m) -> o.placement.merge(
                                model.part(name, named.get(name).rank()), m.count(), Long::sum));
                    }
                    if (s == 0) {
                        chooseRate(base, mask, label, o, tuneSet, validationSet, testNew, testOld);
                    } else {
                        try (Module tuned = ClassifierBench.finetune(model, base, mask, o.rate, tuneSet, epochs, seed, progress(label))) {
                            o.newClasses[s] = ClassifierBench.accuracy(tuned, testNew, allClasses());
                            o.oldClasses[s] = ClassifierBench.accuracy(tuned, testOld, allClasses());
                        }
                    }
                    label += " lr " + Report.rate(o.rate);
                    out.printf(Locale.ROOT, "%s: test accuracy on classes 5-9 %.2f%%, on 0-4 %.2f%%%n", label,
                            100 * o.newClasses[s], 100 * o.oldClasses[s]);
                    out.flush();
                }
            }
        }
        String minutes = String.format(Locale.ROOT, "%.1f", (System.nanoTime() - start) / 6e10);
        String markdown = markdown(command, outcomes, pretrained, parameters, tuneSet.count(), validationSet.count(), minutes);
        String name = model == ClassifierBench.Architecture.MLP ? "fish" : "fish-" + model.name().toLowerCase(Locale.ROOT);
        Report.write(outDir, name, markdown, Plots.fish(outcomes.entrySet().stream().map(e -> new Plots.FishPoint(
                e.getKey().arm().label, 100 * e.getKey().density(), e.getValue().newClasses, e.getValue().oldClasses)).toList()));
        out.printf("wrote %s and %s%n", outDir.resolve(name + ".md"), outDir.resolve(name + ".png"));
        return 0;
    }

    private void checkOptions() {
        if (seeds < 1 || pretrain.pretrainEpochs < 1 || epochs < 1 || examples < 1 || pretrain.pretrainExamples < 1
                || fisherExamples < 1) {
            throw new ParameterException(spec.commandLine(), "--seeds, --pretrain-epochs, --epochs, --examples, --pretrain-examples "
                    + "and --fisher-examples must be >= 1");
        }
        if (validation < 1) {
            throw new ParameterException(spec.commandLine(), "--validation must be >= 1, got " + validation);
        }
        for (double d : densities) {
            if (!(d > 0 && d < 1)) {
                throw new ParameterException(spec.commandLine(), "--densities must be fractions in (0, 1), got " + d);
            }
        }
        for (double r : rates) {
            if (!(r > 0 && Double.isFinite(r))) {
                throw new ParameterException(spec.commandLine(), "--rates must be positive, got " + r);
            }
        }
    }

    private List<Config> configs() {
        List<Config> out = new ArrayList<>();
        out.add(new Config(Arm.FULL, 1));
        for (double d : densities) {
            for (Arm arm : List.of(Arm.FISH, Arm.RANDOM, Arm.MAGNITUDE)) {
                out.add(new Config(arm, d));
            }
        }
        return out;
    }

    /**
     * Each config's mask for this seed's pretrained model (none for full fine-tuning): FISH from the empirical
     * Fisher over the first fine-tuning examples, random from the seed, magnitude from |theta|.
     */
    private Map<Config, SparseMask> masks(Module base, FashionMnist.Split tuneSet, List<Config> configs, long seed) {
        FashionMnist.Split fisherSet = tuneSet.range(0, Math.min(fisherExamples, tuneSet.count()));
        Map<Config, SparseMask> masks = new LinkedHashMap<>();
        try (TensorScope scope = TensorScope.open()) {
            Map<String, Tensor> fisher = ClassifierBench.fisher(base, fisherSet, DiagonalFisher.Labels.EMPIRICAL, seed);
            Map<String, Tensor> magnitude = new LinkedHashMap<>();
            Map<String, long[]> shapes = new LinkedHashMap<>();
            base.stateDict().forEach((name, t) -> {
                magnitude.put(name, t.abs());
                shapes.put(name, t.shape());
            });
            for (Config c : configs) {
                masks.put(c, switch (c.arm()) {
                    case FULL -> null;
                    case FISH -> FishMask.of(fisher, c.density(), Set.of());
                    case RANDOM -> FishMask.random(shapes, c.density(), seed);
                    case MAGNITUDE -> FishMask.of(magnitude, c.density(), Set.of()); // the same top-k, scored by |theta|
                });
            }
            fisher.values().forEach(Tensor::close);
        }
        return masks;
    }

    /**
     * Fine-tunes with every rate (seed 1) and keeps the one with the best validation accuracy on classes 5-9
     * (ties: the first rate), with its test accuracies as seed 1's.
     */
    private void chooseRate(Module base, SparseMask mask, String label, Outcome o, FashionMnist.Split tuneSet,
                            FashionMnist.Split validationSet, FashionMnist.Split testNew, FashionMnist.Split testOld) {
        double best = -1;
        for (int r = 0; r < rates.length; r++) {
            ClassifierBench.Progress progress = progress(label + " lr " + Report.rate(rates[r]));
            try (Module tuned = ClassifierBench.finetune(model, base, mask, rates[r], tuneSet, epochs, 1, progress)) {
                o.validation[r] = ClassifierBench.accuracy(tuned, validationSet, allClasses());
                if (o.validation[r] > best) {
                    best = o.validation[r];
                    o.rate = rates[r];
                    o.newClasses[0] = ClassifierBench.accuracy(tuned, testNew, allClasses());
                    o.oldClasses[0] = ClassifierBench.accuracy(tuned, testOld, allClasses());
                }
            }
        }
    }

    private ClassifierBench.Progress progress(String label) {
        ProgressBar[] bar = new ProgressBar[1];
        return (done, total) -> {
            bar[0] = bar[0] != null ? bar[0] : ProgressBar.onStderr(spec, label, total);
            bar[0].update(done, "");
        };
    }

    private static Set<Integer> allClasses() {
        return Set.of(0, 1, 2, 3, 4, 5, 6, 7, 8, 9);
    }

    /** {@code mlp} / {@code vit}, case-insensitive, naming the choices when it is neither. */
    static final class ModelConverter implements picocli.CommandLine.ITypeConverter<ClassifierBench.Architecture> {
        @Override
        public ClassifierBench.Architecture convert(String value) {
            for (ClassifierBench.Architecture a : ClassifierBench.Architecture.values()) {
                if (a.name().equalsIgnoreCase(value)) {
                    return a;
                }
            }
            throw new picocli.CommandLine.TypeConversionException("--model must be mlp or vit, got '" + value + "'");
        }
    }

    static String percent(double fraction) {
        return new java.math.BigDecimal(100 * fraction).round(new java.math.MathContext(3)).stripTrailingZeros().toPlainString() + "%";
    }

    private String markdown(String command, Map<Config, Outcome> outcomes, double[][] pretrained, long parameters, int tuneCount,
                            int validationCount, String minutes) {
        StringBuilder md = new StringBuilder("# FISH masks vs random and magnitude masks vs full fine-tuning\n\n");
        md.append(String.format(Locale.ROOT, """
                %s (%,d parameters) is pretrained with AdamW on Fashion-MNIST classes 0-4 (%d epochs), then \
                fine-tuned on %,d training examples of classes 5-9 (%d epochs, AdamW, batch 64): every parameter, or only those \
                of a mask keeping a fraction of all parameters. The FISH mask keeps the largest entries of the empirical \
                diagonal Fisher of the pretrained model over %,d fine-tuning examples; the random mask is uniform (seeded); \
                the magnitude mask keeps the largest |theta| of the pretrained model. Each arm's learning rate is chosen from \
                %s by accuracy on %,d validation examples of classes 5-9 (held out of the training file, never the test set) \
                with seed 1; then %d seed(s) (each its own pretrained model, data order and random mask) give mean ± sample \
                standard deviation of test accuracy (argmax over all 10 classes) on classes 5-9 and on 0-4 (forgetting). \
                Run time: %s minutes.

                """, model.description, parameters, pretrain.pretrainEpochs, tuneCount, epochs,
                Math.min(fisherExamples, tuneCount),
                String.join(", ", java.util.Arrays.stream(rates).mapToObj(Report::rate).toList()), validationCount, seeds, minutes));
        md.append(command).append('\n');
        List<List<String>> rows = new ArrayList<>();
        rows.add(List.of("pretrained model (no fine-tuning)", "-", "0", "-", "-", Report.percent(pretrained[0]),
                Report.percent(pretrained[1])));
        outcomes.forEach((c, o) -> rows.add(List.of(c.arm().label, c.arm() == Arm.FULL ? "100%" : percent(c.density()),
                String.format(Locale.ROOT, "%,d", o.trained), Report.percent(o.inHead), Report.rate(o.rate), Report.percent(o.newClasses),
                Report.percent(o.oldClasses))));
        md.append(Report.table(List.of("arm", "density", "parameters trained", "of them in the output layer (%)", "learning rate",
                "test accuracy 5-9 (%)", "test accuracy 0-4 (%)"), rows));
        md.append("\n## Where the masks lie (seed 1; share of each mask's entries, %)\n\n");
        List<String> partsHeader = new ArrayList<>(List.of("arm"));
        partsHeader.addAll(ClassifierBench.PARTS);
        List<List<String>> partRows = new ArrayList<>();
        outcomes.forEach((c, o) -> {
            if (!o.placement.isEmpty()) {
                List<String> row = new ArrayList<>(List.of(c.label()));
                o.placement.values().forEach(n -> row.add(String.format(Locale.ROOT, "%.1f", 100.0 * n / o.trained)));
                partRows.add(row);
            }
        });
        md.append(Report.table(partsHeader, partRows));
        md.append("\n## What this shows\n\n").append(findings(outcomes)).append("\n\n## Learning-rate choice (validation accuracy "
                + "on classes 5-9, %, seed 1)\n\n");
        List<String> header = new ArrayList<>(List.of("arm"));
        java.util.Arrays.stream(rates).forEach(r -> header.add("lr " + Report.rate(r)));
        List<List<String>> lrRows = new ArrayList<>();
        outcomes.forEach((c, o) -> {
            List<String> row = new ArrayList<>(List.of(c.label()));
            for (int r = 0; r < rates.length; r++) {
                String cell = String.format(Locale.ROOT, "%.2f", 100 * o.validation[r]);
                row.add(rates[r] == o.rate ? "**" + cell + "**" : cell);
            }
            lrRows.add(row);
        });
        md.append(Report.table(header, lrRows)).append("\n![accuracy vs density](fish.png)\n");
        return md.toString();
    }

    /**
     * The claims checked against the numbers: FISH within 2 points of full fine-tuning, and above the random
     * mask by more than twice the larger standard deviation, at each density.
     */
    private String findings(Map<Config, Outcome> outcomes) {
        Outcome full = outcomes.get(new Config(Arm.FULL, 1));
        double fullMean = Report.mean(full.newClasses);
        List<String> lines = new ArrayList<>();
        lines.add(String.format(Locale.ROOT, "Full fine-tuning reaches %.2f%% on classes 5-9 and keeps %.2f%% on classes 0-4.",
                100 * fullMean, 100 * Report.mean(full.oldClasses)));
        for (double d : densities) {
            Outcome fish = outcomes.get(new Config(Arm.FISH, d));
            Outcome random = outcomes.get(new Config(Arm.RANDOM, d));
            Outcome magnitude = outcomes.get(new Config(Arm.MAGNITUDE, d));
            double gap = 100 * (fullMean - Report.mean(fish.newClasses));
            double overRandom = 100 * (Report.mean(fish.newClasses) - Report.mean(random.newClasses));
            double noise = 200 * Math.max(Report.std(fish.newClasses), Report.std(random.newClasses));
            lines.add(String.format(Locale.ROOT, "At %s of the parameters the FISH mask reaches %.2f%% (%.2f points %s full "
                            + "fine-tuning: %s), the random mask %.2f%% and the magnitude mask %.2f%%; FISH is %.2f points %s "
                            + "random, which is %s (twice the larger standard deviation is %.2f points). On classes 0-4 FISH keeps "
                            + "%.2f%% where full fine-tuning keeps %.2f%%.",
                    percent(d), 100 * Report.mean(fish.newClasses), Math.abs(gap), gap >= 0 ? "below" : "above",
                    gap <= 2 ? "close, within 2 points" : "not close, more than 2 points", 100 * Report.mean(random.newClasses),
                    100 * Report.mean(magnitude.newClasses), Math.abs(overRandom), overRandom >= 0 ? "above" : "below",
                    seeds < 2 ? "a single seed, no spread" : overRandom > noise ? "clearly above" : overRandom < -noise ? "clearly below"
                            : "within the noise",
                    noise, 100 * Report.mean(fish.oldClasses), 100 * Report.mean(full.oldClasses)));
        }
        double top = java.util.Arrays.stream(rates).max().orElseThrow();
        List<String> atTop = outcomes.entrySet().stream().filter(e -> e.getValue().rate == top && rates.length > 1)
                .map(e -> e.getKey().label()).toList();
        if (!atTop.isEmpty()) {
            lines.add("The largest rate of the grid was chosen for " + String.join(", ", atTop) + ": a larger one might do better.");
        }
        return String.join(" ", lines);
    }
}
