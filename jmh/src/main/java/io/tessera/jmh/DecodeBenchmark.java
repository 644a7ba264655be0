package io.tessera.jmh;

import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/** What the decode benchmarks share: their {@link DecodeSession}, made by each one's setup, and the step they time. */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
public abstract class DecodeBenchmark {
    protected DecodeSession session;

    @TearDown
    public void free() {
        session.close();
    }

    /**
     * One token per prompt through the whole model (ms per op: tokens/s = prompts * 1000 / ms); {@code bandwidth}
     * records the machine's read bandwidth around each iteration.
     */
    @Benchmark
    public long decodeStep(ReadBandwidthAround bandwidth) {
        return session.step();
    }
}
