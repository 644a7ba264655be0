package io.tessera.cli;

import io.tessera.data.FashionMnist;
import io.tessera.engine.nn.Mlp;
import io.tessera.engine.optim.AdamW;
import io.tessera.train.ClassifierTraining;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** Trains an MLP classifier on Fashion-MNIST with AdamW and reports test accuracy after each epoch. */
@Command(name = "train", description = "Train an MLP (784-hidden-10) on Fashion-MNIST with AdamW.")
final class TrainCommand implements Callable<Integer> {

    @Option(names = "--data", description = "Directory of the Fashion-MNIST IDX files (default: ${DEFAULT-VALUE}).",
            defaultValue = "/usr/share/datasets/fashion-mnist")
    Path data;

    @Option(names = "--hidden", description = "Hidden layer sizes (default: ${DEFAULT-VALUE}).", split = ",", defaultValue = "256")
    long[] hidden;

    @Option(names = "--epochs", description = "Epochs (default: ${DEFAULT-VALUE}).", defaultValue = "10")
    int epochs;

    @Option(names = "--batch", description = "Batch size (default: ${DEFAULT-VALUE}).", defaultValue = "64")
    int batch;

    @Option(names = "--lr", description = "AdamW learning rate (default: ${DEFAULT-VALUE}).", defaultValue = "1e-3")
    double lr;

    @Option(names = "--train-limit", description = "Use only the first N training images (default: all).", defaultValue = "-1")
    int trainLimit;

    @Option(names = "--out", description = "Write the trained weights to this safetensors file (atomically).")
    Path outFile;

    @Option(names = "--seed", description = "Seed for initialisation and shuffling (default: ${DEFAULT-VALUE}).", defaultValue = "1")
    long seed;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws IOException {
        if (epochs < 1 || batch < 1 || !(lr > 0)) {
            throw new IllegalArgumentException("--epochs and --batch must be >= 1 and --lr > 0");
        }
        PrintWriter out = spec.commandLine().getOut();
        FashionMnist.Split train = trainLimit < 0 ? FashionMnist.train(data) : FashionMnist.train(data, trainLimit);
        FashionMnist.Split test = FashionMnist.test(data);
        long[] sizes = new long[hidden.length + 2];
        sizes[0] = (long) train.rows() * train.cols();
        System.arraycopy(hidden, 0, sizes, 1, hidden.length);
        sizes[sizes.length - 1] = FashionMnist.CLASS_NAMES.size();
        try (Mlp model = new Mlp(seed, sizes); AdamW optimizer = new AdamW(model.parameters(), lr)) {
            out.printf("MLP %s, %,d parameters; %,d training and %,d test images%n", Arrays.toString(sizes),
                    model.parameterCount(), train.count(), test.count());
            double lastAccuracy = 0;
            for (int epoch = 1; epoch <= epochs; epoch++) {
                long steps = (train.count() + batch - 1) / batch;
                ProgressBar bar = ProgressBar.onStderr(spec, String.format("epoch %d/%d", epoch, epochs), steps);
                long start = System.nanoTime();
                double meanLoss = ClassifierTraining.trainEpoch(model::forward, optimizer, train, batch, seed, epoch,
                        (e, step, stepsPerEpoch, loss) -> bar.update(step, String.format("loss %.4f", loss)));
                double seconds = (System.nanoTime() - start) / 1e9;
                double accuracy = ClassifierTraining.accuracy(model::forward, test, 1000);
                out.printf("epoch %d: mean loss %.4f, test accuracy %.2f%%, %.1f s (%,.0f images/s)%n", epoch, meanLoss,
                        100 * accuracy, seconds, train.count() / seconds);
                lastAccuracy = accuracy;
            }
            if (outFile != null) {
                MlpFiles.save(outFile, model.stateDict(), sizes, Map.of("test_accuracy", String.format("%.4f", lastAccuracy),
                        "epochs", String.valueOf(epochs)));
                out.printf("wrote %s (%,d bytes)%n", outFile, Files.size(outFile));
            }
        }
        return 0;
    }
}
