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
 * The machine's read bandwidth from memory: a sum over 1 GiB, more than the last-level cache of any machine
 * this runs on (the copy rows' 64-256 MiB can sit in a large L3), on all cores. A decoding step reads every
 * weight once and writes almost nothing, so this, not a copy, is the ceiling of the decode rows. The "bytes"
 * secondary metric is bytes read per second.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
public class ReadBandwidthBenchmark {
    static final long BYTES = 1L << 30;
    static final long FLOATS = BYTES / Float.BYTES;

    private Arena arena;
    private MemorySegment x;
    private MemorySegment out;

    @Setup
    public void allocate() {
        arena = Arena.ofShared();
        x = arena.allocate(BYTES, 64);
        out = arena.allocate(ValueLayout.JAVA_DOUBLE);
        for (long i = 0; i < FLOATS; i++) {
            x.setAtIndex(ValueLayout.JAVA_FLOAT, i, (i % 97) * 0.01f);
        }
    }

    @TearDown
    public void free() {
        arena.close();
    }

    @Benchmark
    public int sum(Traffic traffic) {
        traffic.bytes += BYTES;
        return TesseraCpu.ts_sum_f32(FLOATS, x, out);
    }
}
