package io.tessera.jmh;

import io.tessera.ffi.TesseraCpu;
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
import org.openjdk.jmh.annotations.Warmup;

/**
 * Memory-bound kernels at 64 MiB per vector, in GB/s, next to a plain copy of the same size measured in
 * the same run (the machine's practical bandwidth ceiling). The "bytes" secondary metric is bytes moved
 * per second: divide by 1e9 for GB/s. {@link #sumBeyondCaches} measures the read bandwidth from memory.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
public class Blas1Benchmark {
    static final long BYTES = 64L << 20;
    static final long FLOATS = BYTES / Float.BYTES;

    private Arena arena;
    private MemorySegment x;
    private MemorySegment y;
    private MemorySegment out;

    /** Bytes read plus bytes written, per second, reported next to ops/s. */
    @Setup
    public void allocate() {
        arena = Arena.ofShared();
        x = arena.allocate(BYTES, 64);
        y = arena.allocate(BYTES, 64);
        out = arena.allocate(ValueLayout.JAVA_DOUBLE);
        for (long i = 0; i < FLOATS; i++) {
            x.setAtIndex(ValueLayout.JAVA_FLOAT, i, (i % 97) * 0.01f);
        }
        y.fill((byte) 0);
    }

    @TearDown
    public void free() {
        arena.close();
    }

    /** The JDK's bulk copy (one thread, memcpy-like). */
    @Benchmark
    public void copyJdk(Traffic traffic) {
        MemorySegment.copy(x, 0, y, 0, BYTES);
        traffic.bytes += 2 * BYTES;
    }

    /** The same copy split over the OpenMP threads, as STREAM copy does. */
    @Benchmark
    public int copy(Traffic traffic) {
        traffic.bytes += 2 * BYTES;
        return TesseraCpu.ts_copy_f32(FLOATS, x, y);
    }

    @Benchmark
    public int axpy(Traffic traffic) {
        traffic.bytes += 3 * BYTES; // read x and y, write y
        return TesseraCpu.ts_axpy_f32(FLOATS, 1e-7f, x, y);
    }

    @Benchmark
    public int sum(Traffic traffic) {
        traffic.bytes += BYTES;
        return TesseraCpu.ts_sum_f32(FLOATS, x, out);
    }

    /** The read bandwidth from memory ({@link BeyondCaches}): the ceiling of the decode rows, not a copy. */
    @Benchmark
    public int sumBeyondCaches(BeyondCaches memory, Traffic traffic) {
        traffic.bytes += BeyondCaches.BYTES;
        return memory.readAll();
    }
}
