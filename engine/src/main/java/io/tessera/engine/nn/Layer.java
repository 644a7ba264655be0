package io.tessera.engine.nn;

import io.tessera.engine.Tensor;

/**
 * A module with one input and one output, e.g. {@link Linear}; models that hold layers by this type accept
 * any implementation in their place (an int8 layer, say) through {@link Module#transform}.
 */
public interface Layer {
    Tensor forward(Tensor x);
}
