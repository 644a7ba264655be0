package io.tessera.jmh;

import io.tessera.pipeline.models.CausalLm;
import io.tessera.pipeline.models.Generator;
import io.tessera.pipeline.models.ModelConfig;
import io.tessera.pipeline.models.Sampler;
import java.util.Arrays;
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
 * Prompts of unequal lengths generated together (left-padded into one batch): {@link #firstToken} is the batch's
 * prefill and its first greedy token, through {@link Generator#generate}. Shows what left padding costs: the padded
 * rows' attention runs row by row on each row's own keys, never as [prompt, keys] scores per head.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 4, time = 1)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
public class PaddedPrefillBenchmark {
    @Param({"gpt2-small"})
    public String model;

    /** The prompts' lengths, comma-separated. */
    @Param({"1000,400"})
    public String lengths;

    private CausalLm lm;
    private long[][] prompts;
    private Sampler[] greedy;

    @Setup
    public void build() {
        lm = ModelDecodeBenchmark.build(BenchDevice.backend("cpu"), model, "f32");
        long vocab = ModelConfig.preset(model).vocabSize();
        prompts = Arrays.stream(lengths.split(",")).map(n -> DecodeSession.promptIds(Integer.parseInt(n.trim()), vocab))
                .toArray(long[][]::new);
        greedy = new Sampler[prompts.length];
        Arrays.fill(greedy, Sampler.greedy());
        DecodeSession.warmUp(this::firstToken);
    }

    @TearDown
    public void free() {
        lm.close();
    }

    @Benchmark
    public long firstToken() {
        return Generator.generate(lm, prompts, 1, greedy, new long[0], false).get(0).ids()[0];
    }
}
