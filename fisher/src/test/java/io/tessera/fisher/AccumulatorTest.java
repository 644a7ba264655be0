package io.tessera.fisher;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tessera.engine.HostStorage;
import io.tessera.engine.InPlace;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/** The Fisher accumulator (F += g*g with Kahan compensation in float32) against float64, over 10^8 values. */
class AccumulatorTest {

    @AfterAll
    static void noLeaks() {
        assertEquals(0, HostStorage.liveBytes(), "native bytes still allocated");
    }

    @Test
    void hundredMillionSmallSquaresSumLikeFloat64() {
        int width = 1000;
        int steps = 100_000; // 10^8 values in all
        SplittableRandom rng = new SplittableRandom(1);
        float[] batch = new float[width];
        double[] exact = new double[width];
        float[] naive = new float[width];
        try (TensorScope scope = TensorScope.open()) {
            Tensor sum = Tensor.zeros(width);
            Tensor comp = Tensor.zeros(width);
            Tensor g = Tensor.zeros(width);
            for (int s = 0; s < steps; s++) {
                for (int i = 0; i < width; i++) {
                    batch[i] = (float) (rng.nextDouble() * 1e-3);
                    double square = (double) (batch[i] * batch[i]); // the kernel squares in float, as the reference does
                    exact[i] += square;
                    naive[i] += batch[i] * batch[i];
                }
                try (TensorScope step = TensorScope.open()) {
                    InPlace.copy(Tensor.of(batch, width), g);
                }
                InPlace.kahanAccumulate(g, true, sum, comp);
            }
            float[] kahan = sum.toFloatArray();
            double worstKahan = 0;
            double worstNaive = 0;
            for (int i = 0; i < width; i++) {
                worstKahan = Math.max(worstKahan, Math.abs(kahan[i] - exact[i]) / exact[i]);
                worstNaive = Math.max(worstNaive, Math.abs(naive[i] - exact[i]) / exact[i]);
            }
            assertTrue(worstKahan < 1e-6, "Kahan relative error " + worstKahan);
            assertTrue(worstNaive > 10 * worstKahan, "plain float accumulation drifts: " + worstNaive + " vs Kahan " + worstKahan);
        }
    }
}
