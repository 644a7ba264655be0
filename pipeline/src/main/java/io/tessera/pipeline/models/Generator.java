package io.tessera.pipeline.models;

import io.tessera.engine.DType;
import io.tessera.engine.Device;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.engine.autograd.GradMode;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/** Decoding of one sequence or a batch of them: greedy, or drawn by a {@link Sampler}, stopping at an end-of-sequence id. */
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
        return generate(model, prompt, newTokens, cached ? DType.F32 : null, Sampler.greedy(), new long[0], true);
    }

    /**
     * Generates up to {@code maxNewTokens} tokens with the KV cache, stopping after any of {@code eosIds}. Without
     * {@code keepLogits} only the current row is held (a long generation over a large vocabulary keeps no
     * [positions, vocab] copy).
     */
    public static Generation generate(CausalLm model, long[] prompt, int maxNewTokens, Sampler sampler, long[] eosIds,
            boolean keepLogits) {
        return generate(model, prompt, maxNewTokens, DType.F32, sampler, eosIds, keepLogits);
    }

    /**
     * Generates after several prompts at once (batched decode), each up to {@code maxNewTokens} tokens drawn by its own
     * sampler and stopping after any of {@code eosIds}: one forward per step for the whole batch, with one
     * [batch, ...] KV cache. The prompts are left-padded to the longest (so every row appends at the same slot and the
     * cache keeps one length; padding is masked out and each row's positions start at its first token), and each
     * generation is the one its prompt gives alone, up to float rounding. A row that stopped keeps its slot until the
     * others stop.
     */
    public static List<Generation> generate(CausalLm model, long[][] prompts, int maxNewTokens, Sampler[] samplers, long[] eosIds,
            boolean keepLogits) {
        return generate(model, prompts, maxNewTokens, samplers, eosIds, keepLogits, DType.F32);
    }

    /**
     * {@link #generate(CausalLm, long[][], int, Sampler[], long[], boolean)} with the KV cache's keys and values held in
     * {@code kvCache}: F32, or F16 (half the memory; see {@link CausalLm#newCache(long, long, DType)}).
     */
    public static List<Generation> generate(CausalLm model, long[][] prompts, int maxNewTokens, Sampler[] samplers, long[] eosIds,
            boolean keepLogits, DType kvCache) {
        return generate(model, prompts, maxNewTokens, Objects.requireNonNull(kvCache, "kvCache"), samplers, eosIds, keepLogits);
    }

    private static Generation generate(CausalLm model, long[] prompt, int maxNewTokens, DType kvType, Sampler sampler,
            long[] eosIds, boolean keepLogits) {
        return generate(model, new long[][] {prompt}, maxNewTokens, kvType, new Sampler[] {sampler}, eosIds, keepLogits).get(0);
    }

    /** {@code kvType}: the KV cache's dtype, or null to recompute every step's whole sequence without one. */
    private static List<Generation> generate(CausalLm model, long[][] prompts, int maxNewTokens, DType kvType, Sampler[] samplers,
            long[] eosIds, boolean keepLogits) {
        boolean cached = kvType != null;
        int batch = prompts.length;
        if (batch == 0 || samplers.length != batch) {
            throw new IllegalArgumentException("need one sampler per prompt and at least one prompt, got " + samplers.length
                    + " samplers for " + batch + " prompts");
        }
        int longest = 0;
        for (long[] prompt : prompts) {
            if (prompt.length == 0 || maxNewTokens < 0) {
                throw new IllegalArgumentException("need non-empty prompts and newTokens >= 0, got a prompt of " + prompt.length
                        + " tokens and " + maxNewTokens);
            }
            longest = Math.max(longest, prompt.length);
        }
        if ((long) longest + maxNewTokens > model.config().maxPositions()) {
            throw new IllegalArgumentException("a prompt of " + longest + " tokens and " + maxNewTokens + " new tokens need "
                    + ((long) longest + maxNewTokens) + " positions, more than the model's max_position_embeddings "
                    + model.config().maxPositions());
        }
        long[] pads = new long[batch];
        long[][] slots = new long[batch][longest + maxNewTokens]; // padding slots hold id 0
        float[][][] rows = new float[batch][][];
        for (int b = 0; b < batch; b++) {
            pads[b] = longest - prompts[b].length;
            System.arraycopy(prompts[b], 0, slots[b], (int) pads[b], prompts[b].length);
            rows[b] = new float[maxNewTokens == 0 ? 0 : prompts[b].length + maxNewTokens - 1][];
        }
        int vocab = (int) model.config().vocabSize();
        int[] made = new int[batch];
        boolean[] stopped = new boolean[batch];
        try (GradMode off = GradMode.noGrad();
             DecoderCache cache = cached ? model.newCache(batch, longest + maxNewTokens, kvType) : null) {
            for (int step = 0; step < maxNewTokens && !all(stopped); step++) {
                int length = longest + step;
                int from = cached && step > 0 ? length - 1 : 0;
                // only the slots whose logits are used come to the host: every slot of the prompt when kept, else the last
                int copied = step == 0 && keepLogits ? from : length - 1;
                float[] logits;
                try (TensorScope scope = TensorScope.open()) {
                    long[] input = new long[batch * (length - from)];
                    for (int b = 0; b < batch; b++) {
                        System.arraycopy(slots[b], from, input, b * (length - from), length - from);
                    }
                    logits = model.forward(Tensor.of(input, batch, length - from), pads, cache, copied - from)
                            .to(Device.CPU).toFloatArray();
                }
                for (int b = 0; b < batch; b++) {
                    if (stopped[b]) {
                        continue;
                    }
                    int firstNew = step == 0 && keepLogits ? (int) pads[b] : length - 1;
                    for (int slot = firstNew; slot < length; slot++) {
                        int row = b * (length - copied) + slot - copied;
                        rows[b][slot - (int) pads[b]] = Arrays.copyOfRange(logits, row * vocab, (row + 1) * vocab);
                    }
                    int last = length - 1 - (int) pads[b];
                    slots[b][length] = samplers[b].next(rows[b][last]);
                    made[b]++;
                    stopped[b] = contains(eosIds, slots[b][length]);
                    if (!keepLogits) {
                        rows[b][last] = null;
                    }
                }
            }
        }
        List<Generation> generations = new ArrayList<>();
        for (int b = 0; b < batch; b++) {
            int start = longest; // a row's new tokens sit right after the longest prompt's slots, whatever its padding
            int decided = made[b] == 0 || !keepLogits ? 0 : prompts[b].length + made[b] - 1;
            generations.add(new Generation(Arrays.copyOfRange(slots[b], start, start + made[b]), Arrays.copyOf(rows[b], decided)));
        }
        return generations;
    }

    private static boolean all(boolean[] flags) {
        for (boolean flag : flags) {
            if (!flag) {
                return false;
            }
        }
        return true;
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
