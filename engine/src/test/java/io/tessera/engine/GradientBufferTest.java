package io.tessera.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tessera.engine.nn.Linear;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;

/**
 * Gradients an op computes into {@link Backprop#gradientBuffer}s: a leaf keeps the buffer as its first
 * gradient (no copy), later passes add into it, a buffer no leaf keeps (a weight used twice, whose two
 * contributions are summed first) is freed when backward ends, and a kept gradient outlives the step's
 * scope and is readable from another thread, as a copied one is.
 */
class GradientBufferTest {
    private static float[] weightGradient(int passes, boolean usedTwice) {
        try (Linear layer = Linear.of(6, 6, true, 4)) {
            for (int p = 0; p < passes; p++) {
                try (TensorScope scope = TensorScope.open()) {
                    Tensor x = Tensor.randn(1, 0, 3, 6);
                    Tensor y = layer.forward(x).tanh();
                    (usedTwice ? layer.forward(y) : y).sum().backward();
                }
            }
            return CompletableFuture.supplyAsync(() -> layer.weight().grad().toFloatArray()).join();
        }
    }

    @Test
    void keptBuffersAccumulateAndLeakNothing() {
        long before = HostStorage.liveBytes();
        float[] once = weightGradient(1, false);
        float[] thrice = weightGradient(3, false);
        for (int i = 0; i < once.length; i++) {
            assertEquals(3 * once[i], thrice[i], 1e-5 * (1 + Math.abs(once[i])), "weight gradient [" + i + "] after three passes");
        }
        assertEquals(before, HostStorage.liveBytes(), "native bytes left after the layers closed");
    }

    @Test
    void aWeightUsedTwiceGetsTheSumOfBothContributions() {
        long before = HostStorage.liveBytes();
        float[] viaBuffers = weightGradient(1, true);
        float[] reference;
        try (Linear layer = Linear.of(6, 6, true, 4); TensorScope scope = TensorScope.open()) {
            // the same function through matmul, whose gradients are ordinary scope tensors
            Tensor x = Tensor.randn(1, 0, 3, 6);
            Tensor w = layer.weight();
            Tensor y = x.matmul(w.t()).add(layer.bias()).tanh();
            y.matmul(w.t()).add(layer.bias()).sum().backward();
            reference = w.grad().toFloatArray();
        }
        assertArrayEquals(reference, viaBuffers, 1e-5f);
        assertEquals(before, HostStorage.liveBytes(), "native bytes left after the layers closed");
    }
}
