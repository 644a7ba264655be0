package io.tessera.cli;

import io.tessera.data.FashionMnist;
import io.tessera.engine.Tensor;
import io.tessera.engine.io.InputFiles;
import io.tessera.engine.nn.Mlp;
import io.tessera.fisher.CoefficientSearch;
import io.tessera.fisher.MergeConfig;
import io.tessera.fisher.MergeRunner;
import io.tessera.pipeline.Int8StoredModel;
import io.tessera.sparse.Patch;
import io.tessera.train.ClassifierTraining;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.function.ToDoubleFunction;
import java.util.stream.IntStream;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** Merges models as a YAML config (tessera's or mergekit's keys) or the flags for the common cases describe. */
@Command(name = "merge", description = {"Merge models as described by a YAML config (tessera's keys or mergekit's, see"
        + " io.tessera.fisher.MergeConfig), or by flags: --method M --models A,B[,...] [--fishers FA,FB] [--base BASE]"
        + " [--weights 0.5,0.5] [--density D] [--seed S] [--dtype f32|bf16|f16] -o OUT.",
    "Flags and the equivalent YAML give the same file, bit for bit.",
    "int8 models (tessera quantize) are decoded to float one tensor at a time; when every model and the base are int8 alike"
        + " and no --dtype is given, the result is int8 too (each row quantized afresh), else float."})
final class MergeCommand implements Callable<Integer> {

    /** The flags' method names, as the YAML spells them. */
    private static final Map<String, String> METHODS = Map.of("fisher", "fisher", "average", "average", "task-arithmetic",
            "task_arithmetic", "ties", "ties", "dare", "dare", "regmean", "regmean");

    @Parameters(index = "0", arity = "0..1", paramLabel = "CONFIG", description = "The merge config (YAML); or use the flags.")
    Path config;

    @Option(names = "--method", paramLabel = "M", description = "fisher, average, task-arithmetic, ties, dare or regmean.")
    String method;

    @Option(names = "--models", split = ",", paramLabel = "A", description = "The models to merge (safetensors), or patches of"
            + " --base; for fisher, a patch without --fishers is weighed by the Fisher it carries (tessera diff --fisher).")
    List<Path> models;

    @Option(names = "--fishers", split = ",", paramLabel = "F", description = "One Fisher diagonal per model (fisher).")
    List<Path> fishers;

    @Option(names = "--base", paramLabel = "BASE", description = "The common base (task-arithmetic, ties, dare).")
    Path base;

    @Option(names = "--weights", split = ",", paramLabel = "W", description = "One weight (or lambda) per model; default 1 each.")
    double[] weights;

    @Option(names = "--density", paramLabel = "D", description = "ties: the kept fraction of each task vector; dare: the kept"
            + " fraction (drop = 1 - D).")
    Double density;

    @Option(names = "--seed", paramLabel = "S", description = "dare's drop seed (default 0).")
    Long seed;

    @Option(names = "--dtype", paramLabel = "T", description = "Output dtype: f32, bf16 or f16 (default: the inputs').")
    String dtype;

    @Option(names = {"-o", "--out"}, paramLabel = "OUT", description = "The merged model (with a config: instead of its 'out').")
    Path out;

    @Option(names = "--eval-data", description = "For a config with a 'search' block: Fashion-MNIST directory whose test images"
            + " score each candidate by accuracy (default: ${DEFAULT-VALUE}).", defaultValue = "/usr/share/datasets/fashion-mnist")
    Path evalData;

    @Option(names = "--eval-examples", defaultValue = "2000",
            description = "Test images to score candidates on (default: ${DEFAULT-VALUE}).")
    int evalExamples;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws IOException {
        PrintWriter stdout = spec.commandLine().getOut();
        MergeConfig parsed = config != null ? fromFile() : fromFlags();
        long start = System.nanoTime();
        ProgressBar[] bar = new ProgressBar[1]; // made at the first report, which knows the tensor count
        CoefficientSearch.Table table = MergeRunner.run(parsed, parsed.search() == null ? null : accuracy(parsed),
                Int8StoredModel.READER, (done, total) -> {
                    bar[0] = bar[0] != null ? bar[0] : ProgressBar.onStderr(spec, "merging", total);
                    bar[0].update(done, "tensors");
                });
        if (table != null) {
            stdout.printf("Test accuracy of each candidate's merge (%,d Fashion-MNIST test images), best first:%n%s", evalExamples,
                    table.format());
        }
        stdout.printf("%s merge of %d models -> %s (%,d bytes) in %.2f s%n", parsed.method().name().toLowerCase(java.util.Locale.ROOT),
                parsed.models().size(), parsed.out(), Files.size(parsed.out()), (System.nanoTime() - start) / 1e9);
        return 0;
    }

    private MergeConfig fromFile() throws IOException {
        if (method != null || models != null || fishers != null || base != null || weights != null || density != null
                || seed != null || dtype != null) {
            throw usage("give a config or the flags --method/--models/..., not both");
        }
        return MergeConfig.load(config, out);
    }

    /** The flags as a config, checked as the same YAML would be; what the flags alone get wrong is a usage error. */
    private MergeConfig fromFlags() throws IOException {
        if (method == null || models == null || out == null) {
            throw usage("give a merge config, or --method, --models and -o");
        }
        String name = METHODS.get(method);
        if (name == null) {
            throw usage("--method must be one of fisher, average, task-arithmetic, ties, dare or regmean, got '" + method + "'");
        }
        if (weights != null && weights.length != models.size()) {
            throw usage("--weights has " + weights.length + " values for " + models.size() + " models");
        }
        if (fishers != null && fishers.size() != models.size()) {
            throw usage("--fishers has " + fishers.size() + " files for " + models.size() + " models");
        }
        if (fishers != null && !name.equals("fisher")) {
            throw usage("--fishers is for --method fisher only");
        }
        boolean[] patches = new boolean[models.size()];
        boolean readable = true; // else the merge names the file that is not
        for (int i = 0; i < patches.length; i++) {
            readable &= InputFiles.problem(models.get(i)) == null;
            patches[i] = readable && Patch.isPatchFile(models.get(i));
        }
        boolean anyPatch = IntStream.range(0, patches.length).anyMatch(i -> patches[i]);
        if (readable && fishers == null && name.equals("fisher") && !IntStream.range(0, patches.length).allMatch(i -> patches[i])) {
            throw usage("--method fisher needs --fishers (only patches made with 'tessera diff --fisher' carry their own)");
        }
        boolean fromBase = name.equals("task_arithmetic") || name.equals("ties") || name.equals("dare");
        if (density != null && !name.equals("ties") && !name.equals("dare")) {
            throw usage("--density is for ties and dare only");
        }
        if ((fromBase || anyPatch) != (base != null)) {
            throw usage(base == null ? (anyPatch ? "patches in --models need --base" : "--method " + method + " needs --base")
                    : "--base is for task-arithmetic, ties, dare and patches only");
        }
        if (dtype != null && !List.of("f32", "bf16", "f16").contains(dtype)) {
            throw usage("--dtype must be f32, bf16 or f16, got '" + dtype + "'");
        }
        return MergeConfig.of(name, base, models, patches, fishers, weights, density, seed, dtype, out);
    }

    private ParameterException usage(String message) {
        return new ParameterException(spec.commandLine(), message);
    }

    /** Test accuracy of a merged state dict, for MLPs shaped like the first model (or the base). */
    private ToDoubleFunction<Map<String, Tensor>> accuracy(MergeConfig config) throws IOException {
        if (evalExamples < 1) {
            throw new IllegalArgumentException("--eval-examples must be >= 1, got " + evalExamples);
        }
        Path shaped = config.models().get(0).path() != null ? config.models().get(0).path() : config.base();
        long[] sizes = MlpFiles.sizes(shaped);
        FashionMnist.Split test = FashionMnist.test(evalData, evalExamples);
        return merged -> {
            try (Mlp model = new Mlp(0, sizes)) {
                model.loadStateDict(merged, true);
                return ClassifierTraining.accuracy(model::forward, test, 1000);
            }
        };
    }
}
