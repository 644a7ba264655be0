package io.tessera.engine.nn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tessera.engine.DType;
import io.tessera.engine.Device;
import io.tessera.engine.HostStorage;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.engine.autograd.GradMode;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

class ModulesTest {

    @AfterAll
    static void noLeaks() {
        assertEquals(0, HostStorage.liveBytes(), "native bytes still allocated");
    }

    @Test
    void parameterNamesFollowPyTorchAndGpt2() {
        try (Mlp mlp = new Mlp(1, 784, 256, 10)) {
            assertEquals(List.of("0.weight", "0.bias", "2.weight", "2.bias"), List.copyOf(mlp.stateDict().keySet()));
            assertArrayEquals(new long[] {256, 784}, mlp.stateDict().get("0.weight").shape(), "torch.nn.Linear stores [out, in]");
            assertEquals(784 * 256 + 256 + 256 * 10 + 10, mlp.parameterCount());
        }
        try (TransformerBlock block = new TransformerBlock(16, 4, 3)) {
            assertEquals(List.of("ln_1.weight", "ln_1.bias", "attn.c_attn.weight", "attn.c_attn.bias", "attn.c_proj.weight",
                    "attn.c_proj.bias", "ln_2.weight", "ln_2.bias", "mlp.c_fc.weight", "mlp.c_fc.bias", "mlp.c_proj.weight",
                    "mlp.c_proj.bias"), List.copyOf(block.stateDict().keySet()));
            assertArrayEquals(new long[] {16, 48}, block.stateDict().get("attn.c_attn.weight").shape(), "Conv1D stores [in, out]");
        }
    }

    @Test
    void firstParameterIsTheFirstNamedParameter() {
        class Empty extends Module {
        }
        class Nested extends Module {
            Nested() {
                child("empty", new Empty());
                child("block", new TransformerBlock(8, 2, 1));
            }
        }
        try (Mlp mlp = new Mlp(1, 4, 3, 2); Nested nested = new Nested(); Empty empty = new Empty()) {
            assertSame(mlp.namedParameters().values().iterator().next(), mlp.firstParameter());
            assertSame(nested.namedParameters().get("block.ln_1.weight"), nested.firstParameter(), "past a child without any");
            var e = assertThrows(IllegalStateException.class, empty::firstParameter);
            assertTrue(e.getMessage().contains("Empty has no parameter"), e.getMessage());
        }
    }

    @Test
    void linearComputesXWtPlusB() {
        try (Linear linear = Linear.of(3, 2, true, 5); TensorScope scope = TensorScope.open()) {
            float[] w = linear.weight().toFloatArray();
            float[] b = linear.bias().toFloatArray();
            for (float v : w) {
                assertTrue(Math.abs(v) <= 1 / Math.sqrt(3), "PyTorch's init bound 1/sqrt(in)");
            }
            float[] x = {1, -2, 0.5f, 3, 0, -1};
            float[] y = linear.forward(Tensor.of(x, 2, 3)).toFloatArray();
            for (int r = 0; r < 2; r++) {
                for (int o = 0; o < 2; o++) {
                    double expected = b[o];
                    for (int i = 0; i < 3; i++) {
                        expected += (double) x[r * 3 + i] * w[o * 3 + i];
                    }
                    assertEquals(expected, y[r * 2 + o], 1e-5);
                }
            }
            var e = assertThrows(IllegalArgumentException.class, () -> linear.forward(Tensor.zeros(2, 4)));
            assertTrue(e.getMessage().contains("Linear(3 -> 2)"), e.getMessage());
        }
    }

    @Test
    void loadStateDictCopiesValuesAndReportsEveryProblemAtOnce() {
        try (Mlp a = new Mlp(1, 4, 3, 2); Mlp b = new Mlp(2, 4, 3, 2); TensorScope scope = TensorScope.open()) {
            b.loadStateDict(a.stateDict(), true);
            assertArrayEquals(a.stateDict().get("2.bias").toFloatArray(), b.stateDict().get("2.bias").toFloatArray());
            Map<String, Tensor> bad = Map.of("0.weight", Tensor.zeros(3, 5), "extra", Tensor.zeros(1));
            var e = assertThrows(IllegalArgumentException.class, () -> b.loadStateDict(bad, true));
            String m = e.getMessage();
            assertTrue(m.contains("shape mismatch for 0.weight") && m.contains("missing: 0.bias") && m.contains("missing: 2.weight")
                    && m.contains("unexpected: extra"), m);
        }
    }

    @Test
    void adoptedParametersAreUsedWithoutACopy() {
        try (Mlp mlp = new Mlp(1, 4, 3, 2); TensorScope scope = TensorScope.open()) {
            Tensor x = Tensor.randn(2, 0, 5, 4);
            Tensor w = TensorScope.outside(() -> Tensor.randn(9, 0, 3, 4));
            mlp.adoptParameters(Map.of("0.weight", w));
            assertSame(w, mlp.stateDict().get("0.weight"), "the adopted tensor itself, not a copy");
            assertTrue(w.requiresGrad(), "adopted parameters still get gradients");
            try (Mlp reference = new Mlp(1, 4, 3, 2)) {
                reference.loadStateDict(mlp.stateDict(), true);
                assertArrayEquals(reference.forward(x).toFloatArray(), mlp.forward(x).toFloatArray());
            }
            Map<String, Tensor> bad = Map.of("0.bias", Tensor.zeros(4), "2.weight", Tensor.zeros(DType.F64, 2, 3), "nope", Tensor.zeros(1));
            String m = assertThrows(IllegalArgumentException.class, () -> mlp.adoptParameters(bad)).getMessage();
            assertTrue(m.contains("0.bias is f32[4]") && m.contains("2.weight is f64[2, 3]") && m.contains("not a parameter: nope"), m);
            assertSame(w, mlp.stateDict().get("0.weight"), "nothing changed");
        }
    }

    @Test
    void uninitialisedModulesHaveTheirShapesWithoutComputingValues() {
        class Probe extends Module {
            Probe() {
                parameter("w", new long[] {3, 5}, () -> {
                    throw new AssertionError("initial value computed");
                });
            }
        }
        try (Probe probe = Module.uninitialised(Probe::new);
             TransformerBlock plain = new TransformerBlock(16, 4, 3);
             TransformerBlock bare = Module.uninitialised(() -> new TransformerBlock(16, 4, 3))) {
            assertArrayEquals(new long[] {3, 5}, probe.stateDict().get("w").shape());
            assertEquals(List.copyOf(plain.stateDict().keySet()), List.copyOf(bare.stateDict().keySet()));
            plain.stateDict().forEach((name, t) -> assertArrayEquals(t.shape(), bare.stateDict().get(name).shape(), name));
            assertThrows(AssertionError.class, Probe::new, "outside uninitialised, values are computed");
        }
    }

    @Test
    void kvCacheDecodeMatchesFullForward() {
        long dim = 16;
        long heads = 4;
        long t = 6;
        try (TransformerBlock block = new TransformerBlock(dim, heads, 11);
             KvCache cache = new KvCache(2, heads, 8, dim / heads);
             TensorScope scope = TensorScope.open();
             GradMode off = GradMode.noGrad()) {
            Tensor x = Tensor.randn(3, 0, 2, t, dim);
            float[] full = block.forward(x, null).toFloatArray();
            // the first 4 positions at once, then one at a time
            Tensor prefix = block.forward(x.slice(1, 0, 4), cache);
            Tensor step5 = block.forward(x.slice(1, 4, 5), cache);
            Tensor step6 = block.forward(x.slice(1, 5, 6), cache);
            float[] incremental = Tensor.cat(1, prefix, step5, step6).toFloatArray();
            assertEquals(6, cache.length());
            for (int i = 0; i < full.length; i++) {
                assertEquals(full[i], incremental[i], 1e-5, "element " + i);
            }
            // position 0 does not see later positions: changing them leaves its output unchanged
            Tensor changed = Tensor.cat(1, x.slice(1, 0, 1), Tensor.randn(9, 0, 2, t - 1, dim));
            float[] again = block.forward(changed, null).slice(1, 0, 1).toFloatArray();
            float[] original = Tensor.of(full, 2, t, dim).slice(1, 0, 1).toFloatArray();
            assertArrayEquals(original, again, 1e-6f);
            assertThrows(IllegalStateException.class, () -> block.forward(x.slice(1, 0, 3), cache), "cache capacity 8");
        }
    }

    /**
     * An F16 cache holds what was appended rounded to F16 (as to(F16)), and a block decoding over it stays within F16's
     * rounding of the full forward; other dtypes are refused.
     */
    @Test
    void f16KvCacheHoldsRoundedKeysAndDecodesCloseToTheFullForward() {
        long dim = 16;
        long heads = 4;
        try (TransformerBlock block = new TransformerBlock(dim, heads, 11);
             KvCache cache = new KvCache(Device.CPU, DType.F16, 2, heads, 8, dim / heads);
             KvCache plain = new KvCache(2, heads, 8, dim / heads);
             TensorScope scope = TensorScope.open();
             GradMode off = GradMode.noGrad()) {
            assertEquals(DType.F16, cache.dtype());
            assertEquals(DType.F32, plain.dtype());
            Tensor k = Tensor.randn(4, 0, 2, heads, 3, dim / heads);
            Tensor v = Tensor.randn(5, 0, 2, heads, 3, dim / heads);
            Tensor[] held = cache.append(k, v);
            assertArrayEquals(k.to(DType.F16).to(DType.F32).toFloatArray(), held[0].to(DType.F32).toFloatArray());
            assertArrayEquals(v.to(DType.F16).to(DType.F32).toFloatArray(), held[1].to(DType.F32).toFloatArray());
            cache.clear();

            Tensor x = Tensor.randn(3, 0, 2, 6, dim);
            float[] full = block.forward(x, null).toFloatArray();
            Tensor prefix = block.forward(x.slice(1, 0, 4), cache);
            Tensor step5 = block.forward(x.slice(1, 4, 5), cache);
            Tensor step6 = block.forward(x.slice(1, 5, 6), cache);
            float[] incremental = Tensor.cat(1, prefix, step5, step6).toFloatArray();
            double worst = 0;
            for (int i = 0; i < full.length; i++) {
                worst = Math.max(worst, Math.abs(full[i] - incremental[i]));
            }
            assertTrue(worst > 0 && worst < 1e-3, "largest difference from the full forward " + worst);
        }
        assertThrows(IllegalArgumentException.class, () -> new KvCache(Device.CPU, DType.BF16, 1, 1, 2, 2), "a BF16 cache");
    }

    @Test
    void transformerBlockTrainsEndToEnd() {
        try (TransformerBlock block = new TransformerBlock(8, 2, 1); TensorScope scope = TensorScope.open()) {
            Tensor x = Tensor.randn(5, 0, 3, 4, 8);
            block.forward(x, null).sumSquares(false).backward();
            for (var entry : block.stateDict().entrySet()) {
                Tensor g = entry.getValue().grad();
                assertTrue(g != null && g.sumSquares(false).item() > 0, "no gradient reached " + entry.getKey());
            }
            block.zeroGrad();
        }
    }
}
