package io.tessera.jmh;

import io.tessera.engine.DType;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.engine.nn.Linear;
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
 * Forward and backward of Linear(4096, 4096) at batch 64 (the input needs no gradient, so backward computes
 * the weight's and bias's only), with the full weight gradient (one 4096 x 64 x 4096 GEMM) or with the
 * weight's gradient restricted to a {@code density} mask (Tensor.restrictGrad, as
 * MaskedOptimizer.compactGradients sets it: an SDDMM of k x 64 multiply-adds), in one run.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
public class MaskedBackwardBenchmark {
    static final long FEATURES = 4096;
    static final long BATCH = 64;

    @Param({"full", "masked"})
    public String gradient;

    @Param("0.005")
    public double density;

    private Linear linear;
    private Tensor x;

    @Setup
    public void allocate() {
        linear = Linear.of(FEATURES, FEATURES, true, 7);
        if (gradient.equals("masked")) {
            long[] entries = MaskedAdamWBenchmark.spreadIndices(FEATURES * FEATURES, density);
            linear.weight().restrictGrad(Tensor.of(entries, entries.length).to(DType.I32));
        }
        x = Tensor.rand(8, 0, BATCH, FEATURES);
    }

    @TearDown
    public void free() {
        Tensor indices = linear.weight().gradIndices();
        linear.close();
        if (indices != null) {
            indices.close();
        }
        x.close();
    }

    @Benchmark
    public void forwardBackward() {
        try (TensorScope scope = TensorScope.open()) {
            linear.zeroGrad();
            linear.forward(x).tanh().sum().backward();
        }
    }
}
