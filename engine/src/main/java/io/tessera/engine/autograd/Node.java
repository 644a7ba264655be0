package io.tessera.engine.autograd;

import io.tessera.engine.Tensor;
import java.util.List;

/**
 * One recorded op on the tape: its inputs and how to turn the gradient of its output into gradients of
 * its inputs.
 */
public record Node(String op, List<Tensor> inputs, Backward backward) {

    @FunctionalInterface
    public interface Backward {
        /**
         * @param grad gradient of the op's output (same shape)
         * @param needed which inputs need a gradient (others may be null in the result)
         * @return one gradient per input, each of that input's shape
         */
        Tensor[] apply(Tensor grad, boolean[] needed);
    }
}
