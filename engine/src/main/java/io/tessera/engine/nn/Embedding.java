package io.tessera.engine.nn;

import io.tessera.engine.Tensor;

/** A lookup table [vocab, dim] (torch.nn.Embedding; initialised N(0, std)). */
public final class Embedding extends Module implements EmbeddingTable {
    public Embedding(long vocab, long dim, double std, long seed) {
        parameter("weight", new long[] {vocab, dim}, () -> Init.normal(seed, 0, std, vocab, dim));
    }

    public Tensor forward(Tensor indices) {
        return Tensor.embedding(weight(), indices);
    }

    @Override
    public Tensor lookup(Tensor ids) {
        return forward(ids);
    }

    @Override
    public Tensor attend(Tensor hidden) {
        return hidden.linear(weight(), false);
    }

    public Tensor weight() {
        return parameter("weight");
    }
}
