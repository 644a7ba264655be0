package io.tessera.engine.nn;

import io.tessera.engine.Tensor;

/** A lookup table [vocab, dim] (torch.nn.Embedding; initialised N(0, std)). */
public final class Embedding extends Module {
    public Embedding(long vocab, long dim, double std, long seed) {
        parameter("weight", new long[] {vocab, dim}, () -> Init.normal(seed, 0, std, vocab, dim));
    }

    public Tensor forward(Tensor indices) {
        return Tensor.embedding(weight(), indices);
    }

    public Tensor weight() {
        return parameter("weight");
    }
}
