package io.tessera.engine.nn;

import io.tessera.engine.Tensor;
import java.util.function.UnaryOperator;

/** The element-wise activations a transformer MLP may use between its two projections. */
public enum Activation {
    /** GELU, tanh approximation (GPT-2's {@code gelu_new}). */
    GELU_TANH(x -> x.gelu(true)),
    /** GELU, exact erf form. */
    GELU(x -> x.gelu(false)),
    RELU(Tensor::relu),
    /** x * sigmoid(x), also called swish. */
    SILU(Tensor::silu);

    private final UnaryOperator<Tensor> function;

    Activation(UnaryOperator<Tensor> function) {
        this.function = function;
    }

    public Tensor apply(Tensor x) {
        return function.apply(x);
    }
}
