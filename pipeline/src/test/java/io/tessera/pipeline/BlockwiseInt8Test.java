package io.tessera.pipeline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tessera.engine.HostStorage;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class BlockwiseInt8Test {

    @AfterAll
    static void noLeaks() {
        assertEquals(0, HostStorage.liveBytes(), "native bytes still allocated");
    }

    @ParameterizedTest(name = "n = {0}, block = {1}")
    @CsvSource({"0,64", "1,64", "63,64", "65,64", "1031,256", "100003,4096", "40009,64"})
    void codesAndScalesMatchAFloat64ReferenceAndRoundTripWithinHalfAStep(int n, int block) {
        SplittableRandom rng = new SplittableRandom(n + block);
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            // outliers in some blocks, an all-zero block at the start when there is room
            x[i] = i < block && n > 2 * block ? 0f : (float) ((rng.nextDouble() * 2 - 1) * (rng.nextInt(50) == 0 ? 20 : 1));
        }
        try (TensorScope scope = TensorScope.open()) {
            BlockwiseInt8.Quantized q = BlockwiseInt8.quantize(Tensor.of(x, n), block);
            int[] codes = q.codes().toIntArray();
            float[] scales = q.scales().toFloatArray();
            assertEquals((n + block - 1) / block, scales.length);
            float[] back = BlockwiseInt8.dequantize(q).toFloatArray();
            for (int b = 0; b * block < n; b++) {
                double absmax = 0;
                for (int i = b * block; i < Math.min(n, (b + 1) * block); i++) {
                    absmax = Math.max(absmax, Math.abs(x[i]));
                }
                assertEquals((float) (absmax / 127), scales[b], Math.ulp((float) (absmax / 127)), "scale of block " + b);
                for (int i = b * block; i < Math.min(n, (b + 1) * block); i++) {
                    long expected = scales[b] == 0 ? 0 : Math.round(Math.rint(x[i] / scales[b]));
                    assertEquals(expected, codes[i], 1, "code " + i); // float vs double division may round differently at .5
                    assertTrue(Math.abs(back[i] - x[i]) <= scales[b] / 2 * (1 + 1e-5) + 1e-30, "element " + i);
                }
            }
        }
    }

    @Test
    void keepsShapeAndRejectsNonFiniteInput() {
        try (TensorScope scope = TensorScope.open()) {
            Tensor x = Tensor.randn(1, 0, 3, 5, 7);
            BlockwiseInt8.Quantized q = BlockwiseInt8.quantize(x.transpose(0, 2), 16);
            assertArrayEquals(new long[] {7, 5, 3}, BlockwiseInt8.dequantize(q).shape());
            var e = assertThrows(IllegalArgumentException.class,
                    () -> BlockwiseInt8.quantize(Tensor.of(new float[] {1, Float.NaN, 2}, 3), 2));
            assertTrue(e.getMessage().contains("NaN or infinite"), e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> BlockwiseInt8.quantize(x, 0));
        }
    }
    /** On the CUDA backend (the emulated driver in CI) the codes, scales and values are the CPU's, on the input's device. */
    @Test
    void compressesOnTheInputsDevice() {
        java.util.Optional<String> missing = io.tessera.engine.Backends.unavailableReason(io.tessera.engine.Device.Kind.CUDA);
        org.junit.jupiter.api.Assumptions.assumeTrue(missing.isEmpty(), () -> "CUDA backend unavailable: " + missing.orElse(""));
        io.tessera.engine.Device cuda = io.tessera.engine.Device.cuda(0);
        try (TensorScope scope = TensorScope.open()) {
            Tensor x = Tensor.randn(5, 0, 10_007);
            BlockwiseInt8.Quantized onCpu = BlockwiseInt8.quantize(x, 256);
            BlockwiseInt8.Quantized onCuda = BlockwiseInt8.quantize(x.to(cuda), 256);
            assertEquals(cuda, onCuda.codes().device());
            assertArrayEquals(onCpu.codes().toIntArray(), onCuda.codes().to(io.tessera.engine.Device.CPU).toIntArray());
            assertArrayEquals(onCpu.scales().toFloatArray(), onCuda.scales().to(io.tessera.engine.Device.CPU).toFloatArray());
            Tensor back = BlockwiseInt8.dequantize(onCuda);
            assertEquals(cuda, back.device());
            assertArrayEquals(BlockwiseInt8.dequantize(onCpu).toFloatArray(), back.to(io.tessera.engine.Device.CPU).toFloatArray());
        }
    }
}
