package io.tessera.jmh;

import io.tessera.engine.Backend;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.engine.autograd.GradMode;
import io.tessera.pipeline.models.CausalLm;
import io.tessera.pipeline.models.DecoderCache;
import io.tessera.pipeline.models.ModelConfig;
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
 * Prompt processing with a whole model, batch 1: {@link #prefill} runs a prompt of {@code tokens} ids through every
 * block into an empty {@link DecoderCache} and computes the logits of its last position, as generation does before
 * its first new token (tokens/s = tokens * 1000 / ms per op), after 10 s of prefills ({@link DecodeSession#warmUp}).
 * Bound by FLOPs: 2 x the block parameters per token, plus the causal attention and one head product. {@code model}
 * and {@code weights} as in {@link ModelDecodeBenchmark} ({@code int8-all} left out: its embeddings change only the
 * lookup), and {@code bf16-rounded}: BF16 weights whose products round the activations to BF16 first, as PyTorch's
 * BF16 models do ({@link io.tessera.pipeline.Bf16Products#ROUNDED_INPUTS}).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
public class ModelPrefillBenchmark {
    @Param({"gpt2-small", "tinyllama"})
    public String model;

    @Param({"f32", "bf16", "bf16-rounded", "int8"})
    public String weights;

    @Param({"128", "1024"})
    public int tokens;

    @Param({"cpu"})
    public String device;

    private Backend backend;
    private CausalLm lm;
    private DecoderCache cache;
    private Tensor prompt;

    @Setup
    public void build() {
        backend = BenchDevice.backend(device);
        ModelConfig config = ModelConfig.preset(model);
        if (tokens < 1 || tokens > config.maxPositions()) {
            throw new IllegalArgumentException("tokens must be in [1, " + config.maxPositions() + "], got " + tokens);
        }
        lm = ModelDecodeBenchmark.build(backend, model, weights);
        cache = lm.newCache(1, tokens);
        prompt = Tensor.of(DecodeSession.promptIds(tokens, config.vocabSize()), 1, tokens);
        DecodeSession.warmUp(this::prefill);
    }

    @TearDown
    public void free() {
        cache.close();
        lm.close();
        prompt.close();
    }

    /** The prompt through the whole model, the last position's logits; the cache is emptied again afterwards. */
    @Benchmark
    public long prefill() {
        long n;
        try (GradMode off = GradMode.noGrad(); TensorScope scope = TensorScope.open()) {
            n = lm.forward(prompt, null, cache, tokens - 1).numel();
            backend.synchronize();
        }
        cache.truncate(0);
        return n;
    }
}
