package io.tessera.jmh;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.annotations.Warmup;

/**
 * STREAM triad, a = b + s * c, over 64M floats per array (256 MiB each, 8x the L3), as a bandwidth
 * ceiling measured in the same run as the kernels. There is no triad kernel in the C library, so this is a
 * plain Java loop over native memory (C2 vectorises it) on one JMH thread per core, each thread owning an
 * equal slice of the three arrays: the parallelism STREAM gets from OpenMP. Pair it with
 * {@link EngineBenchmark#copy} (STREAM copy). The "bytes" secondary metric counts 3 arrays per pass
 * (STREAM's convention, without the write-allocate read of a), in bytes per second summed over threads.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Threads(Threads.MAX)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
public class TriadBenchmark {
    static final long N = 64L << 20;
    static final float SCALAR = 3f;

    private Arena arena;
    private MemorySegment a;
    private MemorySegment b;
    private MemorySegment c;
    private long slice;

    @Setup
    public void allocate() {
        int threads = Runtime.getRuntime().availableProcessors();
        slice = N / threads;
        arena = Arena.ofShared();
        a = arena.allocate(slice * Float.BYTES, 64);
        b = arena.allocate(slice * Float.BYTES, 64);
        c = arena.allocate(slice * Float.BYTES, 64);
        for (long i = 0; i < slice; i++) {
            b.setAtIndex(ValueLayout.JAVA_FLOAT, i, (i % 97) * 0.01f);
            c.setAtIndex(ValueLayout.JAVA_FLOAT, i, (i % 89) * 0.02f);
        }
        a.fill((byte) 0);
    }

    @TearDown
    public void free() {
        arena.close();
    }

    @Benchmark
    public MemorySegment triad(Traffic traffic) {
        triad(a, b, c, SCALAR, slice);
        traffic.bytes += 3 * slice * Float.BYTES;
        return a;
    }

    private static void triad(MemorySegment a, MemorySegment b, MemorySegment c, float s, long n) {
        for (long i = 0; i < n; i++) {
            a.setAtIndex(ValueLayout.JAVA_FLOAT, i,
                    b.getAtIndex(ValueLayout.JAVA_FLOAT, i) + s * c.getAtIndex(ValueLayout.JAVA_FLOAT, i));
        }
    }
}
