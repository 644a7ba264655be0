package io.tessera.jmh;

import io.tessera.engine.Backend;
import io.tessera.engine.DType;
import io.tessera.engine.Device;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.engine.autograd.GradMode;
import io.tessera.engine.nn.KvCache;
import io.tessera.engine.nn.LayerNorm;
import io.tessera.engine.nn.Module;
import io.tessera.engine.nn.TransformerBlock;
import io.tessera.pipeline.Quantization;
import io.tessera.pipeline.QuantizationConfig;
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
 * GPT-2-small-sized stack of the engine's {@link TransformerBlock}s (12 layers, d = 768, 12 heads, MLP 4d,
 * f32, random weights from the seed constructor: 85M parameters, 324 MiB) plus a final LayerNorm, no
 * embedding or LM head, batch 1:
 * <ul>
 * <li>{@link #decodeStep}: one new token at context 128 with a {@link KvCache} per layer (steps/s = 1000 /
 * ms per op). Bound by reading every weight once per step.</li>
 * <li>{@link #forward128}: a 128-token causal forward without a cache (tokens/s = 128 * 1000 / ms per op).
 * Bound by FLOPs (about 2 * 85M * 128 for the projections plus the attention).</li>
 * </ul>
 * On {@link #device} (see {@link BenchDevice}). With {@code weights = int8} every projection is quantized
 * first ({@link Quantization#quantize}, per-channel int8 with LLM.int8 outlier columns): 85 MiB of weights
 * instead of 324 MiB.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
public class DecoderBenchmark {
    static final int LAYERS = 12;
    static final long DIM = 768;
    static final long HEADS = 12;
    static final long CONTEXT = 128;

    @Param({"f32", "int8"})
    public String weights;

    @Param({"cpu"})
    public String device;

    private Backend backend;
    private TransformerBlock[] blocks;
    private LayerNorm finalNorm;
    private KvCache[] caches;
    private Tensor token;
    private Tensor prompt;

    @Setup
    public void build() {
        backend = BenchDevice.backend(device);
        Device on = backend.device();
        blocks = new TransformerBlock[LAYERS];
        caches = new KvCache[LAYERS];
        for (int l = 0; l < LAYERS; l++) {
            long seed = 100 + 10L * l;
            blocks[l] = Module.on(on, () -> new TransformerBlock(DIM, HEADS, seed));
            if (weights.equals("int8")) {
                Quantization.quantize(blocks[l], QuantizationConfig.defaults());
            } else if (!weights.equals("f32")) {
                throw new IllegalArgumentException("weights must be f32 or int8, got " + weights);
            }
            caches[l] = new KvCache(on, DType.F32, 1, HEADS, CONTEXT + 1, DIM / HEADS);
        }
        finalNorm = Module.on(on, () -> new LayerNorm(DIM));
        prompt = Tensor.randn(on, 11, 0, 1, CONTEXT, DIM);
        token = Tensor.randn(on, 12, 0, 1, 1, DIM);
        try (GradMode off = GradMode.noGrad(); TensorScope scope = TensorScope.open()) {
            forward(prompt, true); // fills every cache with CONTEXT positions
        }
        for (KvCache cache : caches) {
            if (cache.length() != CONTEXT) {
                throw new IllegalStateException("prefill left " + cache.length() + " positions in a cache, expected " + CONTEXT);
            }
        }
    }

    @TearDown
    public void free() {
        for (int l = 0; l < LAYERS; l++) {
            blocks[l].close();
            caches[l].close();
        }
        finalNorm.close();
        token.close();
        prompt.close();
    }

    private Tensor forward(Tensor x, boolean cached) {
        Tensor h = x;
        for (int l = 0; l < LAYERS; l++) {
            h = blocks[l].forward(h, cached ? caches[l] : null);
        }
        return finalNorm.forward(h);
    }

    /**
     * One token at position CONTEXT, attending to the CONTEXT cached positions and itself; {@code bandwidth} records
     * the machine's read bandwidth around each iteration.
     */
    @Benchmark
    public long decodeStep(ReadBandwidthAround bandwidth) {
        long n;
        try (GradMode off = GradMode.noGrad(); TensorScope scope = TensorScope.open()) {
            n = forward(token, true).numel();
            backend.synchronize();
        }
        for (KvCache cache : caches) {
            cache.truncate(CONTEXT);
        }
        return n;
    }

    /** The whole 128-token prompt in one causal forward (prefill without keeping the keys and values). */
    @Benchmark
    public long forward128() {
        try (GradMode off = GradMode.noGrad(); TensorScope scope = TensorScope.open()) {
            long n = forward(prompt, false).numel();
            backend.synchronize();
            return n;
        }
    }
}
