package io.tessera.engine.nn;

import io.tessera.engine.Tensor;

/** Layer norm over the last dim with learned scale and shift (torch.nn.LayerNorm, eps 1e-5 by default). */
public final class LayerNorm extends Module {
    private final double eps;

    public LayerNorm(long dim, double eps) {
        this.eps = eps;
        parameter("weight", new long[] {dim}, () -> Tensor.ones(dim));
        parameter("bias", new long[] {dim}, () -> Tensor.zeros(dim));
    }

    public LayerNorm(long dim) {
        this(dim, 1e-5);
    }

    public Tensor forward(Tensor x) {
        return x.layerNorm(parameter("weight"), parameter("bias"), eps);
    }
}
