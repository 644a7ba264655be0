package io.tessera.engine.nn;

import io.tessera.engine.Tensor;

/**
 * y = x W^T + b with W stored [out, in] (torch.nn.Linear), or y = x W + b with W stored [in, out]
 * ({@link #conv1d}, the layout of Hugging Face GPT-2's Conv1D). Either way the product is one GEMM on a
 * (possibly transposed) view, with no copy of W; a weight under {@link Tensor#restrictGrad} gets its
 * gradient at the listed entries only ({@link Tensor#linear}).
 */
public final class Linear extends Module implements Layer {
    private final boolean hasBias;
    private final boolean inputMajor;
    private final long in;
    private final long out;

    private Linear(long in, long out, boolean bias, boolean inputMajor, long seed) {
        this.in = in;
        this.out = out;
        this.inputMajor = inputMajor;
        // PyTorch's default: U(-1/sqrt(in), 1/sqrt(in)) for weight and bias
        double bound = 1 / Math.sqrt(Math.max(in, 1));
        long[] shape = inputMajor ? new long[] {in, out} : new long[] {out, in};
        this.hasBias = bias;
        parameter("weight", shape, () -> Init.uniform(seed, 0, -bound, bound, shape));
        if (bias) {
            parameter("bias", new long[] {out}, () -> Init.uniform(seed, 1L << 40, -bound, bound, out));
        }
    }

    /** torch.nn.Linear(in, out, bias), initialised from Philox draws of {@code seed}. */
    public static Linear of(long in, long out, boolean bias, long seed) {
        return new Linear(in, out, bias, false, seed);
    }

    /** GPT-2's Conv1D: weight stored [in, out]. */
    public static Linear conv1d(long in, long out, long seed) {
        return new Linear(in, out, true, true, seed);
    }

    @Override
    public Tensor forward(Tensor x) {
        if (x.dim(-1) != in) {
            throw new IllegalArgumentException("Linear(" + in + " -> " + out + "): input " + x.describe() + " has last dim " + x.dim(-1));
        }
        Tensor y = x.linear(weight(), inputMajor);
        return hasBias ? y.add(bias()) : y;
    }

    public Tensor weight() {
        return parameter("weight");
    }

    /** The bias, or null when the layer has none. */
    public Tensor bias() {
        return hasBias ? parameter("bias") : null;
    }

    /** Whether the weight is stored [in, out] (GPT-2's Conv1D) rather than [out, in]. */
    public boolean inputMajor() {
        return inputMajor;
    }

    public long inFeatures() {
        return in;
    }

    public long outFeatures() {
        return out;
    }
}
