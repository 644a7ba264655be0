package io.tessera.jmh;

import io.tessera.engine.Backend;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.ffi.Cblas;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
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
 * Square sgemm through the engine (Tensor.matmul, which allocates its result, on {@link #device}: see
 * {@link BenchDevice}) next to a direct cblas_sgemm into a preallocated buffer, in the same run (always on
 * the CPU, the peer to compare with). GFLOP/s = 2 n^3 / time.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
public class MatmulBenchmark {
    @Param({"1024", "2048"})
    public int n;

    @Param({"cpu"})
    public String device;

    private Backend backend;
    private Tensor a;
    private Tensor b;
    private Arena arena;
    private MemorySegment rawA;
    private MemorySegment rawB;
    private MemorySegment rawC;

    @Setup
    public void allocate() {
        backend = BenchDevice.backend(device);
        a = Tensor.rand(backend.device(), 1, 0, n, n);
        b = Tensor.rand(backend.device(), 2, 0, n, n);
        arena = Arena.ofShared();
        long bytes = (long) n * n * Float.BYTES;
        // 64-byte aligned like the engine's tensors, so both sides hand OpenBLAS the same layout
        rawA = arena.allocate(bytes, 64).copyFrom(MemorySegment.ofArray(a.toFloatArray()));
        rawB = arena.allocate(bytes, 64).copyFrom(MemorySegment.ofArray(b.toFloatArray()));
        rawC = arena.allocate(bytes, 64);
    }

    @TearDown
    public void free() {
        a.close();
        b.close();
        arena.close();
    }

    @Benchmark
    public long engine() {
        try (TensorScope scope = TensorScope.open()) {
            long numel = a.matmul(b).numel();
            backend.synchronize();
            return numel;
        }
    }

    @Benchmark
    public MemorySegment cblas() {
        Cblas.cblas_sgemm(Cblas.CblasRowMajor, Cblas.CblasNoTrans, Cblas.CblasNoTrans, n, n, n, 1f, rawA, n, rawB, n, 0f, rawC, n);
        return rawC;
    }
}
