package io.tessera.engine.autograd;

import io.tessera.engine.Tensor;

/**
 * Watches a backward pass op by op, as PyTorch's hooks do, and may take over an input's gradient: e.g. to
 * split a weight's gradient by example instead of summing it (per-example Fisher). Op names it can rely on
 * for the layout of a product with a weight are {@link #LINEAR} and {@link #LINEAR_INPUT_MAJOR}.
 */
@FunctionalInterface
public interface GradientTap {
    /** {@code x.linear(w, false)}: inputs (x, w), w [out, in]. */
    String LINEAR = "linear";
    /** {@code x.linear(w, true)}: inputs (x, w), w [in, out]. */
    String LINEAR_INPUT_MAJOR = "linear(inputMajor)";

    /**
     * Offered, before {@code node} (which computed {@code output}) turns {@code gradient}, the gradient of
     * its output, into its inputs' gradients, each input that requires grad. Returning true takes the input
     * over: the pass neither computes its gradient through this node nor propagates anything from here into
     * it. {@code gradient} is valid during the call only (copy it to keep it).
     */
    boolean take(Tensor output, Node node, int input, Tensor gradient);
}
