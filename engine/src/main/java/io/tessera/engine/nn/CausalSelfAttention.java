package io.tessera.engine.nn;

import io.tessera.engine.LeftPadding;
import io.tessera.engine.Tensor;

/**
 * Multi-head causal self-attention in GPT-2's layout: {@code c_attn} (Conv1D, d -> 3d, q|k|v) and
 * {@code c_proj} (Conv1D, d -> d). With a {@link KvCache}, earlier positions' keys and values are reused
 * and only the new positions are computed. Built {@linkplain #bidirectional bidirectional}, no causal mask is
 * applied: every position attends to every other (an encoder's attention, e.g. a vision transformer's).
 */
public final class CausalSelfAttention extends Module {
    private final long dim;
    private final long heads;
    private final boolean causal;

    public CausalSelfAttention(long dim, long heads, long seed) {
        this(dim, heads, true, seed);
    }

    /** The same attention without the causal mask, for encoders; it takes no {@link KvCache}. */
    public static CausalSelfAttention bidirectional(long dim, long heads, long seed) {
        return new CausalSelfAttention(dim, heads, false, seed);
    }

    private CausalSelfAttention(long dim, long heads, boolean causal, long seed) {
        if (dim % heads != 0) {
            throw new IllegalArgumentException("model dim " + dim + " is not divisible by " + heads + " heads");
        }
        this.dim = dim;
        this.heads = heads;
        this.causal = causal;
        child("c_attn", Linear.conv1d(dim, 3 * dim, seed));
        child("c_proj", Linear.conv1d(dim, dim, seed + 1));
    }

    public long headDim() {
        return dim / heads;
    }

    public long heads() {
        return heads;
    }

    /** Whether each position attends only to itself and earlier ones. */
    public boolean causal() {
        return causal;
    }

    /** x [batch, t, dim] -> [batch, t, dim]; cache may be null (training, or a full forward). */
    public Tensor forward(Tensor x, KvCache cache) {
        return forward(x, cache, null);
    }

    /**
     * {@link #forward(Tensor, KvCache)} for a left-padded batch (null for none): row b's keys before {@code firstKeys[b]}
     * (cache slots of padding) are hidden from its queries. Without grad, no [t, keys] scores are built.
     */
    public Tensor forward(Tensor x, KvCache cache, long[] firstKeys) {
        if (cache != null && !causal) {
            throw new IllegalArgumentException("a bidirectional attention takes no KV cache (later positions change earlier ones)");
        }
        long batch = x.dim(0);
        long t = x.dim(1);
        long hd = headDim();
        Tensor qkv = child("c_attn", Layer.class).forward(x).reshape(batch, t, 3, heads, hd);
        Tensor q = qkv.slice(2, 0, 1).squeeze(2).transpose(1, 2);
        Tensor k = qkv.slice(2, 1, 2).squeeze(2).transpose(1, 2);
        Tensor v = qkv.slice(2, 2, 3).squeeze(2).transpose(1, 2);
        if (cache != null) {
            Tensor[] kv = cache.append(k, v);
            k = kv[0];
            v = kv[1];
        }
        double scale = 1.0 / Math.sqrt(hd);
        if (causal) {
            return child("c_proj", Layer.class).forward(Tensor.causalAttention(q, k, v, scale, firstKeys).reshape(batch, t, dim));
        }
        Tensor scores = q.matmul(k.transpose(-1, -2)).mul(scale);
        scores = firstKeys == null ? scores : scores.add(LeftPadding.keyBias(firstKeys, k.dim(2), 4, x.device()));
        Tensor attended = scores.softmax(-1).matmul(v);
        return child("c_proj", Layer.class).forward(attended.transpose(1, 2).reshape(batch, t, dim));
    }
}
