package io.tessera.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tessera.engine.nn.Linear;
import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.stream.LongStream;
import org.junit.jupiter.api.Test;

/**
 * {@link Tensor#restrictGrad}: a leaf's gradient kept at listed entries only. A Linear weight's is
 * computed there directly (SDDMM); it must agree with the full gradient at those entries, for both weight
 * layouts, batched inputs, an empty batch and a weight used twice. Other leaves get the full gradient
 * reduced to the list, bit for bit.
 */
class RestrictedGradientTest {
    /** sum(tanh(y)) over Linear(x): a loss whose output gradient differs per element. */
    private static void backward(Linear layer, Tensor x) {
        layer.forward(x).tanh().sum().backward();
    }

    private static long[] someEntries(long numel, double density, long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        return LongStream.range(0, numel).filter(i -> rng.nextDouble() < density).toArray();
    }

    private static Linear layer(boolean inputMajor) {
        return inputMajor ? Linear.conv1d(7, 11, 3) : Linear.of(7, 11, true, 3);
    }

    private static void assertKeptEntries(String what, float[] dense, double factor, long[] entries, Tensor kept) {
        assertArrayEquals(new long[] {entries.length}, kept.shape(), what + ": compact gradient shape");
        float[] values = kept.toFloatArray();
        for (int j = 0; j < entries.length; j++) {
            double expected = factor * dense[(int) entries[j]];
            assertEquals(expected, values[j], 1e-5 * (1 + Math.abs(expected)), what + " entry " + entries[j]);
        }
    }

    @Test
    void linearWeightGradientAtTheListedEntriesEqualsTheFullGradientThere() {
        long[][] inputShapes = {{5, 7}, {2, 3, 7}, {1, 7}, {7}, {0, 7}};
        for (boolean inputMajor : new boolean[] {false, true}) {
            for (long[] shape : inputShapes) {
                for (DType indexType : new DType[] {DType.I32, DType.I64}) {
                    String what = (inputMajor ? "conv1d " : "linear ") + Arrays.toString(shape) + " " + indexType;
                    try (Linear full = layer(inputMajor); Linear restricted = layer(inputMajor);
                         TensorScope scope = TensorScope.open()) {
                        Tensor x = Tensor.randn(5, 0, shape);
                        backward(full, x);
                        long[] entries = someEntries(77, 0.3, shape.length);
                        restricted.weight().restrictGrad(Tensor.of(entries, entries.length).to(indexType));
                        backward(restricted, x);
                        assertKeptEntries(what, full.weight().grad().toFloatArray(), 1, entries, restricted.weight().grad());
                        assertArrayEquals(full.bias().grad().toFloatArray(), restricted.bias().grad().toFloatArray(), what + " bias");
                    }
                }
            }
        }
    }

    @Test
    void gradientsOfAWeightUsedTwiceAddUpInCompactForm() {
        try (Linear full = Linear.of(6, 6, false, 9); Linear restricted = Linear.of(6, 6, false, 9);
             TensorScope scope = TensorScope.open()) {
            Tensor x = Tensor.randn(2, 0, 4, 6);
            full.forward(full.forward(x).tanh()).sum().backward();
            long[] entries = someEntries(36, 0.5, 4);
            restricted.weight().restrictGrad(Tensor.of(entries, entries.length));
            restricted.forward(restricted.forward(x).tanh()).sum().backward();
            // a second backward accumulates into the same compact gradient
            restricted.forward(restricted.forward(x).tanh()).sum().backward();
            assertKeptEntries("twice", full.weight().grad().toFloatArray(), 2, entries, restricted.weight().grad());
        }
    }

    @Test
    void otherLeavesGetTheirFullGradientReducedToTheListBitForBit() {
        try (TensorScope scope = TensorScope.open()) {
            Tensor p = Tensor.randn(1, 0, 3, 5).requiresGrad(true);
            Tensor q = Tensor.randn(1, 0, 3, 5).requiresGrad(true);
            long[] entries = {0, 4, 7, 14};
            q.restrictGrad(Tensor.of(entries, entries.length));
            Tensor w = Tensor.randn(2, 0, 3, 5);
            p.mul(w).tanh().sum().backward();
            q.mul(w).tanh().sum().backward();
            float[] dense = p.grad().toFloatArray();
            float[] kept = q.grad().toFloatArray();
            assertEquals(entries.length, kept.length);
            for (int j = 0; j < entries.length; j++) {
                assertEquals(Float.floatToRawIntBits(dense[(int) entries[j]]), Float.floatToRawIntBits(kept[j]), "entry " + entries[j]);
            }
            p.zeroGrad();
            q.zeroGrad();
        }
    }

    @Test
    void liftingTheRestrictionGivesFullGradientsAgain() {
        try (Linear layer = Linear.of(4, 3, false, 1); TensorScope scope = TensorScope.open()) {
            layer.weight().restrictGrad(Tensor.of(new long[] {1, 5}, 2));
            backward(layer, Tensor.randn(3, 0, 2, 4));
            assertArrayEquals(new long[] {2}, layer.weight().grad().shape());
            layer.weight().zeroGrad();
            layer.weight().restrictGrad(null);
            backward(layer, Tensor.randn(3, 0, 2, 4));
            assertArrayEquals(new long[] {3, 4}, layer.weight().grad().shape());
        }
    }

    @Test
    void badRestrictionsAreRefusedNamingTheProblem() {
        try (TensorScope scope = TensorScope.open()) {
            Tensor p = Tensor.randn(1, 0, 10).requiresGrad(true);
            assertTrue(assertThrows(IllegalArgumentException.class, () -> p.restrictGrad(Tensor.of(new long[] {3, 2}, 2)))
                    .getMessage().contains("sorted and unique"));
            assertTrue(assertThrows(IllegalArgumentException.class, () -> p.restrictGrad(Tensor.of(new long[] {3, 3}, 2)))
                    .getMessage().contains("sorted and unique"));
            assertTrue(assertThrows(IllegalArgumentException.class, () -> p.restrictGrad(Tensor.of(new long[] {2, 10}, 2)))
                    .getMessage().contains("indices[1] = 10 is outside [0, 10)"));
            assertTrue(assertThrows(IllegalArgumentException.class, () -> p.restrictGrad(Tensor.of(new float[] {1}, 1)))
                    .getMessage().contains("must be one of [i32, i64]"));
            assertTrue(assertThrows(IllegalArgumentException.class, () -> p.restrictGrad(Tensor.of(new long[] {1, 2, 3, 4}, 2, 2)))
                    .getMessage().contains("must have rank 1"));
            Tensor nonLeaf = p.mul(2.0);
            assertThrows(IllegalStateException.class, () -> nonLeaf.restrictGrad(Tensor.of(new long[] {1}, 1)));
            p.mul(2.0).sum().backward();
            assertTrue(assertThrows(IllegalStateException.class, () -> p.restrictGrad(Tensor.of(new long[] {1}, 1)))
                    .getMessage().contains("zeroGrad() first"));
            p.zeroGrad();
        }
    }
}
