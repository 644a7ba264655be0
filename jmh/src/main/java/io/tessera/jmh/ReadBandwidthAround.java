package io.tessera.jmh;

import org.openjdk.jmh.annotations.AuxCounters;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

/**
 * The machine's read bandwidth measured just before and just after each iteration of a benchmark, in bytes per
 * second: JMH's secondary metrics "readBytesPerSecondBefore" and "readBytesPerSecondAfter", one value per iteration
 * in the JSON's rawData (their scores, sums over iterations, mean nothing). This machine's read bandwidth moves
 * between phases (33 and 53 GB/s seconds apart), so scripts/bench judges each decode row against the rate around
 * its own iterations as well as against the run's best.
 */
@State(Scope.Thread)
@AuxCounters(AuxCounters.Type.EVENTS)
public class ReadBandwidthAround {
    private static final int PASSES = 3;

    private long before;
    private long after;

    @Setup(Level.Iteration)
    public void measureBefore(BeyondCaches memory) {
        before = bestRate(memory);
    }

    @TearDown(Level.Iteration)
    public void measureAfter(BeyondCaches memory) {
        after = bestRate(memory);
    }

    /** The counters JMH reports: methods, not public fields, because JMH zeroes counter fields after the setup. */
    public long readBytesPerSecondBefore() {
        return before;
    }

    public long readBytesPerSecondAfter() {
        return after;
    }

    /** The best of {@link #PASSES} whole reads of {@code memory} (about 60 ms at 50 GB/s; not timed by JMH). */
    private static long bestRate(BeyondCaches memory) {
        long best = Long.MAX_VALUE;
        for (int pass = 0; pass < PASSES; pass++) {
            long start = System.nanoTime();
            if (memory.readAll() != 0) {
                throw new IllegalStateException("ts_sum_f32 failed while measuring the read bandwidth");
            }
            best = Math.min(best, System.nanoTime() - start);
        }
        return Math.round(BeyondCaches.BYTES * 1e9 / best);
    }
}
