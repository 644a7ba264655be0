package io.tessera.jmh;

import io.tessera.engine.Backend;
import io.tessera.engine.DType;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.engine.autograd.GradMode;
import io.tessera.pipeline.models.CausalLm;
import io.tessera.pipeline.models.DecoderCache;

/**
 * A model with {@code batch} prompts of {@code context - 1} positions in its cache and one next token per prompt: what the
 * decode benchmarks time is {@link #step}, one token per prompt through the whole model, after which the cache is cut
 * back to the prompts.
 */
final class DecodeSession implements AutoCloseable {
    /**
     * Steps run before JMH's own warm-up: a step of a 1.1B model takes 40-150 ms, so in JMH's 3 x 1 s the JIT had seen
     * too few calls, and a TinyLlama int8 step still fell from 64 to 43 ms over the next 10 s of steps while C2 compiled.
     * scripts/bench gives the Jlama peer's JVM the same extra warm-up.
     */
    static final long WARM_UP_NANOS = 10_000_000_000L;

    /**
     * Runs {@code call} for {@link #WARM_UP_NANOS}: the prefill benchmarks' calls too make ~150 operator calls each, so
     * C2 was still compiling during JMH's measurement after its 3 s of warm-up (7% of a core in a GPT-2 128-token run,
     * perf sched), and a 12 s warm-up made that row 7-10% faster (alternated 6 times).
     */
    static void warmUp(Runnable call) {
        for (long start = System.nanoTime(); System.nanoTime() - start < WARM_UP_NANOS; ) {
            call.run();
        }
    }

    private final Backend backend;
    private final CausalLm lm;
    private final DecoderCache cache;
    private final Tensor tokens;
    private final int context;

    /** {@code lm} (owned from here on) with {@code batch} prompts of {@code context - 1} ids prefilled in an F32 cache. */
    DecodeSession(Backend backend, CausalLm lm, int batch, int context) {
        this(backend, lm, batch, context, DType.F32);
    }

    /** The same with the cache's keys and values held in {@code kvType}. */
    DecodeSession(Backend backend, CausalLm lm, int batch, int context, DType kvType) {
        this.backend = backend;
        this.lm = lm;
        this.context = context;
        this.cache = lm.newCache(batch, context, kvType);
        long vocab = lm.config().vocabSize();
        long[] prompts = promptIds(batch * (context - 1), vocab); // a different prompt per row
        long[] next = new long[batch];
        for (int b = 0; b < batch; b++) {
            next[b] = 42 + b;
        }
        this.tokens = Tensor.of(next, batch, 1);
        try (GradMode off = GradMode.noGrad(); TensorScope scope = TensorScope.open()) {
            lm.forward(Tensor.of(prompts, batch, context - 1), cache);
        }
        warmUp(this::step);
    }

    /** {@code n} benchmark token ids spread over the vocabulary (the prompts the decode and prefill benchmarks feed). */
    static long[] promptIds(int n, long vocab) {
        long[] ids = new long[n];
        for (int i = 0; i < n; i++) {
            ids[i] = (i * 7919L) % vocab;
        }
        return ids;
    }

    /** One token per prompt at position context - 1: every block over the cached positions, then the logits. */
    long step() {
        long n;
        try (GradMode off = GradMode.noGrad(); TensorScope scope = TensorScope.open()) {
            n = lm.forward(tokens, cache).numel();
            backend.synchronize();
        }
        cache.truncate(context - 1);
        return n;
    }

    @Override
    public void close() {
        cache.close();
        lm.close();
        tokens.close();
    }
}
