package io.tessera.cli;

import io.tessera.fisher.MergeConfig;
import io.tessera.fisher.MergeRunner;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** Merges models as a YAML config describes (fisher, average, task_arithmetic, ties, dare, regmean). */
@Command(name = "merge", description = "Merge models as described by a YAML config (see io.tessera.fisher.MergeConfig).")
final class MergeCommand implements Callable<Integer> {

    @Parameters(index = "0", description = "The merge config (YAML).")
    Path config;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws IOException {
        if (!Files.isRegularFile(config)) {
            throw new IllegalArgumentException("merge config " + config + " does not exist");
        }
        PrintWriter out = spec.commandLine().getOut();
        MergeConfig parsed = MergeConfig.load(config);
        long start = System.nanoTime();
        MergeRunner.run(parsed);
        out.printf("%s merge of %d models -> %s (%,d bytes) in %.2f s%n", parsed.method().name().toLowerCase(java.util.Locale.ROOT),
                parsed.models().size(), parsed.out(), Files.size(parsed.out()), (System.nanoTime() - start) / 1e9);
        return 0;
    }
}
