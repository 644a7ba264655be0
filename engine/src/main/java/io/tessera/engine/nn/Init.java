package io.tessera.engine.nn;

import io.tessera.engine.Tensor;

/** Parameter initialisers from counter-based Philox draws, so a seed gives the same model everywhere. */
public final class Init {
    private Init() {}

    /** U(lo, hi) from Philox stream (seed, offset). */
    public static Tensor uniform(long seed, long offset, double lo, double hi, long... shape) {
        return Tensor.rand(seed, offset, shape).mul(hi - lo).add(lo);
    }

    /** N(0, std^2) from Philox stream (seed, offset). */
    public static Tensor normal(long seed, long offset, double std, long... shape) {
        return Tensor.randn(seed, offset, shape).mul(std);
    }
}
