package io.tessera.pipeline.models;

import io.tessera.engine.Tensor;
import io.tessera.engine.nn.KvCache;
import io.tessera.engine.nn.Layer;
import io.tessera.engine.nn.Linear;
import io.tessera.engine.nn.Module;

/**
 * LLaMA's grouped-query causal self-attention: {@code q_proj}, {@code k_proj}, {@code v_proj}, {@code o_proj}
 * (Linear, [out, in]; biases on q/k/v for Qwen2), RoPE on q and k, and each group of heads / kvHeads query
 * heads sharing one key/value head (query head h reads key/value head h / group, as Hugging Face's repeat_kv).
 */
final class LlamaAttention extends Module {
    private final int heads;
    private final int kvHeads;
    private final long headDim;
    private final long slidingWindow;
    private final Rope rope;

    LlamaAttention(ModelConfig config, Rope rope, long seed) {
        this.heads = config.heads();
        this.kvHeads = config.kvHeads();
        this.headDim = config.headDim();
        this.slidingWindow = config.slidingWindow();
        this.rope = rope;
        long d = config.hiddenSize();
        child("q_proj", Linear.of(d, heads * headDim, config.qkvBias(), seed));
        child("k_proj", Linear.of(d, kvHeads * headDim, config.qkvBias(), seed + 1));
        child("v_proj", Linear.of(d, kvHeads * headDim, config.qkvBias(), seed + 2));
        child("o_proj", Linear.of(heads * headDim, d, false, seed + 3));
    }

    /** x [batch, t, hidden] at {@code positions} -> [batch, t, hidden]. */
    Tensor forward(Tensor x, Positions positions, KvCache cache) {
        long batch = x.dim(0);
        long t = x.dim(1);
        long past = positions.past;
        if (slidingWindow > 0 && past + t > slidingWindow) {
            throw new UnsupportedOperationException("sliding-window attention beyond " + slidingWindow + " positions is not implemented");
        }
        Tensor q = rope.apply(project("q_proj", x, heads), positions).transpose(1, 2);
        Tensor k = rope.apply(project("k_proj", x, kvHeads), positions).transpose(1, 2);
        Tensor v = project("v_proj", x, kvHeads).transpose(1, 2);
        if (cache != null) {
            Tensor[] kv = cache.append(k, v);
            k = kv[0];
            v = kv[1];
        }
        // the fused kernel without grad (query head h on KV head h / group, no [t, keys] score tensor; padded batches
        // row by row on their rows' unpadded keys), else differentiable ops that read k and v in place
        Tensor attended = Tensor.causalAttention(q, k, v, 1.0 / Math.sqrt(headDim), positions.firstKeys()); // [batch, t, heads, hd]
        return child("o_proj", Layer.class).forward(attended.reshape(batch, t, heads * headDim));
    }

    /** x [batch, t, hidden] through {@code name} as [batch, t, n, headDim]. */
    private Tensor project(String name, Tensor x, int n) {
        return child(name, Layer.class).forward(x).reshape(x.dim(0), x.dim(1), n, headDim);
    }
}
