package io.tessera.pipeline.models;

import io.tessera.engine.Device;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.engine.autograd.GradMode;
import java.util.Arrays;

/** Decoding of one sequence: greedy, or drawn by a {@link Sampler}, stopping at an end-of-sequence id. */
public final class Generator {
    private Generator() {}

    /**
     * @param ids    the new tokens (the EOS id that stopped decoding included, as Hugging Face returns it)
     * @param logits the logits of positions 0 .. prompt + new - 2, one row each: every position whose next
     *               token was decided (prompt positions included); empty unless kept
     */
    public record Generation(long[] ids, float[][] logits) {}

    /**
     * Greedily generates {@code newTokens} tokens after {@code prompt}. With {@code cached}, the prompt runs once and
     * each step feeds only its new token through the {@link DecoderCache}; without, every step recomputes the whole
     * sequence (the reference the cached path must equal).
     */
    public static Generation generate(CausalLm model, long[] prompt, int newTokens, boolean cached) {
        return generate(model, prompt, newTokens, cached, Sampler.greedy(), new long[0], true);
    }

    /**
     * Generates up to {@code maxNewTokens} tokens with the KV cache, stopping after any of {@code eosIds}. Without
     * {@code keepLogits} only the current row is held (a long generation over a large vocabulary keeps no
     * [positions, vocab] copy).
     */
    public static Generation generate(CausalLm model, long[] prompt, int maxNewTokens, Sampler sampler, long[] eosIds,
            boolean keepLogits) {
        return generate(model, prompt, maxNewTokens, true, sampler, eosIds, keepLogits);
    }

    private static Generation generate(CausalLm model, long[] prompt, int maxNewTokens, boolean cached, Sampler sampler,
            long[] eosIds, boolean keepLogits) {
        if (prompt.length == 0 || maxNewTokens < 0) {
            throw new IllegalArgumentException("need a non-empty prompt and newTokens >= 0, got " + prompt.length + " and " + maxNewTokens);
        }
        long[] sequence = Arrays.copyOf(prompt, prompt.length + maxNewTokens);
        float[][] rows = new float[maxNewTokens == 0 ? 0 : prompt.length + maxNewTokens - 1][];
        int vocab = (int) model.config().vocabSize();
        int step = 0;
        try (GradMode off = GradMode.noGrad();
             DecoderCache cache = cached ? model.newCache(1, prompt.length + maxNewTokens) : null) {
            boolean stopped = false;
            for (; step < maxNewTokens && !stopped; step++) {
                int length = prompt.length + step;
                int from = cached && step > 0 ? length - 1 : 0;
                float[] logits;
                try (TensorScope scope = TensorScope.open()) {
                    Tensor input = Tensor.of(Arrays.copyOfRange(sequence, from, length), 1, length - from);
                    logits = model.forward(input, cache).to(Device.CPU).toFloatArray();
                }
                int firstNew = step == 0 && keepLogits ? 0 : length - 1;
                for (int p = firstNew; p < length; p++) {
                    int row = p - from;
                    rows[p] = Arrays.copyOfRange(logits, row * vocab, (row + 1) * vocab);
                }
                sequence[length] = sampler.next(rows[length - 1]);
                stopped = contains(eosIds, sequence[length]);
                if (!keepLogits) {
                    rows[length - 1] = null;
                }
            }
        }
        int decided = step == 0 || !keepLogits ? 0 : prompt.length + step - 1;
        return new Generation(Arrays.copyOfRange(sequence, prompt.length, prompt.length + step), Arrays.copyOf(rows, decided));
    }

    private static boolean contains(long[] ids, long id) {
        for (long candidate : ids) {
            if (candidate == id) {
                return true;
            }
        }
        return false;
    }
}
