package io.tessera.pipeline.models;

import io.tessera.engine.Device;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.engine.autograd.GradMode;
import java.util.Arrays;

/** Greedy decoding of one sequence: each new token is the first index of the maximum logit. */
public final class Greedy {
    private Greedy() {}

    /**
     * @param ids    the new tokens
     * @param logits the logits of positions 0 .. prompt + new - 2, one row each: every position whose next
     *               token was decided (prompt positions included)
     */
    public record Generation(long[] ids, float[][] logits) {}

    /**
     * Generates {@code newTokens} tokens after {@code prompt}. With {@code cached}, the prompt runs once and each
     * step feeds only its new token through the {@link DecoderCache}; without, every step recomputes the whole
     * sequence (the reference the cached path must equal).
     */
    public static Generation generate(CausalLm model, long[] prompt, int newTokens, boolean cached) {
        if (prompt.length == 0 || newTokens < 0) {
            throw new IllegalArgumentException("need a non-empty prompt and newTokens >= 0, got " + prompt.length + " and " + newTokens);
        }
        long[] sequence = Arrays.copyOf(prompt, prompt.length + newTokens);
        float[][] rows = new float[newTokens == 0 ? 0 : prompt.length + newTokens - 1][];
        int vocab = (int) model.config().vocabSize();
        try (GradMode off = GradMode.noGrad();
             DecoderCache cache = cached ? model.newCache(1, prompt.length + newTokens) : null) {
            for (int step = 0; step < newTokens; step++) {
                int length = prompt.length + step;
                int from = cached && step > 0 ? length - 1 : 0;
                float[] logits;
                try (TensorScope scope = TensorScope.open()) {
                    Tensor input = Tensor.of(Arrays.copyOfRange(sequence, from, length), 1, length - from);
                    logits = model.forward(input, cache).to(Device.CPU).toFloatArray();
                }
                int firstNew = step == 0 ? 0 : length - 1;
                for (int p = firstNew; p < length; p++) {
                    int row = p - from;
                    rows[p] = Arrays.copyOfRange(logits, row * vocab, (row + 1) * vocab);
                }
                sequence[length] = argmax(rows[length - 1]);
            }
        }
        return new Generation(Arrays.copyOfRange(sequence, prompt.length, sequence.length), rows);
    }

    private static long argmax(float[] row) {
        int best = 0;
        for (int i = 1; i < row.length; i++) {
            if (row[i] > row[best]) {
                best = i;
            }
        }
        return best;
    }
}
