package io.tessera.pipeline;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tessera.engine.HostStorage;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.engine.autograd.GradMode;
import io.tessera.engine.nn.Linear;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/**
 * The stated error bounds of int8 against float32, as relative Frobenius error ||y_int8 - y|| / ||y|| with y
 * the float64 product of the float32 weights (a Linear 1024 -> 512 with PyTorch's init, 32 input rows):
 * per-channel int8 on N(0, 1) inputs stays below 1.5e-2 (measured 8.7e-3; oneDNN's int8 differs from f32 by
 * about 2e-2, PEER_BASELINE.md); with 6 of the 1024 input columns 20x larger, plain int8 degrades (measured
 * 4.2e-2) while LLM.int8 with threshold 6 stays below 1.5e-2 (measured 5.9e-3) by computing those columns in
 * float.
 */
class Int8ErrorBoundsTest {
    private static final int IN = 1024;
    private static final int OUT = 512;
    private static final int ROWS = 32;

    @AfterAll
    static void noLeaks() {
        assertEquals(0, HostStorage.liveBytes(), "native bytes still allocated");
    }

    private static float[] inputs(boolean outliers) {
        SplittableRandom rng = new SplittableRandom(11);
        float[] x = new float[ROWS * IN];
        for (int i = 0; i < x.length; i++) {
            double gaussian = Math.sqrt(-2 * Math.log(1 - rng.nextDouble())) * Math.cos(2 * Math.PI * rng.nextDouble());
            boolean big = outliers && (i % IN) % 170 == 3; // 6 columns
            x[i] = (float) (gaussian * (big ? 20 : 1));
        }
        return x;
    }

    /** ||y_int8 - y|| / ||y|| with y computed in float64 from the float32 weights. */
    private static double relativeError(Linear linear, float[] x, float threshold) {
        float[] w = linear.weight().toFloatArray();
        float[] b = linear.bias().toFloatArray();
        try (QuantizedLinear q = QuantizedLinear.of(linear, threshold); TensorScope scope = TensorScope.open();
             GradMode off = GradMode.noGrad()) {
            float[] y = q.forward(Tensor.of(x, ROWS, IN)).toFloatArray();
            double err = 0;
            double norm = 0;
            for (int i = 0; i < ROWS; i++) {
                for (int o = 0; o < OUT; o++) {
                    double exact = b[o];
                    for (int c = 0; c < IN; c++) {
                        exact += (double) x[i * IN + c] * w[o * IN + c];
                    }
                    err += (y[i * OUT + o] - exact) * (y[i * OUT + o] - exact);
                    norm += exact * exact;
                }
            }
            return Math.sqrt(err / norm);
        }
    }

    @Test
    void perChannelInt8StaysWithinItsBoundOnGaussianInputs() {
        try (Linear linear = Linear.of(IN, OUT, true, 21)) {
            double plain = relativeError(linear, inputs(false), Float.POSITIVE_INFINITY);
            double decomposed = relativeError(linear, inputs(false), QuantizationConfig.DEFAULT_OUTLIER_THRESHOLD);
            System.out.printf("int8 relative error, gaussian inputs: plain %.2e, LLM.int8 %.2e%n", plain, decomposed);
            assertTrue(plain < 1.5e-2, "plain int8 error " + plain);
            assertTrue(decomposed < 1.5e-2, "LLM.int8 error " + decomposed);
        }
    }

    @Test
    void llmInt8KeepsOutlierHeavyInputsCloseToFloatWherePlainInt8DoesNot() {
        try (Linear linear = Linear.of(IN, OUT, true, 21)) {
            double plain = relativeError(linear, inputs(true), Float.POSITIVE_INFINITY);
            double decomposed = relativeError(linear, inputs(true), QuantizationConfig.DEFAULT_OUTLIER_THRESHOLD);
            System.out.printf("int8 relative error, 20x outlier columns: plain %.2e, LLM.int8 %.2e%n", plain, decomposed);
            assertTrue(decomposed < 1.5e-2, "LLM.int8 error " + decomposed);
            assertTrue(plain > 3 * decomposed, "plain int8 error " + plain + " should be far above LLM.int8's " + decomposed);
        }
    }
}
