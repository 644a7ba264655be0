package io.tessera.jmh;

import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.engine.nn.Mlp;
import io.tessera.fisher.DiagonalFisher;
import io.tessera.fisher.Merge;
import io.tessera.fisher.TopK;
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
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The fisher/ module's rows of docs/PERFORMANCE.md: diagonal Fisher of an MLP 784-1024-1024-10 over 1024
 * examples (examples/s = 1024 / time), FISH top-k keeping 0.5% of 100M scores, and a Fisher-weighted
 * merge of two 100M-parameter models (12 bytes read/written per parameter per model pair: GB/s).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "-Xmx4g"})
public class FisherBenchmark {
    static final int EXAMPLES = 1024;
    static final long BIG = 100_000_000L;

    private Mlp mlp;
    private Tensor inputs;
    private int[] labels;
    private Tensor scores;
    private Tensor theta1;
    private Tensor theta2;
    private Tensor fisher2;

    @Setup
    public void prepare() {
        mlp = new Mlp(1, 784, 1024, 1024, 10);
        inputs = Tensor.rand(2, 0, EXAMPLES, 784);
        labels = new SplittableRandom(3).ints(EXAMPLES, 0, 10).toArray();
        scores = Tensor.rand(4, 0, BIG);
        theta1 = Tensor.randn(5, 0, BIG);
        theta2 = Tensor.randn(6, 0, BIG);
        fisher2 = Tensor.rand(7, 0, BIG);
    }

    @TearDown
    public void free() {
        mlp.close();
        for (Tensor t : new Tensor[] {inputs, scores, theta1, theta2, fisher2}) {
            t.close();
        }
    }

    @Benchmark
    public long fisherMlp1024Examples() {
        Map<String, Tensor> f = DiagonalFisher.ofMlp(mlp, inputs, labels, DiagonalFisher.Labels.EMPIRICAL, 0, EXAMPLES);
        long n = f.size();
        f.values().forEach(Tensor::close);
        return n;
    }

    @Benchmark
    public int fishTopKHalfPercentOf100M() {
        return TopK.global(Map.of("w", scores), BIG / 200).get("w").length;
    }

    @Benchmark
    public long fisherMerge2x100M() {
        try (TensorScope scope = TensorScope.open()) {
            return Merge.fisherWeighted(List.of(Map.of("w", theta1), Map.of("w", theta2)),
                    List.of(Map.of("w", scores), Map.of("w", fisher2)), new double[] {1, 1}, Merge.DEFAULT_FISHER_FLOOR, false)
                    .get("w").numel();
        }
    }
}
