package io.tessera.jmh;

import io.tessera.engine.Tensor;
import io.tessera.engine.optim.AdamW;
import io.tessera.sparse.MaskedAdamW;
import io.tessera.sparse.SparseMask;
import io.tessera.sparse.UpdateForm;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
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
 * One AdamW step on a 100M-float parameter (400 MB) four ways, in one run: the index form of
 * sparse's MaskedAdamW on a mask of {@code density} (0.5% = 500k entries by default; time per step),
 * reading a full-size gradient at the masked entries or, {@link #indexedCompactGradient}, the compact
 * gradient {@link MaskedAdamW#compactGradients()} has backward produce; its dense masked form over all
 * 100M entries; and engine's dense AdamW (both in GB/s through the {@link Traffic} counter). The issue
 * asks for the index form to beat dense AdamW by more than 20x; PEER_BASELINE.md has PyTorch at 7.9 ms
 * (compact state) and 441 ms (dense masked). Running other densities ({@code -p density=0.05,0.25})
 * locates the crossover behind UpdateForm.DENSE_ABOVE_DENSITY.
 */
@State(Scope.Benchmark)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
public class MaskedAdamWBenchmark {
    static final long N = 100_000_000L;
    static final long BYTES = N * Float.BYTES;

    @Param("0.005")
    public double density;

    private Tensor p;
    private Tensor g;
    private MaskedAdamW indexed;
    private MaskedAdamW dense;
    private AdamW engine;

    @Setup
    public void allocate() {
        p = Tensor.rand(1, 0, N).requiresGrad(true);
        g = Tensor.rand(2, 0, N);
        p.setGrad(g);
        Map<String, Tensor> params = Map.of("w", p);
        SparseMask mask = SparseMask.fromIndices(Map.of("w", new long[] {N}), Map.of("w", spreadIndices(N, density)));
        indexed = new MaskedAdamW(params, mask, 1e-3, 0.9, 0.999, 1e-8, 0.01, m -> UpdateForm.INDEXED);
        dense = new MaskedAdamW(params, mask, 1e-3, 0.9, 0.999, 1e-8, 0.01, m -> UpdateForm.DENSE);
        engine = new AdamW(List.of(p), 1e-3);
    }

    /** round(n * density) sorted indices, one drawn uniformly from each of that many equal stretches. */
    static long[] spreadIndices(long n, double density) {
        int k = (int) Math.round(n * density);
        SplittableRandom rng = new SplittableRandom(3);
        long[] out = new long[k];
        for (int j = 0; j < k; j++) {
            long from = n * j / k;
            long to = n * (j + 1) / k;
            out[j] = from + rng.nextLong(to - from);
        }
        return out;
    }

    @TearDown
    public void free() {
        indexed.close();
        dense.close();
        engine.close();
        p.setGrad(null);
        p.close();
        g.close();
    }

    /** A second parameter whose gradient is compact, as after a backward under compactGradients(). */
    @State(Scope.Benchmark)
    public static class CompactGradient {
        private Tensor p;
        private MaskedAdamW indexed;

        @Setup
        public void allocate(MaskedAdamWBenchmark shared) {
            p = Tensor.rand(4, 0, N).requiresGrad(true);
            SparseMask mask = SparseMask.fromIndices(Map.of("w", new long[] {N}), Map.of("w", spreadIndices(N, shared.density)));
            indexed = new MaskedAdamW(Map.of("w", p), mask, 1e-3, 0.9, 0.999, 1e-8, 0.01, m -> UpdateForm.INDEXED);
            indexed.compactGradients();
            p.setGrad(Tensor.rand(5, 0, mask.tensors().get("w").count()));
        }

        @TearDown
        public void free() {
            indexed.close();
            p.close();
        }
    }

    /** The index form: touches only the masked entries of p and g, and compact m and v. */
    @Benchmark
    @BenchmarkMode(Mode.AverageTime)
    @OutputTimeUnit(TimeUnit.MILLISECONDS)
    public void indexed() {
        indexed.step();
    }

    /** The index form with a compact gradient: only p is touched at scattered places. */
    @Benchmark
    @BenchmarkMode(Mode.AverageTime)
    @OutputTimeUnit(TimeUnit.MILLISECONDS)
    public void indexedCompactGradient(CompactGradient state) {
        state.indexed.step();
    }

    /** The dense masked form: reads the u8 mask, p, g, m, v and writes p, m, v, all 100M long. */
    @Benchmark
    @BenchmarkMode(Mode.Throughput)
    @OutputTimeUnit(TimeUnit.SECONDS)
    public void maskedDense(Traffic traffic) {
        traffic.bytes += N + 7 * BYTES;
        dense.step();
    }

    /** engine's dense AdamW over every entry: reads p, g, m, v and writes p, m, v. */
    @Benchmark
    @BenchmarkMode(Mode.Throughput)
    @OutputTimeUnit(TimeUnit.SECONDS)
    public void engineDense(Traffic traffic) {
        traffic.bytes += 7 * BYTES;
        engine.step();
    }
}
