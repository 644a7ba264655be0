package io.tessera.pipeline.models;

import io.tessera.engine.Tensor;
import io.tessera.engine.nn.KvCache;
import io.tessera.engine.nn.Module;
import io.tessera.engine.nn.RmsNorm;

/** A LLaMA decoder layer: x + self_attn(input_layernorm(x)), then + mlp(post_attention_layernorm(x)). */
final class LlamaBlock extends Module {
    private final RmsNorm inputNorm;
    private final LlamaAttention attention;
    private final RmsNorm postAttentionNorm;
    private final SwiGlu mlp;

    LlamaBlock(ModelConfig config, Rope rope, long seed) {
        inputNorm = child("input_layernorm", new RmsNorm(config.hiddenSize(), config.normEps()));
        attention = child("self_attn", new LlamaAttention(config, rope, seed));
        postAttentionNorm = child("post_attention_layernorm", new RmsNorm(config.hiddenSize(), config.normEps()));
        mlp = child("mlp", new SwiGlu(config.hiddenSize(), config.intermediateSize(), seed + 5));
    }

    Tensor forward(Tensor x, Positions positions, KvCache cache) {
        Tensor h = x.add(attention.forward(inputNorm.forward(x), positions, cache));
        return h.add(mlp.forward(postAttentionNorm.forward(h)));
    }
}
