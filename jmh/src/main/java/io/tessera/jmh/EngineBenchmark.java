package io.tessera.jmh;

import io.tessera.engine.Backend;
import io.tessera.engine.Device;
import io.tessera.engine.InPlace;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
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
 * Memory-bound engine ops on 64M floats (256 MiB per tensor) in GB/s, next to a parallel copy of the same
 * size in the same run. The "bytes" secondary metric is bytes read plus written per second. The tensors
 * live on {@link #device} (see {@link BenchDevice}).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
public class EngineBenchmark {
    static final long N = 64L << 20;
    static final long BYTES = N * Float.BYTES;

    @Param({"cpu"})
    public String device;

    private Backend backend;
    private Tensor a;
    private Tensor b;
    private Tensor p;
    private Tensor g;
    private Tensor m;
    private Tensor v;
    private long step;

    @Setup
    public void allocate() {
        backend = BenchDevice.backend(device);
        Device on = backend.device();
        a = Tensor.rand(on, 1, 0, N);
        b = Tensor.rand(on, 2, 0, N);
        p = Tensor.rand(on, 3, 0, N);
        g = Tensor.rand(on, 4, 0, N);
        m = Tensor.zeros(on, N);
        v = Tensor.zeros(on, N);
    }

    @TearDown
    public void free() {
        for (Tensor t : new Tensor[] {a, b, p, g, m, v}) {
            t.close();
        }
    }

    /** The ceiling: b = a on all threads (the engine's strided copy, memcpy per chunk), as STREAM copy. */
    @Benchmark
    public void copy(Traffic traffic) {
        traffic.bytes += 2 * BYTES;
        InPlace.copy(a, b);
        backend.synchronize();
    }

    /** a + b through the Tensor API: allocates the result, as an eager framework does (reading one value back waits for it). */
    @Benchmark
    public float add(Traffic traffic) {
        traffic.bytes += 3 * BYTES;
        try (TensorScope scope = TensorScope.open()) {
            return a.add(b).slice(0, 0, 1).toFloatArray()[0];
        }
    }

    /** One fused AdamW step: reads p, g, m, v and writes p, m, v. */
    @Benchmark
    public void adamw(Traffic traffic) {
        traffic.bytes += 7 * BYTES;
        InPlace.adamw(p, g, m, v, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, ++step);
        backend.synchronize();
    }
}
