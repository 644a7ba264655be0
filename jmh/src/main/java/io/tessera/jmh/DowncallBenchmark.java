package io.tessera.jmh;

import io.tessera.ffi.TesseraCpu;
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
import org.openjdk.jmh.annotations.Warmup;

/** Cost of one Java-to-native call: an empty C function, with and without Linker.Option.critical. */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
public class DowncallBenchmark {

    @Setup
    public void load() {
        TesseraCpu.ts_noop(); // load the library outside the measurement
    }

    @Benchmark
    public void noop() {
        TesseraCpu.ts_noop();
    }

    @Benchmark
    public void noopCritical() {
        TesseraCpu.ts_noop_critical();
    }
}
