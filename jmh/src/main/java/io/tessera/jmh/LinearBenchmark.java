package io.tessera.jmh;

import io.tessera.engine.Backend;
import io.tessera.engine.Device;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.engine.autograd.GradMode;
import io.tessera.engine.nn.Linear;
import io.tessera.engine.nn.Module;
import io.tessera.pipeline.QuantizationConfig;
import io.tessera.pipeline.QuantizedLinear;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * torch.nn.Linear(4096, 4096) in f32 through the engine ({@link Linear#forward} under
 * {@link GradMode#noGrad}, allocating its result as an eager framework does), at batch 1, 8 and 64, and the
 * same layer in int8 ({@link QuantizedLinear} with the default LLM.int8 outlier threshold, so the outlier
 * scan and the per-row activation quantization are timed too) in the same run.
 * The f32 weight (64 MiB) does not fit in L3, so batch 1 and 8 are bound by reading it (weight GB/s =
 * 4096 * 4096 * 4 B / time) and batch 64 by FLOPs (GFLOP/s = 2 * batch * 4096 * 4096 / time); the int8
 * weight is 16 MiB. The f32 layer and its input live on {@link #device} (see {@link BenchDevice}); the
 * int8 layer runs on the CPU only (pipeline's QuantizedLinear allocates there), so {@link #int8} refuses
 * any other device.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
public class LinearBenchmark {
    static final long FEATURES = 4096;

    @Param({"1", "8", "64"})
    public int batch;

    @Param({"cpu"})
    public String device;

    private Backend backend;
    private Linear linear;
    private QuantizedLinear int8;
    private Tensor x;

    @Setup
    public void allocate() {
        backend = BenchDevice.backend(device);
        linear = Module.on(backend.device(), () -> Linear.of(FEATURES, FEATURES, true, 7));
        int8 = backend.device().equals(Device.CPU) ? QuantizedLinear.of(linear, QuantizationConfig.DEFAULT_OUTLIER_THRESHOLD) : null;
        x = Tensor.rand(backend.device(), 8, 0, batch, FEATURES);
    }

    @TearDown
    public void free() {
        x.close();
        if (int8 != null) {
            int8.close();
        }
        linear.close();
    }

    @Benchmark
    public long forward() {
        try (GradMode off = GradMode.noGrad(); TensorScope scope = TensorScope.open()) {
            long numel = linear.forward(x).numel();
            backend.synchronize();
            return numel;
        }
    }

    @Benchmark
    public long int8() {
        if (int8 == null) {
            throw new UnsupportedOperationException("the int8 Linear runs on the CPU only, not on " + device);
        }
        try (GradMode off = GradMode.noGrad(); TensorScope scope = TensorScope.open()) {
            return int8.forward(x).numel();
        }
    }
}
