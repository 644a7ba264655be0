package io.tessera.fisher;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tessera.engine.HostStorage;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.engine.nn.VisionTransformer;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The batched per-example Fisher of a vision transformer, whose forward reshapes its input into patches before any
 * parameter touches it and uses a position table shared by the batch and layer norms, against one backward pass per
 * example (the model's gradients themselves are checked against finite differences in the engine's tests).
 */
class VisionTransformerFisherTest {
    @AfterAll
    static void noLeaks() {
        assertEquals(0, HostStorage.liveBytes(), "native bytes still allocated");
    }

    /**
     * Batches of 3 (3, 3, 3), and of 8 (8, 1): 8 is also the row count of the [8, 24] attention weight and the [8, 25]
     * patch embedding, which once sent them down the one-row-per-example path with 4 patches per example.
     */
    @ParameterizedTest
    @ValueSource(ints = {3, 8})
    void batchedMatchesOneBackwardPassPerExample(int batchSize) {
        VisionTransformer.Config config = new VisionTransformer.Config(10, 5, 8, 2, 2, 3);
        int examples = 9;
        SplittableRandom rng = new SplittableRandom(4);
        float[] pixels = new float[(int) (examples * config.pixels())];
        for (int i = 0; i < pixels.length; i++) {
            pixels[i] = (float) rng.nextDouble();
        }
        int[] labels = {2, 0, 1, 1, 2, 0, 2, 1, 0};
        try (VisionTransformer vit = new VisionTransformer(config, 3); TensorScope scope = TensorScope.open()) {
            Tensor inputs = Tensor.of(pixels, examples, config.pixels());
            Map<String, Tensor> fast = DiagonalFisher.of(vit, vit::forward, inputs, Tensor.of(labels, examples),
                    DiagonalFisher.Labels.EMPIRICAL, 0, batchSize);
            Map<String, Tensor> slow = DiagonalFisher.perExample(vit, vit::forward, inputs, labels, DiagonalFisher.Labels.EMPIRICAL, 0);
            try {
                assertEquals(vit.namedParameters().keySet(), fast.keySet());
                assertTrue(!inputs.requiresGrad(), "the caller's inputs are left as they were");
                for (String name : slow.keySet()) {
                    float[] expected = slow.get(name).toFloatArray();
                    float[] actual = fast.get(name).toFloatArray();
                    double scale = 0;
                    for (float v : expected) {
                        scale = Math.max(scale, v);
                    }
                    assertTrue(scale > 0, name + " has no Fisher");
                    for (int i = 0; i < expected.length; i++) {
                        assertEquals(expected[i], actual[i], 1e-4 * scale + 1e-9, name + "[" + i + "]");
                    }
                }
            } finally {
                fast.values().forEach(Tensor::close);
                slow.values().forEach(Tensor::close);
            }
        }
    }
}
