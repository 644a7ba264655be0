package io.tessera.engine;

import java.util.Arrays;

/**
 * Attention over a left-padded batch (row b's keys before firstKeys[b] are padding): the score bias that hides the padding
 * keys, and the mask that zeroes the queries that see none but padding keys.
 */
public final class LeftPadding {
    /**
     * Added to the scores of padding keys: finite, so that a padding query (which sees only padding keys) averages them
     * instead of producing NaN, yet large enough that exp() of it is exactly 0 for every real query.
     */
    static final double PADDING_KEY = -1e30;

    private LeftPadding() {}

    /** 0 for the keys of tokens and {@link #PADDING_KEY} for padding keys, F32 [batch, 1, .., 1, keys] of rank {@code rank}. */
    public static Tensor keyBias(long[] firstKeys, long keys, int rank, Device device) {
        float[] bias = new float[Math.toIntExact(firstKeys.length * keys)];
        for (int b = 0; b < firstKeys.length; b++) {
            Arrays.fill(bias, (int) (b * keys), (int) (b * keys + Math.min(firstKeys[b], keys)), (float) PADDING_KEY);
        }
        long[] shape = new long[rank];
        Arrays.fill(shape, 1);
        shape[0] = firstKeys.length;
        shape[rank - 1] = keys;
        return Tensor.of(bias, shape).moveTo(device);
    }

    /**
     * 1 for the queries that see a token and 0 for those that see only padding (query i sits at slot keys - queries + i and
     * sees the keys up to it), F32 [batch, 1, queries, 1].
     */
    static Tensor queryMask(long[] firstKeys, long keys, long queries, Device device) {
        float[] mask = new float[Math.toIntExact(firstKeys.length * queries)];
        for (int b = 0; b < firstKeys.length; b++) {
            long blind = Math.clamp(firstKeys[b] - (keys - queries), 0, queries);
            Arrays.fill(mask, (int) (b * queries + blind), (int) ((b + 1) * queries), 1f);
        }
        return Tensor.of(mask, firstKeys.length, 1, queries, 1).moveTo(device);
    }
}
