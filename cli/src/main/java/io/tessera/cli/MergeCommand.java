package io.tessera.cli;

import io.tessera.data.FashionMnist;
import io.tessera.engine.Tensor;
import io.tessera.engine.nn.Mlp;
import io.tessera.fisher.CoefficientSearch;
import io.tessera.fisher.MergeConfig;
import io.tessera.fisher.MergeRunner;
import io.tessera.train.ClassifierTraining;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.function.ToDoubleFunction;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** Merges models as a YAML config describes (fisher, average, task_arithmetic, ties, dare, regmean). */
@Command(name = "merge", description = "Merge models as described by a YAML config (see io.tessera.fisher.MergeConfig).")
final class MergeCommand implements Callable<Integer> {

    @Parameters(index = "0", description = "The merge config (YAML).")
    Path config;

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
        PrintWriter out = spec.commandLine().getOut();
        MergeConfig parsed = MergeConfig.load(config);
        long start = System.nanoTime();
        CoefficientSearch.Table table = MergeRunner.run(parsed, parsed.search() == null ? null : accuracy(parsed));
        if (table != null) {
            out.printf("Test accuracy of each candidate's merge (%,d Fashion-MNIST test images), best first:%n%s", evalExamples,
                    table.format());
        }
        out.printf("%s merge of %d models -> %s (%,d bytes) in %.2f s%n", parsed.method().name().toLowerCase(java.util.Locale.ROOT),
                parsed.models().size(), parsed.out(), Files.size(parsed.out()), (System.nanoTime() - start) / 1e9);
        return 0;
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
