package io.tessera.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tessera.engine.autograd.GradMode;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

class TensorViewsAndMemoryTest {

    @AfterAll
    static void noLeaks() {
        assertEquals(0, HostStorage.liveBytes(), "native bytes still allocated");
    }

    @Test
    void viewsShareStorageAndIndexCorrectly() {
        try (TensorScope scope = TensorScope.open()) {
            Tensor x = Tensor.arange(24).reshape(2, 3, 4);
            Tensor p = x.permute(2, 0, 1);
            assertSame(x.storage(), p.storage());
            assertArrayEquals(new long[] {4, 2, 3}, p.shape());
            assertFalse(p.isContiguous());
            float[] values = p.contiguous().toFloatArray();
            for (int i = 0; i < 4; i++) {
                for (int j = 0; j < 2; j++) {
                    for (int k = 0; k < 3; k++) {
                        assertEquals(j * 12 + k * 4 + i, values[i * 6 + j * 3 + k]);
                    }
                }
            }
            assertArrayEquals(new float[] {1, 3, 13, 15}, x.slice(1, 0, 1).slice(2, 1, 4, 2).toFloatArray());
            assertArrayEquals(new float[] {20, 21, 22, 23}, x.slice(1, -1, 3).slice(0, 1, 2).flatten().toFloatArray());
            Tensor e = Tensor.of(new float[] {1, 2, 3}, 3, 1).expand(2, 3, 4);
            assertEquals(0, e.strides()[0]);
            assertEquals(0, e.strides()[2]);
            assertArrayEquals(new float[] {1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3}, e.toFloatArray());
            // reshape of a non-contiguous view copies; of a contiguous one it does not
            assertSame(x.storage(), x.reshape(6, -1).storage());
            assertNotEquals(x.storage(), p.reshape(-1).storage());
            assertArrayEquals(new long[] {1, 2, 1, 3, 4}, x.unsqueeze(0).unsqueeze(2).shape());
            assertArrayEquals(new long[] {2, 4}, x.slice(1, 1, 2).squeeze(1).shape());
        }
    }

    @Test
    void viewGradientsRouteBack() {
        SplittableRandom rng = new SplittableRandom(2);
        OpCheck.gradient("permute+slice+reshape", new Ref[] {Ref.random(rng, -1, 1, 3, 4, 5)},
                t -> t[0].permute(2, 0, 1).slice(0, 1, 5, 2).reshape(2, -1),
                r -> {
                    double[] out = new double[2 * 12];
                    for (int s = 0; s < 2; s++) {
                        for (int i = 0; i < 3; i++) {
                            for (int j = 0; j < 4; j++) {
                                out[s * 12 + i * 4 + j] = r[0].data()[i * 20 + j * 5 + (1 + 2 * s)];
                            }
                        }
                    }
                    return new Ref(new long[] {2, 12}, out);
                }, 1e-4, rng);
        OpCheck.gradient("expand", new Ref[] {Ref.random(rng, -1, 1, 3, 1)}, t -> t[0].expand(2, 3, 4),
                r -> Ref.zip(r[0], new Ref(new long[] {2, 3, 4}, new double[24]), Double::sum), 1e-4, rng);
        OpCheck.gradient("cat", new Ref[] {Ref.random(rng, -1, 1, 2, 3), Ref.random(rng, -1, 1, 2, 2)},
                t -> Tensor.cat(1, t[0], t[1]),
                r -> {
                    double[] out = new double[10];
                    for (int i = 0; i < 2; i++) {
                        System.arraycopy(r[0].data(), i * 3, out, i * 5, 3);
                        System.arraycopy(r[1].data(), i * 2, out, i * 5 + 3, 2);
                    }
                    return new Ref(new long[] {2, 5}, out);
                }, 1e-4, rng);
    }

    @Test
    void badViewsAreClearErrors() {
        try (TensorScope scope = TensorScope.open()) {
            Tensor x = Tensor.zeros(2, 3);
            assertTrue(assertThrows(IllegalArgumentException.class, () -> x.reshape(4, -1)).getMessage().contains("cannot reshape"));
            assertTrue(assertThrows(IllegalArgumentException.class, () -> x.permute(0, 0)).getMessage().contains("repeats dim"));
            assertTrue(assertThrows(IllegalArgumentException.class, () -> x.expand(2, 4)).getMessage().contains("dim 1 has size 3"));
            assertTrue(assertThrows(IllegalArgumentException.class, () -> x.transpose(0, 2)).getMessage().contains("out of range"));
            assertTrue(assertThrows(IllegalArgumentException.class, () -> Tensor.of(new float[] {1, 2}, 3))
                    .getMessage().contains("holds 3 elements but 2 values"));
            assertTrue(assertThrows(IllegalArgumentException.class, () -> Tensor.zeros(1, 1, 1, 1, 1, 1, 1, 1, 1))
                    .getMessage().contains("at most 8 dims"));
        }
    }

    @Test
    void dtypeConversionsRoundTripAndSaturate() {
        try (TensorScope scope = TensorScope.open()) {
            float[] values = {0f, 1f, -1.5f, 3.14159f, 65504f, 1e-7f, -300.7f, 70000f, Float.NaN, Float.POSITIVE_INFINITY};
            Tensor f = Tensor.of(values, values.length);
            float[] bf = f.to(DType.BF16).toFloatArray();
            float[] h = f.to(DType.F16).toFloatArray();
            for (int i = 0; i < values.length; i++) {
                assertEquals(ConversionReference.bf16(values[i]), bf[i], 0, "bf16 of " + values[i]);
                assertEquals(Float.float16ToFloat(Float.floatToFloat16(values[i])), h[i], 0, "f16 of " + values[i]);
            }
            assertArrayEquals(new int[] {0, 1, -1, 3, 127, 0, -128, 127, 0, 127}, f.to(DType.I8).toIntArray());
            assertArrayEquals(new int[] {0, 1, 0, 3, 255, 0, 0, 255, 0, 255}, f.to(DType.U8).toIntArray());
            assertArrayEquals(new int[] {0, 1, 1, 1, 1, 1, 1, 1, 1, 1}, f.to(DType.BOOL).toIntArray());
            long big = (1L << 40) + 3;
            Tensor i64 = Tensor.of(new long[] {big, -5, 300}, 3);
            assertArrayEquals(new long[] {big, -5, 300}, i64.to(DType.I64).toLongArray());
            assertArrayEquals(new int[] {3, -5, 300}, i64.to(DType.I32).toIntArray(), "integer narrowing wraps");
            assertArrayEquals(new int[] {3, -5, 44}, i64.to(DType.I8).toIntArray());
        }
    }

    @Test
    void f16ConversionIsExactForEveryHalfValue() {
        // every 16-bit pattern: half -> float -> half must round-trip (NaNs stay NaN)
        byte[] halves = new byte[1 << 17];
        for (int i = 0; i < 1 << 16; i++) {
            halves[2 * i] = (byte) i;
            halves[2 * i + 1] = (byte) (i >>> 8);
        }
        try (TensorScope scope = TensorScope.open()) {
            float[] widened = Tensor.ofBytes(halves, DType.F16, 1 << 16).toFloatArray();
            for (int i = 0; i < 1 << 16; i++) {
                float expected = Float.float16ToFloat((short) i);
                assertTrue(Float.isNaN(expected) ? Float.isNaN(widened[i]) : expected == widened[i], "half 0x" + Integer.toHexString(i));
            }
            byte[] back = Tensor.of(widened, 1 << 16).to(DType.F16).toByteArray();
            for (int i = 0; i < 1 << 16; i++) {
                short h = (short) ((back[2 * i] & 0xff) | (back[2 * i + 1] << 8));
                assertEquals(Float.floatToFloat16(widened[i]), h, "float -> half of 0x" + Integer.toHexString(i));
            }
        }
    }

    @Test
    void philoxDrawsAreReproducibleAndSliceable() {
        try (TensorScope scope = TensorScope.open()) {
            float[] all = Tensor.rand(42, 0, 1000).toFloatArray();
            assertArrayEquals(all, Tensor.rand(42, 0, 1000).toFloatArray());
            // element i of a draw at offset o is element 4*o + i of the draw at offset 0 (4 values per block)
            float[] tail = Tensor.rand(42, 10, 960).toFloatArray();
            assertArrayEquals(java.util.Arrays.copyOfRange(all, 40, 1000), tail);
            assertFalse(java.util.Arrays.equals(all, Tensor.rand(43, 0, 1000).toFloatArray()));
            float[] normal = Tensor.randn(7, 0, 100_000).toFloatArray();
            double mean = 0;
            double sq = 0;
            for (float v : normal) {
                mean += v;
                sq += v * v;
            }
            mean /= normal.length;
            assertEquals(0, mean, 0.02);
            assertEquals(1, sq / normal.length - mean * mean, 0.02);
        }
    }

    @Test
    void closedTensorsAndScopesThrowInsteadOfCrashing() {
        Tensor kept;
        Tensor inner;
        try (TensorScope scope = TensorScope.open()) {
            inner = Tensor.ones(1000);
            kept = scope.keep(Tensor.ones(10));
            assertTrue(HostStorage.liveBytes() >= 4040);
        }
        assertTrue(inner.isClosed());
        var e = assertThrows(IllegalStateException.class, inner::toFloatArray);
        assertTrue(e.getMessage().contains("closed"), e.getMessage());
        assertThrows(IllegalStateException.class, () -> inner.add(inner));
        try (TensorScope scope = TensorScope.open()) {
            assertEquals(10, kept.sum().item());
        }
        kept.close();
        kept.close(); // idempotent
        assertThrows(IllegalStateException.class, () -> kept.mul(2.0));
        Tensor view = Tensor.zeros(4);
        Tensor slice = view.slice(0, 1, 3);
        view.close();
        assertThrows(IllegalStateException.class, slice::toFloatArray);
    }

    @Test
    void scopesNestAndMustCloseInOrder() {
        TensorScope outer = TensorScope.open();
        TensorScope inner = TensorScope.open();
        assertThrows(IllegalStateException.class, outer::close);
        Tensor t = inner.keep(Tensor.ones(3));
        inner.close();
        assertFalse(t.isClosed(), "kept tensor moved to the outer scope");
        outer.close();
        assertTrue(t.isClosed());
    }

    @Test
    void noGradRecordsNothingAndBackwardAccumulates() {
        try (TensorScope scope = TensorScope.open()) {
            Tensor w = Tensor.of(new float[] {1, 2, 3}, 3).requiresGrad(true);
            try (GradMode off = GradMode.noGrad()) {
                assertFalse(w.mul(2.0).requiresGrad());
            }
            w.mul(w).sum().backward();
            w.mul(3.0).sum().backward();
            assertArrayEquals(new float[] {5, 7, 9}, w.grad().toFloatArray(), "2w + 3, accumulated over two passes");
            w.zeroGrad();
            assertEquals(null, w.grad());
            var e = assertThrows(IllegalStateException.class, () -> Tensor.ones(2).sum().backward());
            assertTrue(e.getMessage().contains("does not require grad"), e.getMessage());
            assertThrows(IllegalStateException.class, () -> w.mul(2.0).backward());
        }
    }

    @Test
    void retainGradKeepsANonLeafGradient() {
        try (TensorScope scope = TensorScope.open()) {
            Tensor x = Tensor.of(new float[] {1, 2, 3}, 3).requiresGrad(true);
            Tensor h = x.mul(2.0).retainGrad();
            h.mul(h).sum().backward();
            assertArrayEquals(new float[] {4, 8, 12}, h.grad().toFloatArray(), "d(h^2)/dh = 2h");
            assertArrayEquals(new float[] {8, 16, 24}, x.grad().toFloatArray(), "and the chain continues to the leaf");
            h.zeroGrad();
            x.zeroGrad();
            assertThrows(IllegalStateException.class, () -> Tensor.ones(2).retainGrad());
        }
    }

    /** Closing a tensor frees the gradient it holds: a scope's leaves and retained intermediates leave nothing. */
    @Test
    void closingATensorFreesItsGradient() {
        long before = HostStorage.liveBytes();
        try (TensorScope scope = TensorScope.open()) {
            Tensor x = Tensor.randn(1, 0, 17, 5).requiresGrad(true);
            Tensor h = x.mul(2.0).retainGrad();
            h.mul(h).sum().backward();
            assertEquals(17 * 5, h.grad().numel());
            assertEquals(17 * 5, x.grad().numel());
        }
        assertEquals(before, HostStorage.liveBytes(), "the gradients of the scope's tensors are freed with them");
    }

    @Test
    void castsPassGradientsThroughLikePyTorch() {
        try (TensorScope scope = TensorScope.open()) {
            Tensor x = Tensor.of(new float[] {1.1f, -2.7f, 3.3f}, 3).requiresGrad(true);
            Tensor w = Tensor.of(new float[] {2, 3, 4}, 3);
            x.to(DType.BF16).to(DType.F32).mul(w).sum().backward();
            assertArrayEquals(new float[] {2, 3, 4}, x.grad().toFloatArray(), "d(cast)/dx is the identity, cast back");
            assertFalse(x.to(DType.I32).requiresGrad(), "integer results are not differentiable");
            x.zeroGrad();
        }
    }

    @Test
    void printsLikeNumpy() {
        try (TensorScope scope = TensorScope.open()) {
            assertEquals("tensor([[0.000, 1.000, 2.000], [3.000, 4.000, 5.000]], f32, shape=[2, 3])",
                    Tensor.arange(6).reshape(2, 3).toString());
            assertEquals("tensor([1, 2], i64, shape=[2])", Tensor.of(new long[] {1, 2}, 2).toString());
        }
    }
}
