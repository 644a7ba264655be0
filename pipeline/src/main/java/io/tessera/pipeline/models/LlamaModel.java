package io.tessera.pipeline.models;

import io.tessera.engine.Tensor;
import io.tessera.engine.nn.Embedding;
import io.tessera.engine.nn.EmbeddingTable;
import io.tessera.engine.nn.KvCache;
import io.tessera.engine.nn.Layer;
import io.tessera.engine.nn.Linear;
import io.tessera.engine.nn.RmsNorm;

/**
 * The LLaMA family (LLaMA, Mistral, Qwen2) with Hugging Face's names without the {@code model.} prefix:
 * {@code embed_tokens}, {@code layers.N}, {@code norm}, and {@code lm_head} unless tied to the embedding.
 */
final class LlamaModel extends CausalLm {
    private final Rope rope;
    private final LlamaBlock[] layers;
    private final RmsNorm norm;

    LlamaModel(ModelConfig config, long seed) {
        super(config);
        long d = config.hiddenSize();
        Embedding embed = child("embed_tokens", new Embedding(config.vocabSize(), d, 0.02, seed));
        rope = new Rope(config, embed.weight().device());
        layers = new LlamaBlock[config.layers()];
        for (int i = 0; i < layers.length; i++) {
            layers[i] = child("layers." + i, new LlamaBlock(config, rope, seed + 10L * (i + 1)));
        }
        norm = child("norm", new RmsNorm(d, config.normEps()));
        if (!config.tieWordEmbeddings()) {
            child("lm_head", Linear.of(d, config.vocabSize(), false, seed + 2));
        }
    }

    @Override
    Tensor embedding(Tensor ids, Positions positions) {
        return child("embed_tokens", EmbeddingTable.class).lookup(ids);
    }

    @Override
    Tensor block(int index, Tensor x, Positions positions, KvCache cache) {
        return layers[index].forward(x, positions, cache);
    }

    @Override
    Tensor outputHead(Tensor hidden) {
        Tensor h = norm.forward(hidden);
        return config().tieWordEmbeddings() ? child("embed_tokens", EmbeddingTable.class).attend(h)
                : child("lm_head", Layer.class).forward(h);
    }

    @Override
    public void close() {
        super.close();
        rope.close();
    }
}
