package io.tessera.pipeline.models;

import io.tessera.engine.Tensor;
import io.tessera.engine.nn.Embedding;
import io.tessera.engine.nn.EmbeddingTable;
import io.tessera.engine.nn.KvCache;
import io.tessera.engine.nn.LayerNorm;
import io.tessera.engine.nn.TransformerBlock;

/**
 * GPT-2 (Hugging Face's GPT2LMHeadModel without the {@code transformer.} prefix): {@code wte}, {@code wpe},
 * blocks {@code h.N} (Conv1D projections, tanh GELU), {@code ln_f}, and the head tied to {@code wte}.
 */
final class Gpt2Model extends CausalLm {
    private final TransformerBlock[] blocks;
    private final LayerNorm lnF;

    Gpt2Model(ModelConfig config, long seed) {
        super(config);
        if (!config.tieWordEmbeddings()) {
            throw new IllegalArgumentException("GPT-2 with an untied LM head is not supported");
        }
        long d = config.hiddenSize();
        child("wte", new Embedding(config.vocabSize(), d, 0.02, seed));
        child("wpe", new Embedding(config.maxPositions(), d, 0.01, seed + 1));
        blocks = new TransformerBlock[config.layers()];
        for (int i = 0; i < blocks.length; i++) {
            blocks[i] = child("h." + i, new TransformerBlock(d, config.heads(), config.intermediateSize(), config.activation(),
                    config.normEps(), seed + 10L * (i + 1)));
        }
        lnF = child("ln_f", new LayerNorm(d, config.normEps()));
    }

    @Override
    Tensor embedding(Tensor ids, Positions positions) {
        Tensor p = positions.padded() ? positions.ids() : positions(ids.device(), positions.past, positions.t);
        return child("wte", EmbeddingTable.class).lookup(ids).add(child("wpe", EmbeddingTable.class).lookup(p));
    }

    @Override
    Tensor block(int index, Tensor x, Positions positions, KvCache cache) {
        return blocks[index].forward(x, cache, positions.firstKeys());
    }

    @Override
    Tensor outputHead(Tensor hidden) {
        return child("wte", EmbeddingTable.class).attend(lnF.forward(hidden));
    }
}
