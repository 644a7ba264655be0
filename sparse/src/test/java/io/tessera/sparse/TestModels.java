package io.tessera.sparse;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tessera.engine.DType;
import io.tessera.engine.Tensor;
import java.lang.foreign.MemorySegment;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeSet;

/** Small models of mixed dtypes and awkward shapes for the patch tests, built from raw bytes. */
final class TestModels {
    private TestModels() {}

    static final Map<String, DType> DTYPES = Map.of("layer.0.weight", DType.F32, "layer.0.bias", DType.F32,
            "embed", DType.BF16, "norm", DType.F16, "counts", DType.I32, "scale", DType.F32);
    static final Map<String, long[]> SHAPES = Map.of("layer.0.weight", new long[] {37, 29}, "layer.0.bias", new long[] {37},
            "embed", new long[] {13, 5}, "norm", new long[] {3, 3, 3}, "counts", new long[] {5, 7}, "scale", new long[] {});

    /** Random values in the current scope; floats are drawn from [-1, 1). */
    static Map<String, Tensor> random(long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        Map<String, Tensor> model = new LinkedHashMap<>();
        for (String name : new TreeSet<>(DTYPES.keySet())) {
            long[] shape = SHAPES.get(name);
            DType dtype = DTYPES.get(name);
            int n = (int) HostTensors.numel(shape, name);
            byte[] bytes = new byte[n * dtype.byteSize()];
            MemorySegment segment = MemorySegment.ofArray(bytes);
            for (int i = 0; i < n; i++) {
                Elements.set(segment, dtype, i, dtype.isFloatingPoint() ? rng.nextDouble() * 2 - 1 : rng.nextInt(1000));
            }
            model.put(name, Tensor.ofBytes(bytes, dtype, shape));
        }
        return model;
    }

    /** A copy of {@code model} with about {@code fraction} of each tensor's entries given new random bits. */
    static Map<String, Tensor> perturbed(Map<String, Tensor> model, double fraction, long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        Map<String, Tensor> out = new LinkedHashMap<>();
        model.forEach((name, t) -> {
            byte[] bytes = t.toByteArray();
            int size = t.dtype().byteSize();
            for (int i = 0; i < t.numel(); i++) {
                if (rng.nextDouble() < fraction) {
                    bytes[i * size] ^= (byte) (1 + rng.nextInt(255)); // low byte: always a different value
                }
            }
            out.put(name, Tensor.ofBytes(bytes, t.dtype(), t.shape()));
        });
        return out;
    }

    static void assertBitEqual(Map<String, Tensor> expected, Map<String, Tensor> actual, String what) {
        assertEquals(new TreeSet<>(expected.keySet()), new TreeSet<>(actual.keySet()), what + ": names");
        expected.forEach((name, t) -> {
            assertEquals(t.dtype(), actual.get(name).dtype(), what + ": dtype of " + name);
            assertArrayEquals(t.shape(), actual.get(name).shape(), what + ": shape of " + name);
            assertArrayEquals(t.toByteArray(), actual.get(name).toByteArray(), what + ": bytes of " + name);
        });
    }
}
