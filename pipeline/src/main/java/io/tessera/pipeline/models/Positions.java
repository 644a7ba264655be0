package io.tessera.pipeline.models;

import io.tessera.engine.Device;
import io.tessera.engine.Tensor;

/**
 * Where the t tokens of one forward step sit: cache slots past .. past + t - 1 of every row. With left padding, the
 * first {@code pads[b]} slots of row b hold no token: its positions start after them (slot s is position
 * s - pads[b]), and their keys are masked out of every query. Without padding (null), every row's positions are its
 * slots. The position and mask tensors are built once per step, on first use.
 */
final class Positions {
    final long past;
    final long batch;
    final long t;
    private final long[] pads;
    private final Device device;
    private Tensor ids;

    Positions(long past, long batch, long t, long[] pads, Device device) {
        this.past = past;
        this.batch = batch;
        this.t = t;
        this.pads = pads;
        this.device = device;
    }

    /** Builds the position ids now, in the caller's scope: blocks that run in scopes of their own (inference) share them. */
    void build() {
        ids();
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
            ids = Tensor.of(p, batch, t).moveTo(device);
        }
        return ids;
    }

    /** Row b's first key that is a token (its padding slots come before): the pads, or null without padding. */
    long[] firstKeys() {
        return pads;
    }
}
