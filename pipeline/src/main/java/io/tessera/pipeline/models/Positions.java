package io.tessera.pipeline.models;

import io.tessera.engine.Device;
import io.tessera.engine.Tensor;
import java.util.Arrays;

/**
 * Where the t tokens of one forward step sit: cache slots past .. past + t - 1 of every row. With left padding, the
 * first {@code pads[b]} slots of row b hold no token: its positions start after them (slot s is position
 * s - pads[b]), and their keys are masked out of every query. Without padding (null), every row's positions are its
 * slots. The position and mask tensors are built once per step, on first use.
 */
final class Positions {
    /**
     * Added to the attention scores of padding keys: finite, so that a padding query (which sees only padding keys)
     * averages them instead of producing NaN, yet large enough that exp() of it is exactly 0 for every real query.
     */
    private static final double PADDING_KEY = -1e30;

    final long past;
    final long batch;
    final long t;
    private final long[] pads;
    private final Device device;
    private Tensor ids;
    private Tensor keyBias;

    Positions(long past, long batch, long t, long[] pads, Device device) {
        this.past = past;
        this.batch = batch;
        this.t = t;
        this.pads = pads;
        this.device = device;
    }

    /** Builds the position and mask tensors now, in the caller's scope: blocks that run in scopes of their own share them. */
    void build() {
        ids();
        keyBiasTable();
    }

    /** Whether some row has padding (otherwise every row's positions are past .. past + t - 1). */
    boolean padded() {
        return pads != null;
    }

    /** Per-row positions I64 [batch, t]; padding slots get position 0. */
    Tensor ids() {
        if (ids == null) {
            long[] p = new long[Math.toIntExact(batch * t)];
            for (int b = 0; b < batch; b++) {
                long pad = pads == null ? 0 : pads[b];
                for (int j = 0; j < t; j++) {
                    p[(int) (b * t + j)] = Math.max(0, past + j - pad);
                }
            }
            ids = onDevice(Tensor.of(p, batch, t));
        }
        return ids;
    }

    /**
     * Null without padding; else 0 for the keys of tokens and {@link #PADDING_KEY} for padding keys, F32 shaped to
     * broadcast against attention scores of rank {@code scoreRank} ([batch, 1, .., 1, past + t]).
     */
    Tensor keyBias(int scoreRank) {
        Tensor table = keyBiasTable();
        if (table == null) {
            return null;
        }
        long[] shape = new long[scoreRank];
        Arrays.fill(shape, 1);
        shape[0] = pads.length;
        shape[scoreRank - 1] = past + t;
        return table.reshape(shape);
    }

    /** The key bias [batch, past + t], built on first use; null without padding. */
    private Tensor keyBiasTable() {
        if (pads != null && keyBias == null) {
            long keys = past + t;
            float[] bias = new float[Math.toIntExact(pads.length * keys)];
            for (int b = 0; b < pads.length; b++) {
                for (int k = 0; k < pads[b]; k++) {
                    bias[(int) (b * keys + k)] = (float) PADDING_KEY;
                }
            }
            keyBias = onDevice(Tensor.of(bias, pads.length, keys));
        }
        return keyBias;
    }

    private Tensor onDevice(Tensor host) {
        return device.equals(Device.CPU) ? host : host.to(device);
    }
}
