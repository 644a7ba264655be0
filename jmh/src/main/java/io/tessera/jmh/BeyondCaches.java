package io.tessera.jmh;

import io.tessera.ffi.TesseraCpu;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

/**
 * 1 GiB of F32, more than the last-level cache of any machine this runs on (a 64 MiB vector can sit in a large L3),
 * read whole by the engine's sum kernel on every core: the machine's read bandwidth, the ceiling of a decoding step,
 * which reads every weight once and writes almost nothing.
 */
@State(Scope.Benchmark)
public class BeyondCaches {
    static final long BYTES = 1L << 30;
    private final Arena arena = Arena.ofShared();
    private MemorySegment big;
    private MemorySegment out;

    @Setup
    public void allocate() {
        big = arena.allocate(BYTES, 64);
        out = arena.allocate(ValueLayout.JAVA_DOUBLE);
        for (long i = 0; i < BYTES / Float.BYTES; i++) {
            big.setAtIndex(ValueLayout.JAVA_FLOAT, i, (i % 97) * 0.01f);
        }
    }

    @TearDown
    public void free() {
        arena.close();
    }

    /** Reads all {@link #BYTES} once; returns the kernel's status (0), for the benchmark to consume. */
    int readAll() {
        return TesseraCpu.ts_sum_f32(BYTES / Float.BYTES, big, out);
    }
}
