package io.tessera.engine.nn;

import io.tessera.engine.Tensor;

/** RMS norm over the last dim with a learned scale (LLaMA's RMSNorm; eps 1e-6 by default). */
public final class RmsNorm extends Module {
    private final double eps;

    public RmsNorm(long dim, double eps) {
        this.eps = eps;
        parameter("weight", new long[] {dim}, () -> Tensor.ones(dim));
    }

    public RmsNorm(long dim) {
        this(dim, 1e-6);
    }

    public Tensor forward(Tensor x) {
        return x.rmsNorm(parameter("weight"), eps);
    }
}
