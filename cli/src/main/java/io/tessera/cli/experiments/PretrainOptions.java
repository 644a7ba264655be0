package io.tessera.cli.experiments;

import java.nio.file.Path;
import picocli.CommandLine.Option;

/** The options both experiments share: the data, and the pretraining on classes 0-4 they start from. */
final class PretrainOptions {
    @Option(names = {"-h", "--help"}, usageHelp = true, description = "Show this help message and exit.")
    boolean help;

    @Option(names = "--data", description = "Directory of the Fashion-MNIST IDX files (default: ${DEFAULT-VALUE}).",
            defaultValue = "/usr/share/datasets/fashion-mnist")
    Path data;

    @Option(names = "--pretrain-epochs", description = "Epochs of pretraining on classes 0-4 (default: ${DEFAULT-VALUE}).",
            defaultValue = "2")
    int pretrainEpochs;

    @Option(names = "--pretrain-examples", description = "At most this many training examples of classes 0-4 (default: ${DEFAULT-VALUE}).",
            defaultValue = "30000")
    int pretrainExamples;
}
