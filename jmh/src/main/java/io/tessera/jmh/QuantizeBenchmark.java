package io.tessera.jmh;

import io.tessera.engine.Backend;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.pipeline.BlockwiseInt8;
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
 * Blockwise int8 activation compression of 16M floats (block 4096), each way; memory-bound. On
 * {@link #device} (see {@link BenchDevice}).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
public class QuantizeBenchmark {
    static final long N = 16L << 20;
    static final int BLOCK = 4096;

    @Param({"cpu"})
    public String device;

    private Backend backend;
    private Tensor x;
    private BlockwiseInt8.Quantized q;

    @Setup
    public void prepare() {
        backend = BenchDevice.backend(device);
        x = Tensor.randn(backend.device(), 1, 0, N);
        q = TensorScope.outside(() -> BlockwiseInt8.quantize(x, BLOCK));
    }

    @TearDown
    public void free() {
        x.close();
        q.close();
    }

    @Benchmark
    public long quantize() {
        try (TensorScope scope = TensorScope.open()) {
            long blocks = BlockwiseInt8.quantize(x, BLOCK).scales().numel();
            backend.synchronize();
            return blocks;
        }
    }

    @Benchmark
    public long dequantize() {
        try (TensorScope scope = TensorScope.open()) {
            long n = BlockwiseInt8.dequantize(q).numel();
            backend.synchronize();
            return n;
        }
    }
}
