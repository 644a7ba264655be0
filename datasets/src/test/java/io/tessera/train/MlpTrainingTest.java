package io.tessera.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tessera.data.FashionMnist;
import io.tessera.engine.HostStorage;
import io.tessera.engine.nn.Mlp;
import io.tessera.engine.optim.AdamW;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * The training proof in small: an MLP 784-256-10 with AdamW on 6000 Fashion-MNIST images for two epochs.
 * The full run (60000 images, >= 85% test accuracy) is `scripts/tessera train`.
 */
class MlpTrainingTest {

    @AfterAll
    static void noLeaks() {
        assertEquals(0, HostStorage.liveBytes(), "native bytes still allocated");
    }

    @Test
    void lossFallsAndAccuracyClearsTheBar() {
        Assumptions.assumeTrue(Files.isDirectory(FashionMnist.DEFAULT_DIR),
                "Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)");
        FashionMnist.Split train = FashionMnist.train(FashionMnist.DEFAULT_DIR, 6000);
        FashionMnist.Split test = FashionMnist.test(FashionMnist.DEFAULT_DIR, 2000);
        List<Double> losses = new ArrayList<>();
        try (Mlp model = new Mlp(1, 784, 256, 10); AdamW optimizer = new AdamW(model.parameters(), 1e-3)) {
            double before = ClassifierTraining.accuracy(model::forward, test, 500);
            for (int epoch = 1; epoch <= 2; epoch++) {
                ClassifierTraining.trainEpoch(model::forward, optimizer, train, 64, 7, epoch, (e, s, n, loss) -> losses.add(loss));
            }
            double after = ClassifierTraining.accuracy(model::forward, test, 500);
            double first = losses.subList(0, 10).stream().mapToDouble(Double::doubleValue).average().orElseThrow();
            double last = losses.subList(losses.size() - 10, losses.size()).stream()
                    .mapToDouble(Double::doubleValue).average().orElseThrow();
            assertTrue(first > 1.5, "an untrained 10-class model starts near ln 10 = 2.3, got " + first);
            assertTrue(last < 0.7, "loss after two epochs: " + last + " (first steps: " + first + ")");
            assertTrue(before < 0.3, "untrained accuracy should be near chance, got " + before);
            assertTrue(after >= 0.78, "test accuracy after two epochs on 6000 images: " + after);
            model.zeroGrad();
        }
    }
}
