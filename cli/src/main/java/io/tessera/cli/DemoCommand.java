package io.tessera.cli;

import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.engine.data.FashionMnist;
import io.tessera.engine.nn.Mlp;
import io.tessera.engine.optim.AdamW;
import io.tessera.engine.train.ClassifierTraining;
import io.tessera.fisher.DiagonalFisher;
import io.tessera.fisher.TopK;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * The end-to-end job. DESIGN.md's full chain (train, Fisher, FISH mask, patches, vet, merge, int8, peers)
 * grows here stage by stage as the modules land; today it runs the stages that exist and says which do not.
 */
@Command(name = "demo", description = "Run the end-to-end demo (the stages built so far).")
final class DemoCommand implements Callable<Integer> {

    @Option(names = "--data", description = "Directory of the Fashion-MNIST IDX files (default: ${DEFAULT-VALUE}).",
            defaultValue = "/usr/share/datasets/fashion-mnist")
    Path data;

    @Option(names = "--epochs", description = "Epochs of base-model training (default: ${DEFAULT-VALUE}).", defaultValue = "2")
    int epochs;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        if (epochs < 1) {
            throw new IllegalArgumentException("--epochs must be >= 1, got " + epochs);
        }
        PrintWriter out = spec.commandLine().getOut();
        FashionMnist.Split train = FashionMnist.train(data);
        FashionMnist.Split test = FashionMnist.test(data);
        out.printf("== stage 1: base model, MLP 784-256-10 trained with AdamW on %,d Fashion-MNIST images%n", train.count());
        try (Mlp model = new Mlp(1, 784, 256, 10); AdamW optimizer = new AdamW(model.parameters(), 1e-3)) {
            for (int epoch = 1; epoch <= epochs; epoch++) {
                ProgressBar bar = new ProgressBar(out, String.format("   epoch %d/%d", epoch, epochs), (train.count() + 63) / 64);
                long start = System.nanoTime();
                double loss = ClassifierTraining.trainEpoch(model::forward, optimizer, train, 64, 1, epoch,
                        (e, step, steps, stepLoss) -> bar.update(step, String.format("loss %.4f", stepLoss)));
                double seconds = (System.nanoTime() - start) / 1e9;
                out.printf("   epoch %d: mean loss %.4f, %,.0f images/s%n", epoch, loss, train.count() / seconds);
            }
            out.printf("   test accuracy: %.2f%% on %,d images%n", 100 * ClassifierTraining.accuracy(model::forward, test, 1000),
                    test.count());
            out.println("== stage 2: Fisher information on each contributor's task, FISH mask keeping 0.5% of the parameters");
            for (Contributor contributor : Contributor.DEMO) {
                FashionMnist.Split task = contributor.task(train, 1024);
                Map<String, long[]> mask;
                long start = System.nanoTime();
                try (TensorScope scope = TensorScope.open()) {
                    Map<String, Tensor> fisher = DiagonalFisher.ofMlp(model, MlpFiles.images(task), contributor.labels(task),
                            DiagonalFisher.Labels.EMPIRICAL, 0, 256);
                    mask = TopK.global(fisher, model.parameterCount() / 200);
                    fisher.values().forEach(Tensor::close);
                }
                double ms = (System.nanoTime() - start) / 1e6;
                StringBuilder perTensor = new StringBuilder();
                mask.forEach((name, idx) -> perTensor.append(String.format(" %s:%d", name, idx.length)));
                out.printf("   %s (%s): %,d of %,d parameters in %.0f ms;%s%n", contributor.name(), contributor.description(),
                        mask.values().stream().mapToLong(i -> i.length).sum(), model.parameterCount(), ms, perTensor);
            }
        }
        out.println("== not built yet: sparse fine-tuning, patches, vet, merge, int8, peers (see the open issues)");
        out.flush();
        return 0;
    }
}
