package io.tessera.sparse;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.tessera.engine.Backends;
import io.tessera.engine.DType;
import io.tessera.engine.Device;
import io.tessera.engine.InPlace;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.engine.cuda.CudaBackend;
import io.tessera.engine.nn.Linear;
import io.tessera.engine.nn.Module;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.SplittableRandom;
import java.util.function.BiFunction;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Masked AdamW and SGD with parameters on CUDA device 0 (the emulated driver in CI, a real GPU when there
 * is one) train as they do on the CPU: the same gradients give the same values within 1e-6 relative (the
 * devices may fuse different multiply-adds), every unmasked or frozen entry keeps its bits, and the
 * optimizer's device memory is freed on close.
 */
class MaskedOptimizerOnCudaTest {
    private static final Device CUDA = Device.cuda(0);
    private static final Map<String, long[]> SHAPES = shapes();

    private static Map<String, long[]> shapes() {
        Map<String, long[]> shapes = new LinkedHashMap<>();
        shapes.put("w", new long[] {29, 31}); // 5% masked: the index form
        shapes.put("b", new long[] {31}); // 80% masked: the dense masked form
        shapes.put("frozen", new long[] {13}); // not in the mask
        return shapes;
    }

    /** Skipped without CUDA, with the reason; failed instead if -Dtessera.device=cuda asked for it. */
    @BeforeEach
    void needsCuda() {
        Optional<String> missing = Backends.unavailableReason(Device.Kind.CUDA);
        if (missing.isPresent() && Backends.defaultDevice().kind() == Device.Kind.CUDA) {
            fail("-Dtessera.device=cuda, but CUDA is unavailable: " + missing.get());
        }
        assumeTrue(missing.isEmpty(), () -> "CUDA backend unavailable: " + missing.orElse(""));
    }

    @Test
    void maskedAdamWOnCudaTrainsAsOnTheCpu() {
        trainsAsOnTheCpu((params, mask) -> new MaskedAdamW(params, mask, 0.01, 0.9, 0.95, 1e-8, 0.1, UpdateForm::byDensity));
    }

    @Test
    void maskedSgdWithNesterovMomentumOnCudaTrainsAsOnTheCpu() {
        trainsAsOnTheCpu((params, mask) -> new MaskedSgd(params, mask, 0.05, 0.9, 0, 0.01, true, UpdateForm::byDensity));
    }

    /** Backward restricted to the mask (SDDMM for the weight) and the compact-gradient index form, on both devices. */
    @Test
    void compactGradientsOnCudaTrainALinearAsOnTheCpu() {
        long[] entries = SparseMaskTest.indicesOf(SparseMaskTest.randomSet(new SplittableRandom(3), 17 * 23, 0.05));
        SparseMask mask = SparseMask.fromIndices(Map.of("weight", new long[] {17, 23}), Map.of("weight", entries));
        Map<Device, float[]> trained = new LinkedHashMap<>();
        for (Device device : List.of(Device.CPU, CUDA)) {
            try (Linear layer = Module.on(device, () -> Linear.of(23, 17, true, 3));
                 MaskedAdamW opt = new MaskedAdamW(layer.namedParameters(), mask, 0.01, 0.9, 0.95, 1e-8, 0.1, m -> UpdateForm.INDEXED)) {
                opt.compactGradients();
                for (int step = 0; step < 3; step++) {
                    try (TensorScope _ = TensorScope.open()) {
                        opt.zeroGrad();
                        layer.forward(Tensor.randn(device, 11, step, 5, 23)).tanh().sum().backward();
                        assertEquals(device, layer.weight().grad().device());
                        opt.step();
                    }
                }
                trained.put(device, layer.weight().toFloatArray());
                layer.zeroGrad();
            }
        }
        float[] cpu = trained.get(Device.CPU);
        float[] cuda = trained.get(CUDA);
        for (int i = 0; i < cpu.length; i++) {
            assertTrue(Math.abs(cpu[i] - cuda[i]) <= 1e-5 * (1 + Math.abs(cpu[i])),
                    "weight[" + i + "]: cpu " + cpu[i] + ", cuda " + cuda[i]);
        }
    }

    /** The kernels take raw device addresses: an operand elsewhere is refused before any runs. */
    @Test
    void refusesAGradientOnAnotherDevice() {
        Tensor p = upload(new float[] {1, 2, 3}, new long[] {3}, CUDA);
        SparseMask mask = SparseMask.fromIndices(Map.of("p", new long[] {3}), Map.of("p", new long[] {1}));
        try (MaskedAdamW opt = new MaskedAdamW(Map.of("p", p), mask, 0.1);
             TensorScope _ = TensorScope.open()) {
            p.setGrad(Tensor.of(new float[] {1, 1, 1}, 3));
            String message = assertThrows(IllegalArgumentException.class, opt::step).getMessage();
            assertTrue(message.contains("f32[3] on cpu is not on the parameter's device, cuda:0"), message);
            p.setGrad(null);
        } finally {
            p.close();
        }
    }

    private static void trainsAsOnTheCpu(BiFunction<Map<String, Tensor>, SparseMask, MaskedOptimizer> optimizer) {
        SplittableRandom rng = new SplittableRandom(7);
        Map<String, float[]> initial = new LinkedHashMap<>();
        SHAPES.forEach((name, shape) -> initial.put(name, random(rng, shape)));
        Map<String, long[]> entries = Map.of(
                "w", SparseMaskTest.indicesOf(SparseMaskTest.randomSet(rng, 29 * 31, 0.05)),
                "b", SparseMaskTest.indicesOf(SparseMaskTest.randomSet(rng, 31, 0.8)));
        SparseMask mask = SparseMask.fromIndices(Map.of("w", SHAPES.get("w"), "b", SHAPES.get("b")), entries);
        List<Map<String, float[]>> grads = new ArrayList<>();
        for (int step = 0; step < 4; step++) {
            Map<String, float[]> g = new LinkedHashMap<>();
            SHAPES.forEach((name, shape) -> g.put(name, random(rng, shape)));
            grads.add(g);
        }
        CudaBackend cuda = (CudaBackend) Backends.of(CUDA);
        long deviceBytes = cuda.liveBytes();
        Map<String, float[]> onCpu = train(Device.CPU, initial, mask, grads, optimizer);
        Map<String, float[]> onCuda = train(CUDA, initial, mask, grads, optimizer);
        assertEquals(deviceBytes, cuda.liveBytes(), "device bytes leaked");

        onCuda.forEach((name, values) -> {
            boolean[] masked = new boolean[values.length];
            for (long e : entries.getOrDefault(name, new long[0])) {
                masked[(int) e] = true;
            }
            for (int i = 0; i < values.length; i++) {
                float expected = onCpu.get(name)[i];
                if (masked[i]) {
                    assertTrue(Math.abs(values[i] - expected) <= 1e-6 * (1 + Math.abs(expected)),
                            name + "[" + i + "]: cpu " + expected + ", cuda " + values[i]);
                    assertTrue(values[i] != initial.get(name)[i], name + "[" + i + "] is masked and must move");
                } else {
                    assertEquals(Float.floatToRawIntBits(initial.get(name)[i]), Float.floatToRawIntBits(values[i]),
                            name + "[" + i + "] is not masked and must keep its bits on " + CUDA);
                }
            }
        });
    }

    /** Steps the optimizer once per gradient map with the parameters on {@code device}; returns their final values. */
    private static Map<String, float[]> train(Device device, Map<String, float[]> initial, SparseMask mask,
                                              List<Map<String, float[]>> grads,
                                              BiFunction<Map<String, Tensor>, SparseMask, MaskedOptimizer> optimizer) {
        Map<String, Tensor> params = new LinkedHashMap<>();
        try {
            initial.forEach((name, values) -> params.put(name, upload(values, SHAPES.get(name), device)));
            try (MaskedOptimizer opt = optimizer.apply(params, mask)) {
                assertEquals(Map.of("w", UpdateForm.INDEXED, "b", UpdateForm.DENSE), opt.forms());
                for (Map<String, float[]> g : grads) {
                    try (TensorScope _ = TensorScope.open()) {
                        params.forEach((name, p) -> p.setGrad(Tensor.of(g.get(name), SHAPES.get(name)).to(device)));
                        opt.step();
                        opt.zeroGrad();
                        params.values().forEach(p -> p.setGrad(null));
                    }
                }
            }
            Map<String, float[]> values = new LinkedHashMap<>();
            params.forEach((name, p) -> {
                assertEquals(device, p.device());
                values.put(name, p.toFloatArray());
            });
            return values;
        } finally {
            params.values().forEach(Tensor::close);
        }
    }

    /** A trainable parameter on {@code device}, outside any scope. */
    private static Tensor upload(float[] values, long[] shape, Device device) {
        Tensor p = TensorScope.outside(() -> Tensor.empty(device, DType.F32, shape));
        try (TensorScope _ = TensorScope.open()) {
            InPlace.copy(Tensor.of(values, shape), p);
        }
        return p.requiresGrad(true);
    }

    private static float[] random(SplittableRandom rng, long[] shape) {
        float[] v = new float[(int) HostTensors.numel(shape, "shape")];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) (rng.nextDouble() * 2 - 1);
        }
        return v;
    }
}
