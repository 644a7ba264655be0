package io.tessera.engine.nn;

import io.tessera.engine.Device;
import io.tessera.engine.Tensor;
import java.util.Arrays;

/** The attention-score bias that hides the padding keys of a left-padded batch (row b's keys before firstKeys[b]). */
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
        Tensor host = Tensor.of(bias, shape);
        return device.equals(Device.CPU) ? host : host.to(device);
    }
}
